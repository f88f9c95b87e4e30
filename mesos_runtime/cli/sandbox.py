"""Finding a task and reading its sandbox: the task in the master's `/master/state`, its
agent, the executor `directory` in the agent's `/state`, and the files in it through the
Mesos files API (`GET /files/read?path=&offset=&length=`).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from mesos_runtime.wire.mesos import TERMINAL_STATES

from .endpoints import agent_url, get_json, read_file
from .output import fail

# the task states `/master/state` reports once a task has ended, as its JSON spells them
TERMINAL = frozenset(state.value for state in TERMINAL_STATES)

CHUNK = 64 * 1024


@dataclass(frozen=True)
class TaskRef:
    """A task as the master reports it, with the framework it belongs to."""

    task: dict[str, Any]
    framework: dict[str, Any]
    completed: bool

    @property
    def id(self) -> str:
        return self.task["id"]

    @property
    def state(self) -> str:
        return self.task.get("state", "")

    @property
    def agent_id(self) -> str:
        return self.task.get("slave_id") or self.task.get("agent_id") or ""


def all_tasks(doc: dict[str, Any], include_completed: bool) -> list[TaskRef]:
    """Tasks of every framework in a `/master/state` document, active ones first."""
    refs: list[TaskRef] = []
    frameworks = [*doc.get("frameworks", []), *doc.get("completed_frameworks", [])]
    for framework in frameworks:
        for task in [*framework.get("tasks", []), *framework.get("unreachable_tasks", [])]:
            refs.append(TaskRef(task, framework, completed=False))
    if include_completed:
        for framework in frameworks:
            for task in framework.get("completed_tasks", []):
                refs.append(TaskRef(task, framework, completed=True))
    return refs


def find_task(doc: dict[str, Any], query: str) -> TaskRef:
    """The task whose id is `query`, else the latest task named `query`, else the one task
    whose id contains `query`."""
    tasks = all_tasks(doc, include_completed=True)
    exact = [t for t in tasks if t.id == query]
    if exact:
        return exact[0]
    named = [t for t in tasks if t.task.get("name") == query]
    if named:
        # a name is reused by every run of the same command: take the latest run
        return max(named, key=_last_update)
    partial = [t for t in tasks if query in t.id]
    if not partial:
        fail(f"no task matches {query!r} (see `infinity task list --all`)")
    if len({t.id for t in partial}) > 1:
        ids = ", ".join(sorted({t.id for t in partial})[:10])
        fail(f"{query!r} matches several tasks: {ids}; give more of the id")
    return partial[0]


def _last_update(ref: TaskRef) -> float:
    return max((float(s.get("timestamp") or 0) for s in ref.task.get("statuses", [])), default=0)


def agent_of(doc: dict[str, Any], agent_id: str) -> str:
    for agent in [*doc.get("slaves", []), *doc.get("recovered_slaves", [])]:
        if agent.get("id") == agent_id:
            return agent_url(agent)
    fail(f"agent {agent_id} is not known to the master any more; its sandboxes are out of reach")


def sandbox_directory(agent: str, framework_id: str, task_id: str) -> str:
    """The executor directory that ran `task_id`, from the agent's `/state`."""
    state = get_json(agent + "/state", what="agent")
    frameworks = [*state.get("frameworks", []), *state.get("completed_frameworks", [])]
    fallback = None
    for framework in frameworks:
        if framework.get("id") != framework_id:
            continue
        for executor in [
            *framework.get("executors", []),
            *framework.get("completed_executors", []),
        ]:
            for key in ("tasks", "queued_tasks", "completed_tasks", "launched_tasks"):
                if any(t.get("id") == task_id for t in executor.get(key, [])):
                    return executor["directory"]
            if executor.get("id") == task_id:
                fallback = executor.get("directory")
    if fallback:
        return fallback
    fail(f"the agent at {agent} has no sandbox for task {task_id} (garbage-collected?)")


@dataclass
class SandboxFile:
    """One file in a sandbox, read incrementally through the agent's files API."""

    agent: str
    path: str
    offset: int = 0

    def size(self) -> int:
        size, _ = read_file(self.agent, self.path, -1)
        return size

    def tail(self, lines: int | None) -> str:
        """The last `lines` lines (all when None); leaves `offset` at the end of the file."""
        size = self.size()
        if lines is None:
            data = self._read_range(0, size)
        else:
            # read backwards a chunk at a time until enough newlines are in hand
            start, data = size, ""
            while start > 0 and data.count("\n") <= lines:
                previous, start = start, max(0, start - CHUNK)
                data = self._read_range(start, previous) + data
            data = "".join(data.splitlines(keepends=True)[-lines:]) if lines > 0 else ""
        self.offset = size
        return data

    def _read_range(self, start: int, end: int) -> str:
        parts: list[str] = []
        offset = start
        while offset < end:
            got_offset, data = read_file(self.agent, self.path, offset, min(CHUNK, end - offset))
            if not data:
                break
            parts.append(data)
            offset = got_offset + len(data.encode())
        return "".join(parts)

    def new_data(self) -> Iterator[str]:
        """What was appended since the last read."""
        while True:
            got_offset, data = read_file(self.agent, self.path, self.offset, CHUNK)
            if not data:
                return
            self.offset = got_offset + len(data.encode())
            yield data
