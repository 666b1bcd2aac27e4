"""REST API for the CRM layer under /api/v1: persons, organisations, deals, the links of
a thread to them, splitting a thread, and why a message is linked.

The same store functions as the `contacts`, `orgs`, `deals`, `threads` and `messages why`
commands, with the same retroactive deal linking after a change. Who may do what:

* A record (person, organisation, deal) is seen by everyone when its visibility is
  `company`, else by its owner alone (domain.privacy.can_see_record). A record the caller
  cannot see answers 404, exactly like one that does not exist.
* Records made here belong to the caller. Anyone who can see a record may change or
  delete it; only its owner may change its visibility (a record without an owner, made
  from the command line, keeps the visibility it has).
* Links and splits change a thread: its owner only (400 with a sentence for others who
  can see it, 404 for those who cannot). Link reasons never name a record the caller
  cannot see.

Every error is a 4xx with {"detail": "a sentence"}: UsageError is 400 and NotFound 404
through the app's handlers (web/app.py), conflicts are 409, bad bodies 422.
"""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal, InvalidOperation
from typing import Annotated, Any, Literal, TypeVar

import sqlalchemy as sa
from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.responses import Response
from pydantic import BaseModel, ConfigDict, Field, field_validator

from emailsync.domain.addresses import normalize_email
from emailsync.domain.privacy import RecordRef, can_see_record
from emailsync.errors import UsageError
from emailsync.store import conversations, crm, directory
from emailsync.store import threads as thread_store
from emailsync.store.db import reading
from emailsync.store.directory import User
from emailsync.store.tables import messages
from emailsync.web.accounts import NotFound
from emailsync.web.security import api_user

Problem = {"model": dict, "description": '{"detail": "a sentence saying what is wrong"}'}
router = APIRouter(
    prefix="/api/v1",
    tags=["crm"],
    responses={400: Problem, 401: Problem, 404: Problem, 409: Problem, 422: Problem},
)
ApiUser = Annotated[User, Depends(api_user)]
Visibility = Literal["company", "owner"]
Kind = Literal["person", "organisation", "deal"]
MAX_VALUE = Decimal("999999999999.99")  # deals.value is NUMERIC(14, 2)


# -- models ---------------------------------------------------------------------------


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid")


class PersonOut(BaseModel):
    id: int
    name: str
    emails: list[str]
    organisation: str | None = Field(description="the organisation's name, if you can see it")
    organisation_id: int | None
    owner_user_id: int | None
    visibility: Visibility


class PersonIn(_In):
    name: str = Field("", max_length=200)
    emails: list[Annotated[str, Field(max_length=320)]] = Field(min_length=1)
    organisation: str | None = Field(
        None, max_length=200, description="a name; made (yours, company-wide) when new"
    )
    visibility: Visibility = "company"


class PersonPatch(_In):
    name: str | None = Field(None, max_length=200)
    add_emails: list[Annotated[str, Field(max_length=320)]] = Field(
        default_factory=list, description="addresses to add (addresses are never removed here)"
    )
    organisation: str | None = Field(
        None, max_length=200, description='a name; "" or null removes the organisation'
    )
    visibility: Visibility | None = Field(None, description="owner only")


class OrganisationOut(BaseModel):
    id: int
    name: str
    domains: list[str]
    owner_user_id: int | None
    visibility: Visibility


class OrganisationIn(_In):
    name: str = Field(min_length=1, max_length=200)
    domains: list[Annotated[str, Field(max_length=255)]] = Field(default_factory=list)
    visibility: Visibility = "company"


class OrganisationPatch(_In):
    add_domains: list[Annotated[str, Field(max_length=255)]] = Field(
        default_factory=list, description="domains to add (a subdomain counts for linking)"
    )
    visibility: Visibility | None = Field(None, description="owner only")


def _amount(value: Any) -> str:
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise ValueError('must be an amount written as a string, e.g. "1250.00"')
    try:
        amount = Decimal(str(value).strip())
    except InvalidOperation:
        raise ValueError(f'{value!r} is not an amount, e.g. "1250.00"') from None
    if not amount.is_finite() or amount < 0 or amount > MAX_VALUE:
        raise ValueError(f"must be an amount from 0 to {MAX_VALUE}")
    if amount != amount.quantize(Decimal("0.01")):
        raise ValueError("has at most two decimals")
    return str(amount.quantize(Decimal("0.01")))


