"""`GET /metrics` as Marathon writes it (Dropwizard JSON: gauges, counters, ...) and the
same figures in Prometheus' text format at `/metrics/prometheus`."""

from __future__ import annotations

import re
import time
from typing import Any

__all__ = ["prometheus", "snapshot"]

_STARTED = time.time()


def snapshot(ctx: Any) -> dict[str, Any]:
    gauges: dict[str, float] = {
        "marathon.uptime.gauge.seconds": round(time.time() - _STARTED, 3),
        "marathon.leadership.duration.gauge.seconds": 0.0,
        "marathon.http.event-streams.active.gauge": float(ctx.events.subscribers),
    }
    counters: dict[str, int] = {"marathon.events.published.counter": ctx.events.published}
    leading = ctx.leading
    if leading is not None:
        scheduler = leading.scheduler
        instances = [i for i in scheduler.instances.values() if not i.gone]
        gauges.update(
            {
                "marathon.leadership.duration.gauge.seconds": round(
                    time.time() - ctx.elected_at, 3
                ),
                "marathon.apps.active.gauge": float(len(scheduler.apps)),
                "marathon.deployments.active.gauge": float(len(scheduler.deployments)),
                "marathon.instances.running.gauge": float(sum(i.running for i in instances)),
                "marathon.instances.staged.gauge": float(sum(not i.running for i in instances)),
                "marathon.instances.launch-overdue.gauge": float(
                    sum(scheduler.pending_launches().values())
                ),
            }
        )
        counters.update({f"{k}.counter": v for k, v in scheduler.counters.items()})
    return {
        "version": "4.0.0",
        "gauges": {k: {"value": v} for k, v in sorted(gauges.items())},
        "counters": {k: {"count": v} for k, v in sorted(counters.items())},
        "histograms": {},
        "meters": {},
        "timers": {},
    }


def _name(metric: str) -> str:
    return re.sub(r"[^a-zA-Z0-9_]", "_", metric)


def prometheus(snap: dict[str, Any]) -> str:
    lines = []
    for name, gauge in snap["gauges"].items():
        lines += [f"# TYPE {_name(name)} gauge", f"{_name(name)} {gauge['value']}"]
    for name, counter in snap["counters"].items():
        lines += [f"# TYPE {_name(name)} counter", f"{_name(name)} {counter['count']}"]
    return "\n".join(lines) + "\n"
