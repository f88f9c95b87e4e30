"""The local cluster's operator credential, as a test presents it to the cluster's daemons
(its Marathon's API takes nothing else when the cluster authenticates)."""

from __future__ import annotations

from mesos_runtime.cli.localcluster import ClusterState
from mesos_runtime.security.authentication import basic_header
from mesos_runtime.security.credentials import load_credential


def operator_auth(state: ClusterState) -> str | None:
    """The operator as "principal:secret" (for `tests.marathon.conftest.api(auth=...)`),
    None when the cluster does not authenticate."""
    if not state.credential:
        return None
    credential = load_credential(state.credential)
    return f"{credential.principal}:{credential.secret}"


def operator_headers(state: ClusterState) -> dict[str, str]:
    """The operator's `Authorization` header; none when the cluster does not authenticate."""
    if not state.credential:
        return {}
    return {"Authorization": basic_header(load_credential(state.credential))}