def _title(value: Any) -> Any:
    if isinstance(value, str):
        value = value.strip()
        if not value:
            raise ValueError("a deal needs a title")
    return value


class DealOut(BaseModel):
    id: int
    title: str
    value: str = Field(description="decimal string, two decimals")
    currency: str
    status: Literal["open", "won", "lost"]
    person_id: int | None
    organisation_id: int | None
    owner_user_id: int | None
    visibility: Visibility


class DealIn(_In):
    title: str = Field(max_length=300)
    value: str = Field("0", description='decimal string, e.g. "1250.00"')
    currency: str = Field("EUR", pattern=r"^[A-Za-z]{3}$", description="ISO 4217 code")
    status: Literal["open", "won", "lost"] = "open"
    person_id: int | None = None
    organisation_id: int | None = Field(None, description="default: the person's organisation")
    visibility: Visibility = "company"

    @field_validator("title", mode="before")
    @classmethod
    def check_title(cls, value: Any) -> Any:
        return _title(value)

    @field_validator("value", mode="before")
    @classmethod
    def check_value(cls, value: Any) -> Any:
        return _amount(value)


class DealPatch(_In):
    title: str | None = Field(None, max_length=300)
    value: str | None = None
    currency: str | None = Field(None, pattern=r"^[A-Za-z]{3}$")
    status: Literal["open", "won", "lost"] | None = None
    person_id: int | None = Field(None, description="another person (cannot be removed)")
    organisation_id: int | None = Field(None, description="another organisation")
    visibility: Visibility | None = Field(None, description="owner only")

    @field_validator("title", mode="before")
    @classmethod
    def check_title(cls, value: Any) -> Any:
        return _title(value)

    @field_validator("value", mode="before")
    @classmethod
    def check_value(cls, value: Any) -> Any:
        return None if value is None else _amount(value)


class LinkIn(_In):
    kind: Kind
    id: int


class LinkOut(BaseModel):
    kind: Kind
    id: int
    name: str
    reason: str
    manual: bool


class ThreadLinksOut(BaseModel):
    thread_id: int
    persons: list[LinkOut]
    organisations: list[LinkOut]
    deal: LinkOut | None


class SplitIn(_In):
    message_ids: list[int] = Field(min_length=1, description="messages of this thread to move")


class SplitOut(BaseModel):
    thread_id: int = Field(description="the new thread")
    from_thread_id: int
    moved: int


# -- helpers --------------------------------------------------------------------------


def _engine(request: Request) -> sa.Engine:
    return request.app.state.engine


def _sees(user: User, record: Any) -> bool:
    return can_see_record(user.id, RecordRef(record.owner_user_id, record.visibility))


def _check_visibility_change(user: User, record: Any, visibility: str | None, what: str) -> None:
    if visibility is None or visibility == record.visibility:
        return
    if record.owner_user_id != user.id:
        raise UsageError(f"Only the owner of {what} can change who sees it")


def _relink(engine: sa.Engine, emails: list[str]) -> int:
    with engine.begin() as conn:
        return conversations.relink_deals(conn, emails)


def _emails_of_persons(engine: sa.Engine, person_ids: set[int | None]) -> list[str]:
    with reading(engine) as conn:
        return [
            e
            for p in sorted(i for i in person_ids if i)
            for e in conversations.person_emails_of(conn, p)
        ]


# persons


def _person(engine: sa.Engine, user: User, person_id: int) -> directory.Person:
    try:
        person = directory.get_person(engine, person_id)
    except UsageError:
        person = None
    if person is None or not _sees(user, person):
        raise NotFound(f"There is no contact {person_id} you can see")
    return person


def _person_out(
    person: directory.Person, orgs: dict[int, crm.Organisation], user: User
) -> PersonOut:
    org = orgs.get(person.organisation_id) if person.organisation_id else None
    shown = org is not None and _sees(user, org)
    return PersonOut(
        id=person.id,
        name=person.name,
        emails=list(person.emails),
        organisation=org.name if shown and org else None,
        organisation_id=person.organisation_id if shown else None,
        owner_user_id=person.owner_user_id,
        visibility=person.visibility,  # type: ignore[arg-type]
    )


def _orgs(engine: sa.Engine) -> dict[int, crm.Organisation]:
    with reading(engine) as conn:
        return {o.id: o for o in crm.list_organisations(conn)}


