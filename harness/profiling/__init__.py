"""Profiling under load (issue 5): py-spy (CPU), memray (memory), scalene; hotspots and diffs."""
