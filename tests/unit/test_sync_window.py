"""Sync from Now / 1, 3, 6 months / 1 year as a lower bound on INTERNALDATE."""

from datetime import UTC, datetime

from hypothesis import given
from hypothesis import strategies as st

from emailsync.domain.window import SyncFrom, months_before, window_start

START = datetime(2026, 11, 26, 21, 0, tzinfo=UTC)


def test_now_starts_at_the_moment_the_sync_started() -> None:
    assert window_start(SyncFrom.NOW, START) == START


def test_three_months_counts_calendar_months_back() -> None:
    assert window_start(SyncFrom.THREE_MONTHS, START) == datetime(2026, 8, 26, 21, 0, tzinfo=UTC)


def test_one_year_back_crosses_the_year() -> None:
    assert window_start(SyncFrom.ONE_YEAR, START) == datetime(2025, 11, 26, 21, 0, tzinfo=UTC)


def test_month_end_is_clamped_to_the_shorter_month() -> None:
    assert months_before(datetime(2026, 3, 31, tzinfo=UTC), 1) == datetime(2026, 2, 28, tzinfo=UTC)
    assert months_before(datetime(2024, 3, 31, tzinfo=UTC), 1) == datetime(2024, 2, 29, tzinfo=UTC)


def test_only_now_has_no_past_sync() -> None:
    assert [s for s in SyncFrom if not s.has_past_sync] == [SyncFrom.NOW]


@given(
    st.datetimes(min_value=datetime(1990, 1, 1), max_value=datetime(2100, 1, 1)),
    st.integers(min_value=0, max_value=24),
)
def test_window_start_is_never_after_the_start_and_longer_windows_reach_further(
    moment: datetime, months: int
) -> None:
    moment = moment.replace(tzinfo=UTC)
    earlier = months_before(moment, months)
    assert earlier <= moment
    assert months_before(moment, months + 1) < earlier or (months == 0 and earlier == moment)
