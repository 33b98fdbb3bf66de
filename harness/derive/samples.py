"""What every derived file starts from: completed versus dropped sends, and the load stages.

A sample whose ``error`` is ``"dropped"`` is a send that never started (the pacer hit
``max_in_flight``): it counts as dropped, never as a request or an error.
"""

from __future__ import annotations

import pandas as pd

from harness.contract.samples import dropped_mask, window_seconds

__all__ = ["Stage", "split_dropped", "window_seconds"]

Stage = tuple[float, float, float | None]  # (start_s, end_s, mean target rate)


def split_dropped(samples: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(completed requests, dropped sends)."""
    dropped = dropped_mask(samples["error"])
    return samples.loc[~dropped], samples.loc[dropped]