def _one_person_out(engine: sa.Engine, user: User, person: directory.Person) -> PersonOut:
    orgs: dict[int, crm.Organisation] = {}
    if person.organisation_id:
        with reading(engine) as conn:
            orgs[person.organisation_id] = crm.get_organisation(conn, person.organisation_id)
    return _person_out(person, orgs, user)


def _organisation_named(engine: sa.Engine, user: User, name: str) -> str:
    """The organisation a person is put at, by name: made (the caller's, company-wide)
    when new. A name taken by a record the caller cannot see is refused rather than
    silently attaching the person to it."""
    name = name.strip()
    if not name:
        return ""
    with reading(engine) as conn:
        org_id = crm.organisation_by_name(conn, name, create=False)
        org = crm.get_organisation(conn, org_id) if org_id is not None else None
    if org is None:
        crm.add_organisation(engine, name, owner_user_id=user.id, visibility="company")
    elif not _sees(user, org):
        raise UsageError(
            f"The organisation name {name!r} is taken by a record you cannot see; "
            "choose another name"
        )
    return name


def _addresses(raw: list[str]) -> list[str]:
    out = []
    for value in raw:
        email = normalize_email(value)
        if not email:
            raise UsageError(f"{value!r} is not an email address")
        out.append(email)
    return list(dict.fromkeys(out))


# organisations


Record = TypeVar("Record", crm.Organisation, crm.Deal)


def _visible(
    engine: sa.Engine,
    user: User,
    read: Callable[[sa.Connection, int], Record],
    record_id: int,
    kind: str,
) -> Record:
    """The record, if the user may see it; the same answer when it does not exist."""
    with reading(engine) as conn:
        try:
            record: Record | None = read(conn, record_id)
        except UsageError:
            record = None
    if record is None or not _sees(user, record):
        raise NotFound(f"There is no {kind} {record_id} you can see")
    return record


def _organisation(engine: sa.Engine, user: User, org_id: int) -> crm.Organisation:
    return _visible(engine, user, crm.get_organisation, org_id, "organisation")


def _organisation_out(org: crm.Organisation) -> OrganisationOut:
    return OrganisationOut(
        id=org.id,
        name=org.name,
        domains=list(org.domains),
        owner_user_id=org.owner_user_id,
        visibility=org.visibility,  # type: ignore[arg-type]
    )


# deals


def _deal(engine: sa.Engine, user: User, deal_id: int) -> crm.Deal:
    return _visible(engine, user, crm.get_deal, deal_id, "deal")


def _deal_out(deal: crm.Deal) -> DealOut:
    return DealOut(
        id=deal.id,
        title=deal.title,
        value=str(Decimal(deal.value).quantize(Decimal("0.01"))),
        currency=deal.currency,
        status=deal.status,  # type: ignore[arg-type]
        person_id=deal.person_id,
        organisation_id=deal.organisation_id,
        owner_user_id=deal.owner_user_id,
        visibility=deal.visibility,  # type: ignore[arg-type]
    )


def _references(engine: sa.Engine, user: User, person_id: int | None, org_id: int | None) -> None:
    """A deal may only point at records the caller can see (400: it is the body's fault)."""
    try:
        if person_id is not None:
            _person(engine, user, person_id)
        if org_id is not None:
            _organisation(engine, user, org_id)
    except NotFound as exc:
        raise UsageError(str(exc)) from None


# threads


def _visible_thread(engine: sa.Engine, user: User, thread_id: int) -> None:
    with reading(engine) as conn:
        visible = conversations.visible_thread_ids(conn, user.id, [thread_id])
    if thread_id not in visible:
        raise NotFound(f"There is no conversation {thread_id} you can open")


def _own_thread(engine: sa.Engine, user: User, thread_id: int) -> None:
    _visible_thread(engine, user, thread_id)
    with reading(engine) as conn:
        owner = conversations.thread_owner(conn, thread_id)
    if owner != user.id:
        raise UsageError(f"Only the owner of conversation {thread_id} can change it")


def _link_out(record: conversations.LinkedRecord) -> LinkOut:
    return LinkOut(
        kind=record.kind,  # type: ignore[arg-type]
        id=record.id,
        name=record.name,
        reason=record.reason,
        manual=record.manual,
    )


def _links(engine: sa.Engine, user: User, thread_id: int) -> conversations.ThreadLinks:
    with reading(engine) as conn:
        return conversations.links_of_threads(conn, [thread_id], user.id).get(
            thread_id, conversations.ThreadLinks()
        )


