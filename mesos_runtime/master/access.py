"""Who may do what on the master: authentication (HTTP Basic against `--credentials`, per
Mesos realm and `--authenticate_*` flag) and authorization (`--acls`), as one layer in front
of the handlers. `MasterAccess` is the `AccessControl` of http.py: the gate runs its
per-endpoint check before every handler; after decoding a call, the API modules ask it once
whether the call may proceed (and which tasks of an ACCEPT may not run); views ask it, through
a `Viewer`, what the requester may see.

Bindings that stop takeovers: a framework id belongs to the principal that registered it,
an agent id to the principal that admitted it (with `--authenticate_agents`), and every
agent call after SUBSCRIBE to that subscription's session (agent_channel.py).
"""

from __future__ import annotations

import hmac
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from mesos_runtime.security.acls import Authorizer
from mesos_runtime.security.authentication import (
    MASTER_AGENT,
    MASTER_READONLY,
    MASTER_READWRITE,
    MASTER_SCHEDULER,
    BasicAuthenticator,
    forbidden,
    principal_of,
)
from mesos_runtime.security.credentials import Credentials
from mesos_runtime.wire.agent_channel import AgentCall, AgentSubscribe
from mesos_runtime.wire.mesos import ExecutorInfo, FrameworkInfo, TaskInfo
from mesos_runtime.wire.scheduler import Accept, Call, CallType

from .flags import MasterFlags
from .maintenance import MachineID
from .state import Agent

Check = Callable[[web.Request], Awaitable[web.StreamResponse | None]]

# endpoints Mesos never authenticates
OPEN_PATHS = frozenset({"/health", "/master/health", "/version", "/redirect", "/master/redirect"})


class Viewer:
    """What one requester may see of frameworks, tasks, executors and flags."""

    def __init__(self, authorizer: Authorizer | None = None, principal: str | None = None):
        self._authorizer = authorizer
        self.principal = principal

    def _allowed(self, action: str, obj: str | None) -> bool:
        return self._authorizer is None or self._authorizer.allowed(action, self.principal, obj)

    def framework(self, info: FrameworkInfo) -> bool:
        return self._allowed("view_frameworks", info.user)

    def task(self, user: str | None, framework: FrameworkInfo) -> bool:
        return self._allowed("view_tasks", user or framework.user)

    def executor(self, info: ExecutorInfo, framework: FrameworkInfo) -> bool:
        user = info.command.user if info.command is not None else None
        return self._allowed("view_executors", user or framework.user)

    def flags(self) -> bool:
        return self._allowed("view_flags", None)

    @property
    def sees_everything(self) -> bool:
        return self._authorizer is None


EVERYONE = Viewer()


def task_user(task: TaskInfo, framework: FrameworkInfo) -> str:
    """The user a task runs as (Mesos: CommandInfo.user, else FrameworkInfo.user)."""
    if task.command is not None and task.command.user:
        return task.command.user
    if task.executor is not None and task.executor.command and task.executor.command.user:
        return task.executor.command.user
    return framework.user


class AccessControl:
    """The seam in front of every handler: this base lets everything through (a bare
    master, as Mesos without --authenticate_* and --acls); MasterAccess checks."""

    def checker(self, path: str) -> Check | None:
        """What the gate runs before `path`'s handler: a response refuses the request."""
        del path
        return None

    def viewer(self, request: web.Request) -> Viewer:
        del request
        return EVERYONE

    def scheduler_call(self, request: web.Request, call: Call) -> web.Response | None:
        del request, call
        return None

    def unauthorized_tasks(
        self, request: web.Request, framework: FrameworkInfo, accept: Accept
    ) -> dict[str, str]:
        del request, framework, accept
        return {}

    def agent_subscribe(self, request: web.Request, call: AgentSubscribe) -> web.Response | None:
        del request, call
        return None

    def agent_call(
        self, request: web.Request, agent: Agent, call: AgentCall
    ) -> web.Response | None:
        """Every call after SUBSCRIBE belongs to that subscription: it carries its session
        (channel version 3), so no other process can speak for the agent."""
        del request
        if agent.session is not None and not hmac.compare_digest(
            (call.session or "").encode(), agent.session.encode()
        ):
            return forbidden(
                f"Agent {agent.id}: the call does not carry the session of its subscription"
            )
        return None

    def operator_call(self, request: web.Request, call: Any) -> web.Response | None:
        del request, call
        return None


