"""Marathon on the runtime: the cluster's init for long-running apps, speaking Marathon's
REST API v2 (`api.py`), with app definitions (`appdef.py`), deployments, kill-and-replace
with backoff (`scheduler.py`), and HA through the scheduler library's election and store
(`daemon.py`). See docs/marathon.md.
"""
