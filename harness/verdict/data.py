"""What rules read of a run folder: the contract's one run-folder loader, under the rules' name.

Samples come sorted by completion time with ``sec`` (second of the measured window), the window
start from the manifest; see :class:`harness.contract.runfolder.RunFolder`.
"""

from __future__ import annotations

from harness.contract.runfolder import RunFolder

RunData = RunFolder

__all__ = ["RunData"]
