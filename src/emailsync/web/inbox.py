"""Inbox pages: the user's threads and those shared with them (store.conversations decides),
a thread with its messages in sandboxed iframes, attachments, and the sharing switch."""

from __future__ import annotations

from typing import Annotated
from urllib.parse import quote

from fastapi import APIRouter, Depends, Request
from fastapi.responses import RedirectResponse, Response

from emailsync.errors import EmailsyncError
from emailsync.store.directory import User
from emailsync.store.raw import raw_files
from emailsync.web import bodies
from emailsync.web import mail_view as mv
from emailsync.web.app import render
from emailsync.web.security import page_user

router = APIRouter(include_in_schema=False)
CurrentUser = Annotated[User, Depends(page_user)]


@router.get("/inbox")
def inbox(request: Request, user: CurrentUser, q: str = "", page: int = 1) -> Response:
    page = max(1, page)
    threads = mv.list_threads(
        request.app.state.engine,
        user.id,
        search=q.strip(),
        limit=mv.PAGE_SIZE + 1,
        offset=(page - 1) * mv.PAGE_SIZE,
    )
    return render(
        request,
        "inbox.html",
        {
            "threads": threads[: mv.PAGE_SIZE],
            "more": len(threads) > mv.PAGE_SIZE,
            "page": page,
            "q": q,
            "mv": mv,
        },
    )


@router.get("/inbox/threads/{thread_id}")
def thread_page(request: Request, user: CurrentUser, thread_id: int) -> Response:
    engine = request.app.state.engine
    detail = mv.get_thread(engine, user.id, thread_id)
    summary = mv.summary_of(detail)
    images = set(request.query_params.getlist("images"))
    messages = mv.messages_of(detail)
    html = mv.html_bodies(
        engine, [mv.field(m, "id") for m in messages], raw_files(request.app.state.settings)
    )
    return render(
        request,
        "thread.html",
        {
            "thread": summary,
            "messages": messages,
            "is_owner": mv.field(summary, "owner_user_id") == user.id,
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
        mv.set_sharing(request.app.state.engine, user.id, thread_id, str(form.get("sharing", "")))
    except EmailsyncError as exc:
        if isinstance(exc, mv.NotFound):
            raise
        request.session["flash"] = str(exc)
    return RedirectResponse(f"/inbox/threads/{thread_id}", status_code=303)


@router.get("/inbox/threads/{thread_id}/messages/{message_id}/body")
def message_body(
    request: Request, user: CurrentUser, thread_id: int, message_id: int, images: int = 0
) -> Response:
    engine = request.app.state.engine
    message = mv.find_message(engine, user.id, thread_id, message_id)
    html = mv.html_bodies(engine, [message_id], raw_files(request.app.state.settings))
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


def attachment_download(
    request: Request, user_id: int, thread_id: int, message_id: int, index: int
) -> Response:
    """An attachment the user may see, read from the raw message: the page's and the
    API's download."""
    data = mv.attachment(
        request.app.state.engine,
        user_id,
        thread_id,
        message_id,
        index,
        raw_files=raw_files(request.app.state.settings),
    )
    return attachment_response(data)


def attachment_response(data: bodies.AttachmentData) -> Response:
    inline = data.content_type in bodies.INLINE_SAFE_TYPES
    quoted = data.filename.replace("\\", "_").replace('"', "_").replace("\r", "").replace("\n", "")
    ascii_name = quoted.encode("ascii", "replace").decode()
    kind = "inline" if inline else "attachment"
    disposition = f"{kind}; filename=\"{ascii_name}\"; filename*=UTF-8''{quote(data.filename)}"
    return Response(
        data.data,
        media_type=data.content_type if inline else "application/octet-stream",
        headers={
            "Content-Disposition": disposition,
            "Content-Security-Policy": "default-src 'none'; sandbox",
        },
    )


@router.get("/inbox/threads/{thread_id}/messages/{message_id}/attachments/{index}")
def attachment(
    request: Request, user: CurrentUser, thread_id: int, message_id: int, index: int
) -> Response:
    return attachment_download(request, user.id, thread_id, message_id, index)
