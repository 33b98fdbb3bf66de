"""GC knobs and the GC pause histogram (reference_runtime/gctuning.py)."""

from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest
from prometheus_client import CollectorRegistry

from reference_runtime.config import load_settings
from reference_runtime.gctuning import GcPauses, tune_after_start


@pytest.fixture
def restore_gc() -> Iterator[None]:
    threshold = gc.get_threshold()
    yield
    gc.set_threshold(*threshold)
    gc.unfreeze()


def test_each_collection_is_one_observation_of_its_generation() -> None:
    registry = CollectorRegistry()
    pauses = GcPauses(registry)
    try:
        gc.collect(2)
        gc.collect(0)
        gc.collect(0)
    finally:
        pauses.close()
    gen2 = registry.get_sample_value("motherbox_gc_pause_seconds_count", {"generation": "2"})
    gen0 = registry.get_sample_value("motherbox_gc_pause_seconds_count", {"generation": "0"})
    assert gen2 is not None and gen2 >= 1
    assert gen0 is not None and gen0 >= 2
    total = registry.get_sample_value("motherbox_gc_pause_seconds_sum", {"generation": "2"})
    assert total is not None and total > 0
    gc.collect(2)  # after close() nothing is recorded
    assert registry.get_sample_value("motherbox_gc_pause_seconds_count", {"generation": "2"}) == gen2


def test_freeze_moves_the_heap_out_of_the_scans_and_sets_the_threshold(restore_gc: None) -> None:
    gc.unfreeze()
    tune_after_start(freeze_after_start=True, gen0_threshold=5000)
    assert gc.get_threshold()[0] == 5000
    assert gc.get_freeze_count() > 1000


def test_defaults_are_cpythons_and_the_threshold_is_bounded() -> None:
    settings = load_settings(environ={})
    assert (settings.gc.freeze_after_start, settings.gc.gen0_threshold) == (False, 700)
    with pytest.raises(ValueError, match=r"gc\.gen0_threshold"):
        load_settings(cli={"gc": {"gen0_threshold": 5}}, environ={})