class MasterAccess(AccessControl):
    """The master's authentication and authorization."""

    def __init__(self, flags: MasterFlags, credentials: Credentials | None, acls: Authorizer):
        self.flags = flags
        self.authenticator = BasicAuthenticator(credentials)
        self.acls = acls
        self.frameworks_authenticate = flags.authenticate_frameworks or (
            flags.authenticate_http_frameworks
        )
        # the master's state, to check bindings (set by build_app)
        self.master: Any = None

    # --- the gate: authentication per endpoint ---------------------------------------------

    def checker(self, path: str) -> Check | None:
        """The check the gate runs before `path`'s handler (None: nothing to check)."""
        from .agent_channel import PATH as AGENT_PATH
        from .operator_api import OPERATOR_PATH
        from .scheduler_api import PATH as SCHEDULER_PATH

        if path in OPEN_PATHS:
            return None
        if path == SCHEDULER_PATH:
            realm, required = MASTER_SCHEDULER, self.frameworks_authenticate
        elif path == AGENT_PATH:
            realm, required = MASTER_AGENT, self.flags.authenticate_agents
        elif path == OPERATOR_PATH:
            realm, required = MASTER_READWRITE, self.flags.authenticate_http_readwrite
        else:
            realm, required = MASTER_READONLY, self.flags.authenticate_http_readonly
        endpoint_acl = path in ("/metrics/snapshot", "/metrics")
        if self.authenticator.credentials is None and not endpoint_acl:
            return None
        authenticate = self.authenticator.authenticate
        acls = self.acls

        async def check(request: web.Request) -> web.StreamResponse | None:
            refused = authenticate(request, realm, required=required)
            if refused is None and endpoint_acl and not acls.is_open:
                principal = principal_of(request)
                if not acls.allowed("get_endpoints", principal, path):
                    refused = forbidden(f"{_who(principal)} may not GET {path}")
            return refused

        return check

    def viewer(self, request: web.Request) -> Viewer:
        if self.acls.is_open:
            return EVERYONE
        return Viewer(self.acls, principal_of(request))

    # --- the scheduler API ------------------------------------------------------------------

    def scheduler_call(self, request: web.Request, call: Call) -> web.Response | None:
        """A 403 (or 400) when this principal may not make this call."""
        principal = principal_of(request)
        if call.type is CallType.SUBSCRIBE:
            assert call.subscribe is not None
            return self._subscribe(principal, call.subscribe.framework_info)
        assert call.framework_id is not None
        framework = self.master.frameworks.get(call.framework_id.value)
        if framework is not None and not self._may_act_as(principal, framework.info):
            return forbidden(
                f"{_who(principal)} may not act for framework {framework.id}, "
                f"registered by principal '{framework.info.principal}'"
            )
        if call.type is CallType.UPDATE_FRAMEWORK and call.update_framework is not None:
            info = call.update_framework.framework_info
            if principal is not None and info.principal != principal:
                return _principal_mismatch(principal, info)
            return self._roles(principal, info)
        return None

    def _subscribe(self, principal: str | None, info: FrameworkInfo) -> web.Response | None:
        if principal is not None and info.principal != principal:
            return _principal_mismatch(principal, info)
        if info.id is not None:
            known = self._registered(info.id.value)
            if known is not None and not self._may_act_as(principal, known):
                return forbidden(
                    f"Framework {info.id.value} is registered by principal "
                    f"'{known.principal}'; {_who(principal)} may not subscribe as it"
                )
        return self._roles(principal, info)

    def _roles(self, principal: str | None, info: FrameworkInfo) -> web.Response | None:
        for role in info.effective_roles():
            if not self.acls.allowed("register_frameworks", principal, role):
                return forbidden(
                    f"{_who(principal)} is not authorized to register in role '{role}'"
                )
        return None

    def _registered(self, framework_id: str) -> FrameworkInfo | None:
        framework = self.master.frameworks.get(framework_id)
        if framework is not None:
            return framework.info
        for entry in self.master.registry.document.frameworks:
            registered = entry.framework_info
            if registered.id is not None and registered.id.value == framework_id:
                return registered
        return None

    def _may_act_as(self, principal: str | None, registered: FrameworkInfo) -> bool:
        """A framework id belongs to the principal that registered it: an authenticated
        request must be that principal; an unauthenticated one gets in only where frameworks
        need not authenticate (a bare, Mesos-compatible master)."""
        if principal is None:
            return not self.frameworks_authenticate
        return registered.principal is None or registered.principal == principal

    def unauthorized_tasks(
        self, request: web.Request, framework: FrameworkInfo, accept: Accept
    ) -> dict[str, str]:
        """Tasks of an ACCEPT this principal may not run (task id -> why): TASK_ERROR."""
        if self.acls.is_open:
            return {}
        principal = principal_of(request)
        refused: dict[str, str] = {}
        for operation in accept.operations:
            tasks: list[TaskInfo] = []
            if operation.launch is not None:
                tasks = list(operation.launch.task_infos)
            elif operation.launch_group is not None:
                group = operation.launch_group
                tasks = [t.replace(executor=group.executor) for t in group.task_group.tasks]
            for task in tasks:
                user = task_user(task, framework)
                if not self.acls.allowed("run_tasks", principal, user):
                    refused[task.task_id.value] = (
                        f"{_who(principal)} is not authorized to launch tasks as user '{user}'"
                    )
        return refused

    # --- the agent channel -------------------------------------------------------------------

    def agent_subscribe(self, request: web.Request, call: AgentSubscribe) -> web.Response | None:
        principal = principal_of(request)
        if not self.acls.allowed("register_agents", principal, None):
            return forbidden(f"{_who(principal)} is not authorized to register agents")
        info = call.agent_info
        if info.id is not None:
            owner = self.master.agent_principal(info.id.value)
            if owner is not None and owner != principal:
                return forbidden(
                    f"Agent {info.id.value} was admitted for principal '{owner}'; "
                    f"{_who(principal)} may not register as it"
                )
        return None

    def agent_call(
        self, request: web.Request, agent: Agent, call: AgentCall
    ) -> web.Response | None:
        refused = super().agent_call(request, agent, call)
        if refused is None and agent.principal is not None:
            principal = principal_of(request)
            if principal != agent.principal:
                refused = forbidden(
                    f"Agent {agent.id} is registered for principal '{agent.principal}'; "
                    f"{_who(principal)} may not speak for it"
                )
        return refused

    # --- the operator API ---------------------------------------------------------------------

    def operator_call(self, request: web.Request, call: Any) -> web.Response | None:
        if self.acls.is_open:
            return None
        principal = principal_of(request)
        kind: str = call.type
        machines: list[MachineID] = []
        if kind == "UPDATE_MAINTENANCE_SCHEDULE" and call.update_maintenance_schedule:
            machines = call.update_maintenance_schedule.schedule.machines()
        elif kind == "START_MAINTENANCE" and call.start_maintenance:
            machines = call.start_maintenance.machines
        elif kind == "STOP_MAINTENANCE" and call.stop_maintenance:
            machines = call.stop_maintenance.machines
        action = _OPERATOR_ACTIONS.get(kind)
        if action is not None:
            objects = [m.hostname or m.ip for m in machines] or [None]
            for obj in objects:
                if not self.acls.allowed(action, principal, obj):
                    what = f" on machine '{obj}'" if obj else ""
                    return forbidden(f"{_who(principal)} is not authorized to {kind}{what}")
        agent_action = _AGENT_ACTIONS.get(kind)
        if agent_action is not None:
            named = getattr(call, kind.lower())
            if named is not None:
                # as Mesos: the object is the agent, matched by its hostname
                agent_id = named.agent_id.value
                agent = self.master.agents.get(agent_id)
                hostname = agent.info.hostname if agent is not None else None
                if not self.acls.allowed(agent_action, principal, hostname):
                    return forbidden(
                        f"{_who(principal)} is not authorized to {kind} agent {agent_id}"
                    )
        if kind == "TEARDOWN" and call.teardown is not None:
            registered = self._registered(call.teardown.framework_id.value)
            owner = registered.principal if registered is not None else None
            if not self.acls.allowed("teardown_frameworks", principal, owner):
                return forbidden(
                    f"{_who(principal)} is not authorized to tear down framework "
                    f"{call.teardown.framework_id.value}"
                )
        if kind == "SUBSCRIBE":
            # the event stream is not filtered: it is for those who may see everything
            for view in ("view_frameworks", "view_tasks", "view_executors"):
                if not self.acls.allowed(view, principal, None):
                    return forbidden(f"{_who(principal)} may not subscribe to all events")
        return None


_OPERATOR_ACTIONS = {
    "UPDATE_MAINTENANCE_SCHEDULE": "update_maintenance_schedules",
    "START_MAINTENANCE": "start_maintenances",
    "STOP_MAINTENANCE": "stop_maintenances",
    "GET_MAINTENANCE_SCHEDULE": "get_maintenance_schedules",
    "GET_MAINTENANCE_STATUS": "get_maintenance_statuses",
    "GET_FLAGS": "view_flags",
}


# the drain family of operator calls, each naming one agent
_AGENT_ACTIONS = {
    "DRAIN_AGENT": "drain_agents",
    "DEACTIVATE_AGENT": "deactivate_agents",
    "REACTIVATE_AGENT": "reactivate_agents",
    "MARK_AGENT_GONE": "mark_agents_gone",
}


def _who(principal: str | None) -> str:
    return f"Principal '{principal}'" if principal is not None else "An unauthenticated request"


def _principal_mismatch(principal: str, info: FrameworkInfo) -> web.Response:
    # Mesos answers this with a 400
    return web.Response(
        status=400,
        text=f"Authenticated principal '{principal}' does not match principal "
        f"'{info.principal or ''}' set in FrameworkInfo",
        content_type="text/plain",
    )
