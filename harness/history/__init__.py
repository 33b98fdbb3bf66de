"""reports/history.db (db.py, its one owner), baselines, history series with change points, the typed
history.json.
"""
