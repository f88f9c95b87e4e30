"""`infinity task kill`: ends a task from outside its framework, the ways Mesos leaves an
operator. Mesos has no operator call that kills one task (only its scheduler may), so:
a Marathon task is killed through Marathon (`POST /v2/tasks/delete`, which replaces it
unless `--scale`); a task whose framework runs nothing else (`infinity task run`,
`mesos-execute`) ends with its framework (the operator API's TEARDOWN); any other task only
with `--teardown`, which ends its whole framework, named with its task count first.
"""

from __future__ import annotations

import json
import time
import urllib.parse
import urllib.request
from dataclasses import dataclass
from typing import Any

from mesos_runtime.security.authentication import basic_header

from .endpoints import credential_for, master_state, master_url, post_json, tls_context
from .output import fail
from .sandbox import TERMINAL, TaskRef, all_tasks, find_task

__all__ = ["KillPlan", "execute", "plan_kill", "wait_ended"]


@dataclass(frozen=True)
class KillPlan:
    """How one task is killed: `via` is "marathon" or "teardown"."""

    task: TaskRef
    via: str
    url: str  # Marathon's base URL, or the master's
    siblings: int  # the framework's other active tasks


def plan_kill(doc: dict[str, Any], query: str, master: str, *, teardown: bool) -> KillPlan:
    """Which way `query`'s task is killed, or a CLI error saying why it cannot be."""
    ref = find_task(doc, query)
    if ref.completed or ref.state in TERMINAL:
        fail(f"task {ref.id} has already ended ({ref.state})")
    framework = ref.framework
    siblings = sum(
        1
        for other in all_tasks(doc, include_completed=False)
        if other.framework.get("id") == framework.get("id") and other.id != ref.id
    )
    webui = (framework.get("webui_url") or "").rstrip("/")
    if webui and not teardown and _is_marathon(webui):
        return KillPlan(ref, "marathon", webui, siblings)
    if siblings and not teardown:
        fail(
            f"task {ref.id} belongs to framework {framework.get('name')!r} "
            f"({framework.get('id')}), which runs {siblings} other task(s): only its scheduler "
            "kills one task; --teardown ends the whole framework and all its tasks"
        )
    return KillPlan(ref, "teardown", master_url(master), siblings)


def _is_marathon(url: str) -> bool:
    """Whether the framework's web UI is a Marathon (whatever its framework name): its
    `/v2/info` says so (asked with the CLI's credential: a secured Marathon answers 401)."""
    if not url.startswith(("http://", "https://")):
        return False
    headers = {"Accept": "application/json"}
    credential = credential_for(url)
    if credential is not None:
        headers["Authorization"] = basic_header(credential)
    request = urllib.request.Request(url + "/v2/info", headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=5, context=tls_context()) as response:
            info = json.loads(response.read())
    except (OSError, ValueError):
        return False
    return isinstance(info, dict) and info.get("name") == "marathon"


def execute(plan: KillPlan, *, scale: bool) -> None:
    if plan.via == "marathon":
        query = urllib.parse.urlencode({"scale": "true" if scale else "false", "force": "true"})
        post_json(f"{plan.url}/v2/tasks/delete?{query}", {"ids": [plan.task.id]}, what="Marathon")
        return
    post_json(
        plan.url + "/api/v1",
        {"type": "TEARDOWN", "teardown": {"framework_id": {"value": plan.task.framework["id"]}}},
    )


def wait_ended(master: str, task_id: str, timeout: float) -> str | None:
    """The task's terminal state once the master reports one, else None after `timeout`."""
    deadline = time.monotonic() + timeout
    while True:
        for ref in all_tasks(master_state(master), include_completed=True):
            if ref.id == task_id and ref.state in TERMINAL:
                return ref.state
        if time.monotonic() > deadline:
            return None
        time.sleep(0.2)
