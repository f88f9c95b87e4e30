"""Which master the CLI talks to and how it reads it: `--master`, `INFINITY_MASTER`, the
local cluster's `cluster.json`, else 127.0.0.1:5050; HTTP GETs of JSON endpoints
(`/master/state`, the agent's `/state` and `/files/read`) with errors that say what to do.

Credentials: `INFINITY_CREDENTIAL` (a Mesos credential file) for any daemon, else the local
cluster's own credential for its own daemons only (never sent elsewhere), as HTTP Basic.
TLS: the `LIBPROCESS_SSL_*` environment, as the daemons read it (https, verified).
"""

from __future__ import annotations

import json
import os
import ssl
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

from mesos_runtime.scheduler.leader import MasterAddressError, base_url
from mesos_runtime.security.authentication import basic_header
from mesos_runtime.security.credentials import (
    CREDENTIAL_ENV,
    CredentialError,
    environment_credential,
    load_credential,
)
from mesos_runtime.security.tls import TlsError, client_context
from mesos_runtime.wire.mesos import Credential

from .localcluster import ClusterState, cluster_dir
from .output import fail

DEFAULT_MASTER = "127.0.0.1:5050"
DISCOVERED = ("zk://", "file://")  # addresses resolved through mesos_runtime.discovery
ZK_TIMEOUT = 10.0


def resolve_master(master: str | None, directory: Path | None = None) -> str:
    """The master address to use: flag/env first (a `zk://` or `file://` one resolved to the
    leader it advertises), then the local cluster, then the default."""
    if master:
        if master.strip().startswith(DISCOVERED):
            return leading_master_address(master)
        return master
    state = ClusterState.load(cluster_dir(directory))
    if state is not None:
        return state.master.address
    return DEFAULT_MASTER


def leading_master_address(master: str, timeout: float = ZK_TIMEOUT) -> str:
    """`host:port` of the leader a `zk://...` (or `file://`) address advertises, found as the
    agent and the scheduler library find it (mesos_runtime.discovery)."""
    import asyncio

    # kazoo (and its threads) only for the commands that go through ZooKeeper
    from mesos_runtime.discovery import ZooKeeperURLError, detect_leader

    try:
        return asyncio.run(detect_leader(master, timeout))
    except TimeoutError:
        fail(
            f"no leading master advertised at {master} within {timeout:.0f}s "
            "(is ZooKeeper up, and a master elected there?)"
        )
    except (ZooKeeperURLError, ValueError) as e:
        fail(str(e))


def master_url(master: str) -> str:
    try:
        url = base_url(master)
    except MasterAddressError as e:
        fail(str(e))
    return _with_tls_scheme(url)


def tls_context() -> ssl.SSLContext | None:
    try:
        return client_context()
    except TlsError as e:
        fail(str(e))


def _with_tls_scheme(url: str) -> str:
    if url.startswith("http://") and tls_context() is not None:
        return "https://" + url[len("http://") :]
    return url


def credential_for(url_or_address: str, directory: Path | None = None) -> Credential | None:
    """The credential to present to this daemon: $INFINITY_CREDENTIAL, else the local
    cluster's when the address is one of its daemons."""
    try:
        explicit = environment_credential()
        if explicit is not None:
            return explicit
        state = ClusterState.load(cluster_dir(directory))
    except CredentialError as e:
        fail(f"${CREDENTIAL_ENV}: {e}")
    except ValueError:
        return None
    if state is None or not state.credential:
        return None
    netloc = urllib.parse.urlsplit(
        url_or_address if "//" in url_or_address else "//" + url_or_address
    ).netloc
    if netloc not in {p.address for p in state.processes}:
        return None  # the local cluster's secret is for the local cluster only
    try:
        return load_credential(state.credential)
    except CredentialError as e:
        fail(f"the local cluster's credential: {e}")


def get_json(url: str, *, timeout: float = 10.0, what: str = "master") -> Any:
    """GET a JSON document, turning connection problems into one clear CLI error."""
    return _exchange(url, None, timeout, what)


def post_json(url: str, body: Any, *, timeout: float = 10.0, what: str = "master") -> Any:
    """POST a JSON body; the answer's JSON (None when empty), errors as in `get_json`."""
    return _exchange(url, json.dumps(body).encode(), timeout, what)


def _exchange(url: str, body: bytes | None, timeout: float, what: str) -> Any:
    headers = {"Accept": "application/json"}
    if body is not None:
        headers["Content-Type"] = "application/json"
    credential = credential_for(url)
    if credential is not None:
        headers["Authorization"] = basic_header(credential)
    request = urllib.request.Request(url, data=body, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=timeout, context=tls_context()) as response:
            return json.loads(response.read() or b"null")
    except urllib.error.HTTPError as e:
        answer = e.read().decode(errors="replace").strip()
        fail(f"{what} at {_origin(url)} answered {e.code} for {_path(url)}: {answer or e.reason}")
    except (urllib.error.URLError, OSError) as e:
        fail(unreachable(what, _origin(url), e))
    except ValueError:
        fail(f"{what} at {_origin(url)} did not answer JSON for {_path(url)}")


def unreachable(what: str, origin: str, error: BaseException) -> str:
    """The one line a user sees when a daemon does not answer, whichever HTTP client tried."""
    return (
        f"cannot reach the {what} at {origin} ({connection_reason(error)}); is the cluster "
        "up? (`infinity cluster up`, or set --master / INFINITY_MASTER)"
    )


def connection_reason(error: BaseException) -> str:
    """`Connection refused`, `timed out`, ...: the OS's words for why a connection failed,
    not the HTTP client's (urllib's `<urlopen error ...>`, aiohttp's `ssl:default [...]`)."""
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, TimeoutError):
            return "timed out"
        errno = getattr(current, "errno", None)
        if isinstance(current, OSError) and errno:
            return os.strerror(errno)
        reason = getattr(current, "reason", None)
        nested = getattr(current, "os_error", None) or (
            reason if isinstance(reason, BaseException) else None
        )
        current = nested or current.__cause__ or current.__context__
    if isinstance(error, urllib.error.URLError) and isinstance(error.reason, str):
        return error.reason
    return str(error) or type(error).__name__


def master_state(master: str) -> dict[str, Any]:
    return get_json(master_url(master) + "/master/state")


def agent_url(agent: dict[str, Any]) -> str:
    """An agent's base URL from its /master/state entry (`pid` is `slave(1)@ip:port`)."""
    pid = agent.get("pid") or ""
    if "@" in pid:
        return _with_tls_scheme("http://" + pid.split("@", 1)[1])
    return _with_tls_scheme(f"http://{agent.get('hostname')}:{agent.get('port', 5051)}")


def read_file(
    agent: str, path: str, offset: int, length: int | None = None, timeout: float = 10.0
) -> tuple[int, str]:
    """One read of the agent's files API; offset -1 answers the file's size as `offset`."""
    query = {"path": path, "offset": str(offset)}
    if length is not None:
        query["length"] = str(length)
    doc = get_json(
        f"{agent}/files/read?{urllib.parse.urlencode(query)}", timeout=timeout, what="agent"
    )
    return int(doc.get("offset", offset)), doc.get("data", "")


def _origin(url: str) -> str:
    parts = urllib.parse.urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


def _path(url: str) -> str:
    return urllib.parse.urlsplit(url).path
