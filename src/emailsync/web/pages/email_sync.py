"""Pages: Personal preferences > Email sync (the seed's flow), over services.accounts.

/settings/email-sync                     the user's own accounts, state and actions
/settings/email-sync/new                 provider presets, connection test, save
/settings/email-sync/{id}/conditions     tracking, folders, sync from, scope, preview
/settings/email-sync/{id}/sync           progress bar until the first pass is done
/settings/email-sync/why-not             "Why isn't this email in the CRM?" on the same page
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import RedirectResponse, Response

from emailsync.domain.conditions import DEFAULT_ROLES, SyncConditions
from emailsync.domain.states import AccountState, Security
from emailsync.errors import EmailsyncError, NotFound
from emailsync.providers import BY_KEY, PRESETS
from emailsync.services import accounts as svc
from emailsync.store.accounts import Account
from emailsync.store.directory import User
from emailsync.store.raw import raw_files
from emailsync.web.security import page_user
from emailsync.web.templating import render

router = APIRouter(include_in_schema=False)
CurrentUser = Annotated[User, Depends(page_user)]


def _form_dict(form: Any) -> dict[str, Any]:
    data: dict[str, Any] = {}
    for key in form:
        values = form.getlist(key)
        data[key] = values if key == "folders" else values[-1]
    return data


def _card(request: Request, account: Account) -> dict[str, Any]:
    engine = request.app.state.engine
    return {
        "account": account,
        "status": svc.status(account),
        "last_sync": svc.last_sync_words(account.last_sync_at),
        "messages": svc.message_count(engine, account),
    }


@router.get("/settings/email-sync")
def email_sync(request: Request, user: CurrentUser) -> Response:
    engine = request.app.state.engine
    cards = [_card(request, a) for a in svc.user_accounts(engine, user.id)]
    return render(request, "email_sync.html", {"cards": cards, "why": {}})


@router.get("/settings/email-sync/why-not")
def why_not(request: Request, user: CurrentUser, account: int, q: str = "") -> Response:
    """The page again, with the box's answer: one line per copy found on the server."""
    engine = request.app.state.engine
    why: dict[str, Any] = {"account_id": account, "query": q}
    status = 200
    try:
        report = svc.why_not(request.app.state.settings, engine, user.id, account, q)
    except NotFound:
        raise
    except EmailsyncError as exc:
        why["error"], status = str(exc), 400
    else:
        why["hits"] = [
            {
                "hit": hit,
                "words": svc.REASON_WORDS[hit.reason],
                "conditions": hit.reason in svc.CONDITIONS_REASONS,
            }
            for hit in report.hits
        ]
        why["more"] = report.more
    cards = [_card(request, a) for a in svc.user_accounts(engine, user.id)]
    return render(request, "email_sync.html", {"cards": cards, "why": why}, status=status)


@router.get("/settings/email-sync/new")
def new_account_page(request: Request, user: CurrentUser, provider: str = "custom") -> Response:
    preset = BY_KEY.get(provider, BY_KEY["custom"])
    values = {
        "provider": preset.key,
        "email": "",
        "username": "",
        "imap_host": preset.imap_host,
        "imap_port": preset.imap_port,
        "imap_security": preset.imap_security,
        "smtp_host": preset.smtp_host,
        "smtp_port": preset.smtp_port,
        "smtp_security": preset.smtp_security,
    }
    return render(request, "account_new.html", {"presets": PRESETS, "values": values})


@router.post("/settings/email-sync/new")
async def new_account(request: Request, user: CurrentUser) -> Response:
    form = _form_dict(await request.form())
    values = {k: v for k, v in form.items() if k not in ("password", "csrf_token")}
    try:
        account = svc.connect(
            request.app.state.settings,
            request.app.state.engine,
            user.id,
            email=str(form.get("email", "")),
            password=str(form.get("password", "")),
            imap_host=str(form.get("imap_host", "")),
            imap_port=form.get("imap_port", ""),
            imap_security=str(form.get("imap_security", Security.SSL)),
            smtp_host=str(form.get("smtp_host", "")),
            smtp_port=form.get("smtp_port", ""),
            smtp_security=str(form.get("smtp_security", Security.STARTTLS)),
            username=str(form.get("username", "")),
        )
    except EmailsyncError as exc:
        return render(
            request,
            "account_new.html",
            {"presets": PRESETS, "values": values, "error": str(exc)},
            status=400,
        )
    return RedirectResponse(f"/settings/email-sync/{account.id}/conditions", status_code=303)


def _conditions_context(
    request: Request, account: Account, conditions: SyncConditions, error: str = ""
) -> dict[str, Any]:
    folders = svc.folders(request.app.state.engine, account)
    chosen = set(conditions.folders) or {f.name for f in folders if f.role in DEFAULT_ROLES}
    return {
        "account": account,
        "conditions": conditions,
        "folders": folders,
        "chosen": chosen,
        "choices": svc.SYNC_FROM_CHOICES,
        "first_time": account.state == AccountState.SETUP,
        "error": error,
    }


@router.get("/settings/email-sync/{account_id}/conditions")
def conditions_page(request: Request, user: CurrentUser, account_id: int) -> Response:
    account = svc.own_account(request.app.state.engine, user.id, account_id)
    return render(
        request, "conditions.html", _conditions_context(request, account, account.conditions)
    )


