import math
import os
import time

from harness.contract.egress import Egress
from harness.run.monitor import Monitor, RuntimeMetrics, parse_prometheus
from tests.harness.egress_servers import recording, redirecting

TEXT = """\
# HELP motherbox_queue_depth Mailbox depth per agent
motherbox_queue_depth{agent="__total__"} 7
motherbox_queue_depth{agent="a1"} 3
motherbox_cache_hits_total{layer="L1"} 80
motherbox_cache_misses_total{layer="L1"} 20
motherbox_cache_hits_total{layer="L2"} 10
motherbox_cache_misses_total{layer="L2"} 10
motherbox_db_slow_queries_total 4
motherbox_pool_in_use{pool="db"} 3
motherbox_pool_waits_total{pool="db"} 1
"""


def bump(text, factor):
    out = []
    for line in text.splitlines():
        if line.startswith("motherbox_cache") or line.startswith("motherbox_db") or "waits" in line:
            name, value = line.rsplit(" ", 1)
            line = f"{name} {float(value) * factor}"
        out.append(line)
    return "\n".join(out)


def test_runtime_metrics_rates_from_counter_deltas():
    rm = RuntimeMetrics()
    first = rm.row(parse_prometheus(TEXT))
    assert first["queue_depth"] == 7
    assert math.isnan(first["cache_hit_rate"])  # no previous scrape: unknown, not zero
    second = rm.row(parse_prometheus(bump(TEXT, 2)))
    assert second["cache_hit_rate_l1"] == 0.8
    assert second["cache_hit_rate_l2"] == 0.5
    assert second["cache_hit_rate"] == (80 + 10) / (80 + 20 + 10 + 10)
    assert second["slow_queries"] == 4 and second["db_pool_in_use"] == 3 and second["db_pool_waits"] == 1


def test_missing_metrics_are_nan_and_explained():
    rm = RuntimeMetrics()
    row = rm.row(parse_prometheus("other_metric 1\n"))
    assert all(math.isnan(v) for v in row.values())
    mon = Monitor(pids=[], metrics_url=None, interval_s=0.1)
    mon.start()
    time.sleep(0.35)
    mon.stop()
    frame = mon.frame()
    assert len(frame) >= 2
    assert frame["rss_mb"].isna().all() and frame["sys_memory_percent"].notna().all()
    assert "process" in mon.not_measured and "runtime_metrics" in mon.not_measured


def test_process_tree_is_measured():
    mon = Monitor(pids=[os.getpid()], interval_s=0.1)
    mon.start()
    time.sleep(0.35)
    mon.stop()
    frame = mon.frame()
    assert (frame["rss_mb"] > 1).all() and (frame["threads"] >= 1).all()


# ---------------------------------------------------------------- the scrape under the egress policy

KEY = {"X-API-Key": "sekrit-monitor"}


def test_scrape_sends_the_key_to_the_target_only():
    with recording() as target, recording() as exporter:
        on_target = Monitor(
            pids=[], metrics_url=target.url + "/m", headers=KEY, egress=Egress(target=target.url)
        )
        elsewhere = Monitor(
            pids=[], metrics_url=exporter.url + "/m", headers=KEY, egress=Egress(target=target.url)
        )
        on_target.sample()
        elsewhere.sample()
    assert target.requests[0][2]["X-API-Key"] == "sekrit-monitor"
    assert len(exporter.requests) == 1 and "sekrit-monitor" not in exporter.header_values()


def test_scrape_follows_no_redirect():
    with recording() as other, redirecting(other.url) as target:
        mon = Monitor(pids=[], metrics_url=target.url + "/m", headers=KEY, egress=Egress(target=target.url))
        row = mon.sample()
    assert math.isnan(row["queue_depth"]) and other.requests == []
    assert (
        "HTTP 302" in mon.not_measured["runtime_metrics"]
        and "not followed" in mon.not_measured["runtime_metrics"]
    )


def test_a_non_loopback_metrics_url_is_refused_without_a_connection(monkeypatch):
    attempts = []
    monkeypatch.setattr("socket.create_connection", lambda address, *a, **k: attempts.append(address))
    for egress in (None, Egress("http://127.0.0.1:1")):
        mon = Monitor(pids=[], metrics_url="http://10.255.255.1:9100/metrics", headers=KEY, egress=egress)
        for _ in range(3):
            mon.sample()
        assert "refusing non-loopback host '10.255.255.1'" in mon.not_measured["runtime_metrics"]
    assert attempts == []
