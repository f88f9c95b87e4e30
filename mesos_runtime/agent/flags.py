"""`mesos-agent` flags, with Mesos' names and defaults where they apply."""

from __future__ import annotations

from dataclasses import dataclass

from mesos_runtime.wire.flags import Bytes, Duration, Port, flag


@dataclass
class AgentFlags:
    master: str | None = flag(help="the master: host:port (or zk://host:port,.../path)")
    ip: str | None = flag("127.0.0.1", help="IP address to listen on")
    port: Port = flag(5051, help="port to listen on")
    hostname: str | None = flag(help="hostname the agent advertises (default: the host's)")
    advertise_ip: str | None = flag(help="IP address advertised to executors and the master")
    advertise_port: Port | None = flag(help="port advertised to executors and the master")
    work_dir: str = flag("/var/lib/mesos", help="where sandboxes and checkpoints live")
    resources: str | None = flag(
        help="total consumable resources: 'cpus:2;mem:1024;disk:4096;ports:[31000-32000]' "
        "or a JSON list (autodetected when absent)"
    )
    attributes: str | None = flag(help="attributes of the agent: 'rack:r1;zone:a'")
    default_role: str = flag("*", help="role of resources given without one in --resources")
    isolation: str | None = flag(
        help="'cgroups/cpu,cgroups/mem' (cgroup v2 or v1, as the host mounts) or "
        "'posix/cpu,posix/mem' (default: cgroups where writable, else posix)"
    )
    cgroups_root: str = flag("mesos", help="name of the cgroup holding containers' cgroups")
    cgroups_enable_cfs: bool = flag(
        False, help="hard-limit containers' CPU to their cpus (CFS quota: cpu.max in v2)"
    )
    cgroups_pids_max: int = flag(
        0, help="pids.max of each container's cgroup (cgroup v2; 0: unlimited)"
    )
    executor_shutdown_grace_period: Duration = flag(
        Duration(5.0), help="default time between SIGTERM and SIGKILL of a task or executor"
    )
    executor_registration_timeout: Duration = flag(
        Duration(60.0), help="time a custom executor has to subscribe"
    )
    executor_reregistration_timeout: Duration = flag(
        Duration(2.0), help="time a recovered custom executor has to subscribe again"
    )
    recover: str = flag(
        "reconnect",
        help="after a restart: 'reconnect' to running tasks or 'cleanup' (kill them)",
    )
    strict: bool = flag(True, help="fail to start when the checkpoint cannot be recovered")
    registration_backoff_factor: Duration = flag(
        Duration(1.0), help="backoff factor of (re-)registration attempts"
    )
    master_ping_timeout: Duration | None = flag(
        help="treat the master as lost after no PING for this long "
        "(default: 5 x the master's ping interval)"
    )
    gc_delay: Duration = flag(
        Duration(7 * 86400.0),
        help="how long a finished executor's sandbox and checkpoint are kept (less when "
        "the disk fills, see --gc_disk_headroom)",
    )
    gc_disk_headroom: float = flag(
        0.1,
        help="fraction of the disk to keep free: sandboxes older than "
        "gc_delay * max(0, 1 - gc_disk_headroom - disk usage) are removed",
    )
    disk_watch_interval: Duration = flag(
        Duration(60.0), help="how often the disk usage is checked for --gc_disk_headroom"
    )
    fetcher_cache_dir: str | None = flag(help="fetcher cache (default: <work_dir>/fetcher-cache)")
    fetcher_cache_size: Bytes = flag(Bytes(2 << 30), help="fetcher cache size")
    launcher_dir: str | None = flag(help="accepted for Mesos compatibility; unused")
    status_update_retry_interval: Duration = flag(
        Duration(10.0), help="first retry of an unacknowledged status update (doubles to 1mins)"
    )
    config: str | None = flag(help="a file of flags (JSON, YAML or name=value lines)")
    # --- security (docs/security.md) ----------------------------------------------------
    credential: str | None = flag(
        help='this agent\'s credential for the master: a JSON {"principal", "secret"} or a'
        " 'principal secret' line; a path or file:///path"
    )
    authenticatee: str = flag(
        "crammd5", help="accepted for Mesos compatibility: the channel uses HTTP Basic"
    )
    http_credentials: str | None = flag(
        help="credentials (Mesos' JSON) accepted by this agent's own HTTP endpoints"
    )
    authenticate_http_readonly: bool = flag(
        False, help="read-only endpoints (/state, /files/*, /metrics/snapshot) need credentials"
    )
    authenticate_http_readwrite: bool = flag(False, help="read-write endpoints need credentials")
    authenticate_http_executors: bool = flag(
        False, help="executors authenticate with the token the agent hands them"
    )
    executor_secret_key: str | None = flag(
        help="file holding the key that signs executor tokens (generated when absent)"
    )
    http_authenticators: str = flag("basic", help="HTTP authenticator: only 'basic'")
    acls: str | None = flag(help="Mesos ACLs (access_sandboxes, ...) as JSON or a path")
    authorizer: str = flag("local", help="authorizer: only 'local' (the --acls)")
    switch_user: bool = flag(
        True, help="run tasks as their CommandInfo.user or FrameworkInfo.user (needs root)"
    )
    # --- docker containerizer (agent/docker.py, docs/containers.md) ---------------------
    containerizers: str = flag(
        "mesos", help="'mesos' or 'mesos,docker': docker runs tasks' Docker images through podman"
    )
    image_providers: str | None = flag(
        help="'docker': MESOS containers with a Docker image (run by the docker containerizer)"
    )
    docker: str = flag("podman", help="the container engine binary (podman's CLI)")
    docker_registry: str | None = flag(
        help="a local directory of image archives (<name>:<tag>.tar, as `podman save`)"
    )
    docker_stop_timeout: Duration = flag(
        Duration(0.0), help="grace `podman stop` gives a container (kills use the task's grace)"
    )
    docker_container_prefix: str = flag(
        "mesos-", help="prefix of container names (<prefix><container id>)"
    )
    docker_ulimits: str = flag(
        "nofile=4096:4096,nproc=8192:8192",
        help="--ulimit values for containers (podman's defaults exceed some hosts' limits)",
    )
    docker_bridge_network: str = flag("podman", help="the podman network BRIDGE containers join")
