"""GET /v1/metrics/prometheus on the real runtime: the names the harness monitor scrapes."""

from __future__ import annotations

import httpx

from .helpers import Server, make_agent, make_project


def _parse(text: str) -> dict[str, list[tuple[str, float]]]:
    out: dict[str, list[tuple[str, float]]] = {}
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        name_labels, value = line.rsplit(" ", 1)
        name, _, labels = name_labels.partition("{")
        out.setdefault(name, []).append((labels.rstrip("}"), float(value)))
    return out


def test_prometheus_metrics_after_traffic(api: httpx.Client, server: Server) -> None:
    pid = str(make_project(api, name="metrics project")["id"])
    aid = str(make_agent(api, pid, name="metrics agent")["id"])
    for _ in range(3):
        assert (
            api.post(
                f"/v1/projects/{pid}/agents/{aid}/execute", json={"command": "*research same"}
            ).status_code
            == 200
        )
    api.post(f"/v1/projects/{pid}/agents/{aid}/execute", json={"command": "*analyze history"})
    assert httpx.get(server.base_url + "/v1/metrics/prometheus").status_code == 401  # key required
    resp = api.get("/v1/metrics/prometheus")
    assert resp.status_code == 200 and resp.headers["content-type"].startswith("text/plain")
    m = _parse(resp.text)
    for name in (
        "motherbox_queue_depth",
        "motherbox_cache_hits_total",
        "motherbox_cache_misses_total",
        "motherbox_db_slow_queries_total",
        "motherbox_pool_in_use",
        "motherbox_pool_waits_total",
        "motherbox_model_calls_total",
        "motherbox_batches_flushed_total",
        "motherbox_agent_cpu_seconds_total",
        "motherbox_agent_memory_bytes",
        "motherbox_request_duration_seconds_bucket",
        "motherbox_model_breaker_state",
        "motherbox_switch_enabled",
    ):
        assert name in m, name
    assert any('agent="__total__"' in labels for labels, _ in m["motherbox_queue_depth"])
    assert {labels for labels, _ in m["motherbox_cache_hits_total"]} == {
        'layer="l1"',
        'layer="l2"',
        'layer="l3"',
    }
    l1_hits = dict(m["motherbox_cache_hits_total"])['layer="l1"']
    assert l1_hits >= 2  # the repeated command
    assert {labels for labels, _ in m["motherbox_pool_in_use"]} >= {
        'pool="db"',
        'pool="model"',
        'pool="inter_agent"',
    }
    cpu = dict(m["motherbox_agent_cpu_seconds_total"])
    assert cpu[f'agent="{aid}"'] > 0  # measured around the agent's handlers
    routes = " ".join(labels for labels, _ in m["motherbox_request_duration_seconds_count"])
    assert "/v1/projects/{project_id}/agents/{agent_id}/execute" in routes
