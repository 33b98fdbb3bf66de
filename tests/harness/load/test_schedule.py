import numpy as np
import pytest

from harness.load.schedule import schedule_from


def test_constant_stage_spacing_and_count():
    offsets = list(schedule_from([(0, 10, 100, 100)]).offsets())
    assert len(offsets) == 1000
    assert np.allclose(np.diff(offsets), 0.01)


def test_ramp_rate_grows_linearly():
    sched = schedule_from([(0, 10, 0, 200)])
    per_second = np.bincount(np.floor(list(sched.offsets())).astype(int), minlength=10)
    assert per_second.sum() == pytest.approx(1000, abs=1)
    # rate(t) = 20 t: second s holds ~ 20 s + 10 arrivals
    assert np.allclose(per_second, 20 * np.arange(10) + 10, atol=1.5)


def test_ramp_down_and_zero_stage_and_steps():
    sched = schedule_from([(0, 2, 100, 100), (2, 4, 100, 0), (4, 5, 0, 0), (5, 6, 50, 50)])
    offsets = np.array(list(sched.offsets()))
    counts = np.bincount(np.floor(offsets).astype(int), minlength=6)
    assert counts.tolist()[:2] == [100, 100]
    assert counts[2] > counts[3] > 0
    assert counts[4] == 0 and counts[5] == 50
    assert np.all(np.diff(offsets) > 0)


def test_partitioned_slots_cover_the_schedule_exactly_once():
    sched = schedule_from([(0, 3, 10, 90)])
    whole = list(sched.offsets())
    parts = sorted(list(sched.offsets(0, 3)) + list(sched.offsets(1, 3)) + list(sched.offsets(2, 3)))
    assert parts == pytest.approx(whole)


def test_rate_and_stage_lookup():
    sched = schedule_from([(0, 10, 10, 10), (10, 20, 10, 30)])
    assert sched.rate_at(15) == pytest.approx(20)
    assert sched.stage_at(12) == 1
