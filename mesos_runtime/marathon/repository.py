"""Where Marathon keeps its state, on the scheduler library's store: app definitions (the
current one and every version), deployments under way. Task records are the library's
(`TaskTracker`); the framework id too.

Namespaces: `data/apps/<app id>`, `data/app-versions/<app id>@<version>`,
`data/deployments/<deployment id>`.
"""

from __future__ import annotations

import asyncio
from typing import Any

from mesos_runtime.scheduler.state import SchedulerState

from .deployments import Deployment

__all__ = ["Repository"]

_APPS = "apps"
_VERSIONS = "app-versions"
_DEPLOYMENTS = "deployments"


class Repository:
    def __init__(self, state: SchedulerState, max_versions: int = 50) -> None:
        self.state = state
        self.max_versions = max_versions

    async def apps(self) -> dict[str, dict[str, Any]]:
        return await self.state.all_json(_APPS)

    async def put_app(self, app: dict[str, Any]) -> None:
        """Store the app as current and as one of its versions (keeping `max_versions`)."""
        await asyncio.gather(
            self.state.put_json(_APPS, app["id"], app),
            self.state.put_json(_VERSIONS, f"{app['id']}@{app['version']}", app),
        )
        versions = await self.versions(app["id"])
        for old in versions[self.max_versions :]:
            await self.state.delete_json(_VERSIONS, f"{app['id']}@{old}")

    async def delete_app(self, app_id: str) -> None:
        await self.state.delete_json(_APPS, app_id)
        for version in await self.versions(app_id):
            await self.state.delete_json(_VERSIONS, f"{app_id}@{version}")

    async def versions(self, app_id: str) -> list[str]:
        """The app's stored versions, newest first."""
        prefix = f"{app_id}@"
        names = await self.state.names(_VERSIONS)
        return sorted((n[len(prefix) :] for n in names if n.startswith(prefix)), reverse=True)

    async def version(self, app_id: str, version: str) -> dict[str, Any] | None:
        value = await self.state.get_json(_VERSIONS, f"{app_id}@{version}")
        return value if isinstance(value, dict) else None

    async def deployments(self) -> list[Deployment]:
        stored = await self.state.all_json(_DEPLOYMENTS)
        return [Deployment.from_store(d) for d in stored.values()]

    async def put_deployment(self, deployment: Deployment) -> None:
        await self.state.put_json(_DEPLOYMENTS, deployment.id, deployment.to_store())

    async def delete_deployment(self, deployment_id: str) -> None:
        await self.state.delete_json(_DEPLOYMENTS, deployment_id)