def _links_out(engine: sa.Engine, user: User, thread_id: int) -> ThreadLinksOut:
    links = _links(engine, user, thread_id)

    def seen(r: conversations.LinkedRecord) -> bool:
        return can_see_record(user.id, r.ref())

    return ThreadLinksOut(
        thread_id=thread_id,
        persons=[_link_out(p) for p in links.persons if seen(p)],
        organisations=[_link_out(o) for o in links.organisations if seen(o)],
        deal=_link_out(links.deal) if links.deal and seen(links.deal) else None,
    )


# -- persons --------------------------------------------------------------------------


@router.get("/persons", response_model=list[PersonOut], summary="Contacts you can see")
def list_persons(request: Request, user: ApiUser) -> list[PersonOut]:
    engine = _engine(request)
    orgs = _orgs(engine)
    return [_person_out(p, orgs, user) for p in directory.list_persons(engine) if _sees(user, p)]


@router.post("/persons", response_model=PersonOut, status_code=201, summary="Add a contact")
def add_person(request: Request, user: ApiUser, body: PersonIn) -> PersonOut:
    """The contact is yours. Mail already synced with these addresses is linked to it at
    once (and put on its deal when it has exactly one open deal)."""
    engine = _engine(request)
    emails = _addresses(body.emails)
    for email in emails:
        owner = directory.find_person_by_email(engine, email)
        if owner is not None:
            try:
                _person(engine, user, owner)
            except NotFound:
                raise HTTPException(
                    409, f"The address {email} belongs to a contact you cannot see"
                ) from None
            raise HTTPException(
                409,
                f"The address {email} belongs to contact {owner} already: add addresses "
                f"with PATCH /api/v1/persons/{owner}",
            )
    org = _organisation_named(engine, user, body.organisation or "")
    person = directory.add_person(
        engine, emails, body.name.strip(), org, owner_user_id=user.id, visibility=body.visibility
    )
    _relink(engine, list(person.emails))
    return _one_person_out(engine, user, person)


@router.get("/persons/{person_id}", response_model=PersonOut)
def get_person(request: Request, user: ApiUser, person_id: int) -> PersonOut:
    engine = _engine(request)
    return _one_person_out(engine, user, _person(engine, user, person_id))


@router.patch("/persons/{person_id}", response_model=PersonOut, summary="Change a contact")
def update_person(request: Request, user: ApiUser, person_id: int, body: PersonPatch) -> PersonOut:
    """Anyone who can see the contact may change it; its visibility only its owner."""
    engine = _engine(request)
    person = _person(engine, user, person_id)
    _check_visibility_change(user, person, body.visibility, f"contact {person_id}")
    org: str | None = None
    if "organisation" in body.model_fields_set:
        org = _organisation_named(engine, user, body.organisation or "")
    new = [e for e in _addresses(body.add_emails) if e not in person.emails]
    for email in new:
        owner = directory.find_person_by_email(engine, email)
        if owner is not None and owner != person_id:
            raise HTTPException(409, f"The address {email} belongs to another contact already")
    person = directory.update_person(
        engine,
        person_id,
        name=body.name.strip() if body.name is not None else None,
        org=org,
        visibility=body.visibility,
    )
    if new:
        person = directory.add_person(engine, [*person.emails, *new])
        _relink(engine, list(person.emails))
    return _one_person_out(engine, user, person)


@router.delete("/persons/{person_id}", status_code=204, summary="Delete a contact")
def delete_person(request: Request, user: ApiUser, person_id: int) -> Response:
    """The mail with them stays, no longer linked to them; their deals lose their person."""
    engine = _engine(request)
    _person(engine, user, person_id)
    directory.delete_person(engine, person_id)
    return Response(status_code=204)


# -- organisations ----------------------------------------------------------------------


@router.get("/organisations", response_model=list[OrganisationOut])
def list_organisations(request: Request, user: ApiUser) -> list[OrganisationOut]:
    with reading(_engine(request)) as conn:
        orgs = crm.list_organisations(conn)
    return [_organisation_out(o) for o in orgs if _sees(user, o)]


