"""The one percentile definition equals hdrh's ``get_value_at_percentile``, vectorized or not."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from harness.derive import percentiles
from harness.derive.percentiles import (
    HDR_HIGHEST_US,
    grouped_values_at,
    hdr_values_at,
    histogram_of,
    micros_at,
    to_micros,
    values_at,
)

QS = [0.0, 0.1, 1.0, 10.0, 50.0, 90.0, 95.0, 99.0, 99.9, 99.99, 100.0]

#: Latencies in ms: sub-microsecond, negative, huge (beyond the 1 h range), ordinary, NaN/inf.
latency = st.one_of(
    st.floats(min_value=0.0, max_value=0.002),
    st.floats(min_value=-5.0, max_value=0.0),
    st.floats(min_value=0.001, max_value=100_000.0),
    st.floats(min_value=1e6, max_value=1e8),
    st.sampled_from([0.0005, 0.0015, 1.2345, 17.0, 2047.5, 3_600_000.0, float("nan"), float("inf")]),
)
#: Few distinct values drawn many times: ties on bucket edges and inside buckets.
latencies = st.one_of(
    st.lists(latency, min_size=1, max_size=400),
    st.lists(st.sampled_from([1.0, 2.048, 2.049, 2.05, 9.999, 10.0, 512.3]), min_size=1, max_size=400),
)
q_value = st.one_of(st.sampled_from(QS), st.floats(min_value=0.0, max_value=100.0))


def _hdrh(values: list[float], qs: list[float]) -> list[int]:
    hist = histogram_of(values)
    return [hist.get_value_at_percentile(q) for q in qs]


@settings(max_examples=200, deadline=None)
@given(latencies, st.lists(q_value, min_size=1, max_size=6))
def test_vectorized_percentiles_equal_hdrh(values: list[float], qs: list[float]) -> None:
    micros = to_micros(values)
    if micros.size == 0:
        assert np.isnan(values_at(values, qs)).all()
        return
    expected = _hdrh(values, qs)
    assert micros_at(micros, qs).tolist() == expected
    assert (values_at(values, qs) == np.asarray(expected) / 1000.0).all()
    assert hdr_values_at(histogram_of(values), qs).tolist() == expected


@settings(max_examples=50, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 5), latency), min_size=1, max_size=300))
def test_grouped_percentiles_equal_hdrh_per_group(rows: list[tuple[int, float]]) -> None:
    groups = np.array([g for g, _ in rows]) - 1  # group -1 is outside [0, 5): ignored
    values = np.array([v for _, v in rows])
    got = grouped_values_at(groups, values, QS, 5)
    for group in range(5):
        members = values[groups == group].tolist()
        if to_micros(members).size == 0:
            assert np.isnan(got[group]).all()
        else:
            assert (got[group] * 1000.0).round().tolist() == _hdrh(members, QS)


def test_one_sample_is_every_percentile_and_reported_as_its_bucket_top() -> None:
    # 12.3456 ms records as 12346 us; its bucket (width 8 us above 8192 us) ends at 12351 us.
    assert values_at([12.3456], [50.0, 99.9, 100.0]).tolist() == [12.351, 12.351, 12.351]
    assert values_at([12.3456], [0.0]).tolist() == [12.344]


def test_rank_rounds_half_up_like_hdrh() -> None:
    # n = 10: p95 is rank int(9.5 + 0.5) = 10, p94 rank int(9.4 + 0.5) = 9 (numpy would interpolate).
    # Below 2048 us every microsecond is its own bucket, so the samples come back unchanged.
    values = [v / 1000.0 for v in range(1, 11)]
    assert values_at(values, [94.0, 95.0, 50.0]).tolist() == [0.009, 0.010, 0.005]


def test_values_beyond_the_range_are_clamped_not_lost() -> None:
    assert to_micros([1e9, -1.0, float("nan")]).tolist() == [HDR_HIGHEST_US, 1]
    assert percentiles.highest_equivalent(np.array([HDR_HIGHEST_US])).tolist() == _hdrh([1e9], [100.0])


def test_empty_input_gives_nan() -> None:
    assert np.isnan(values_at([], [50.0])).all()
    assert np.isnan(hdr_values_at(histogram_of([]), [50.0])).all()
    assert np.isnan(grouped_values_at(np.array([], dtype=np.int64), np.array([]), [50.0], 3)).all()
