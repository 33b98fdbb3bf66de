"""The nightly suite: plan, runs as child processes, compare with baselines, history, the typed
nightly.json.
"""
