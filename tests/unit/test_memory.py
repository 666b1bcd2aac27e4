"""The GC thresholds of a big pass: raised by the first holder, put back by the last."""

from __future__ import annotations

import gc
import threading

import pytest

from emailsync.sync.memory import BULK_THRESHOLD, fewer_collections


@pytest.fixture(autouse=True)
def _thresholds_restored():
    before = gc.get_threshold()
    yield
    gc.set_threshold(*before)


def test_thresholds_are_raised_while_held_and_put_back_after() -> None:
    gc.set_threshold(500, 7, 9)
    with fewer_collections():
        assert gc.get_threshold() == BULK_THRESHOLD
    assert gc.get_threshold() == (500, 7, 9)


def test_nested_and_overlapping_holders_keep_them_raised_until_the_last_leaves() -> None:
    gc.set_threshold(500, 7, 9)
    first_in, second_out = threading.Event(), threading.Event()

    def other_pass() -> None:
        with fewer_collections():
            first_in.set()
            second_out.wait(5)

    other = threading.Thread(target=other_pass)
    other.start()
    assert first_in.wait(5)
    with fewer_collections():
        with fewer_collections():
            assert gc.get_threshold() == BULK_THRESHOLD
        assert gc.get_threshold() == BULK_THRESHOLD
    assert gc.get_threshold() == BULK_THRESHOLD  # the other pass still holds them
    second_out.set()
    other.join(5)
    assert gc.get_threshold() == (500, 7, 9)


def test_an_error_in_the_pass_still_puts_them_back() -> None:
    gc.set_threshold(500, 7, 9)
    with pytest.raises(RuntimeError), fewer_collections():
        raise RuntimeError("pass failed")
    assert gc.get_threshold() == (500, 7, 9)
