"""The master's web page at `/`: a small server-rendered overview of agents, frameworks
and tasks (read-only; everything on it is also in `/master/state`)."""

from __future__ import annotations

import html
import time

from aiohttp import web

from .access import EVERYONE, AccessControl, Viewer
from .master import Master
from .streaming import Routes
from .views import visible_frameworks, visible_tasks

_STYLE = (
    "body{font-family:sans-serif;margin:2em}table{border-collapse:collapse;margin-bottom:2em}"
    "td,th{border:1px solid #ccc;padding:4px 8px;text-align:left}th{background:#eee}"
)


def _table(title: str, headers: list[str], rows: list[list[str]]) -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for h in headers)
    body = "".join(
        "<tr>" + "".join(f"<td>{html.escape(str(c))}</td>" for c in row) + "</tr>" for row in rows
    )
    if not rows:
        body = f'<tr><td colspan="{len(headers)}">none</td></tr>'
    return f"<h2>{html.escape(title)} ({len(rows)})</h2><table><tr>{head}</tr>{body}</table>"


def render(master: Master, viewer: Viewer = EVERYONE) -> str:
    visible = visible_frameworks(master, viewer)
    agents = [
        [
            a.id,
            a.info.hostname,
            a.pid,
            str(a.total),
            str(a.used()),
            "active" if a.active and a.connected else "inactive",
        ]
        for a in master.agents.values()
    ]
    frameworks = [
        [
            f.id,
            f.info.name,
            f.info.user,
            ",".join(f.roles),
            "connected" if f.connected else "disconnected",
            str(len(f.tasks)),
        ]
        for f in visible
    ]
    tasks = [
        [t.id, t.info.name, t.framework_id, t.agent_id, t.state.value, str(t.resources)]
        for f in visible
        for t in visible_tasks(f.tasks.values(), f, viewer)
    ]
    uptime = int(time.time() - master.start_time)
    cluster = html.escape(master.flags.cluster or "Infinity")
    return (
        f"<!doctype html><html><head><title>{cluster} master</title>"
        f"<style>{_STYLE}</style></head><body>"
        f"<h1>{cluster} — master {html.escape(master.info.pid or '')}</h1>"
        f"<p>id {html.escape(master.id)}, up {uptime}s, {len(master.offers)} outstanding offers, "
        f"{len(master.unreachable)} unreachable agents</p>"
        + _table("Agents", ["ID", "Host", "PID", "Resources", "Used", "State"], agents)
        + _table("Frameworks", ["ID", "Name", "User", "Roles", "Connection", "Tasks"], frameworks)
        + _table("Tasks", ["ID", "Name", "Framework", "Agent", "State", "Resources"], tasks)
        + "</body></html>"
    )


def add_routes(routes: Routes, master: Master, access: AccessControl) -> None:
    async def index(request: web.Request) -> web.Response:
        return web.Response(text=render(master, access.viewer(request)), content_type="text/html")

    routes.add_get("/", index)
