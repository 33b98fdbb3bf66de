"""What every derived file starts from: completed versus dropped sends, and the load stages.

A sample whose ``error`` is ``"dropped"`` is a send that never started (the pacer hit
``max_in_flight``): it counts as dropped, never as a request or an error.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from harness.contract.columns import DROPPED

Stage = tuple[float, float, float | None]  # (start_s, end_s, mean target rate)


def split_dropped(samples: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(completed requests, dropped sends)."""
    dropped_mask = samples["error"].eq(DROPPED).fillna(False).to_numpy(dtype=bool)
    return samples.loc[~dropped_mask], samples.loc[dropped_mask]


def window_seconds(epoch_s: pd.Series, window_start: float) -> np.ndarray:
    """The second of the measured window each timestamp falls in (negative before it)."""
    seconds: np.ndarray = np.floor(epoch_s.to_numpy(dtype=float) - window_start).astype(np.int64)
    return seconds
