"""Task health checks (COMMAND, HTTP, TCP) with Mesos' defaults and semantics.

After `delay_seconds` a check runs every `interval_seconds`, each bounded by
`timeout_seconds`. A change of health is reported (the task's executor sends TASK_RUNNING
with `healthy` set); failures inside `grace_period_seconds` of the task's start count only
once the task has been healthy; `consecutive_failures` in a row ask the executor to kill it.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import aiohttp

from mesos_runtime.wire.mesos import HealthCheck, HealthCheckType

from .users import TaskUser

DEFAULT_DELAY = 15.0
DEFAULT_INTERVAL = 10.0
DEFAULT_TIMEOUT = 20.0
DEFAULT_CONSECUTIVE_FAILURES = 3
DEFAULT_GRACE_PERIOD = 10.0


class HealthChecker:
    """Runs one task's health check until stopped."""

    def __init__(
        self,
        check: HealthCheck,
        *,
        sandbox: Path,
        env: dict[str, str],
        user: TaskUser | None = None,
        on_health: Callable[[bool, str], None],
        on_unhealthy: Callable[[int], None],
    ) -> None:
        self.check = check
        self.sandbox = sandbox
        self.env = env
        self.user = user  # command checks run as the task's user
        self.on_health = on_health  # (healthy, message) when health changes
        self.on_unhealthy = on_unhealthy  # (failures) when the task should be killed
        self._task: asyncio.Task[None] | None = None
        self.healthy: bool | None = None

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run())

    def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            self._task = None

    async def _run(self) -> None:
        c = self.check
        delay = DEFAULT_DELAY if c.delay_seconds is None else c.delay_seconds
        interval = DEFAULT_INTERVAL if c.interval_seconds is None else c.interval_seconds
        timeout = DEFAULT_TIMEOUT if c.timeout_seconds is None else c.timeout_seconds
        limit = (
            DEFAULT_CONSECUTIVE_FAILURES
            if c.consecutive_failures is None
            else c.consecutive_failures
        )
        grace = DEFAULT_GRACE_PERIOD if c.grace_period_seconds is None else c.grace_period_seconds
        started = time.monotonic()
        failures = 0
        await asyncio.sleep(delay)
        while True:
            ok, message = await self._probe(timeout)
            if ok:
                failures = 0
                if self.healthy is not True:
                    self.healthy = True
                    self.on_health(True, message)
            elif self.healthy is None and time.monotonic() - started < grace:
                pass  # still starting up: failures in the grace period do not count
            else:
                failures += 1
                if self.healthy is not False:
                    self.healthy = False
                    self.on_health(False, message)
                if limit and failures >= limit:
                    self.on_unhealthy(failures)
                    return
            await asyncio.sleep(interval)

    async def _probe(self, timeout: float) -> tuple[bool, str]:
        c = self.check
        kind = c.type or (
            HealthCheckType.HTTP
            if c.http
            else HealthCheckType.TCP
            if c.tcp
            else HealthCheckType.COMMAND
        )
        try:
            async with asyncio.timeout(timeout):
                if kind is HealthCheckType.COMMAND and c.command is not None:
                    return await self._command(c)
                if kind is HealthCheckType.HTTP and c.http is not None:
                    scheme = c.http.scheme or "http"
                    url = f"{scheme}://127.0.0.1:{c.http.port}{c.http.path or '/'}"
                    async with (
                        aiohttp.ClientSession() as session,
                        session.get(url, ssl=False) as response,
                    ):
                        codes = c.http.statuses
                        ok = response.status in codes if codes else 200 <= response.status < 400
                        return ok, f"HTTP health check returned {response.status}"
                if kind is HealthCheckType.TCP and c.tcp is not None:
                    _, writer = await asyncio.open_connection("127.0.0.1", c.tcp.port)
                    writer.close()
                    return True, "TCP health check connected"
        except TimeoutError:
            return False, f"Health check timed out after {timeout:g}s"
        except (OSError, aiohttp.ClientError) as e:
            return False, f"Health check failed: {e}"
        return False, "Health check has no command, http or tcp to run"

    async def _command(self, c: HealthCheck) -> tuple[bool, str]:
        assert c.command is not None
        env = dict(self.env)
        if c.command.environment:
            env.update({v.name: v.value or "" for v in c.command.environment.variables})
        as_user: dict[str, Any] = {}
        if self.user is not None:
            as_user = {
                "user": self.user.uid,
                "group": self.user.gid,
                "extra_groups": list(self.user.groups),
            }
        if c.command.shell is False:
            proc = await asyncio.create_subprocess_exec(
                c.command.value or "true",
                *c.command.arguments[1:],
                cwd=self.sandbox,
                env=env,
                stdin=asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.DEVNULL,
                stderr=asyncio.subprocess.DEVNULL,
                start_new_session=True,
                **as_user,
            )
        else:
            proc = await asyncio.create_subprocess_shell(
                c.command.value or "true",
                cwd=self.sandbox,
                env=env,
                stdin=asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.DEVNULL,
                stderr=asyncio.subprocess.DEVNULL,
                start_new_session=True,
                **as_user,
            )
        try:
            code = await proc.wait()
        except asyncio.CancelledError:
            with contextlib.suppress(ProcessLookupError):
                proc.kill()
            raise
        return code == 0, f"Command health check exited with status {code}"
