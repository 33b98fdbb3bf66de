"""Settings precedence: CLI > env MOTHERBOX_* > YAML > defaults; shipped profiles."""

from __future__ import annotations

from pathlib import Path

import pytest

from reference_runtime.config import SWITCH_NAMES, ConfigError, env_overrides, load_settings, parse_assignment


def test_defaults_are_the_guides_numbers() -> None:
    s = load_settings(environ={})
    assert s.profile == "optimized"
    assert all(getattr(s.switches, n) for n in SWITCH_NAMES)
    assert (s.database.pool_min, s.database.pool_max, s.database.idle_timeout_s) == (5, 20, 300.0)
    assert (s.batching.status_batch_size, s.batching.status_max_wait_ms) == (10, 100.0)
    assert (s.batching.metrics_batch_size, s.batching.metrics_max_wait_ms) == (100, 1000.0)
    assert s.cache.l1_bytes == 10 * 2**20 and s.cache.l2_ttl_s == 3600 and s.cache.l3_bytes == 2**30
    assert s.model_client.max_attempts == 3 and s.model_client.connections_per_service == 10
    assert s.agents.inter_agent_pool_size == 50 and s.workflows.max_parallel == 5
    assert (s.archive.hot_days, s.archive.warm_days, s.archive.cold_days, s.archive.batch_size) == (
        7,
        30,
        365,
        10_000,
    )
    assert s.host == "127.0.0.1"


def test_baseline_profile_turns_everything_off() -> None:
    s = load_settings("baseline", environ={})
    assert s.profile == "baseline"
    assert not any(getattr(s.switches, n) for n in SWITCH_NAMES)


def test_precedence_cli_over_env_over_yaml(tmp_path: Path) -> None:
    cfg = tmp_path / "c.yaml"
    cfg.write_text("port: 1111\nworkers: 3\nswitches: {caching: false}\nmodel_backend: {error_rate: 0.1}\n")
    env = {
        "MOTHERBOX_PORT": "2222",
        "MOTHERBOX_CACHING": "true",
        "MOTHERBOX_MODEL_BACKEND__ERROR_RATE": "0.2",
    }
    s = load_settings(str(cfg), {"port": 3333}, environ=env)
    assert s.port == 3333  # CLI wins
    assert s.switches.caching is True  # env beats YAML
    assert s.model_backend.error_rate == 0.2
    assert s.workers == 3  # YAML beats default
    s2 = load_settings(str(cfg), {}, environ={})
    assert s2.port == 1111 and s2.switches.caching is False


def test_env_selects_profile_and_keeps_string_keys() -> None:
    s = load_settings(None, environ={"MOTHERBOX_CONFIG": "baseline", "MOTHERBOX_API_KEY": "123"})
    assert s.profile == "baseline" and s.api_key == "123"


def test_unknown_env_vars_ignored_and_typos_rejected(tmp_path: Path) -> None:
    assert env_overrides({"MOTHERBOX_NOPE": "1", "OTHER": "2"}) == {}
    bad = tmp_path / "bad.yaml"
    bad.write_text("switches: {cachign: true}\n")
    with pytest.raises(
        ConfigError, match=r"bad.yaml \(with env/--set overrides\): switches.cachign: Extra inputs"
    ):
        load_settings(str(bad), environ={})


def test_set_assignment_nested() -> None:
    assert parse_assignment("agents.concurrency=4") == {"agents": {"concurrency": 4}}
    with pytest.raises(ValueError):
        parse_assignment("novalue")
