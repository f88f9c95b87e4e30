"""How the service commands reach Marathon (`/v2/apps`, `/v2/deployments`) and a service's
own scheduler (its HTTP API, found as its framework's `webui_url` in `/master/state`):
JSON over HTTP, every failure one clear CLI error naming the daemon and the answer.

Marathon (`INFINITY_MARATHON=https://...`) is reached as the CLI reaches the masters
(`endpoints.py`): verified against `LIBPROCESS_SSL_CA_FILE`, presenting `INFINITY_CREDENTIAL`
(or the local cluster's own credential to its own Marathon) as HTTP Basic.
"""

from __future__ import annotations

import dataclasses
import json
import os
import ssl
import time
import urllib.error
import urllib.parse
import urllib.request
from typing import Any

from mesos_runtime.security.authentication import basic_header
from mesos_runtime.security.tls import TlsError, TlsSettings, client_context

from .endpoints import credential_for, master_state
from .localcluster import ClusterState, cluster_dir
from .output import fail

__all__ = [
    "MARATHON_ENV",
    "ApiAnswer",
    "Marathon",
    "SchedulerApi",
    "find_scheduler",
    "marathon_url",
]

MARATHON_ENV = "INFINITY_MARATHON"  # http(s)://host:port of the cluster's Marathon


@dataclasses.dataclass(frozen=True, slots=True)
class ApiAnswer:
    status: int
    body: Any


def _call(
    method: str,
    url: str,
    body: Any = None,
    *,
    what: str,
    timeout: float = 15.0,
    context: ssl.SSLContext | None = None,
    authorization: str | None = None,
) -> ApiAnswer:
    data = None if body is None else json.dumps(body).encode()
    headers = {"Accept": "application/json"}
    if data is not None:
        headers["Content-Type"] = "application/json"
    if authorization is not None:
        headers["Authorization"] = authorization
    request = urllib.request.Request(url, data=data, method=method, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=timeout, context=context) as response:
            raw = response.read()
            status = response.status
    except urllib.error.HTTPError as e:
        raw, status = e.read(), e.code
    except (urllib.error.URLError, OSError) as e:
        reason = getattr(e, "reason", e)
        hint = ""
        if isinstance(reason, ssl.SSLCertVerificationError):
            hint = "; set LIBPROCESS_SSL_CA_FILE to the cluster's CA"
        fail(f"cannot reach {what} at {url} ({reason}{hint})")
    try:
        parsed = json.loads(raw) if raw else None
    except ValueError:
        parsed = raw.decode(errors="replace")
    return ApiAnswer(status, parsed)


def _message(answer: ApiAnswer) -> str:
    body = answer.body
    if isinstance(body, dict):
        detail = body.get("message") or ""
        details = body.get("details")
        if details:
            detail += " " + json.dumps(details)
        return detail.strip() or json.dumps(body)
    return str(body or "")


def _https_context() -> ssl.SSLContext | None:
    """The CLI's TLS settings (`LIBPROCESS_SSL_*`) for an https URL, whether or not the
    masters are reached over TLS: verified against LIBPROCESS_SSL_CA_FILE when set."""
    settings = dataclasses.replace(TlsSettings.from_environment(), enabled=True)
    try:
        return client_context(settings)
    except TlsError as e:
        fail(str(e))


def marathon_url() -> str | None:
    """Where the cluster's Marathon is: $INFINITY_MARATHON, else the local cluster's."""
    url = os.environ.get(MARATHON_ENV)
    if url:
        return url
    try:
        state = ClusterState.load(cluster_dir())
    except ValueError:
        return None
    return state.marathon.url if state is not None and state.marathon is not None else None


class Marathon:
    """The Marathon that runs the service schedulers."""

    def __init__(self, url: str) -> None:
        self.url = url.rstrip("/")
        self.context = _https_context() if self.url.startswith("https://") else None
        credential = credential_for(self.url)
        self.authorization = basic_header(credential) if credential is not None else None

    def _call(self, method: str, path: str, body: Any = None) -> ApiAnswer:
        return _call(
            method,
            self.url + path,
            body,
            what="Marathon",
            context=self.context,
            authorization=self.authorization,
        )

    def _do(self, method: str, path: str, body: Any = None, ok: tuple[int, ...] = (200,)) -> Any:
        answer = self._call(method, path, body)
        if answer.status not in ok:
            fail(f"Marathon answered {answer.status} to {method} {path}: {_message(answer)}")
        return answer.body

    def apps(self) -> list[dict[str, Any]]:
        return list((self._do("GET", "/v2/apps") or {}).get("apps", []))

    def app(self, app_id: str) -> dict[str, Any] | None:
        answer = self._call("GET", f"/v2/apps/{app_id.strip('/')}")
        if answer.status == 404:
            return None
        if answer.status != 200:
            fail(f"Marathon answered {answer.status} for app {app_id}: {_message(answer)}")
        return dict(answer.body.get("app") or {})

    def create(self, app: dict[str, Any]) -> dict[str, Any]:
        return dict(self._do("POST", "/v2/apps", app, ok=(200, 201)) or {})

    def update(self, app_id: str, change: dict[str, Any]) -> dict[str, Any]:
        path = f"/v2/apps/{app_id.strip('/')}?force=true"
        return dict(self._do("PUT", path, change, ok=(200, 201)) or {})

    def delete(self, app_id: str) -> dict[str, Any]:
        return dict(self._do("DELETE", f"/v2/apps/{app_id.strip('/')}?force=true") or {})

    def deployment_done(self, deployment_id: str) -> bool:
        running = self._do("GET", "/v2/deployments") or []
        return all(d.get("id") != deployment_id for d in running)

    def wait_deployment(self, answer: dict[str, Any], timeout: float) -> bool:
        deployment = answer.get("deploymentId") or next(
            (d.get("id") for d in answer.get("deployments", []) if d.get("id")), None
        )
        if deployment is None:
            return True
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.deployment_done(deployment):
                return True
            time.sleep(0.25)
        return False


def find_scheduler(master: str, service: str) -> str | None:
    """The service scheduler's API base URL: its framework's `webui_url`, when registered."""
    doc = master_state(master)
    for framework in doc.get("frameworks", []):
        if framework.get("name") == service and framework.get("active", True):
            url = framework.get("webui_url")
            if url:
                return str(url).rstrip("/")
    return None


class SchedulerApi:
    """One service scheduler's HTTP API (plans, pods, endpoints), per the SDK's contract."""

    def __init__(self, service: str, url: str) -> None:
        self.service = service
        self.url = url.rstrip("/")

    def call(self, method: str, path: str, query: dict[str, str] | None = None) -> ApiAnswer:
        url = self.url + path
        if query:
            url += "?" + urllib.parse.urlencode({k: v for k, v in query.items() if v})
        return _call(
            method, url, {} if method == "POST" else None, what=f"{self.service}'s scheduler"
        )

    def get(self, path: str, ok: tuple[int, ...] = (200,)) -> Any:
        answer = self.call("GET", path)
        if answer.status not in ok:
            fail(f"{self.service}: {_message(answer) or f'HTTP {answer.status}'} ({path})")
        return answer.body

    def post(self, path: str, query: dict[str, str] | None = None) -> Any:
        answer = self.call("POST", path, query)
        if answer.status not in (200, 201, 202):
            fail(f"{self.service}: {_message(answer) or f'HTTP {answer.status}'} ({path})")
        return answer.body

    def plan(self, name: str) -> dict[str, Any]:
        return dict(self.get(f"/v1/plans/{name}", ok=(200, 202, 417, 503)) or {})
