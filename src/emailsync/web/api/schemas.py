"""The API's JSON shapes (pydantic, so OpenAPI documents them) and the conversions from
the values services return. No rule lives here: services decide, these only show."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from emailsync.domain.conditions import SyncConditions
from emailsync.domain.states import Security, Sharing, Visibility
from emailsync.services import accounts as account_service
from emailsync.services.crm import PersonSeen
from emailsync.store.accounts import Account, Endpoint
from emailsync.store.conversations import LinkedRecord, MessageView, ThreadLinks, ThreadSummary
from emailsync.store.crm import Deal, Organisation
from emailsync.sync.why_not import Hit
from emailsync.web import bodies
from emailsync.web import mail_view as mv

Problem: dict[str, Any] = {
    "model": dict,
    "description": '{"detail": "a sentence saying what is wrong"}',
}
Kind = Literal["person", "organisation", "deal"]
MAX_VALUE = Decimal("999999999999.99")  # deals.value is NUMERIC(14, 2)


# -- accounts ---------------------------------------------------------------------------------


class EndpointOut(BaseModel):
    host: str
    port: int
    security: str

    @classmethod
    def of(cls, endpoint: Endpoint) -> EndpointOut:
        return cls(host=endpoint.host, port=endpoint.port, security=endpoint.security)


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
    failing_since: datetime | None = Field(
        description="state retrying or error: since when passes fail"
    )
    retry_at: datetime | None = Field(description="... and when the next attempt starts")

    @classmethod
    def of(cls, account: Account) -> StatusOut:
        s = account_service.status(account)
        return cls(
            state=s.key,
            label=s.label,
            detail=s.detail,
            busy=s.busy,
            progress_done=s.done,
            progress_total=s.total,
            percent=s.percent,
            last_sync_at=account.last_sync_at,
            last_error=account.last_error,
            failing_since=account.failing_since,
            retry_at=account.retry_at,
        )


class AccountOut(BaseModel):
    id: int
    email: str
    username: str
    imap: EndpointOut
    smtp: EndpointOut | None
    conditions: ConditionsModel
    status: StatusOut
    messages: int

    @classmethod
    def of(cls, account: Account, messages: int) -> AccountOut:
        return cls(
            id=account.id,
            email=account.email,
            username=account.username,
            imap=EndpointOut.of(account.imap),
            smtp=EndpointOut.of(account.smtp) if account.smtp else None,
            conditions=ConditionsModel.of(account.conditions),
            status=StatusOut.of(account),
            messages=messages,
        )


class ConfiguredOut(AccountOut):
    notes: list[str] = Field(
        description="what the change does to mail already synced, one sentence each"
    )


class AccountIn(BaseModel):
    email: str
    password: str = Field(description="the password or app password; never returned")
    imap_host: str
    imap_port: int = 993
    imap_security: Security = Security.SSL
    smtp_host: str = ""
    smtp_port: int = 587
    smtp_security: Security = Security.STARTTLS
    username: str = ""


class PasswordIn(BaseModel):
    password: str


class FolderOut(BaseModel):
    name: str
    role: str
    synced_messages: int = Field(description="stored messages with a location in the folder")


class WhyNotHitOut(BaseModel):
    """One copy of the mail on the server, as `emailsync messages why-not --json` gives it."""

    account: str
    folder: str
    uid: int
    message_id: str
    date: str = Field(description="INTERNALDATE, ISO 8601 in UTC")
    reason: str
    message_id_in_crm: int | None
    explanation: str

    @classmethod
    def of(cls, hit: Hit) -> WhyNotHitOut:
        return cls(
            account=hit.account,
            folder=hit.folder,
            uid=hit.uid,
            message_id=hit.message_id,
            date=hit.date.isoformat(),
            reason=str(hit.reason),
            message_id_in_crm=hit.message_id_in_crm,
            explanation=hit.explanation,
        )


class PreviewOut(BaseModel):
    total: int = Field(description="messages in the past window, before the contacts filter")
    folders: dict[str, int]
    contacts_only: bool
    sentence: str


# -- threads and messages ---------------------------------------------------------------------


class SharingIn(BaseModel):
    sharing: Sharing


class AddressOut(BaseModel):
    name: str
    email: str


def _addresses(senders: list[mv.Sender]) -> list[AddressOut]:
    return [AddressOut(name=p.name, email=p.email) for p in senders]


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

    @classmethod
    def fields_of(cls, t: ThreadSummary) -> dict[str, Any]:
        return {
            "id": t.id,
            "subject": t.subject or "",
            "last_message_at": t.last_message_at,
            "message_count": t.message_count or 0,
            "participants": _addresses(mv.people(t.participants)),
            "snippet": t.snippet or "",
            "owner_user_id": t.owner_user_id,
            "sharing": t.sharing,
            "persons": mv.names(t.persons),
            "organisation": mv.names(t.organisations),
            "deal": mv.names([t.deal] if t.deal else []),
        }

    @classmethod
    def of(cls, t: ThreadSummary) -> ThreadOut:
        return cls(**cls.fields_of(t))


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

    @classmethod
    def of(cls, m: MessageView, thread_id: int, html_body: str) -> MessageOut:
        sanitized = ""
        if html_body:
            sanitized, _ = bodies.sanitize_html(
                html_body, show_images=False, cid_url=lambda c: None
            )
        base = f"/api/v1/threads/{thread_id}/messages/{m.id}/attachments"
        return cls(
            id=m.id,
            thread_id=thread_id,
            sender=_addresses(mv.sender_of(m)),
            to=_addresses(mv.people(m.to)),
            cc=_addresses(mv.people(m.cc)),
            date=m.date,
            direction=m.direction or "",
            text_body=m.text_body or "",
            html_body=sanitized,
            attachments=[
                AttachmentOut(
                    index=n,
                    filename=a.filename,
                    content_type=a.content_type,
                    size=a.size,
                    url=f"{base}/{n}",
                )
                for n, a in enumerate(mv.attachments_of(m))
            ],
        )


class ThreadDetailOut(ThreadOut):
    messages: list[MessageOut]


# -- CRM records ------------------------------------------------------------------------------


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

    @classmethod
    def of(cls, seen: PersonSeen) -> PersonOut:
        person, org = seen.person, seen.organisation
        return cls(
            id=person.id,
            name=person.name,
            emails=list(person.emails),
            organisation=org.name if org else None,
            organisation_id=person.organisation_id if org else None,
            owner_user_id=person.owner_user_id,
            visibility=Visibility(person.visibility),
        )


class PersonIn(_In):
    name: str = Field("", max_length=200)
    emails: list[Annotated[str, Field(max_length=320)]] = Field(min_length=1)
    organisation: str | None = Field(
        None, max_length=200, description="a name; made (yours, company-wide) when new"
    )
    visibility: Visibility = Visibility.COMPANY


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

    @classmethod
    def of(cls, org: Organisation) -> OrganisationOut:
        return cls(
            id=org.id,
            name=org.name,
            domains=list(org.domains),
            owner_user_id=org.owner_user_id,
            visibility=Visibility(org.visibility),
        )


class OrganisationIn(_In):
    name: str = Field(min_length=1, max_length=200)
    domains: list[Annotated[str, Field(max_length=255)]] = Field(default_factory=list)
    visibility: Visibility = Visibility.COMPANY


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


DealStatus = Literal["open", "won", "lost"]


class DealOut(BaseModel):
    id: int
    title: str
    value: str = Field(description="decimal string, two decimals")
    currency: str
    status: DealStatus
    person_id: int | None
    organisation_id: int | None
    owner_user_id: int | None
    visibility: Visibility

    @classmethod
    def of(cls, deal: Deal) -> DealOut:
        return cls(
            id=deal.id,
            title=deal.title,
            value=str(Decimal(deal.value).quantize(Decimal("0.01"))),
            currency=deal.currency,
            status=deal.status,  # type: ignore[arg-type]
            person_id=deal.person_id,
            organisation_id=deal.organisation_id,
            owner_user_id=deal.owner_user_id,
            visibility=Visibility(deal.visibility),
        )


class DealIn(_In):
    title: str = Field(max_length=300)
    value: str = Field("0", description='decimal string, e.g. "1250.00"')
    currency: str = Field("EUR", pattern=r"^[A-Za-z]{3}$", description="ISO 4217 code")
    status: DealStatus = "open"
    person_id: int | None = None
    organisation_id: int | None = Field(None, description="default: the person's organisation")
    visibility: Visibility = Visibility.COMPANY

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
    status: DealStatus | None = None
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


# -- a thread's links -------------------------------------------------------------------------


class LinkIn(_In):
    kind: Kind
    id: int


class LinkOut(BaseModel):
    kind: Kind
    id: int
    name: str
    reason: str
    manual: bool

    @classmethod
    def of(cls, record: LinkedRecord) -> LinkOut:
        return cls(
            kind=record.kind,  # type: ignore[arg-type]
            id=record.id,
            name=record.name,
            reason=record.reason,
            manual=record.manual,
        )


class ThreadLinksOut(BaseModel):
    thread_id: int
    persons: list[LinkOut]
    organisations: list[LinkOut]
    deal: LinkOut | None

    @classmethod
    def of(cls, thread_id: int, links: ThreadLinks) -> ThreadLinksOut:
        return cls(
            thread_id=thread_id,
            persons=[LinkOut.of(p) for p in links.persons],
            organisations=[LinkOut.of(o) for o in links.organisations],
            deal=LinkOut.of(links.deal) if links.deal else None,
        )


class SplitIn(_In):
    message_ids: list[int] = Field(min_length=1, description="messages of this thread to move")


class SplitOut(BaseModel):
    thread_id: int = Field(description="the new thread")
    from_thread_id: int
    moved: int
