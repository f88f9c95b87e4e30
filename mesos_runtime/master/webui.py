"""The master's web page at `/`: a small server-rendered overview of agents, frameworks
and tasks (read-only; everything on it is also in `/master/state`)."""

from __future__ import annotations

import html
import time

from aiohttp import web

from .master import Master
from .streaming import Routes

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


def render(master: Master) -> str:
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
        for f in master.frameworks.values()
    ]
    tasks = [
        [t.id, t.info.name, t.framework_id, t.agent_id, t.state.value, str(t.resources)]
        for f in master.frameworks.values()
        for t in f.tasks.values()
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


def add_routes(routes: Routes, master: Master) -> None:
    async def index(request: web.Request) -> web.Response:
        del request
        return web.Response(text=render(master), content_type="text/html")

    routes.add_get("/", index)
