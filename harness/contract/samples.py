"""Two questions every reader of samples.parquet asks, answered once.

- Which samples are dropped sends (the pacer hit ``max_in_flight``; never a request or an error)?
- Which second of the measured window does an epoch time fall in (negative before the window)?
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from harness.contract.columns import DROPPED


def dropped_mask(error: pd.Series) -> np.ndarray:
    """True where the sample's ``error`` is the dropped marker."""
    mask: np.ndarray = error.eq(DROPPED).fillna(False).to_numpy(dtype=bool)
    return mask


def window_seconds(epoch_s: pd.Series | np.ndarray, window_start: float) -> np.ndarray:
    """The second of the measured window each epoch time falls in."""
    values = epoch_s.to_numpy(dtype=float) if isinstance(epoch_s, pd.Series) else np.asarray(epoch_s, float)
    seconds: np.ndarray = np.floor(values - window_start).astype(np.int64)
    return seconds
