"""The master's flags, named as Mesos names them (`mesos-master --help`), parsed by
`mesos_runtime.wire.flags` from the command line, `MESOS_*` variables or `--config`."""

from __future__ import annotations

from dataclasses import dataclass

from mesos_runtime.wire.flags import Duration, Port, flag


@dataclass
class MasterFlags:
    ip: str = flag("0.0.0.0", help="IP address to listen on")
    port: Port = flag(5050, help="Port to listen on")
    hostname: str | None = flag(help="Hostname to advertise (default: the resolved host name)")
    advertise_ip: str | None = flag(help="IP address advertised to reach this master")
    advertise_port: Port | None = flag(help="Port advertised to reach this master")
    work_dir: str = flag("/var/lib/mesos/master", help="Where the standalone registry lives")
    cluster: str | None = flag(help="Human readable name for the cluster")
    zk: str | None = flag(help="ZooKeeper URL zk://host1:port1,host2:port2/path (HA)")
    quorum: int | None = flag(
        help="ZooKeeper servers that must hold a registry write (needs --zk; at most the"
        " servers listed there; ZooKeeper's own majority decides durability)"
    )
    zk_session_timeout: Duration = flag(Duration(10.0), help="ZooKeeper session timeout")
    allocation_interval: Duration = flag(Duration(1.0), help="Interval between batch allocations")
    agent_ping_timeout: Duration = flag(
        Duration(15.0), help="Time an agent has to answer a ping before it counts as missed"
    )
    max_agent_ping_timeouts: int = flag(
        5, help="Missed pings after which an agent is marked unreachable"
    )
    agent_reregister_timeout: Duration = flag(
        Duration(600.0), help="Time admitted agents have to re-register after master recovery"
    )
    registry_max_agent_age: Duration = flag(
        Duration(14 * 24 * 3600.0),
        help="Time an unreachable agent stays in the registry before it is gone for good",
    )
    offer_timeout: Duration | None = flag(help="Time after which an unanswered offer is rescinded")
    heartbeat_interval: Duration = flag(
        Duration(15.0), help="Interval of HEARTBEAT events on scheduler and operator streams"
    )
    roles: str | None = flag(help="Comma-separated list of known roles (informational)")
    weights: str | None = flag(help="Role weights: role1=weight1,role2=weight2")
    min_allocatable_cpus: float = flag(0.01, help="Smallest cpus amount worth offering")
    min_allocatable_mem: float = flag(32.0, help="Smallest mem (MB) amount worth offering")
    log_dir: str | None = flag(help="Directory for a master.log file (default: stderr only)")
    logging_level: str = flag("INFO", help="Log level: INFO, WARNING, ERROR, DEBUG")
    version: bool = flag(False, help="Print the version and exit")
    # --- authentication and authorization (docs/security.md) -----------------------------
    authenticate_frameworks: bool = flag(
        False, help="Only frameworks that authenticate (HTTP Basic) may subscribe"
    )
    authenticate_http_frameworks: bool = flag(
        False, help="The same for the HTTP scheduler API (frameworks here are all HTTP)"
    )
    authenticate_agents: bool = flag(False, help="Only agents that authenticate may register")
    authenticate_http_readonly: bool = flag(
        False, help="Read-only endpoints (/master/state, /metrics/snapshot, ...) need credentials"
    )
    authenticate_http_readwrite: bool = flag(
        False, help="Read-write endpoints (the operator API /api/v1, ...) need credentials"
    )
    credentials: str | None = flag(
        help='Credentials file (Mesos\' JSON: {"credentials": [{"principal", "secret"}]},'
        " or 'principal secret' lines); a path or file:///path"
    )
    acls: str | None = flag(help="Mesos ACLs as JSON, or a path / file:///path to them")
    authenticators: str = flag(
        "crammd5", help="Agent authenticator (accepted: the agent channel uses HTTP Basic)"
    )
    http_authenticators: str = flag("basic", help="HTTP authenticator: only 'basic'")
    http_framework_authenticators: str | None = flag(
        help="HTTP framework authenticator: only 'basic'"
    )
    authorizers: str = flag("local", help="Authorizer: only 'local' (the --acls)")


def parse_weights(text: str | None) -> dict[str, float]:
    """`--weights=role1=2,role2=0.5` as Mesos writes it."""
    weights: dict[str, float] = {}
    for item in filter(None, (p.strip() for p in (text or "").split(","))):
        role, _, value = item.partition("=")
        try:
            weights[role.strip()] = float(value)
        except ValueError:
            raise ValueError(f"--weights: {item!r} is not role=weight") from None
        if weights[role.strip()] <= 0:
            raise ValueError(f"--weights: weight of {role!r} must be positive")
    return weights
