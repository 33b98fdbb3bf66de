"""The cpu_per_request fault through the real runtime: admin round trip, validation, and an honest
effect test (the runtime process's CPU per request, measured from outside with psutil)."""

from __future__ import annotations

import time
from pathlib import Path

import httpx
import psutil
import pytest

from .helpers import Server, make_project, start_runtime

pytestmark = pytest.mark.slow

LIST = "/v1/projects?limit=50"  # 50 projects serialized per request: a few ms of runtime CPU


def test_admin_round_trip(faulty: httpx.Client, server: Server) -> None:
    resp = faulty.post("/v1/admin/faults", json={"cpu_per_request": {"percent": 5}})
    assert resp.status_code == 200, resp.text
    snap = faulty.get("/v1/admin/faults").json()
    assert snap["active"] == ["cpu_per_request"]
    assert snap["settings"]["cpu_per_request"] == {"percent": 5.0}
    for _ in range(40):  # API requests: the first window calibrates, later ones burn
        assert faulty.get("/v1/projects?limit=1").status_code == 200
        time.sleep(0.02)
    snap = faulty.get("/v1/admin/faults").json()
    assert snap["cpu_per_request_base_ms"] > 0
    assert snap["counters"]["cpu_per_request_burns"] > 0
    assert snap["counters"]["cpu_per_request_burned_ms"] > 0
    assert 'motherbox_fault_active{fault="cpu_per_request"} 1.0' in faulty.get("/v1/metrics/prometheus").text
    off = faulty.post("/v1/admin/faults", json={"cpu_per_request": {"enabled": False}}).json()
    assert off["active"] == []
    faulty.post("/v1/admin/faults", json={"cpu_per_request": {"percent": 1000}})
    cleared = faulty.delete("/v1/admin/faults").json()
    assert cleared["active"] == [] and cleared["settings"]["cpu_per_request"] is None
    burns = cleared["counters"]["cpu_per_request_burns"]
    faulty.get("/v1/projects?limit=1")
    assert faulty.get("/v1/admin/faults").json()["counters"]["cpu_per_request_burns"] == burns


@pytest.mark.parametrize(
    ("value", "field"),
    [
        ({"percent": 0}, "cpu_per_request.percent"),
        ({"percent": 1000.5}, "cpu_per_request.percent"),
        ({"percent": -1}, "cpu_per_request.percent"),
        ({"percent": "5"}, "cpu_per_request.percent"),
        ({}, "cpu_per_request.percent"),
        ({"percent": 5, "extra": 1}, "cpu_per_request.extra"),
        ({"percent": 5, "enabled": "yes"}, "cpu_per_request.enabled"),
        (5, "cpu_per_request"),
    ],
)
def test_bad_percent_is_400_naming_the_field(faulty: httpx.Client, value: object, field: str) -> None:
    resp = faulty.post("/v1/admin/faults", json={"cpu_per_request": value})
    assert resp.status_code == 400, resp.text
    body = resp.json()
    assert body["details"]["field"] == field and field in body["message"]
    assert faulty.get("/v1/admin/faults").json()["active"] == []


def _paced_cpu_per_request(api: httpx.Client, proc: psutil.Process, n: int, pace_s: float) -> float:
    """Runtime CPU seconds per request over ``n`` requests sent at a fixed pace (same rate in both
    conditions: a closed loop would send fewer requests per second while the burn is on, and this
    runtime's CPU per request rises when requests come less often)."""
    before = proc.cpu_times()
    due = time.perf_counter()
    for _ in range(n):
        assert api.get(LIST).status_code == 200
        due += pace_s
        time.sleep(max(0.0, due - time.perf_counter()))
    after = proc.cpu_times()
    return (after.user + after.system - before.user - before.system) / n


def test_percent_raises_cpu_per_request(tmp_path: Path, backend: Server) -> None:
    srv = start_runtime(
        tmp_path, "--model-url", backend.base_url, "--set", "faults.cpu_per_request.percent=100"
    )
    try:
        proc = psutil.Process(srv.proc.pid)
        with srv.client() as api:
            assert api.get("/v1/admin/faults").json()["active"] == ["cpu_per_request"]  # from config
            for i in range(50):
                make_project(api, name=f"project {i} " + "x" * 80)
            _paced_cpu_per_request(api, proc, 60, 0.015)  # warm up and calibrate
            totals = {0: 0.0, 100: 0.0}
            for rnd in range(3):  # interleaved, order alternating, to cut drift and noise
                for percent in (0, 100) if rnd % 2 == 0 else (100, 0):
                    if percent:
                        api.post("/v1/admin/faults", json={"cpu_per_request": {"percent": percent}})
                    else:
                        api.delete("/v1/admin/faults")
                    totals[percent] += _paced_cpu_per_request(api, proc, 120, 0.015)
            counters = api.get("/v1/admin/faults").json()["counters"]
    finally:
        srv.stop()
    ratio = totals[100] / totals[0]
    print(f"cpu per request: percent=0 {totals[0] / 3 * 1000:.2f} ms, ratio 100/0 {ratio:.2f}")
    assert counters["cpu_per_request_burns"] >= 3 * 120 * 0.9
    assert ratio > 1.4
