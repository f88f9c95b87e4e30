"""Who may use the agent's endpoints: operators on its read-only endpoints and sandboxes
(`--authenticate_http_readonly` against `--http_credentials`, `access_sandboxes` in
`--acls`), and executors on the executor API, each with the token the agent gave it
(`--authenticate_http_executors`; executor_tokens.py). One layer in front of the handlers.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path

from aiohttp import web

from mesos_runtime.security import executor_tokens
from mesos_runtime.security.acls import Authorizer, load_acls
from mesos_runtime.security.authentication import (
    AGENT_EXECUTOR,
    AGENT_READONLY,
    BasicAuthenticator,
    forbidden,
    principal_of,
    unauthorized,
)
from mesos_runtime.security.credentials import Credentials, credentials_flag
from mesos_runtime.wire.executor import ExecutorCall

from .flags import AgentFlags
from .state import Executor, Framework

Check = Callable[[web.Request], Awaitable[web.StreamResponse | None]]

OPEN_PATHS = frozenset({"/health", "/slave(1)/health", "/api/v1/executor"})


class AgentAccess:
    def __init__(
        self,
        flags: AgentFlags,
        credentials: Credentials | None,
        acls: Authorizer,
        executor_key: bytes,
    ) -> None:
        self.flags = flags
        self.authenticator = BasicAuthenticator(credentials)
        self.acls = acls
        self.executor_key = executor_key

    def checker(self, path: str) -> Check | None:
        if path in OPEN_PATHS or self.authenticator.credentials is None:
            return None
        authenticate = self.authenticator.authenticate
        required = self.flags.authenticate_http_readonly

        async def check(request: web.Request) -> web.StreamResponse | None:
            return authenticate(request, AGENT_READONLY, required=required)

        return check

    def executor_token(self, executor: Executor) -> str:
        return executor_tokens.issue(
            self.executor_key,
            executor_tokens.ExecutorClaims(
                executor.framework_id.value, executor.id, executor.container_id
            ),
        )

    def executor_call(
        self, request: web.Request, call: ExecutorCall, executor: Executor
    ) -> web.Response | None:
        """An executor may only act as itself: its token names its framework, executor and
        container (the run the agent started)."""
        header = request.headers.get("Authorization")
        if header is None:
            if self.flags.authenticate_http_executors:
                return unauthorized(
                    AGENT_EXECUTOR,
                    f"Executor authentication required: present the token from "
                    f"{executor_tokens.ENV} as 'Authorization: Bearer <token>'",
                    scheme="Bearer",
                )
            return None
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer":
            return unauthorized(
                AGENT_EXECUTOR, "Expecting 'Authorization: Bearer <token>'", "Bearer"
            )
        try:
            claims = executor_tokens.verify(self.executor_key, token.strip())
        except executor_tokens.TokenError as e:
            return unauthorized(AGENT_EXECUTOR, f"Invalid executor token: {e}", "Bearer")
        named = (call.framework_id.value, call.executor_id.value, executor.container_id)
        if (claims.framework_id, claims.executor_id, claims.container_id) != named:
            return forbidden(
                f"The token belongs to executor '{claims.executor_id}' of framework "
                f"'{claims.framework_id}', not to executor '{call.executor_id.value}' of "
                f"framework '{call.framework_id.value}'"
            )
        return None

    def sandbox(
        self, request: web.Request, raw: str, work_dir: Path, frameworks: list[Framework]
    ) -> web.Response | None:
        """`access_sandboxes`: may this principal read the sandbox at `raw`? Its object is
        the user the sandbox's executor runs as."""
        if self.acls.is_open:
            return None
        principal = principal_of(request)
        user = _sandbox_user(raw, work_dir, frameworks)
        if not self.acls.allowed("access_sandboxes", principal, user):
            who = f"Principal '{principal}'" if principal else "An unauthenticated request"
            return forbidden(f"{who} may not read sandboxes of user '{user}'")
        return None


def _sandbox_user(raw: str, work_dir: Path, frameworks: list[Framework]) -> str | None:
    """The user of the executor whose sandbox holds `raw` (None: not within one sandbox)."""
    parts = [p for p in raw.split("/") if p not in ("", ".")]
    base = [p for p in str(work_dir).split("/") if p]
    if parts[: len(base)] == base:
        parts = parts[len(base) :]
    # slaves/<agent>/frameworks/<framework>/executors/<executor>/...
    if len(parts) < 6 or parts[0] != "slaves" or parts[2] != "frameworks":
        return None
    for framework in frameworks:
        if framework.id.value != parts[3]:
            continue
        executor = framework.executors.get(parts[5]) or next(
            (e for e in framework.completed_executors if e.id == parts[5]), None
        )
        command = executor.info.command if executor is not None else None
        return (command.user if command is not None else None) or framework.info.user
    return None


def build_access(flags: AgentFlags) -> AgentAccess:
    """The agent's access control from its flags; ValueError naming a bad one."""
    if flags.http_authenticators != "basic":
        raise ValueError(f"--http_authenticators={flags.http_authenticators}: only 'basic'")
    if flags.authorizer != "local":
        raise ValueError(f"--authorizer={flags.authorizer}: only 'local' (--acls)")
    credentials = credentials_flag("http_credentials", flags.http_credentials)
    if credentials is None and (
        flags.authenticate_http_readonly or flags.authenticate_http_readwrite
    ):
        raise ValueError("--authenticate_http_readonly needs --http_credentials")
    acls = load_acls(flags.acls)
    key = executor_tokens.load_or_create_key(
        flags.executor_secret_key, Path(flags.work_dir) / "meta" / "executor_secret_key"
    )
    return AgentAccess(flags, credentials, acls, key)
