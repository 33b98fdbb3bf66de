"""Synthetic run folders with known distributions, for tests and benchmarks (not product code)."""
