"""The web app: server-rendered pages (Jinja2 + htmx) and the REST API under /api/v1.

    create_app(settings, engine, wake=...)   wake(account_id) tells the sync supervisor
                                             that an account changed ("Sync now", pause)

Pages and API are thin front ends over the same use cases (services/: accounts, inbox,
crm), which hold the rules and the transactions; nothing here talks IMAP or SQL.

    templating.py   render(): the templates        security.py   sessions, CSRF, callers
    pages/          auth, email_sync, inbox        api/          schemas, accounts, threads, crm
    attachments.py  the download both use          bodies.py     sanitising HTML mail
    mail_view.py    how the inbox shows a thread
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path

import sqlalchemy as sa
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException
from starlette.middleware.sessions import SessionMiddleware

from emailsync.config import Settings
from emailsync.errors import Conflict, EmailsyncError, NotFound
from emailsync.services import users as auth
from emailsync.web.api import accounts as api_accounts
from emailsync.web.api import crm as api_crm
from emailsync.web.api import threads as api_threads
from emailsync.web.pages import auth as auth_pages
from emailsync.web.pages import email_sync, inbox
from emailsync.web.security import LoginRequired, session_secret
from emailsync.web.templating import render

log = logging.getLogger("emailsync.web")

HERE = Path(__file__).parent

PAGE_CSP = (
    "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
    "frame-src 'self'; frame-ancestors 'none'; form-action 'self'; base-uri 'none'; "
    "object-src 'none'"
)


def _is_api(request: Request) -> bool:
    return request.url.path.startswith("/api/")


def _error_response(request: Request, status: int, detail: str) -> Response:
    if _is_api(request):
        return JSONResponse({"detail": detail}, status_code=status)
    titles = {
        400: "That did not work",
        401: "Please sign in",
        403: "Not allowed",
        404: "Not found",
        405: "Not allowed",
        429: "Too many tries",
        500: "Something went wrong",
    }
    return render(
        request,
        "error.html",
        {"title": titles.get(status, "Something went wrong"), "detail": detail},
        status=status,
    )


def _validation_sentence(exc: RequestValidationError) -> str:
    errors = exc.errors()
    if not errors:
        return "The request is not valid"
    first = errors[0]
    where = ".".join(str(p) for p in first.get("loc", ()) if p not in ("body", "query", "path"))
    message = str(first.get("msg", "is not valid"))
    if where:
        return f"{where}: {message}"
    return f"The request body is not valid: {message}"


def create_app(
    settings: Settings, engine: sa.Engine, *, wake: Callable[[int], None] | None = None
) -> FastAPI:
    app = FastAPI(
        title="emailsync",
        version="1",
        description="Email sync for the CRM: accounts, sync conditions, progress and the inbox. "
        "Authenticate with `Authorization: Bearer <token>` (emailsync users token EMAIL).",
        docs_url="/api/docs",
        redoc_url=None,
        openapi_url="/api/v1/openapi.json",
    )
    app.state.settings = settings
    app.state.engine = engine
    app.state.wake = wake
    app.state.throttle = auth.LoginThrottle()

    @app.middleware("http")
    async def security_headers(request: Request, call_next: Callable) -> Response:
        response: Response = await call_next(request)
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("Referrer-Policy", "same-origin")
        if not request.url.path.startswith("/api/docs"):
            response.headers.setdefault("Content-Security-Policy", PAGE_CSP)
            response.headers.setdefault("X-Frame-Options", "DENY")
        if not request.url.path.startswith("/static/"):
            response.headers.setdefault("Cache-Control", "no-store")
        return response

    app.add_middleware(
        SessionMiddleware,
        secret_key=session_secret(settings.home, settings.session_key),
        session_cookie="emailsync_session",
        max_age=14 * 24 * 3600,
        same_site="lax",
        # behind TLS (a reverse proxy), EMAILSYNC_SECURE_COOKIES=1 adds the Secure flag
        https_only=settings.secure_cookies,
    )

    @app.exception_handler(LoginRequired)
    async def login_required(request: Request, exc: LoginRequired) -> Response:
        target = "/login?next=" + request.url.path
        if request.headers.get("hx-request"):
            return Response(status_code=204, headers={"HX-Redirect": target})
        return RedirectResponse(target, status_code=303)

    @app.exception_handler(NotFound)
    async def not_found(request: Request, exc: NotFound) -> Response:
        return _error_response(request, 404, str(exc))

    @app.exception_handler(Conflict)
    async def conflict(request: Request, exc: Conflict) -> Response:
        return _error_response(request, 409, str(exc))

    @app.exception_handler(EmailsyncError)
    async def usage_error(request: Request, exc: EmailsyncError) -> Response:
        return _error_response(request, 400, str(exc))

    @app.exception_handler(HTTPException)
    async def http_error(request: Request, exc: HTTPException) -> Response:
        detail = exc.detail if isinstance(exc.detail, str) else "The request is not valid"
        if exc.status_code == 404 and detail == "Not Found":
            detail = "There is no page at this address."
        if exc.status_code == 405:
            detail = "This address does not take that kind of request."
        response = _error_response(request, exc.status_code, detail)
        for key, value in (exc.headers or {}).items():
            response.headers[key] = value
        return response

    @app.exception_handler(RequestValidationError)
    async def bad_input(request: Request, exc: RequestValidationError) -> Response:
        return _error_response(request, 422, _validation_sentence(exc))

    @app.exception_handler(Exception)
    async def crash(request: Request, exc: Exception) -> Response:
        log.exception("unhandled error on %s", request.url.path)
        return _error_response(
            request, 500, "Something went wrong on our side. Try again in a moment."
        )

    app.include_router(auth_pages.router)
    app.include_router(email_sync.router)
    app.include_router(inbox.router)
    app.include_router(api_accounts.router)
    app.include_router(api_threads.router)
    app.include_router(api_crm.router)
    app.include_router(api_threads.links_router)
    app.mount("/static", StaticFiles(directory=str(HERE / "static")), name="static")
    return app