@router.post("/organisations", response_model=OrganisationOut, status_code=201)
def add_organisation(request: Request, user: ApiUser, body: OrganisationIn) -> OrganisationOut:
    """The organisation is yours; mail from its domains (and their subdomains) is linked
    to it when no contact matches the address."""
    engine = _engine(request)
    name = body.name.strip()
    if not name:
        raise UsageError("An organisation needs a name")
    with reading(engine) as conn:
        existing = crm.organisation_by_name(conn, name, create=False)
    if existing is not None:
        try:
            _organisation(engine, user, existing)
        except NotFound:
            raise HTTPException(
                409, f"The organisation name {name!r} is taken by a record you cannot see"
            ) from None
        raise HTTPException(
            409,
            f"An organisation named {name!r} exists already (id {existing}): add domains "
            f"with PATCH /api/v1/organisations/{existing}",
        )
    org = crm.add_organisation(
        engine, name, body.domains, owner_user_id=user.id, visibility=body.visibility
    )
    return _organisation_out(org)


@router.get("/organisations/{org_id}", response_model=OrganisationOut)
def get_organisation(request: Request, user: ApiUser, org_id: int) -> OrganisationOut:
    return _organisation_out(_organisation(_engine(request), user, org_id))


@router.patch("/organisations/{org_id}", response_model=OrganisationOut)
def update_organisation(
    request: Request, user: ApiUser, org_id: int, body: OrganisationPatch
) -> OrganisationOut:
    """Add domains, or (owner only) change who sees it. Renaming and removing domains
    are not offered: the store has no operation for them."""
    engine = _engine(request)
    org = _organisation(engine, user, org_id)
    _check_visibility_change(user, org, body.visibility, f"organisation {org_id}")
    if not body.add_domains and body.visibility in (None, org.visibility):
        return _organisation_out(org)
    updated = crm.add_organisation(
        engine,
        org.name,
        body.add_domains,
        owner_user_id=org.owner_user_id,  # add_organisation rewrites both: keep them
        visibility=body.visibility or org.visibility,
    )
    return _organisation_out(updated)


@router.delete("/organisations/{org_id}", status_code=204)
def delete_organisation(request: Request, user: ApiUser, org_id: int) -> Response:
    """Its persons and deals stay, without an organisation."""
    engine = _engine(request)
    _organisation(engine, user, org_id)
    crm.delete_organisation(engine, org_id)
    return Response(status_code=204)


# -- deals ----------------------------------------------------------------------------


@router.get("/deals", response_model=list[DealOut], summary="Deals you can see")
def list_deals(request: Request, user: ApiUser) -> list[DealOut]:
    with reading(_engine(request)) as conn:
        found = crm.list_deals(conn)
    return [_deal_out(d) for d in found if _sees(user, d)]


@router.post("/deals", response_model=DealOut, status_code=201, summary="Add a deal")
def add_deal(request: Request, user: ApiUser, body: DealIn) -> DealOut:
    """The deal is yours. When it is its person's only open deal, their threads without a
    deal are put on it, the mail already synced included."""
    engine = _engine(request)
    _references(engine, user, body.person_id, body.organisation_id)
    deal = crm.add_deal(
        engine,
        body.title,
        value=body.value,
        currency=body.currency.upper(),
        person_id=body.person_id,
        organisation_id=body.organisation_id,
        owner_user_id=user.id,
        status=body.status,
        visibility=body.visibility,
    )
    _relink(engine, _emails_of_persons(engine, {deal.person_id}))
    return _deal_out(deal)


@router.get("/deals/{deal_id}", response_model=DealOut)
def get_deal(request: Request, user: ApiUser, deal_id: int) -> DealOut:
    return _deal_out(_deal(_engine(request), user, deal_id))


@router.patch("/deals/{deal_id}", response_model=DealOut, summary="Change a deal")
def update_deal(request: Request, user: ApiUser, deal_id: int, body: DealPatch) -> DealOut:
    """Anyone who can see the deal may change it; its visibility only its owner. A
    thread stays on a deal once put there; mail after it is won or lost is not counted."""
    engine = _engine(request)
    deal = _deal(engine, user, deal_id)
    for name in ("title", "person_id", "organisation_id", "status"):
        if name in body.model_fields_set and getattr(body, name) is None:
            raise UsageError(f"A deal's {name} cannot be removed, only changed")
    _check_visibility_change(user, deal, body.visibility, f"deal {deal_id}")
    _references(engine, user, body.person_id, body.organisation_id)
    if all(getattr(body, name) is None for name in body.model_fields_set):
        return _deal_out(deal)  # crm.update_deal crashes on an UPDATE without values
    updated = crm.update_deal(
        engine,
        deal_id,
        title=body.title,
        value=body.value,
        currency=body.currency.upper() if body.currency else None,
        status=body.status,
        person_id=body.person_id,
        organisation_id=body.organisation_id,
        visibility=body.visibility,
    )
    _relink(engine, _emails_of_persons(engine, {deal.person_id, updated.person_id}))
    return _deal_out(updated)


