"""Sample frames with known latencies, shared by the derive tests."""

from __future__ import annotations

import numpy as np
import pandas as pd


def make_samples(
    latencies: list[float], *, op: str = "op", start: float = 1000.0, error: list[str | None] | None = None
) -> pd.DataFrame:
    """One sample per latency, sent every 10 ms from ``start``, completing ``latency`` later."""
    n = len(latencies)
    intended = start + np.arange(n) * 0.01
    return pd.DataFrame(
        {
            "ts": intended + np.asarray(latencies) / 1000.0,
            "operation": [op] * n,
            "intended_start": intended,
            "start": intended,
            "latency_ms": latencies,
            "service_ms": latencies,
            "status": [200] * n,
            "bytes": [100] * n,
            "error": error or [None] * n,
            "worker": [0] * n,
        }
    )
