"""Inbox pages: the user's threads and those shared with them (services.inbox reads them;
store.conversations decides who sees what), a thread with its messages in sandboxed
iframes, attachments, and the sharing switch."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import RedirectResponse, Response

from emailsync.errors import EmailsyncError, NotFound
from emailsync.services import inbox as svc
from emailsync.store.directory import User
from emailsync.store.raw import raw_files
from emailsync.web import bodies
from emailsync.web import mail_view as mv
from emailsync.web.attachments import attachment_download
from emailsync.web.security import page_user
from emailsync.web.templating import render

router = APIRouter(include_in_schema=False)
CurrentUser = Annotated[User, Depends(page_user)]


@router.get("/inbox")
def inbox(request: Request, user: CurrentUser, q: str = "", page: int = 1) -> Response:
    page = max(1, page)
    threads = svc.list_threads(
        request.app.state.engine,
        user.id,
        search=q.strip(),
        limit=svc.PAGE_SIZE + 1,
        offset=(page - 1) * svc.PAGE_SIZE,
    )
    return render(
        request,
        "inbox.html",
        {
            "threads": threads[: svc.PAGE_SIZE],
            "more": len(threads) > svc.PAGE_SIZE,
            "page": page,
            "q": q,
            "mv": mv,
        },
    )


@router.get("/inbox/threads/{thread_id}")
def thread_page(request: Request, user: CurrentUser, thread_id: int) -> Response:
    engine = request.app.state.engine
    detail = svc.get_thread(engine, user.id, thread_id)
    images = set(request.query_params.getlist("images"))
    messages = list(detail.messages)
    html = svc.html_bodies(engine, [m.id for m in messages], raw_files(request.app.state.settings))
    return render(
        request,
        "thread.html",
        {
            "thread": detail.summary,
            "messages": messages,
            "is_owner": detail.summary.owner_user_id == user.id,
            "mv": mv,
            "images": images,
            # the bodies load in their frames; the page only says which hide images
            "held_back": mv.held_back_images(messages, html, thread_id=thread_id, images=images),
        },
    )


@router.post("/inbox/threads/{thread_id}/sharing")
async def sharing(request: Request, user: CurrentUser, thread_id: int) -> Response:
    form = await request.form()
    try:
        svc.set_sharing(request.app.state.engine, user.id, thread_id, str(form.get("sharing", "")))
    except NotFound:
        raise
    except EmailsyncError as exc:
        request.session["flash"] = str(exc)
    return RedirectResponse(f"/inbox/threads/{thread_id}", status_code=303)


@router.get("/inbox/threads/{thread_id}/messages/{message_id}/body")
def message_body(
    request: Request, user: CurrentUser, thread_id: int, message_id: int, images: int = 0
) -> Response:
    engine = request.app.state.engine
    message = svc.find_message(engine, user.id, thread_id, message_id)
    html = svc.html_bodies(engine, [message_id], raw_files(request.app.state.settings))
    document, _ = mv.body_html(
        message, html[message_id], thread_id=thread_id, show_images=bool(images)
    )
    return Response(
        document,
        media_type="text/html",
        headers={
            "Content-Security-Policy": bodies.body_csp(show_images=bool(images)),
            "X-Frame-Options": "SAMEORIGIN",
        },
    )


@router.get("/inbox/threads/{thread_id}/messages/{message_id}/attachments/{index}")
def attachment(
    request: Request, user: CurrentUser, thread_id: int, message_id: int, index: int
) -> Response:
    return attachment_download(request, user.id, thread_id, message_id, index)
