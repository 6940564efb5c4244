"""Server process settings."""

from __future__ import annotations

import gc

from minikube_py.core import _GC_GEN0_THRESHOLD, _tune_gc


def test_gc_tuning_freezes_start_up_objects_and_raises_the_young_threshold() -> None:
    threshold = gc.get_threshold()
    try:
        gc.unfreeze()
        survivor: dict[str, list[str]] = {"made before start-up ended": []}
        assert any(obj is survivor for obj in gc.get_objects())
        _tune_gc()
        assert gc.get_threshold() == (_GC_GEN0_THRESHOLD, 20, 100)
        assert gc.get_freeze_count() > 0
        assert all(obj is not survivor for obj in gc.get_objects())  # out of the collector's sight
    finally:
        gc.unfreeze()
        gc.set_threshold(*threshold)
