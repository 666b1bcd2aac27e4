"""Direct body batches are bounded in messages and bytes, so memory is too."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from emailsync.sync.folder_sync import DIRECT_BATCH, DIRECT_CHUNK_BYTES, _by_weight


@given(st.lists(st.integers(min_value=0, max_value=3 * DIRECT_CHUNK_BYTES), max_size=400))
def test_batches_keep_order_and_stay_within_both_bounds(sizes: list[int]) -> None:
    uids = [n * 2 + 1 for n in range(len(sizes))]
    weight = dict(zip(uids, sizes, strict=True))
    batches = _by_weight(uids, weight)
    assert [uid for batch in batches for uid in batch] == uids
    for batch in batches:
        assert 1 <= len(batch) <= DIRECT_BATCH
        if len(batch) > 1:  # a message bigger than the bound travels alone
            assert sum(weight[u] for u in batch) <= DIRECT_CHUNK_BYTES


def test_uids_without_a_size_ride_along() -> None:
    assert _by_weight([1, 2, 3], {1: 10}) == [[1, 2, 3]]
