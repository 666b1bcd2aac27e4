"""Pages: signing in and out.

/login                                   sign in (rate limited per email + address)
/logout                                  sign out (a fresh session next time)
"""

from __future__ import annotations

import math
from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import RedirectResponse, Response

from emailsync.services import users as auth
from emailsync.store.directory import User
from emailsync.web.security import check_csrf, page_user, session_user
from emailsync.web.templating import render

router = APIRouter(include_in_schema=False)
CurrentUser = Annotated[User, Depends(page_user)]


def _client(request: Request) -> str:
    return request.client.host if request.client else "?"


def _safe_next(target: str) -> str:
    return target if target.startswith("/") and not target.startswith("//") else "/inbox"


@router.get("/")
def home(request: Request) -> Response:
    return RedirectResponse("/inbox" if session_user(request) else "/login", status_code=303)


@router.get("/login")
def login_page(request: Request, next: str = "/inbox") -> Response:
    if session_user(request):
        return RedirectResponse(_safe_next(next), status_code=303)
    return render(request, "login.html", {"next": _safe_next(next), "email": ""})


@router.post("/login")
async def login(request: Request) -> Response:
    await check_csrf(request)
    form = await request.form()
    email = str(form.get("email", "")).strip()
    password = str(form.get("password", ""))
    target = _safe_next(str(form.get("next", "/inbox")))
    throttle: auth.LoginThrottle = request.app.state.throttle
    wait = throttle.blocked_for(email, _client(request))
    context = {"next": target, "email": email}
    if wait:
        minutes = max(1, math.ceil(wait / 60))
        context["error"] = (
            f"Too many failed sign-ins for {email}. Try again in {minutes} minute"
            + ("s." if minutes > 1 else ".")
        )
        return render(request, "login.html", context, status=429)
    user = auth.authenticate(request.app.state.engine, email, password)
    if user is None:
        throttle.failed(email, _client(request))
        context["error"] = "That email and password do not match an account."
        return render(request, "login.html", context, status=400)
    throttle.succeeded(email, _client(request))
    request.session.clear()  # a fresh session (and CSRF token) on every sign-in
    request.session["user_id"] = user.id
    return RedirectResponse(target, status_code=303)


@router.post("/logout")
async def logout(request: Request, user: CurrentUser) -> Response:
    request.session.clear()
    return RedirectResponse("/login", status_code=303)
