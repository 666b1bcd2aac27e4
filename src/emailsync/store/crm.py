"""CRM records beside persons: organisations (with their email domains) and deals."""

from __future__ import annotations

import csv
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from pathlib import Path

import sqlalchemy as sa

from emailsync.domain.addresses import normalize_domain
from emailsync.errors import UsageError
from emailsync.store.tables import deals, organisation_domains, organisations, persons

DEAL_STATUSES = ("open", "won", "lost")
VISIBILITIES = ("company", "owner")


@dataclass(frozen=True, slots=True)
class Organisation:
    id: int
    name: str
    domains: tuple[str, ...]
    owner_user_id: int | None
    visibility: str


@dataclass(frozen=True, slots=True)
class Deal:
    id: int
    title: str
    value: Decimal
    currency: str
    status: str
    person_id: int | None
    organisation_id: int | None
    owner_user_id: int | None
    visibility: str


def _visibility(value: str) -> str:
    if value not in VISIBILITIES:
        raise UsageError(f"Visibility is one of {', '.join(VISIBILITIES)}, not {value!r}")
    return value


def organisation_by_name(conn: sa.Connection, name: str, *, create: bool) -> int | None:
    name = name.strip()
    if not name:
        return None
    found = conn.execute(
        sa.select(organisations.c.id).where(sa.func.lower(organisations.c.name) == name.lower())
    ).scalar()
    if found is not None or not create:
        return found
    return conn.execute(
        organisations.insert().values(name=name, visibility="company", created_at=datetime.now(UTC))
    ).inserted_primary_key[0]


def add_organisation(
    engine: sa.Engine,
    name: str,
    domains: Iterable[str] = (),
    *,
    owner_user_id: int | None = None,
    visibility: str | None = None,
) -> Organisation:
    """Add an organisation, or add domains to the one of that name (whose owner stays, and
    whose visibility changes only when one is given)."""
    cleaned = []
    for d in domains:
        domain = normalize_domain(d)
        if not domain:
            raise UsageError(f"{d!r} is not a domain")
        cleaned.append(domain)
    if not name.strip():
        raise UsageError("An organisation needs a name")
    with engine.begin() as conn:
        existing = organisation_by_name(conn, name, create=False)
        org_id = existing or organisation_by_name(conn, name, create=True)
        assert org_id is not None
        values: dict[str, object] = {}
        if existing is None:
            values = {
                "owner_user_id": owner_user_id,
                "visibility": _visibility(visibility or "company"),
            }
        elif visibility is not None:
            values = {"visibility": _visibility(visibility)}
        if values:
            conn.execute(
                organisations.update().where(organisations.c.id == org_id).values(**values)
            )
        for domain in cleaned:
            owner = conn.execute(
                sa.select(organisation_domains.c.organisation_id).where(
                    organisation_domains.c.domain == domain
                )
            ).scalar()
            if owner is None:
                conn.execute(
                    organisation_domains.insert().values(domain=domain, organisation_id=org_id)
                )
            elif owner != org_id:
                raise UsageError(f"The domain {domain} belongs to another organisation already")
        return get_organisation(conn, org_id)


def get_organisation(conn: sa.Connection, org_id: int) -> Organisation:
    row = conn.execute(sa.select(organisations).where(organisations.c.id == org_id)).first()
    if row is None:
        raise UsageError(f"No organisation {org_id}")
    domains: Iterable[str] = conn.execute(
        sa.select(organisation_domains.c.domain)
        .where(organisation_domains.c.organisation_id == org_id)
        .order_by(organisation_domains.c.domain)
    ).scalars()
    return Organisation(row.id, row.name, tuple(domains), row.owner_user_id, row.visibility)


def list_organisations(conn: sa.Connection) -> list[Organisation]:
    ids: Iterable[int] = conn.execute(
        sa.select(organisations.c.id).order_by(organisations.c.id)
    ).scalars()
    return [get_organisation(conn, i) for i in ids]


def delete_organisation(engine: sa.Engine, org_id: int) -> None:
    with engine.begin() as conn:
        if not conn.execute(organisations.delete().where(organisations.c.id == org_id)).rowcount:
            raise UsageError(f"No organisation {org_id}")


def _deal(row: sa.Row) -> Deal:
    return Deal(
        row.id,
        row.title,
        Decimal(row.value),
        row.currency,
        row.status,
        row.person_id,
        row.organisation_id,
        row.owner_user_id,
        row.visibility,
    )


MAX_VALUE = Decimal("999999999999.99")  # NUMERIC(14, 2)


def _money(value: str | Decimal | int) -> Decimal:
    try:
        amount = Decimal(str(value).strip())
    except InvalidOperation as exc:
        raise UsageError(f"{value!r} is not an amount") from exc
    if not amount.is_finite():
        raise UsageError(f"{value!r} is not an amount")
    if amount < 0:
        raise UsageError("A deal's value cannot be negative")
    if amount > MAX_VALUE:
        raise UsageError(f"A deal's value is at most {MAX_VALUE}")
    return amount.quantize(Decimal("0.01"))


def _currency(value: str) -> str:
    code = value.strip().upper()
    if len(code) != 3 or not code.isalpha() or not code.isascii():
        raise UsageError(f"A currency is a three-letter code such as EUR or USD, not {value!r}")
    return code


