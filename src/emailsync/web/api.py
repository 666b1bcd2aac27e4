"""REST API under /api/v1: everything the pages do, as JSON (OpenAPI at
/api/v1/openapi.json). Bearer token or session; other users' records answer 404."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import Response
from pydantic import BaseModel, Field

from emailsync.domain.conditions import SyncConditions
from emailsync.store.accounts import Account
from emailsync.store.directory import User
from emailsync.store.raw import raw_files
from emailsync.web import accounts as svc
from emailsync.web import mail_view as mv
from emailsync.web.inbox import attachment_download
from emailsync.web.security import api_user

Problem = {"model": dict, "description": '{"detail": "a sentence saying what is wrong"}'}
router = APIRouter(
    prefix="/api/v1",
    tags=["api"],
    responses={400: Problem, 401: Problem, 404: Problem, 422: Problem},
)
ApiUser = Annotated[User, Depends(api_user)]


# -- models ---------------------------------------------------------------------------


class EndpointOut(BaseModel):
    host: str
    port: int
    security: str


class ConditionsModel(BaseModel):
    sync_from: Literal["now", "1m", "3m", "6m", "1y"] = "3m"
    past_scope: Literal["all", "contacts"] = "contacts"
    folders: list[str] = Field(default_factory=list, description="empty: Inbox and Sent")
    future: Literal["all", "selected"] = "selected"
    track_opens: bool = True
    track_links: bool = True

    @classmethod
    def of(cls, c: SyncConditions) -> ConditionsModel:
        return cls(
            sync_from=c.sync_from.value,
            past_scope=c.past_scope.value,
            folders=list(c.folders),
            future=c.future.value,
            track_opens=c.track_opens,
            track_links=c.track_links,
        )


class StatusOut(BaseModel):
    state: str
    label: str
    detail: str
    busy: bool
    progress_done: int
    progress_total: int
    percent: int
    last_sync_at: datetime | None
    last_error: str | None


class AccountOut(BaseModel):
    id: int
    email: str
    username: str
    imap: EndpointOut
    smtp: EndpointOut | None
    conditions: ConditionsModel
    status: StatusOut
    messages: int


class AccountIn(BaseModel):
    email: str
    password: str = Field(description="the password or app password; never returned")
    imap_host: str
    imap_port: int = 993
    imap_security: Literal["ssl", "starttls", "plain"] = "ssl"
    smtp_host: str = ""
    smtp_port: int = 587
    smtp_security: Literal["ssl", "starttls", "plain"] = "starttls"
    username: str = ""


class PasswordIn(BaseModel):
    password: str


class FolderOut(BaseModel):
    name: str
    role: str
    synced_messages: int | None = None


class PreviewOut(BaseModel):
    total: int = Field(description="messages in the past window, before the contacts filter")
    folders: dict[str, int]
    contacts_only: bool
    sentence: str


class SharingIn(BaseModel):
    sharing: Literal["private", "shared"]


class AddressOut(BaseModel):
    name: str
    email: str


class ThreadOut(BaseModel):
    id: int
    subject: str
    last_message_at: datetime | None
    message_count: int
    participants: list[AddressOut]
    snippet: str
    owner_user_id: int | None
    sharing: str
    persons: list[str]
    organisation: list[str]
    deal: list[str]


class AttachmentOut(BaseModel):
    index: int
    filename: str
    content_type: str
    size: int
    url: str


class MessageOut(BaseModel):
    id: int
    thread_id: int
    sender: list[AddressOut]
    to: list[AddressOut]
    cc: list[AddressOut]
    date: datetime | None
    direction: str
    text_body: str
    html_body: str = Field(description="sanitised; remote images removed")
    attachments: list[AttachmentOut]


class ThreadDetailOut(ThreadOut):
    messages: list[MessageOut]


# -- conversions ----------------------------------------------------------------------


def _account_out(request: Request, account: Account) -> AccountOut:
    ep = account.smtp
    return AccountOut(
        id=account.id,
        email=account.email,
        username=account.username,
        imap=EndpointOut(**vars_of(account.imap)),
        smtp=EndpointOut(**vars_of(ep)) if ep else None,
        conditions=ConditionsModel.of(account.conditions),
        status=_status_out(account),
        messages=svc.message_count(request.app.state.engine, account),
    )


def vars_of(endpoint: Any) -> dict[str, Any]:
    return {"host": endpoint.host, "port": endpoint.port, "security": endpoint.security}


def _status_out(account: Account) -> StatusOut:
    s = svc.status(account)
    return StatusOut(
        state=s.key,
        label=s.label,
        detail=s.detail,
        busy=s.busy,
        progress_done=s.done,
        progress_total=s.total,
        percent=s.percent,
        last_sync_at=account.last_sync_at,
        last_error=account.last_error,
    )


def _addresses(value: Any) -> list[AddressOut]:
    return [AddressOut(name=p.name, email=p.email) for p in mv.people(value)]


def _thread_out(t: Any) -> dict[str, Any]:
    return {
        "id": mv.field(t, "id"),
        "subject": mv.field(t, "subject", default="") or "",
        "last_message_at": mv.field(t, "last_message_at"),
        "message_count": mv.field(t, "message_count", default=0) or 0,
        "participants": _addresses(mv.field(t, "participants", default=[])),
        "snippet": mv.field(t, "snippet", default="") or "",
        "owner_user_id": mv.field(t, "owner_user_id"),
        "sharing": mv.field(t, "sharing", default="private"),
        "persons": mv.names(mv.field(t, "persons")),
        "organisation": mv.names(mv.field(t, "organisation", "organisations")),
        "deal": mv.names(mv.field(t, "deal", "deals")),
    }


def _html_bodies(request: Request, message_ids: list[int]) -> dict[int, str]:
    return mv.html_bodies(
        request.app.state.engine, message_ids, raw_files(request.app.state.settings)
    )


def _message_out(m: Any, thread_id: int, html_body: str) -> MessageOut:
    message_id = mv.field(m, "id")
    sanitized = ""
    if html_body:
        sanitized, _ = mv.bodies.sanitize_html(
            html_body,
            show_images=False,
            cid_url=lambda cid: None,
        )
    base = f"/api/v1/threads/{thread_id}/messages/{message_id}/attachments"
    return MessageOut(
        id=message_id,
        thread_id=thread_id,
        sender=[AddressOut(name=p.name, email=p.email) for p in mv.sender_of(m)],
        to=_addresses(mv.field(m, "to", default=[])),
        cc=_addresses(mv.field(m, "cc", default=[])),
        date=mv.field(m, "date"),
        direction=mv.field(m, "direction", default="") or "",
        text_body=mv.field(m, "text_body", default="") or "",
        html_body=sanitized,
        attachments=[
            AttachmentOut(
                index=n,
                filename=str(a.get("filename") or ""),
                content_type=str(a.get("content_type") or ""),
                size=int(a.get("size") or 0),
                url=f"{base}/{n}",
            )
            for n, a in enumerate(mv.attachments_of(m))
        ],
    )


# -- accounts -------------------------------------------------------------------------


@router.get("/accounts", response_model=list[AccountOut], summary="Your email accounts")
def list_accounts(request: Request, user: ApiUser) -> list[AccountOut]:
    engine = request.app.state.engine
    return [_account_out(request, a) for a in svc.user_accounts(engine, user.id)]


@router.post("/accounts", response_model=AccountOut, status_code=201, summary="Connect an account")
def add_account(request: Request, user: ApiUser, body: AccountIn) -> AccountOut:
    """Tests the login first; the account then waits (state `setup`) for its conditions
    (PUT /accounts/{id}/conditions), which start the sync."""
    account = svc.connect(
        request.app.state.settings, request.app.state.engine, user.id, **body.model_dump()
    )
    return _account_out(request, account)


@router.get("/accounts/{account_id}", response_model=AccountOut)
def get_account(request: Request, user: ApiUser, account_id: int) -> AccountOut:
    return _account_out(request, svc.own_account(request.app.state.engine, user.id, account_id))


@router.put(
    "/accounts/{account_id}/conditions",
    response_model=AccountOut,
    summary="Save the sync conditions and start (or keep) syncing",
)
def configure(
    request: Request, user: ApiUser, account_id: int, body: ConditionsModel
) -> AccountOut:
    engine = request.app.state.engine
    account = svc.own_account(engine, user.id, account_id)
    names = [f.name for f in svc.folders(engine, account)]
    conditions = svc.parse_conditions(body.model_dump(), names)
    account = svc.start_sync(engine, account, conditions, request.app.state.wake)
    return _account_out(request, account)


@router.get("/accounts/{account_id}/status", response_model=StatusOut, summary="Progress")
def account_status(request: Request, user: ApiUser, account_id: int) -> StatusOut:
    return _status_out(svc.own_account(request.app.state.engine, user.id, account_id))


@router.get("/accounts/{account_id}/folders", response_model=list[FolderOut])
def folders(request: Request, user: ApiUser, account_id: int) -> list[FolderOut]:
    engine = request.app.state.engine
    account = svc.own_account(engine, user.id, account_id)
    return [FolderOut(name=f.name, role=f.role.value) for f in svc.folders(engine, account)]


@router.post(
    "/accounts/{account_id}/preview",
    response_model=PreviewOut,
    summary="How many messages a choice of conditions brings in (server SEARCH counts)",
)
def preview(request: Request, user: ApiUser, account_id: int, body: ConditionsModel) -> PreviewOut:
    engine = request.app.state.engine
    account = svc.own_account(engine, user.id, account_id)
    names = [f.name for f in svc.folders(engine, account)]
    result = svc.preview(
        request.app.state.settings, account, svc.parse_conditions(body.model_dump(), names)
    )
    return PreviewOut(
        total=result.total,
        folders=dict(result.folders),
        contacts_only=result.contacts_only,
        sentence=result.sentence,
    )


def _act(request: Request, user: User, account_id: int, action: str) -> StatusOut:
    engine, wake = request.app.state.engine, request.app.state.wake
    account = svc.own_account(engine, user.id, account_id)
    {"sync": svc.sync_now, "pause": svc.pause, "resume": svc.resume}[action](engine, account, wake)
    return _status_out(svc.own_account(engine, user.id, account_id))


@router.post("/accounts/{account_id}/sync-now", response_model=StatusOut)
def sync_now(request: Request, user: ApiUser, account_id: int) -> StatusOut:
    return _act(request, user, account_id, "sync")


@router.post("/accounts/{account_id}/pause", response_model=StatusOut, summary="Stop syncing")
def pause(request: Request, user: ApiUser, account_id: int) -> StatusOut:
    return _act(request, user, account_id, "pause")


@router.post("/accounts/{account_id}/resume", response_model=StatusOut)
def resume(request: Request, user: ApiUser, account_id: int) -> StatusOut:
    return _act(request, user, account_id, "resume")


@router.post("/accounts/{account_id}/reconnect", response_model=StatusOut)
def reconnect(request: Request, user: ApiUser, account_id: int, body: PasswordIn) -> StatusOut:
    engine = request.app.state.engine
    account = svc.own_account(engine, user.id, account_id)
    svc.reconnect(
        request.app.state.settings, engine, account, body.password, request.app.state.wake
    )
    return _status_out(svc.own_account(engine, user.id, account_id))


@router.delete("/accounts/{account_id}", status_code=204, summary="Remove an account")
def delete_account(
    request: Request,
    user: ApiUser,
    account_id: int,
    keep_mail: Annotated[bool, Query(description="keep the synced mail readable")],
) -> Response:
    engine = request.app.state.engine
    account = svc.own_account(engine, user.id, account_id)
    svc.remove(
        engine,
        account,
        keep_mail=keep_mail,
        wake=request.app.state.wake,
        raw_files=raw_files(request.app.state.settings),
    )
    return Response(status_code=204)


# -- threads and messages -------------------------------------------------------------


@router.get("/threads", response_model=list[ThreadOut], summary="Threads you may see")
def threads(
    request: Request,
    user: ApiUser,
    q: str = "",
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> list[dict[str, Any]]:
    items = mv.list_threads(request.app.state.engine, user.id, search=q, limit=limit, offset=offset)
    return [_thread_out(t) for t in items]


@router.get("/threads/{thread_id}", response_model=ThreadDetailOut)
def thread(request: Request, user: ApiUser, thread_id: int) -> dict[str, Any]:
    detail = mv.get_thread(request.app.state.engine, user.id, thread_id)
    out = _thread_out(mv.summary_of(detail))
    messages = mv.messages_of(detail)
    html = _html_bodies(request, [mv.field(m, "id") for m in messages])
    out["messages"] = [_message_out(m, thread_id, html[mv.field(m, "id")]) for m in messages]
    return out


@router.put("/threads/{thread_id}/sharing", response_model=ThreadOut, summary="Owner only")
def thread_sharing(
    request: Request, user: ApiUser, thread_id: int, body: SharingIn
) -> dict[str, Any]:
    engine = request.app.state.engine
    mv.set_sharing(engine, user.id, thread_id, body.sharing)
    return _thread_out(mv.summary_of(mv.get_thread(engine, user.id, thread_id)))


@router.get("/threads/{thread_id}/messages/{message_id}", response_model=MessageOut)
def message(request: Request, user: ApiUser, thread_id: int, message_id: int) -> MessageOut:
    found = mv.find_message(request.app.state.engine, user.id, thread_id, message_id)
    return _message_out(found, thread_id, _html_bodies(request, [message_id])[message_id])


@router.get(
    "/threads/{thread_id}/messages/{message_id}/attachments/{index}",
    response_class=Response,
    summary="Download an attachment (index from the message's attachments list)",
)
def attachment(
    request: Request, user: ApiUser, thread_id: int, message_id: int, index: int
) -> Response:
    return attachment_download(request, user.id, thread_id, message_id, index)
