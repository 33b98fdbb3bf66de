"""Exit codes of every ``harness`` command: one definition, documented in README.md.

0 success (all gates pass, no regression), 1 a gate failed or a regression was found, 2 usage or
input error (nothing written), 3 run aborted (Ctrl-C, SIGTERM, a write error), incomplete, or
target unreachable, 70 internal error: an unexpected exception, a bug in the harness (its
traceback goes to stderr; 70 is ``EX_SOFTWARE`` of sysexits.h, so it never reads as a result).
"""

from __future__ import annotations

EXIT_OK = 0
EXIT_FAILED = 1  # a gate failed / a regression was found: a result, not a crash
EXIT_USAGE = 2
EXIT_ABORTED = 3
EXIT_INTERNAL = 70  # an unhandled exception: a bug, reported with its traceback
