import math
import os
import time

import pytest

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


# ---------------------------------------------------------------- the exposition parser (prometheus_client)


def test_escaped_label_values_and_braces_in_values_parse():
    text = (
        "# TYPE motherbox_queue_depth gauge\n"
        'motherbox_queue_depth{agent="__total__"} 5\n'
        'motherbox_queue_depth{agent="a\\"quoted\\" }{ agent",note="back\\\\slash\\nline"} 2\n'
    )
    rows = parse_prometheus(text)["motherbox_queue_depth"]
    assert rows == [
        ({"agent": "__total__"}, 5.0),
        ({"agent": 'a"quoted" }{ agent', "note": "back\\slash\nline"}, 2.0),
    ]
    # the hand-written parser stopped at the first "}" and lost the row; the total is still read
    assert RuntimeMetrics().row(parse_prometheus(text))["queue_depth"] == 5


def test_a_malformed_line_loses_only_itself():
    text = "motherbox_agents 3\nthis is not exposition\nmotherbox_database_bytes 2e6\n"
    metrics = parse_prometheus(text)
    assert metrics["motherbox_agents"] == [({}, 3.0)]
    assert metrics["motherbox_database_bytes"] == [({}, 2e6)]


def test_an_exported_counter_without_series_is_not_a_missing_metric():
    text = "# HELP motherbox_agent_cpu_seconds_total CPU\n# TYPE motherbox_agent_cpu_seconds_total counter\n"
    assert parse_prometheus(text) == {"motherbox_agent_cpu_seconds_total": []}


# ---------------------------------------------------------------- per-agent and storage columns


def agents_text(agents: int, cpu: dict[str, float], db_bytes: float) -> str:
    lines = [f"motherbox_agents {agents}", f"motherbox_database_bytes {db_bytes}"]
    lines += ["# TYPE motherbox_agent_cpu_seconds counter"]
    lines += [f'motherbox_agent_cpu_seconds_total{{agent="{a}"}} {s}' for a, s in cpu.items()]
    return "\n".join(lines) + "\n"


def test_busiest_agent_cpu_share_agents_and_storage_from_the_metrics():
    rm = RuntimeMetrics()
    first = rm.row(parse_prometheus(agents_text(3, {"a1": 1.0, "a2": 4.0}, 5e6)), now=100.0)
    assert first["agents"] == 3 and first["storage_mb"] == 5.0
    assert math.isnan(first["cpu_per_agent_pct"])  # one scrape: no interval yet
    # 2 s later: a1 +0.1 s, a2 +0.02 s, a3 new with 0.06 s -> the busiest used 0.1 s / 2 s = 5 %
    second = rm.row(parse_prometheus(agents_text(3, {"a1": 1.1, "a2": 4.02, "a3": 0.06}, 6e6)), now=102.0)
    assert second["cpu_per_agent_pct"] == pytest.approx(5.0)
    assert second["storage_mb"] == 6.0
    idle = rm.row(parse_prometheus(agents_text(0, {}, 6e6)), now=104.0)
    assert math.isnan(idle["cpu_per_agent_pct"])  # no agents: no per-agent share, not 0 %


def test_a_target_without_the_metrics_is_not_measured_naming_them():
    with recording() as target:  # answers JSON, not the exposition format
        mon = Monitor(pids=[os.getpid()], metrics_url=target.url + "/m", egress=Egress(target=target.url))
        mon.rows = [mon.sample(), mon.sample()]
        mon._explain_missing()
    assert "does not export motherbox_agents" in mon.not_measured["agents"]
    assert "motherbox_agent_cpu_seconds_total" in mon.not_measured["cpu_per_agent_pct"]
    assert "does not export motherbox_agents" in mon.not_measured["rss_per_agent_mb"]
    assert "does not export motherbox_database_bytes" in mon.not_measured["storage_mb"]
    bare = Monitor(pids=[], metrics_url=None)
    bare.rows = [bare.sample()]
    bare._explain_missing()
    assert bare.not_measured["storage_mb"].startswith(
        "no metrics URL for this target (needs motherbox_database"
    )
