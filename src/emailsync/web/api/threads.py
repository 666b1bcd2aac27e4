"""The API's threads: reading them and their messages, attachments and sharing (tag
`api`), and a thread's CRM links, splitting it and why a message is linked (tag `crm`).
services.inbox and services.crm decide who may read or change what."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import Response

from emailsync.services import crm, inbox
from emailsync.store.directory import User
from emailsync.store.raw import raw_files
from emailsync.web.api.schemas import (
    Kind,
    LinkIn,
    MessageOut,
    Problem,
    SharingIn,
    SplitIn,
    SplitOut,
    ThreadDetailOut,
    ThreadLinksOut,
    ThreadOut,
)
from emailsync.web.attachments import attachment_download
from emailsync.web.security import api_user

router = APIRouter(
    prefix="/api/v1",
    tags=["api"],
    responses={400: Problem, 401: Problem, 404: Problem, 422: Problem},
)
links_router = APIRouter(
    prefix="/api/v1",
    tags=["crm"],
    responses={400: Problem, 401: Problem, 404: Problem, 409: Problem, 422: Problem},
)
ApiUser = Annotated[User, Depends(api_user)]


def _html_bodies(request: Request, message_ids: list[int]) -> dict[int, str]:
    return inbox.html_bodies(
        request.app.state.engine, message_ids, raw_files(request.app.state.settings)
    )


@router.get("/threads", response_model=list[ThreadOut], summary="Threads you may see")
def threads(
    request: Request,
    user: ApiUser,
    q: str = "",
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> list[ThreadOut]:
    items = inbox.list_threads(
        request.app.state.engine, user.id, search=q, limit=limit, offset=offset
    )
    return [ThreadOut.of(t) for t in items]


@router.get("/threads/{thread_id}", response_model=ThreadDetailOut)
def thread(request: Request, user: ApiUser, thread_id: int) -> ThreadDetailOut:
    detail = inbox.get_thread(request.app.state.engine, user.id, thread_id)
    html = _html_bodies(request, [m.id for m in detail.messages])
    out: dict[str, Any] = ThreadOut.fields_of(detail.summary)
    out["messages"] = [MessageOut.of(m, thread_id, html[m.id]) for m in detail.messages]
    return ThreadDetailOut(**out)


@router.put("/threads/{thread_id}/sharing", response_model=ThreadOut, summary="Owner only")
def thread_sharing(request: Request, user: ApiUser, thread_id: int, body: SharingIn) -> ThreadOut:
    engine = request.app.state.engine
    inbox.set_sharing(engine, user.id, thread_id, body.sharing)
    return ThreadOut.of(inbox.get_thread(engine, user.id, thread_id).summary)


@router.get("/threads/{thread_id}/messages/{message_id}", response_model=MessageOut)
def message(request: Request, user: ApiUser, thread_id: int, message_id: int) -> MessageOut:
    found = inbox.find_message(request.app.state.engine, user.id, thread_id, message_id)
    return MessageOut.of(found, thread_id, _html_bodies(request, [message_id])[message_id])


@router.get(
    "/threads/{thread_id}/messages/{message_id}/attachments/{index}",
    response_class=Response,
    summary="Download an attachment (index from the message's attachments list)",
)
def attachment(
    request: Request, user: ApiUser, thread_id: int, message_id: int, index: int
) -> Response:
    return attachment_download(request, user.id, thread_id, message_id, index)


# -- a thread's CRM links, split, why ---------------------------------------------------------


@links_router.get("/threads/{thread_id}/links", response_model=ThreadLinksOut)
def thread_links(request: Request, user: ApiUser, thread_id: int) -> ThreadLinksOut:
    """The records the thread is linked to, each with the reason (only those you can see)."""
    links = crm.thread_links(request.app.state.engine, user.id, thread_id)
    return ThreadLinksOut.of(thread_id, links)


@links_router.post(
    "/threads/{thread_id}/links",
    response_model=ThreadLinksOut,
    summary="Link a thread by hand (owner only)",
)
def link_thread(request: Request, user: ApiUser, thread_id: int, body: LinkIn) -> ThreadLinksOut:
    """A manual link always wins over the linker; a deal replaces the thread's deal."""
    links = crm.link_thread(request.app.state.engine, user.id, thread_id, body.kind, body.id)
    return ThreadLinksOut.of(thread_id, links)


@links_router.delete(
    "/threads/{thread_id}/links/{kind}/{target_id}",
    status_code=204,
    summary="Unlink a thread (owner only); the linker will not add it back",
)
def unlink_thread(
    request: Request, user: ApiUser, thread_id: int, kind: Kind, target_id: int
) -> Response:
    crm.unlink_thread(request.app.state.engine, user.id, thread_id, kind, target_id)
    return Response(status_code=204)


@links_router.post(
    "/threads/{thread_id}/split",
    response_model=SplitOut,
    status_code=201,
    summary="Move messages into a thread of their own (owner only)",
)
def split_thread(request: Request, user: ApiUser, thread_id: int, body: SplitIn) -> SplitOut:
    """The threader respects the split: later mail does not merge the two back."""
    new_id = crm.split_thread(request.app.state.engine, user.id, thread_id, body.message_ids)
    moved = len(dict.fromkeys(body.message_ids))
    return SplitOut(thread_id=new_id, from_thread_id=thread_id, moved=moved)


@links_router.get(
    "/messages/{message_id}/why",
    response_model=list[str],
    summary="Every link of a message, each with the reason it was made",
)
def message_why(request: Request, user: ApiUser, message_id: int) -> list[str]:
    return crm.message_why(request.app.state.engine, user.id, message_id)
