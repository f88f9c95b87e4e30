"""Launch delays of failing apps (`backoffSeconds`, `backoffFactor`, `maxLaunchDelaySeconds`).

Each failure of an instance multiplies the app's delay by the factor, up to the maximum;
no instance of the app is launched before the delay has passed. A new app version, a
`DELETE /v2/queue/{id}/delay`, or a quiet spell as long as the maximum delay starts over.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from .appdef import App

__all__ = ["LaunchDelay"]


@dataclass
class _Delay:
    seconds: float
    until: float
    last_failure: float


class LaunchDelay:
    """Per-app launch delays."""

    def __init__(self) -> None:
        self._delays: dict[str, _Delay] = {}

    def failed(self, app: App, now: float | None = None) -> float:
        """An instance of `app` failed: its next launch waits longer. Returns the delay."""
        now = time.time() if now is None else now
        current = self._delays.get(app.id)
        if current is None or now - current.last_failure > app.max_launch_delay:
            seconds = float(app.backoff_seconds)
        else:
            seconds = min(current.seconds * app.backoff_factor, float(app.max_launch_delay))
        self._delays[app.id] = _Delay(seconds, now + seconds, now)
        return seconds

    def remaining(self, app_id: str, now: float | None = None) -> float:
        delay = self._delays.get(app_id)
        if delay is None:
            return 0.0
        return max(0.0, delay.until - (time.time() if now is None else now))

    def has_delay(self, app_id: str) -> bool:
        return app_id in self._delays

    def reset(self, app_id: str) -> bool:
        """Forget the app's delay; True when it had one."""
        return self._delays.pop(app_id, None) is not None
