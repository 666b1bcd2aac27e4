"""The API's email accounts: the same services.accounts calls as the settings pages."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import Response

from emailsync.services import accounts as svc
from emailsync.store.accounts import Account
from emailsync.store.directory import User
from emailsync.store.raw import raw_files
from emailsync.web.api.schemas import (
    AccountIn,
    AccountOut,
    ConditionsModel,
    ConfiguredOut,
    FolderOut,
    PasswordIn,
    PreviewOut,
    Problem,
    StatusOut,
    WhyNotHitOut,
)
from emailsync.web.security import api_user

router = APIRouter(
    prefix="/api/v1",
    tags=["api"],
    responses={400: Problem, 401: Problem, 404: Problem, 422: Problem},
)
ApiUser = Annotated[User, Depends(api_user)]


def _account_out(request: Request, account: Account) -> AccountOut:
    return AccountOut.of(account, svc.message_count(request.app.state.engine, account))


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
    response_model=ConfiguredOut,
    summary="Save the sync conditions and start (or keep) syncing",
)
def configure(
    request: Request, user: ApiUser, account_id: int, body: ConditionsModel
) -> ConfiguredOut:
    """`notes` say what a change does to mail already synced ("The next sync brings in
    the mail from 3 months back to 6 months back."); empty on the first Sync."""
    engine = request.app.state.engine
    account = svc.own_account(engine, user.id, account_id)
    names = [f.name for f in svc.folders(engine, account)]
    conditions = svc.parse_conditions(body.model_dump(), names)
    started = svc.start_sync(engine, account, conditions, request.app.state.wake)
    out = _account_out(request, started.account)
    return ConfiguredOut(**out.model_dump(), notes=started.notes)


@router.get("/accounts/{account_id}/status", response_model=StatusOut, summary="Progress")
def account_status(request: Request, user: ApiUser, account_id: int) -> StatusOut:
    return StatusOut.of(svc.own_account(request.app.state.engine, user.id, account_id))


@router.get("/accounts/{account_id}/folders", response_model=list[FolderOut])
def folders(request: Request, user: ApiUser, account_id: int) -> list[FolderOut]:
    engine = request.app.state.engine
    account = svc.own_account(engine, user.id, account_id)
    return [
        FolderOut(name=f.name, role=f.role.value, synced_messages=count)
        for f, count in svc.folders_with_counts(engine, account)
    ]


@router.get(
    "/accounts/{account_id}/why-not",
    response_model=list[WhyNotHitOut],
    summary="Why isn't this email in the CRM? Looks it up on the mail server",
)
def why_not(
    request: Request,
    user: ApiUser,
    account_id: int,
    q: Annotated[str, Query(description="a Message-ID (<id@example.com>) or an address")],
) -> list[WhyNotHitOut]:
    """Every copy found in the mailbox's folders (newest first, at most 50), each with why
    it is or is not in the CRM: the JSON of `emailsync messages why-not --json`."""
    report = svc.why_not(
        request.app.state.settings, request.app.state.engine, user.id, account_id, q
    )
    return [WhyNotHitOut.of(hit) for hit in report.hits]


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
    return StatusOut.of(svc.own_account(engine, user.id, account_id))


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
    return StatusOut.of(svc.own_account(engine, user.id, account_id))


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
