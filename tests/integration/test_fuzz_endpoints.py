"""Generated malformed calls against every endpoint of a real master and agent (issue 11):
whatever arrives — poisoned v1 calls (a field of the wrong type, a bad id, a non-finite
number, nesting past the bound), raw garbage, wrong methods and content types, odd query
strings — each answer is a 4xx carrying a message (never a 5xx), `/master/state` stays as
it was, and both daemons keep serving.

Poisoned calls start from a valid call and replace one of its values by one of another
kind, so they can never be valid: the state must not change."""

from __future__ import annotations

import http.client
import json
import urllib.parse
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.harness import daemons

pytestmark = pytest.mark.integration

FUZZ = settings(
    max_examples=250,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

RESOURCE = {"name": "cpus", "type": "SCALAR", "scalar": {"value": 1.5}}
TASK = {
    "name": "t",
    "task_id": {"value": "t1"},
    "agent_id": {"value": "a1"},
    "resources": [RESOURCE],
    "command": {"value": "true", "environment": {"variables": [{"name": "A", "value": "b"}]}},
}
FRAMEWORK_INFO = {"user": "root", "name": "fuzz", "roles": ["r"], "failover_timeout": 1.0}
UNKNOWN = {"value": "not-registered"}

# valid calls, each of which the poison turns into an invalid one
MASTER_TEMPLATES: dict[str, list[dict[str, Any]]] = {
    "/api/v1/scheduler": [
        {"type": "SUBSCRIBE", "subscribe": {"framework_info": FRAMEWORK_INFO}},
        {
            "type": "ACCEPT",
            "framework_id": UNKNOWN,
            "accept": {
                "offer_ids": [{"value": "o1"}],
                "operations": [{"type": "LAUNCH", "launch": {"task_infos": [TASK]}}],
                "filters": {"refuse_seconds": 5.0},
            },
        },
        {
            "type": "ACKNOWLEDGE",
            "framework_id": UNKNOWN,
            "acknowledge": {
                "agent_id": UNKNOWN,
                "task_id": UNKNOWN,
                "uuid": "AAAAAAAAAAAAAAAAAAAAAA==",
            },
        },
        {"type": "KILL", "framework_id": UNKNOWN, "kill": {"task_id": UNKNOWN}},
        {
            "type": "RECONCILE",
            "framework_id": UNKNOWN,
            "reconcile": {"tasks": [{"task_id": UNKNOWN}]},
        },
    ],
    "/api/v1": [
        {
            "type": "UPDATE_MAINTENANCE_SCHEDULE",
            "update_maintenance_schedule": {
                "schedule": {
                    "windows": [
                        {
                            "machine_ids": [{"hostname": "h"}],
                            "unavailability": {"start": {"nanoseconds": 1}},
                        }
                    ]
                }
            },
        },
        {"type": "START_MAINTENANCE", "start_maintenance": {"machines": [{"hostname": "h"}]}},
        {"type": "TEARDOWN", "teardown": {"framework_id": UNKNOWN}},
    ],
    "/agent/v1": [
        {
            "type": "SUBSCRIBE",
            "subscribe": {
                "agent_info": {"hostname": "h", "port": 5051, "resources": [RESOURCE]},
                "version": 1,
            },
        },
        {
            "type": "UPDATE",
            "agent_id": UNKNOWN,
            "update": {
                "framework_id": UNKNOWN,
                "status": {"task_id": UNKNOWN, "state": "TASK_RUNNING", "timestamp": 1.0},
            },
        },
    ],
}
EXECUTOR_TEMPLATE = {
    "type": "UPDATE",
    "framework_id": UNKNOWN,
    "executor_id": UNKNOWN,
    "update": {"status": {"task_id": UNKNOWN, "state": "TASK_RUNNING", "uuid": "AAAA"}},
}

JSON_LEAVES = st.one_of(
    st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False), st.text(max_size=20)
)
RAW = st.sampled_from(
    [
        b"NaN",
        b'{"type": Infinity}',
        b"[" * 5000 + b"]" * 5000,
        b"{" * 200,
        b'{"type": "SUBSCRIBE", "subscribe": {"framework_info": {"user": "\\ud800", "name": 1}}}',
        b"\xff\xfe\x00garbage",
        b"",
        b"null",
        b"1e999999",
        b'{"type": 12345678901234567890123456789}',
    ]
)


