"""Samples (+ monitor series) to summary.json, timeseries.csv and histograms.json, with one latency-
percentile definition (percentiles.py).
"""
