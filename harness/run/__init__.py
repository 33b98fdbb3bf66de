"""One run: target, monitor, profilers and the Locust processes (LoadPass), then the after-run pipeline
(derive, manifest, verdict, report, index, history).
"""
