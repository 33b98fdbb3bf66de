"""Profilers around one run (filled in by issue 5); every profiler reports ok/failed/skipped."""

from __future__ import annotations

from typing import Any

from rich.console import Console

from harness.rundir import ProfileRecord


class ProfilerSet:
    def __init__(self, kinds: list[str], run_id: str, options: Any, console: Console) -> None:
        self.kinds, self.run_id, self.options, self.console = kinds, run_id, options, console
        self._records: dict[str, ProfileRecord] = {}

    def launch_prefix(self) -> tuple[list[str], dict[str, str]]:
        return [], {}

    def attach(self, pid: int | None, resolved: Any) -> None:
        for kind in self.kinds:
            self._records[kind] = ProfileRecord(status="skipped", reason="profiling not implemented yet")

    def stop_attached(self) -> None:
        return None

    def records(self) -> dict[str, ProfileRecord]:
        return dict(self._records)
