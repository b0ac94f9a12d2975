"""The cap on synchronous waits (actors/waits.py)."""

import pytest

from actors.errors import TooManyRequestsError
from actors.waits import WaitSlots, for_threads


def test_one_user_holds_at_most_their_share():
    slots = WaitSlots(per_user=2, total=5)
    slots.take("t/ann")
    slots.take("t/ann")
    with pytest.raises(TooManyRequestsError, match="max_sync_waits_per_user"):
        slots.take("t/ann")
    slots.take("t/bob")            # another user still gets one
    slots.give_back("t/ann")
    slots.take("t/ann")            # and a slot given back can be taken again
    assert slots.in_use() == 3


def test_all_waits_together_stay_below_the_threads():
    slots = for_threads(per_user=10, total=0, threads=8)
    assert slots.total == 4
    for n in range(4):
        slots.take(f"t/u{n}")
    with pytest.raises(TooManyRequestsError, match="max_sync_waits"):
        slots.take("t/u9")
    assert for_threads(2, 50, 4).total == 3       # never every thread
    assert for_threads(2, 0, 1).total == 1


def test_a_wait_that_fails_gives_its_slot_back():
    slots = WaitSlots(per_user=1, total=1)
    with pytest.raises(RuntimeError):
        with slots.held("t/ann"):
            raise RuntimeError("the send failed")
    assert slots.in_use() == 0
