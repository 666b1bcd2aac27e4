"""The seed's "Sync from" choice turned into a lower bound on INTERNALDATE.

Months are calendar months counted back from the moment the sync was started
(31 March − 1 month = 28/29 February): what a user means by "one month back".
"""

from __future__ import annotations

import enum
from datetime import datetime, timedelta


class SyncFrom(enum.StrEnum):
    NOW = "now"
    ONE_MONTH = "1m"
    THREE_MONTHS = "3m"
    SIX_MONTHS = "6m"
    ONE_YEAR = "1y"

    @property
    def months(self) -> int:
        return {"now": 0, "1m": 1, "3m": 3, "6m": 6, "1y": 12}[self.value]

    @property
    def has_past_sync(self) -> bool:
        return self is not SyncFrom.NOW


def months_before(moment: datetime, months: int) -> datetime:
    """The same wall-clock moment `months` calendar months earlier, clamped to month end."""
    month_index = moment.year * 12 + (moment.month - 1) - months
    year, month = divmod(month_index, 12)
    month += 1
    day = min(moment.day, _days_in_month(year, month))
    return moment.replace(year=year, month=month, day=day)


def window_start(sync_from: SyncFrom, started_at: datetime) -> datetime:
    """Oldest INTERNALDATE that belongs to the sync; `now` means the start moment itself."""
    return months_before(started_at, sync_from.months)


def _days_in_month(year: int, month: int) -> int:
    if month == 12:
        return 31
    first_next = datetime(year, month + 1, 1)
    return (first_next - timedelta(days=1)).day
