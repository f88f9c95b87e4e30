"""Which master the CLI talks to and how it reads it: `--master`, `INFINITY_MASTER`, the
local cluster's `cluster.json`, else 127.0.0.1:5050; plain HTTP GETs of JSON endpoints
(`/master/state`, the agent's `/state` and `/files/read`) with errors that say what to do.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

from mesos_runtime.scheduler.leader import MasterAddressError, base_url

from .localcluster import ClusterState, cluster_dir
from .output import fail

DEFAULT_MASTER = "127.0.0.1:5050"


def resolve_master(master: str | None, directory: Path | None = None) -> str:
    """The master address to use: flag/env first, then the local cluster, then the default."""
    if master:
        return master
    state = ClusterState.load(cluster_dir(directory))
    if state is not None:
        return state.master.address
    return DEFAULT_MASTER


def master_url(master: str) -> str:
    try:
        return base_url(master)
    except MasterAddressError as e:
        fail(str(e))


def get_json(url: str, *, timeout: float = 10.0, what: str = "master") -> Any:
    """GET a JSON document, turning connection problems into one clear CLI error."""
    request = urllib.request.Request(url, headers={"Accept": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return json.loads(response.read() or b"null")
    except urllib.error.HTTPError as e:
        body = e.read().decode(errors="replace").strip()
        fail(f"{what} at {_origin(url)} answered {e.code} for {_path(url)}: {body or e.reason}")
    except (urllib.error.URLError, OSError) as e:
        reason = getattr(e, "reason", e)
        fail(
            f"cannot reach the {what} at {_origin(url)} ({reason}); is the cluster up? "
            "(`infinity cluster up`, or set --master / INFINITY_MASTER)"
        )
    except ValueError:
        fail(f"{what} at {_origin(url)} did not answer JSON for {_path(url)}")


def master_state(master: str) -> dict[str, Any]:
    return get_json(master_url(master) + "/master/state")


def agent_url(agent: dict[str, Any]) -> str:
    """An agent's base URL from its /master/state entry (`pid` is `slave(1)@ip:port`)."""
    pid = agent.get("pid") or ""
    if "@" in pid:
        return "http://" + pid.split("@", 1)[1]
    return f"http://{agent.get('hostname')}:{agent.get('port', 5051)}"


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
