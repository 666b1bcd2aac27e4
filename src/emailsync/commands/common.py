"""What every command handler needs: the store, JSON and table output, deal relinking."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterable
from typing import Any

import sqlalchemy as sa

from emailsync.config import Settings
from emailsync.services import crm as crm_service
from emailsync.services import users as user_service
from emailsync.store.db import open_database, reading

__all__ = ["context", "print_json", "reading", "relink", "table", "user_id"]


def context() -> tuple[Settings, sa.Engine]:
    settings = Settings.from_environment()
    return settings, open_database(settings)


def print_json(data: Any) -> None:
    json.dump(data, sys.stdout, indent=2, ensure_ascii=False, default=str)
    sys.stdout.write("\n")


def table(rows: list[list[str]], header: list[str]) -> None:
    widths = [max(len(str(c)) for c in col) for col in zip(header, *rows, strict=False)]
    for row in [header, *rows]:
        print("  ".join(str(c).ljust(w) for c, w in zip(row, widths, strict=False)).rstrip())


def user_id(engine: sa.Engine, email: str | None) -> int | None:
    if not email:
        return None
    return user_service.find_user(engine, email).id


def relink(engine: sa.Engine, emails: Iterable[str] | None = None) -> int:
    """Retroactive deal links after a CRM change (store.links.relink_deals), committed."""
    return crm_service.relink(engine, emails)
