"""Users of the CRM and the people they mail with (persons, several addresses each)."""

from __future__ import annotations

import csv
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import sqlalchemy as sa

from emailsync.domain.addresses import normalize_email
from emailsync.errors import UsageError
from emailsync.store.db import reading
from emailsync.store.tables import organisations, person_emails, persons, users


@dataclass(frozen=True, slots=True)
class User:
    id: int
    email: str
    name: str


@dataclass(frozen=True, slots=True)
class Person:
    id: int
    name: str
    org: str  # the organisation's name, "" when none
    emails: tuple[str, ...]
    organisation_id: int | None = None
    owner_user_id: int | None = None
    visibility: str = "company"


def _valid_email(raw: str) -> str:
    email = normalize_email(raw)
    if not email:
        raise UsageError(f"{raw!r} is not an email address")
    return email


def add_user(engine: sa.Engine, email: str, name: str = "") -> User:
    email = _valid_email(email)
    with engine.begin() as conn:
        if conn.execute(sa.select(users.c.id).where(users.c.email == email)).first():
            raise UsageError(f"A user with the address {email} exists already")
        user_id = conn.execute(
            users.insert().values(email=email, name=name, created_at=datetime.now(UTC))
        ).inserted_primary_key[0]
    return User(user_id, email, name)


def find_user(engine: sa.Engine, email: str) -> User:
    email = normalize_email(email)
    with reading(engine) as conn:
        row = conn.execute(sa.select(users).where(users.c.email == email)).first()
    if row is None:
        raise UsageError(f"No user {email}: add it first with `emailsync users add {email}`")
    return User(row.id, row.email, row.name)


def list_users(engine: sa.Engine) -> list[User]:
    with reading(engine) as conn:
        rows = conn.execute(sa.select(users).order_by(users.c.id)).all()
    return [User(r.id, r.email, r.name) for r in rows]


def add_person(
    engine: sa.Engine,
    emails: Iterable[str],
    name: str = "",
    org: str = "",
    *,
    owner_user_id: int | None = None,
    visibility: str = "company",
) -> Person:
    """Add a person, or add addresses to the person who already owns one of them.

    `org` names an organisation, created when it does not exist yet."""
    from emailsync.store.crm import organisation_by_name

    addresses = list(dict.fromkeys(_valid_email(e) for e in emails))
    if not addresses:
        raise UsageError("A contact needs at least one email address")
    with engine.begin() as conn:
        owners = {
            r.person_id
            for r in conn.execute(
                sa.select(person_emails.c.person_id).where(person_emails.c.email.in_(addresses))
            )
        }
        if len(owners) > 1:
            raise UsageError(
                f"The addresses {', '.join(addresses)} belong to different contacts already"
            )
        if visibility not in ("company", "owner"):
            raise UsageError("Visibility is company or owner")
        org_id = organisation_by_name(conn, org, create=True) if org else None
        if owners:
            person_id = owners.pop()
            changes: dict[str, object] = {"name": name} if name else {}
            if org_id is not None:
                changes["organisation_id"] = org_id
            if changes:
                conn.execute(persons.update().where(persons.c.id == person_id).values(**changes))
        else:
            person_id = conn.execute(
                persons.insert().values(
                    name=name,
                    organisation_id=org_id,
                    owner_user_id=owner_user_id,
                    visibility=visibility,
                    created_at=datetime.now(UTC),
                )
            ).inserted_primary_key[0]
        known = {
            r.email
            for r in conn.execute(
                sa.select(person_emails.c.email).where(person_emails.c.person_id == person_id)
            )
        }
        new = [e for e in addresses if e not in known]
        if new:
            conn.execute(
                person_emails.insert(), [{"email": e, "person_id": person_id} for e in new]
            )
    return get_person(engine, person_id)


def _person_query() -> sa.Select:
    return sa.select(persons, organisations.c.name.label("org_name")).outerjoin(
        organisations, organisations.c.id == persons.c.organisation_id
    )


def _person(row: sa.Row, emails: Iterable[str]) -> Person:
    return Person(
        row.id,
        row.name,
        row.org_name or "",
        tuple(emails),
        row.organisation_id,
        row.owner_user_id,
        row.visibility,
    )


def get_person(engine: sa.Engine, person_id: int) -> Person:
    with reading(engine) as conn:
        row = conn.execute(_person_query().where(persons.c.id == person_id)).first()
        if row is None:
            raise UsageError(f"No contact {person_id}")
        emails: Iterable[str] = conn.execute(
            sa.select(person_emails.c.email)
            .where(person_emails.c.person_id == person_id)
            .order_by(person_emails.c.email)
        ).scalars()
        return _person(row, emails)


def list_persons(engine: sa.Engine) -> list[Person]:
    with reading(engine) as conn:
        rows = conn.execute(_person_query().order_by(persons.c.id)).all()
        emails: dict[int, list[str]] = {}
        for e in conn.execute(sa.select(person_emails).order_by(person_emails.c.email)):
            emails.setdefault(e.person_id, []).append(e.email)
    return [_person(r, emails.get(r.id, ())) for r in rows]


def find_person_by_email(engine: sa.Engine, email: str) -> int | None:
    with reading(engine) as conn:
        return conn.execute(
            sa.select(person_emails.c.person_id).where(
                person_emails.c.email == normalize_email(email)
            )
        ).scalar()


def update_person(
    engine: sa.Engine,
    person_id: int,
    *,
    name: str | None = None,
    org: str | None = None,
    visibility: str | None = None,
) -> Person:
    from emailsync.store.crm import organisation_by_name

    with engine.begin() as conn:
        values: dict[str, object] = {}
        if name is not None:
            values["name"] = name
        if org is not None:
            values["organisation_id"] = organisation_by_name(conn, org, create=True)
        if visibility is not None:
            if visibility not in ("company", "owner"):
                raise UsageError("Visibility is company or owner")
            values["visibility"] = visibility
        if (
            values
            and not conn.execute(
                persons.update().where(persons.c.id == person_id).values(**values)
            ).rowcount
        ):
            raise UsageError(f"No contact {person_id}")
    return get_person(engine, person_id)


def delete_person(engine: sa.Engine, person_id: int) -> None:
    with engine.begin() as conn:
        if not conn.execute(persons.delete().where(persons.c.id == person_id)).rowcount:
            raise UsageError(f"No contact {person_id}")


def contact_emails(conn: sa.Connection) -> frozenset[str]:
    """Every address that belongs to a CRM contact: what the contacts scope matches on."""
    return frozenset(conn.execute(sa.select(person_emails.c.email)).scalars())


def import_persons_csv(engine: sa.Engine, path: Path) -> int:
    """Import `name,email,org` rows (header optional). Returns the number of rows taken."""
    try:
        text = path.read_text(encoding="utf-8-sig")
    except OSError as exc:
        raise UsageError(f"Cannot read {path}: {exc.strerror}") from exc
    rows = list(csv.reader(text.splitlines()))
    if rows and [c.strip().lower() for c in rows[0]][:2] == ["name", "email"]:
        rows = rows[1:]
    count = 0
    for number, row in enumerate(rows, start=1):
        if not any(cell.strip() for cell in row):
            continue
        cells = [*row, "", "", ""]
        name, email, org = (c.strip() for c in cells[:3])
        if not normalize_email(email):
            raise UsageError(f"{path}, row {number}: {email!r} is not an email address")
        add_person(engine, [email], name=name, org=org)
        count += 1
    return count
