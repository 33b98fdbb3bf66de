"""The Locust side, in its own process: typed plan, open-model pacer, per-request recorder, Parquet
collector, one driver path for local and master.
"""
