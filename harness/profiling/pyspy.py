"""CPU profiling with py-spy, attached by PID for the measured window only.

Records raw collapsed stacks (py-spy writes one format per recording); speedscope JSON, the
interactive flamegraph SVG (click to zoom, search) and ``hotspots.json`` (led by the target's own
code) are derived from them (one recording, three views). If py-spy cannot attach (ptrace denied, not a
Python process, binary missing) the run goes on and the record says why.
"""

from __future__ import annotations

import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from harness.contract.rundir import ProfileRecord
from harness.profiling import collapsed
from harness.profiling.tools import display_path, executable, stop_process, tail


@dataclass
class PySpyOptions:
    rate: int = 100
    subprocesses: bool = False
    gil: bool = False
    idle: bool = False
    native: bool = False
    nonblocking: bool = True  # sample without pausing the target: lower overhead under load


class PySpyRecorder:
    def __init__(
        self, out_dir: Path, options: PySpyOptions, title: str, own_prefixes: tuple[str, ...] | None = None
    ) -> None:
        self.out_dir, self.options, self.title = out_dir, options, title
        self.own_prefixes = own_prefixes
        self.raw = out_dir / "cpu.collapsed.txt"
        self.log = out_dir / "py-spy.log"
        self.proc: subprocess.Popen[bytes] | None = None
        self.failure: str | None = None

    def command(self, pid: int) -> list[str]:
        binary = executable("py-spy")
        assert binary is not None
        o = self.options
        cmd = [binary, "record", "--pid", str(pid), "--rate", str(o.rate), "--format", "raw"]
        cmd += ["--output", str(self.raw)]
        for flag, on in (
            ("--subprocesses", o.subprocesses),
            ("--gil", o.gil),
            ("--idle", o.idle),
            ("--native", o.native),
            ("--nonblocking", o.nonblocking),
        ):
            if on:
                cmd.append(flag)
        return cmd

    def start(self, pid: int | None) -> bool:
        if pid is None:
            self.failure = "no target PID (external target: pass --pid)"
            return False
        if executable("py-spy") is None:
            self.failure = "py-spy is not installed"
            return False
        self.out_dir.mkdir(parents=True, exist_ok=True)
        with open(self.log, "wb") as log:
            self.proc = subprocess.Popen(self.command(pid), stdout=log, stderr=subprocess.STDOUT)
        time.sleep(1.0)  # attach errors (ptrace denied, wrong Python) surface at once
        if self.proc.poll() is not None:
            detail = tail(self.log) or f"exit {self.proc.returncode}"
            self.failure = f"py-spy could not attach to PID {pid}: {detail}"
            self.proc = None
            return False
        return True

    def stop(self) -> ProfileRecord:
        if self.proc is not None:
            stop_process(self.proc)
            self.proc = None
        if self.failure is not None:
            return ProfileRecord(status="failed", reason=self.failure)
        if not self.raw.is_file() or self.raw.stat().st_size == 0:
            return ProfileRecord(status="failed", reason=f"py-spy wrote no samples: {tail(self.log)}")
        return self.render()

    def render(self) -> ProfileRecord:
        stacks = collapsed.parse_collapsed(self.raw.read_text(errors="replace"))
        files = {"collapsed": self.raw}
        speedscope = self.out_dir / "cpu.speedscope.json"
        speedscope.write_text(collapsed.dumps(collapsed.to_speedscope(stacks, self.title)))
        files["speedscope"] = speedscope
        svg = self.out_dir / "cpu.flamegraph.svg"
        svg.write_text(collapsed.to_svg(stacks, f"CPU {self.title}"))
        files["flamegraph"] = svg
        hot = self.out_dir / "hotspots.json"
        table = collapsed.hotspot_table(stacks, own_prefixes=self.own_prefixes)
        table["rate_hz"] = self.options.rate
        hot.write_text(collapsed.dumps(table))
        files["hotspots"] = hot
        return ProfileRecord(status="ok", files={k: display_path(v) for k, v in files.items()})