def _check_refs(conn: sa.Connection, person_id: int | None, organisation_id: int | None) -> None:
    if (
        person_id is not None
        and conn.execute(sa.select(persons.c.id).where(persons.c.id == person_id)).first() is None
    ):
        raise UsageError(f"No contact {person_id}")
    if (
        organisation_id is not None
        and conn.execute(
            sa.select(organisations.c.id).where(organisations.c.id == organisation_id)
        ).first()
        is None
    ):
        raise UsageError(f"No organisation {organisation_id}")


def add_deal(
    engine: sa.Engine,
    title: str,
    *,
    value: str | Decimal | int = 0,
    currency: str = "EUR",
    person_id: int | None = None,
    organisation_id: int | None = None,
    owner_user_id: int | None = None,
    status: str = "open",
    visibility: str = "company",
) -> Deal:
    if not title.strip():
        raise UsageError("A deal needs a title")
    if status not in DEAL_STATUSES:
        raise UsageError(f"A deal's status is one of {', '.join(DEAL_STATUSES)}")
    with engine.begin() as conn:
        _check_refs(conn, person_id, organisation_id)
        if person_id is not None and organisation_id is None:
            organisation_id = conn.execute(
                sa.select(persons.c.organisation_id).where(persons.c.id == person_id)
            ).scalar()
        deal_id = conn.execute(
            deals.insert().values(
                title=title.strip(),
                value=_money(value),
                currency=_currency(currency),
                status=status,
                person_id=person_id,
                organisation_id=organisation_id,
                owner_user_id=owner_user_id,
                visibility=_visibility(visibility),
                created_at=datetime.now(UTC),
                closed_at=None if status == "open" else datetime.now(UTC),
            )
        ).inserted_primary_key[0]
        return get_deal(conn, deal_id)


def get_deal(conn: sa.Connection, deal_id: int) -> Deal:
    row = conn.execute(sa.select(deals).where(deals.c.id == deal_id)).first()
    if row is None:
        raise UsageError(f"No deal {deal_id}")
    return _deal(row)


def list_deals(conn: sa.Connection) -> list[Deal]:
    return [_deal(r) for r in conn.execute(sa.select(deals).order_by(deals.c.id))]


def update_deal(engine: sa.Engine, deal_id: int, **changes: object) -> Deal:
    allowed = {
        "title",
        "value",
        "currency",
        "status",
        "person_id",
        "organisation_id",
        "owner_user_id",
        "visibility",
    }
    unknown = set(changes) - allowed
    if unknown:
        raise UsageError(f"Cannot change {', '.join(sorted(unknown))} of a deal")
    values = {k: v for k, v in changes.items() if v is not None}
    if "title" in values:
        values["title"] = str(values["title"]).strip()
        if not values["title"]:
            raise UsageError("A deal needs a title")
    if "currency" in values:
        values["currency"] = _currency(str(values["currency"]))
    if "status" in values:
        if values["status"] not in DEAL_STATUSES:
            raise UsageError(f"A deal's status is one of {', '.join(DEAL_STATUSES)}")
        values["closed_at"] = None if values["status"] == "open" else datetime.now(UTC)
    if "value" in values:
        values["value"] = _money(values["value"])  # type: ignore[arg-type]
    if "visibility" in values:
        _visibility(str(values["visibility"]))
    with engine.begin() as conn:
        get_deal(conn, deal_id)
        _check_refs(conn, values.get("person_id"), values.get("organisation_id"))  # type: ignore[arg-type]
        if values:
            conn.execute(deals.update().where(deals.c.id == deal_id).values(**values))
        return get_deal(conn, deal_id)


def delete_deal(engine: sa.Engine, deal_id: int) -> None:
    with engine.begin() as conn:
        if not conn.execute(deals.delete().where(deals.c.id == deal_id)).rowcount:
            raise UsageError(f"No deal {deal_id}")


def import_organisations_csv(engine: sa.Engine, path: Path) -> int:
    """Rows of `name,domains` where domains are separated by spaces or semicolons."""
    count = 0
    for number, row in enumerate(_rows(path, header=("name", "domains")), start=1):
        name = row[0].strip()
        if not name:
            raise UsageError(f"{path}, row {number}: an organisation needs a name")
        domains = [d for d in row[1].replace(";", " ").split() if d] if len(row) > 1 else []
        add_organisation(engine, name, domains)
        count += 1
    return count


def import_deals_csv(engine: sa.Engine, path: Path) -> int:
    """Rows of `title,value,status,person_email,organisation`."""
    from emailsync.store.directory import find_person_by_email

    count = 0
    for number, row in enumerate(
        _rows(path, header=("title", "value", "status", "person_email", "organisation")),
        start=1,
    ):
        cells = [*row, "", "", "", ""][:5]
        title, value, status, email, org = (c.strip() for c in cells)
        person_id = find_person_by_email(engine, email) if email else None
        if email and person_id is None:
            raise UsageError(f"{path}, row {number}: no contact has the address {email}")
        with engine.begin() as conn:
            org_id = organisation_by_name(conn, org, create=True) if org else None
        add_deal(
            engine,
            title,
            value=value or 0,
            status=status or "open",
            person_id=person_id,
            organisation_id=org_id,
        )
        count += 1
    return count


def _rows(path: Path, header: tuple[str, ...]) -> list[list[str]]:
    try:
        text = path.read_text(encoding="utf-8-sig")
    except OSError as exc:
        raise UsageError(f"Cannot read {path}: {exc.strerror}") from exc
    rows = [r for r in csv.reader(text.splitlines()) if any(c.strip() for c in r)]
    if rows and [c.strip().lower() for c in rows[0]][: len(header)] == list(header)[: len(rows[0])]:
        rows = rows[1:]
    return rows
