"""``make chaos``: the reliability suite of issue 12, rerunnable, bounded (~10 minutes on 2 cores).

Each probe runs real processes on loopback (the reference runtime, its model backend, ``harness``
as a child process, loopback test servers) and gives one row of a table: what was probed, the
count, the expectation, PASS/FAIL (or SKIP with the reason when this machine cannot run it).

| probe | module |
| --- | --- |
| schemathesis against the running runtime: requests, 5xx | :mod:`bench.chaos.fuzz` |
| kill -9 of the runtime mid-load, 3 rounds: acknowledged vs found after restart | :mod:`bench.chaos.crash` |
| model errors off / on / off: health, ack p99, 429s; acknowledged work finishes | :mod:`bench.chaos.faults` |
| hostile URLs and redirects, in a loopback-only network namespace | :mod:`bench.chaos.hostile` |
| SIGTERM / SIGKILL of ``harness run`` mid-load: orphaned processes | :mod:`bench.chaos.stops` |
| read-only and full output folders: exit codes, manifest | :mod:`bench.chaos.disk` |
| bad inputs (deep YAML, malformed URLs, bad numbers): tracebacks | :mod:`bench.chaos.inputs` |
| a distinctive key through run/gate/report/compare: files holding it | :mod:`bench.chaos.secrets` |
| a short soak: RSS and database-size slopes | :mod:`bench.chaos.soak` |

``python -m bench.chaos --json FILE`` also writes the table as JSON; ``--only`` runs some probes.
Figures: docs/benchmarks.md, "Reliability (`make chaos`)". Not a test: nothing imports it.
"""