def _paths(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Every path to a value inside `value` (dict keys, list indexes)."""
    out: list[tuple[Any, ...]] = []
    if isinstance(value, (dict, list)):
        children = value.items() if isinstance(value, dict) else enumerate(value)
        for key, child in children:
            out.append((*prefix, key))
            out.extend(_paths(child, (*prefix, key)))
    return out


def _poison_for(original: Any) -> st.SearchStrategy[Any]:
    """Values the original's field can never accept."""
    bad_ids = st.sampled_from(["", ".", "..", "a/b", "../x", "x\u0000y", "a\\b", "x" * 300])
    if isinstance(original, bool):
        return st.one_of(st.integers(), st.text(max_size=5), st.lists(JSON_LEAVES, max_size=2))
    if isinstance(original, str):
        return st.one_of(
            st.integers(), st.booleans(), st.lists(JSON_LEAVES, max_size=2), st.just({})
        )
    if isinstance(original, (int, float)):
        return st.one_of(
            st.sampled_from(["inf", "-inf", "nan", "1e999", "x", ""]),
            st.booleans(),
            st.just([1]),
            st.just({}),
        )
    if isinstance(original, dict) and set(original) == {"value"}:  # an id record
        return st.one_of(
            bad_ids.map(lambda v: {"value": v}), JSON_LEAVES.filter(lambda v: v is not None)
        )
    if isinstance(original, list):
        return st.one_of(st.text(max_size=5), st.integers(), st.just({"a": 1}))
    return st.one_of(st.text(max_size=5), st.integers(), st.just([1, 2]))


@st.composite
def poisoned(draw: st.DrawFn, templates: list[dict[str, Any]]) -> bytes:
    call = json.loads(json.dumps(draw(st.sampled_from(templates))))
    path = draw(st.sampled_from([p for p in _paths(call) if p != ("type",)]))
    parent = call
    for key in path[:-1]:
        parent = parent[key]
    parent[path[-1]] = draw(_poison_for(parent[path[-1]]))
    return json.dumps(call).encode()


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[daemons.Daemon, ...]]:
    root = tmp_path_factory.mktemp("fuzz")
    credentials = root / "credentials"
    credentials.write_text("ops secret\n")
    # credentials known, not required: requests reach the handlers, headers get parsed
    master = daemons.master(root / "master", f"--credentials={credentials}")
    agent = daemons.agent(
        root / "agent",
        master.address,
        "--resources=cpus:2;mem:1024;disk:100",
        "--isolation=posix/cpu,posix/mem",
    )
    with daemons.running(master, agent):
        daemons.wait_until(lambda: daemons.registered_agents(master), message="agent registered")
        yield master, agent


class Probe:
    """One daemon's connection; checks each answer and that the daemon still serves."""

    def __init__(self, daemon: daemons.Daemon) -> None:
        self.daemon = daemon
        self.connection = http.client.HTTPConnection("127.0.0.1", daemon.port, timeout=10)

    def send(
        self,
        method: str,
        path: str,
        body: bytes | None,
        content_type: str | None,
        authorization: str | None = None,
    ) -> None:
        headers = {"Accept": "application/json"}
        if content_type is not None:
            headers["Content-Type"] = content_type
        if authorization is not None:
            headers["Authorization"] = authorization
        try:
            self.connection.request(method, path, body=body, headers=headers)
            response = self.connection.getresponse()
            text = response.read().decode(errors="replace")
        except (http.client.HTTPException, OSError):
            # the daemon may close a connection it refused; it must still answer a new one
            self.connection.close()
            self.connection = http.client.HTTPConnection("127.0.0.1", self.daemon.port, timeout=10)
            return
        assert response.status < 500, (method, path, body, response.status, text)
        if response.status >= 400:
            assert text.strip(), (method, path, body, response.status)
        if response.status == 200 and method == "POST":
            # an accepted stream would change the state: the poison must never be valid
            raise AssertionError(f"{path} accepted {body!r}")

    def alive(self) -> None:
        assert daemons.http_json(self.daemon.url + "/health") is None


