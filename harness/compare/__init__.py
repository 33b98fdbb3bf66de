"""Comparison of two run sets: statistics (stats.py), run sets and repeats (runset.py), hotspot diffs,
the typed compare.json (result.py).
"""