@router.get("/settings/email-sync/{account_id}/preview")
def preview_fragment(request: Request, user: CurrentUser, account_id: int) -> Response:
    account = svc.own_account(request.app.state.engine, user.id, account_id)
    names = [f.name for f in svc.folders(request.app.state.engine, account)]
    values: dict[str, Any] = dict(request.query_params)
    values["folders"] = request.query_params.getlist("folders")
    try:
        conditions = svc.parse_conditions(values, names)
        if not values["folders"]:
            conditions = SyncConditions(
                sync_from=conditions.sync_from,
                past_scope=conditions.past_scope,
                future=conditions.future,
            )
        result = svc.preview(request.app.state.settings, account, conditions)
    except EmailsyncError as exc:
        return render(request, "_preview.html", {"error": str(exc)})
    return render(request, "_preview.html", {"result": result})


@router.post("/settings/email-sync/{account_id}/conditions")
async def save_conditions(request: Request, user: CurrentUser, account_id: int) -> Response:
    engine = request.app.state.engine
    account = svc.own_account(engine, user.id, account_id)
    form = _form_dict(await request.form())
    names = [f.name for f in svc.folders(engine, account)]
    try:
        conditions = svc.parse_conditions(form, names)
        started = svc.start_sync(engine, account, conditions, request.app.state.wake)
    except EmailsyncError as exc:
        ctx = _conditions_context(request, account, account.conditions, str(exc))
        return render(request, "conditions.html", ctx, status=400)
    if started.notes:
        request.session["flash"] = " ".join(started.notes)
    return RedirectResponse(f"/settings/email-sync/{account_id}/sync", status_code=303)


@router.get("/settings/email-sync/{account_id}/sync")
def sync_page(request: Request, user: CurrentUser, account_id: int) -> Response:
    account = svc.own_account(request.app.state.engine, user.id, account_id)
    return render(request, "sync.html", _card(request, account))


@router.get("/settings/email-sync/{account_id}/status")
def status_fragment(request: Request, user: CurrentUser, account_id: int) -> Response:
    account = svc.own_account(request.app.state.engine, user.id, account_id)
    return render(request, "_status.html", _card(request, account))


@router.get("/settings/email-sync/{account_id}/reconnect")
def reconnect_page(request: Request, user: CurrentUser, account_id: int) -> Response:
    account = svc.own_account(request.app.state.engine, user.id, account_id)
    return render(request, "reconnect.html", {"account": account})


@router.post("/settings/email-sync/{account_id}/reconnect")
async def reconnect(request: Request, user: CurrentUser, account_id: int) -> Response:
    engine = request.app.state.engine
    account = svc.own_account(engine, user.id, account_id)
    form = await request.form()
    try:
        svc.reconnect(
            request.app.state.settings,
            engine,
            account,
            str(form.get("password", "")),
            request.app.state.wake,
        )
    except EmailsyncError as exc:
        return render(request, "reconnect.html", {"account": account, "error": str(exc)}, 400)
    return RedirectResponse("/settings/email-sync", status_code=303)


@router.get("/settings/email-sync/{account_id}/remove")
def remove_page(request: Request, user: CurrentUser, account_id: int) -> Response:
    account = svc.own_account(request.app.state.engine, user.id, account_id)
    return render(request, "remove.html", {"account": account})


@router.post("/settings/email-sync/{account_id}/remove")
async def remove(request: Request, user: CurrentUser, account_id: int) -> Response:
    engine = request.app.state.engine
    account = svc.own_account(engine, user.id, account_id)
    form = await request.form()
    choice = str(form.get("mail", ""))
    if choice not in ("keep", "delete"):
        return render(
            request,
            "remove.html",
            {"account": account, "error": "Choose whether to keep or delete the synced mail."},
            400,
        )
    svc.remove(
        engine,
        account,
        keep_mail=choice == "keep",
        wake=request.app.state.wake,
        raw_files=raw_files(request.app.state.settings),
    )
    request.session["flash"] = f"{account.email} was removed." + (
        " Its synced mail stays in the inbox." if choice == "keep" else ""
    )
    return RedirectResponse("/settings/email-sync", status_code=303)


# Registered last so /reconnect and /remove above win over this catch-all.
@router.post("/settings/email-sync/{account_id}/{action}")
def account_action(request: Request, user: CurrentUser, account_id: int, action: str) -> Response:
    engine, wake = request.app.state.engine, request.app.state.wake
    account = svc.own_account(engine, user.id, account_id)
    actions: dict[str, Any] = {
        "sync-now": lambda: svc.sync_now(engine, account, wake),
        "pause": lambda: svc.pause(engine, account, wake),
        "resume": lambda: svc.resume(engine, account, wake),
    }
    if action not in actions:
        return render(
            request,
            "error.html",
            {"title": "Not found", "detail": "There is no such action."},
            status=404,
        )
    try:
        said = actions[action]()
    except EmailsyncError as exc:
        request.session["flash"] = str(exc)
    else:
        if isinstance(said, str):
            request.session["flash"] = said
    return RedirectResponse("/settings/email-sync", status_code=303)