@router.delete("/deals/{deal_id}", status_code=204, summary="Delete a deal")
def delete_deal(request: Request, user: ApiUser, deal_id: int) -> Response:
    """Its threads lose the deal, and may go on their person's only other open deal."""
    engine = _engine(request)
    deal = _deal(engine, user, deal_id)
    crm.delete_deal(engine, deal_id)
    _relink(engine, _emails_of_persons(engine, {deal.person_id}))
    return Response(status_code=204)


# -- thread links, split, why -------------------------------------------------------------


@router.get("/threads/{thread_id}/links", response_model=ThreadLinksOut)
def thread_links(request: Request, user: ApiUser, thread_id: int) -> ThreadLinksOut:
    """The records the thread is linked to, each with the reason (only those you can see)."""
    engine = _engine(request)
    _visible_thread(engine, user, thread_id)
    return _links_out(engine, user, thread_id)


@router.post(
    "/threads/{thread_id}/links",
    response_model=ThreadLinksOut,
    summary="Link a thread by hand (owner only)",
)
def link_thread(request: Request, user: ApiUser, thread_id: int, body: LinkIn) -> ThreadLinksOut:
    """A manual link always wins over the linker; a deal replaces the thread's deal."""
    engine = _engine(request)
    _own_thread(engine, user, thread_id)
    finders = {"person": _person, "organisation": _organisation, "deal": _deal}
    try:
        finders[body.kind](engine, user, body.id)
    except NotFound as exc:
        raise UsageError(str(exc)) from None
    with engine.begin() as conn:
        conversations.link(conn, user.id, thread_id, body.kind, body.id)
    return _links_out(engine, user, thread_id)


@router.delete(
    "/threads/{thread_id}/links/{kind}/{target_id}",
    status_code=204,
    summary="Unlink a thread (owner only); the linker will not add it back",
)
def unlink_thread(
    request: Request, user: ApiUser, thread_id: int, kind: Kind, target_id: int
) -> Response:
    engine = _engine(request)
    _own_thread(engine, user, thread_id)
    if kind == "deal":
        current = _links(engine, user, thread_id).deal
        if current is None or current.id != target_id:
            # conversations.unlink drops whatever deal the thread is on: check it is this one
            raise UsageError(f"Conversation {thread_id} is not on deal {target_id}")
    with engine.begin() as conn:
        conversations.unlink(conn, user.id, thread_id, kind, target_id)
    return Response(status_code=204)


@router.post(
    "/threads/{thread_id}/split",
    response_model=SplitOut,
    status_code=201,
    summary="Move messages into a thread of their own (owner only)",
)
def split_thread(request: Request, user: ApiUser, thread_id: int, body: SplitIn) -> SplitOut:
    """The threader respects the split: later mail does not merge the two back."""
    engine = _engine(request)
    _own_thread(engine, user, thread_id)
    wanted = list(dict.fromkeys(body.message_ids))
    with reading(engine) as conn:
        members: set[int] = set(
            conn.execute(
                sa.select(messages.c.id).where(messages.c.thread_id == thread_id)
            ).scalars()
        )
    strangers = [m for m in wanted if m not in members]
    if strangers:
        raise UsageError(
            f"Message {strangers[0]} is not in conversation {thread_id}: name messages of it"
        )
    if len(wanted) == len(members):
        raise UsageError(f"Leave at least one message in conversation {thread_id}")
    with engine.begin() as conn:
        new_id = thread_store.split_thread(conn, wanted)
    return SplitOut(thread_id=new_id, from_thread_id=thread_id, moved=len(wanted))


@router.get(
    "/messages/{message_id}/why",
    response_model=list[str],
    summary="Every link of a message, each with the reason it was made",
)
def message_why(request: Request, user: ApiUser, message_id: int) -> list[str]:
    engine = _engine(request)
    with reading(engine) as conn:
        try:
            lines = conversations.why(conn, user.id, message_id)
        except UsageError:
            raise NotFound(f"There is no message {message_id} you can open") from None
    return lines  # conversations.why leaves out what this caller may not see
