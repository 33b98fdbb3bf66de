import math
from types import SimpleNamespace

from harness.contract.rundir import SAMPLE_COLUMNS
from harness.derive.percentiles import values_at
from harness.load.collector import Collector, merge_parts
from harness.load.recorder import Recorder


def test_latency_from_intended_and_service_from_actual_start():
    rec = Recorder()
    rec.on_request(
        name="op",
        response_time=20.0,
        response_length=11,
        response=SimpleNamespace(status_code=202),
        context={"intended": 99.5, "expect": frozenset({202})},
        exception=None,
        start_time=100.0,
    )
    chunk = rec.take()
    assert chunk["latency_ms"] == [520.0]  # 500 ms waiting to be sent + 20 ms service
    assert chunk["service_ms"] == [20.0]
    assert chunk["ts"] == [100.02] and chunk["error"] == [None]
    assert len(rec) == 0  # take() hands the columns over


def test_unexpected_status_and_exceptions_are_errors():
    rec = Recorder()
    rec.on_request("a", 1.0, 0, SimpleNamespace(status_code=200), {"expect": frozenset({202})}, None, 1.0)
    rec.on_request("b", 1.0, 0, SimpleNamespace(status_code=503), {}, RuntimeError("503"), 1.0)
    rec.on_request("c", 1.0, 0, SimpleNamespace(status_code=0), {}, ConnectionRefusedError(), 1.0)
    rec.record_unsent("d", 5.0, "dropped")
    chunk = rec.take()
    assert chunk["error"] == ["HTTP 200", "HTTP 503", "ConnectionRefusedError", "dropped"]
    assert chunk["intended_start"][:3] == [1.0, 1.0, 1.0]  # closed model: intended = actual
    assert math.isnan(chunk["latency_ms"][3]) and chunk["status"][3] == 0


def test_collector_parts_merge_into_one_parquet(tmp_path):
    import pyarrow.parquet as pq

    collector = Collector(tmp_path / "parts")
    rec = Recorder()
    for i in range(3):
        for j in range(100):
            rec.on_request("op", 5.0, 10, SimpleNamespace(status_code=200), {"intended": 1.0}, None, 1.0 + j)
        collector.add(rec.take(), worker=i)
        collector._close_part()  # force one part per chunk
    rec.record_unsent("op", 2.0, "dropped")
    collector.add(rec.take())
    progress = collector.progress()
    assert progress["completed"] == 300 and progress["dropped"] == 1
    collector.close()
    (tmp_path / "parts" / "part-99999.parquet").write_bytes(b"garbage")  # a part a killed process left
    rows = merge_parts(tmp_path / "parts", [*collector.parts, "part-99999.parquet"], tmp_path / "s.parquet")
    table = pq.read_table(tmp_path / "s.parquet")
    assert rows == table.num_rows == 301
    assert tuple(table.column_names) == SAMPLE_COLUMNS
    assert sorted(set(table.column("worker").to_pylist())) == [0, 1, 2]


def test_progress_p95_is_the_shared_percentile_of_the_window_and_resets(tmp_path):
    collector = Collector(tmp_path / "parts")
    rec = Recorder()
    latencies = [float(ms) for ms in range(1, 201)]
    for ms in latencies:
        rec.on_request("op", ms, 0, SimpleNamespace(status_code=200), {}, None, 1.0)
    rec.record_unsent("op", 2.0, "dropped")  # not a latency
    collector.add(rec.take())
    first = collector.progress(now=collector._last_progress + 2.0)
    assert first["p95_ms"] == values_at(latencies, [95])[0]
    assert first["rate"] == 100.0 and first["completed"] == 200 and first["dropped"] == 1
    again = collector.progress()
    assert math.isnan(again["p95_ms"]) and again["rate"] == 0.0 and again["completed"] == 200
    collector.close()


def test_a_redirect_is_an_error_unless_expected():
    """Redirects are never followed (harness.contract.egress): a 3xx is not a success by default."""
    rec = Recorder()
    rec.on_request("a", 1.0, 0, SimpleNamespace(status_code=302), {"expect": None}, None, 1.0)
    rec.on_request("b", 1.0, 0, SimpleNamespace(status_code=302), {"expect": frozenset({302})}, None, 1.0)
    rec.on_request("c", 1.0, 0, SimpleNamespace(status_code=204), {"expect": None}, None, 1.0)
    assert rec.take()["error"] == ["HTTP 302", None, None]
