"""Archival tiers and the purge job (completed in the optimization issue)."""

from __future__ import annotations

from .config import Settings


def run_archive_cli(settings: Settings, now: bool) -> int:
    print(
        f"archive: hot {settings.archive.hot_days}d, warm {settings.archive.warm_days}d, "
        f"cold {settings.archive.cold_days}d (now={now})"
    )
    return 0
