"""Bad inputs to ``harness run`` / ``harness validate``: each must be exit 2 with a message, never
a traceback (pathological YAML, malformed URLs in every URL field, bad numbers, outputs that are
files). The target is a loopback test server, so a case that wrongly starts a load still ends."""

from __future__ import annotations

import time
from pathlib import Path

from bench.chaos.common import TRACEBACK, Row, harness, last_line, output, write
from tests.harness.servers import serve

PROBE = "bad inputs"
WHAT = "deep/bomb YAML, malformed URLs, --time-scale -1/nan, --out a file, ...: tracebacks"
EXPECT = "0 tracebacks, all exit 2"
PLAIN = """\
name: plain
load: {rate: 5, duration: 1s, drain: 1s}
mix:
  - {name: get_x, path: /x}
"""
BOMB = "a: &a [x, x, x, x, x, x, x, x, x]\n" + "".join(
    f"{chr(98 + i)}: &{chr(98 + i)} [{', '.join([f'*{chr(97 + i)}'] * 9)}]\n" for i in range(8)
)


def _scenario_cases(tmp: Path) -> list[tuple[str, Path, list[str]]]:
    """(case, scenario file, extra arguments) of the bad scenario files."""

    def with_extra(name: str, extra: str) -> Path:
        return write(tmp, f"{name}.yaml", PLAIN + extra)

    deep_block = "".join(f"{'  ' * i}k{i}:\n" for i in range(300)) + "  " * 300 + "v\n"
    remote_mix = PLAIN.replace("path: /x", "path: 'http://10.255.255.1/'")
    extras = {
        "setup path @10.255.255.1/x": "setup:\n  - {name: s, path: '@10.255.255.1/x'}\n",
        "metrics_url http://": "monitor: {metrics_url: 'http://'}\n",
        "metrics_url http://[::1": "monitor: {metrics_url: 'http://[::1'}\n",
        "health_path //10.255.255.1/x": "target: {health_path: '//10.255.255.1/x'}\n",
    }
    return [
        ("YAML nested 500 levels (flow, 1 KB)", write(tmp, "deep.yaml", "a: " + "[" * 500 + "]" * 500), []),
        ("YAML nested 300 levels (block)", write(tmp, "deep_block.yaml", deep_block), []),
        ("YAML alias bomb", write(tmp, "bomb.yaml", BOMB), []),
        ("binary scenario file", write(tmp, "binary.yaml", "\x00\xff\xfe" * 100), []),
        ("scenario is a folder", tmp, []),
        ("mix path http://10.255.255.1/", write(tmp, "mix.yaml", remote_mix), []),
        *((name, with_extra(f"extra{i}", text), []) for i, (name, text) in enumerate(extras.items())),
    ]


def _option_cases(tmp: Path, plain: Path) -> list[tuple[str, Path, list[str]]]:
    a_file = write(tmp, "a-file", "x")
    return [
        ("--target http://[::1", plain, ["--target", "http://[::1"]),
        ("--target 127.0.0.1:8080 (no scheme)", plain, ["--target", "127.0.0.1:8080"]),
        ("--target port 99999", plain, ["--target", "http://127.0.0.1:99999"]),
        ("--target user info", plain, ["--target", "http://127.0.0.1:1@10.255.255.1/"]),
        ("--time-scale -1", plain, ["--time-scale", "-1"]),
        ("--time-scale nan", plain, ["--time-scale", "nan"]),
        ("--duration -5s", plain, ["--duration", "-5s"]),
        ("--out a file", plain, ["--out", str(a_file)]),
        ("--reports-dir a file", plain, ["--reports-dir", str(a_file)]),
    ]


def probe(tmp: Path) -> Row:
    started = time.monotonic()
    plain = write(tmp, "plain.yaml", PLAIN)
    cases = _scenario_cases(tmp) + _option_cases(tmp, plain)
    traces, wrong = [], []
    runs = 0
    with serve("fixed", delay_ms=1) as url:
        for name, scenario, extra in cases:
            target = [] if "--target" in extra else ["--target", url]
            commands = [["run", str(scenario), *target, *extra]]
            if not extra:
                commands.append(["validate", str(scenario)])
            for args in commands:
                if "--reports-dir" not in args:
                    args += ["--reports-dir", str(tmp / "reports")]
                out = (
                    harness(*args, "--quiet", timeout=90)
                    if args[0] == "run"
                    else harness(*args[:2], timeout=90)
                )
                runs += 1
                if TRACEBACK in output(out):
                    traces.append(f"{args[0]} {name}")
                if out.returncode != 2:
                    wrong.append(f"{args[0]} {name}: exit {out.returncode} ({last_line(output(out))})")
    count = f"{len(cases)} inputs, {runs} commands: {len(traces)} tracebacks, {len(wrong)} not exit 2"
    detail = "; ".join([*(f"traceback: {t}" for t in traces), *wrong]) or "every one exit 2 with one message"
    return Row(PROBE, WHAT, count, EXPECT, not traces and not wrong, detail, time.monotonic() - started)
