"""Profiling under load: py-spy (CPU), memray (memory), scalene; hotspots and diffs."""
