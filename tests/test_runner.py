"""The scan runner's process-wide settings."""

from __future__ import annotations

import gc

from aisweep.runner import long_lived_heap


def test_long_lived_heap_freezes_what_exists_and_restores_the_collector() -> None:
    before = gc.get_threshold()
    survivor = [{"rule": i} for i in range(100)]  # long-lived: exists before the scan starts
    with long_lived_heap():
        assert gc.get_freeze_count() >= len(survivor)
        assert gc.get_threshold()[0] > before[0]
    assert gc.get_threshold() == before
    assert gc.get_freeze_count() == 0


def test_long_lived_heap_restores_after_an_error() -> None:
    before = gc.get_threshold()
    try:
        with long_lived_heap():
            raise RuntimeError("a worker failed")
    except RuntimeError:
        pass
    assert gc.get_threshold() == before
    assert gc.get_freeze_count() == 0
