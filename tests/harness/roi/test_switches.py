"""The switch sweep: interleaved variants, generated configs, claimed-vs-measured rows."""

from __future__ import annotations

import json
from pathlib import Path

import yaml

from harness.commands import roi as roi_cmd
from harness.roi import sweep, switches
from harness.run.launch import RunOutcome, RunRequest
from harness.testing.synthetic import SyntheticOp, SyntheticSpec, make_run

OPS = (SyntheticOp("command_ack", 0.7, 10.0, 0.3), SyntheticOp("complex_analysis", 0.3, 200.0, 0.3))
#: Synthetic effect of each variant (latency multiplier): batching off = 40% slower, caching does nothing.
SCALES = {"all_on": 1.0, "no_batching": 1.4, "no_caching": 1.0, "all_off": 2.2}


def fake_runner(calls: list[RunRequest]):
    def run(request: RunRequest) -> RunOutcome:
        calls.append(request)
        variant = request.tags["variant"]
        seed = len(calls) * 7
        spec = SyntheticSpec(
            seed=seed,
            ops=OPS,
            duration_s=10,
            latency_scale=SCALES[variant],
            run_id=f"{variant}-{request.tags['repeat']}",
            tags=dict(request.tags),
        )
        return RunOutcome(0, make_run(request.out or Path("."), spec), "")

    return run


def test_sweep_interleaves_variants_and_writes_configs(tmp_path: Path) -> None:
    calls: list[RunRequest] = []
    runs, failed = sweep.run_sweep(
        Path("scenario.yaml"),
        tmp_path,
        switches=["batching", "caching"],
        repeats=2,
        time_scale=1.0,
        duration="20s",
        cooldown_s=0,
        reports_dir=tmp_path,
        runner=fake_runner(calls),
        log=lambda _: None,
    )
    assert not failed
    first_on, second_on = (c.tags for c in calls if c.tags["variant"] == "all_on")
    assert (first_on["repeat"], second_on["repeat"], first_on["repeats"]) == ("1", "2", "2")
    assert first_on["repeat_group"] == second_on["repeat_group"]
    order = [c.tags["variant"] for c in calls]
    assert order == [
        "all_on",
        "no_batching",
        "no_caching",
        "all_off",
        "all_off",
        "no_caching",
        "no_batching",
        "all_on",
    ]
    assert calls[0].runtime_config == "optimized" and calls[3].runtime_config == "baseline"
    config = yaml.safe_load(Path(calls[1].runtime_config or "").read_text())
    assert config["switches"]["batching"] is False and config["switches"]["caching"] is True
    assert {k: len(v) for k, v in runs.items()} == {
        "all_on": 2,
        "no_batching": 2,
        "no_caching": 2,
        "all_off": 2,
    }

    result, overall = switches.analyse_sweep(runs, scenario="s", repeats=2, failed=failed)
    rows = {r.switch: r for r in result.rows}
    batching = rows["batching"]
    # batching's claim is measured on CPU per request (synthetic CPU is flat): not confirmed
    assert batching.measured_metric == "cpu_per_request(overall)"
    assert batching.effects["p50"].change is not None and batching.effects["p50"].change < -0.2
    assert batching.effects["p50"].mark == "-"
    assert rows["caching"].effects["p50"].mark in ("~", "=", "!")  # no effect, or too weak to see one
    assert rows["caching"].hit_rates["cache_hit_rate_l1"]["measured"] is not None
    assert overall is not None
    response = next(b for b in result.benefits if b.benefit == "response time")
    assert response.measured is not None and response.measured < -0.4


def cell_of(change: float, low: float, high: float, mark: str, status: str) -> switches.EffectCell:
    return switches.EffectCell(change=change, ci_low=low, ci_high=high, mark=mark, status=status)


def test_judge_compares_the_measured_change_with_the_claim() -> None:
    cell = cell_of(-0.6, -0.7, -0.5, "-", "improvement")
    assert switches.judge(-0.5, cell) == "confirmed"
    assert switches.judge(-0.9, cell) == "partly"
    assert switches.judge(None, cell) == "no claim"
    assert switches.judge(-0.5, cell_of(0.01, -0.02, 0.03, "~", "not_significant")) == "not confirmed"
    assert switches.judge(-0.5, None) == "not measurable"
    # an underpowered comparison neither confirms nor refutes, whatever its point estimate
    assert switches.judge(-0.5, cell_of(-0.6, -1.2, 0.1, "!", "inconclusive")) == "not measurable"
    assert switches.judge(-0.5, cell_of(-0.6, -0.7, -0.5, "#", "too_few_samples")) == "not measurable"


def test_bad_switch_name_is_usage_error(tmp_path: Path, capsys) -> None:
    code = roi_cmd.main(["--switches", "--only", "turbo", "--out", str(tmp_path)])
    assert code == 2 and "turbo" in capsys.readouterr().err


def test_sweep_without_a_successful_all_on_run_is_one_line_error(tmp_path: Path, monkeypatch, capsys) -> None:
    failed_runs = ({"all_on": [], "no_turbo": [], "all_off": []}, ["all_on #1: exit 3: target down"])
    monkeypatch.setattr(sweep, "run_sweep", lambda *args, **kwargs: failed_runs)
    code = roi_cmd.main(["--switches", "--only", "batching", "--out", str(tmp_path)])
    err = capsys.readouterr().err
    assert code == 2
    assert err.startswith("harness roi --switches: ") and "Traceback" not in err


def test_sweep_outputs_render(tmp_path: Path) -> None:
    calls: list[RunRequest] = []
    runs, failed = sweep.run_sweep(
        Path("s.yaml"),
        tmp_path,
        switches=["batching"],
        repeats=1,
        time_scale=1.0,
        duration=None,
        cooldown_s=0,
        reports_dir=tmp_path,
        runner=fake_runner(calls),
        log=lambda _: None,
    )
    result, _ = switches.analyse_sweep(runs, scenario="s", repeats=1, failed=failed)
    json_path, html_path = sweep.write_sweep(result, None, tmp_path)
    saved = json.loads(json_path.read_text())
    assert saved["rows"][0]["switch"] == "batching"
    assert saved["benefits"][0]["benefit"] == "response time"  # nested models are written as objects
    assert "claimed vs measured" in html_path.read_text()
