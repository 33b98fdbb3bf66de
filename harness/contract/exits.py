"""Exit codes of every ``harness`` command: one definition, documented in README.md.

0 success (all gates pass, no regression), 1 a gate failed or a regression was found, 2 usage or
input error (nothing written), 3 run aborted, incomplete, or target unreachable.
"""

from __future__ import annotations

EXIT_OK = 0
EXIT_FAILED = 1  # a gate failed / a regression was found: a result, not a crash
EXIT_USAGE = 2
EXIT_ABORTED = 3
