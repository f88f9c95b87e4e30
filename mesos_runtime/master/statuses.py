"""How the master speaks of tasks itself: the clock its statuses carry, TimeInfo, and the
counters of task state transitions that `/metrics/snapshot` reports."""

from __future__ import annotations

import time

from mesos_runtime.wire.mesos import TaskState, TimeInfo

GONE_BY_OPERATOR = "Agent was marked gone by the operator"


def now() -> float:
    return time.time()


def time_info(seconds: float) -> TimeInfo:
    return TimeInfo(nanoseconds=int(seconds * 1e9))


_STATE_COUNTERS = {
    TaskState.TASK_STARTING: "master/tasks_starting",
    TaskState.TASK_RUNNING: "master/tasks_running",
    TaskState.TASK_KILLING: "master/tasks_killing",
    TaskState.TASK_FINISHED: "master/tasks_finished",
    TaskState.TASK_FAILED: "master/tasks_failed",
    TaskState.TASK_KILLED: "master/tasks_killed",
    TaskState.TASK_LOST: "master/tasks_lost",
    TaskState.TASK_ERROR: "master/tasks_error",
    TaskState.TASK_DROPPED: "master/tasks_dropped",
    TaskState.TASK_UNREACHABLE: "master/tasks_unreachable",
    TaskState.TASK_GONE: "master/tasks_gone",
    TaskState.TASK_GONE_BY_OPERATOR: "master/tasks_gone_by_operator",
}


def state_counter(state: TaskState) -> str:
    """Counter of transitions into a terminal state (gauges are computed from the tasks)."""
    return _STATE_COUNTERS.get(state, "master/tasks_other") + "_total"