def _state(master: daemons.Daemon) -> dict[str, Any]:
    return daemons.http_json(master.url + "/master/state")


@pytest.mark.parametrize("path", sorted(MASTER_TEMPLATES))
def test_poisoned_calls_to_the_master_are_4xx_and_change_nothing(cluster, path: str) -> None:
    master, _agent = cluster
    before = _state(master)
    probe = Probe(master)

    @FUZZ
    @given(body=st.one_of(poisoned(MASTER_TEMPLATES[path]), RAW))
    def fuzz(body: bytes) -> None:
        probe.send("POST", path, body, "application/json")

    fuzz()
    probe.alive()
    assert _state(master) == before


def test_poisoned_executor_calls_to_the_agent_are_4xx(cluster) -> None:
    _master, agent = cluster
    probe = Probe(agent)

    @FUZZ
    @given(body=st.one_of(poisoned([EXECUTOR_TEMPLATE]), RAW))
    def fuzz(body: bytes) -> None:
        probe.send("POST", "/api/v1/executor", body, "application/json")

    fuzz()
    probe.alive()


MASTER_GETS = [
    "/", "/master/state", "/state.json", "/master/slaves", "/master/frameworks",
    "/master/tasks", "/metrics/snapshot", "/metrics", "/flags", "/version", "/master/redirect",
    "/master/maintenance/schedule", "/master/maintenance/status", "/health",
]  # fmt: skip
AGENT_GETS = [
    "/state", "/flags", "/metrics/snapshot", "/metrics", "/files/read", "/files/browse",
    "/files/download", "/slave(1)/state", "/health",
]  # fmt: skip
QUERY_VALUES = st.one_of(
    st.text(max_size=30),
    st.sampled_from(["%00", "..", "/etc/passwd", "-1", "99999999999999999999999", "\ud800x"]),
    st.integers().map(str),
)


def test_garbage_requests_to_every_endpoint_are_answered_and_change_nothing(cluster) -> None:
    master, agent = cluster
    before = _state(master)
    probes = {"master": Probe(master), "agent": Probe(agent)}
    endpoints = [("master", p) for p in [*MASTER_GETS, *MASTER_TEMPLATES]] + [
        ("agent", p) for p in [*AGENT_GETS, "/api/v1/executor"]
    ]

    @FUZZ
    @given(
        target=st.sampled_from(endpoints),
        method=st.sampled_from(["GET", "POST", "PUT", "DELETE", "PATCH"]),
        query=st.dictionaries(
            st.sampled_from(["path", "offset", "length", "jsonp", "x"]), QUERY_VALUES, max_size=3
        ),
        body=st.one_of(st.none(), RAW, st.binary(max_size=64)),
        content_type=st.sampled_from(
            [
                None,
                "application/json",
                "application/x-protobuf",
                "text/plain",
                "application/json; charset=latin-1",
            ]
        ),
        authorization=st.one_of(
            st.none(),
            st.sampled_from(
                ["Basic", "Basic !!!", "Basic b3Bz", "Basic b3BzOndyb25n", "Bearer x.y"]
            ),
            st.text(alphabet=st.characters(min_codepoint=32, max_codepoint=126), max_size=40),
        ),
    )
    def fuzz(  # noqa: PLR0917 - one parameter per generated part
        target: tuple[str, str],
        method: str,
        query: dict[str, str],
        body: bytes | None,
        content_type: str | None,
        authorization: str | None,
    ) -> None:
        daemon, path = target
        encoded = urllib.parse.urlencode(query, errors="surrogatepass") if query else ""
        if method == "POST" and path in MASTER_TEMPLATES and body in (None, b"null", b""):
            body = b"[]"  # keep POSTs malformed: an empty body is not a call
        target_path = path + ("?" + encoded if encoded else "")
        probes[daemon].send(method, target_path, body, content_type, authorization)

    fuzz()
    for probe in probes.values():
        probe.alive()
    assert _state(master) == before
