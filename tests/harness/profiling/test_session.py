"""Where a run's profile files go: inside the run folder, named relative to it; an index link."""

from __future__ import annotations

from pathlib import Path

from rich.console import Console

from harness.contract.rundir import ProfileRecord
from harness.profiling.session import ProfilerSet, managed_own_prefixes
from harness.scenario.schema import Profile


def test_records_are_relative_to_the_run_folder_and_the_index_links_to_them(tmp_path: Path) -> None:
    run_dir = tmp_path / "reports" / "runs" / "r1"
    pset = ProfilerSet(["cpu"], "r1", Profile(), Console(quiet=True), root=run_dir / "profiles")
    assert pset.out_dir == run_dir / "profiles" / "r1"
    pset.out_dir.mkdir(parents=True)
    (pset.out_dir / "hotspots.json").write_text("{}")
    outside = tmp_path / "elsewhere.json"
    pset.record("cpu", ProfileRecord(status="ok", files={"hotspots": str(pset.out_dir / "hotspots.json")}))
    pset.record("memory", ProfileRecord(status="ok", files={"memory": str(outside)}))
    records = pset.relative_records(run_dir)
    assert records["cpu"].files == {"hotspots": "profiles/r1/hotspots.json"}
    assert records["memory"].files == {"memory": str(outside)}  # outside the run folder: as it was
    index = tmp_path / "profiles"
    link = pset.link_index(index)
    assert link == index / "r1" and (link / "hotspots.json").is_file()
    assert pset.link_index(index) is None  # never replaces what is there


def test_managed_runtime_own_code_follows_the_runtime_module(monkeypatch) -> None:
    monkeypatch.delenv("HARNESS_RUNTIME_MODULE", raising=False)
    assert managed_own_prefixes() == ("reference_runtime/",)
    monkeypatch.setenv("HARNESS_RUNTIME_MODULE", "tests.harness.fake_runtime")
    assert managed_own_prefixes() == ("tests/",)
