"""Marathon's flags, with Marathon's names and units (milliseconds where Marathon takes
them, seconds for `--failover_timeout`), also settable as `MARATHON_<NAME>` variables."""

from __future__ import annotations

import getpass
from dataclasses import dataclass

from mesos_runtime.wire.flags import Port, flag

__all__ = ["MarathonFlags"]


@dataclass
class MarathonFlags:
    master: str | None = flag(help="Mesos master: host:port or zk://host:port,.../mesos")
    zk: str | None = flag(
        help="ZooKeeper URL for Marathon's state and leader election: zk://host:port,.../marathon"
    )
    work_dir: str = flag(
        "/var/lib/marathon", help="Where a standalone Marathon (no --zk) keeps its state"
    )
    http_address: str = flag("0.0.0.0", help="Address the HTTP API listens on")
    http_port: Port = flag(8080, help="Port the HTTP API listens on")
    # HTTPS is served when TLS is configured as for every daemon here: LIBPROCESS_SSL_ENABLED
    # with LIBPROCESS_SSL_CERT_FILE/KEY_FILE (PEM; Marathon's Java keystore flags do not apply)
    https_address: str = flag("0.0.0.0", help="Address the HTTPS API listens on (with TLS)")
    https_port: Port = flag(8443, help="Port the HTTPS API listens on (with TLS)")
    disable_http: bool = flag(False, help="Serve no plain HTTP (needs TLS: HTTPS only)")
    http_credentials: str | None = flag(
        help="user:password every API caller must present (HTTP Basic); /ping stays open"
    )
    http_credentials_file: str | None = flag(
        help="Mesos credentials file of the principals that may call the API (HTTP Basic), "
        "so that no secret is on the command line"
    )
    http_realm: str = flag("Mesosphere", help="The realm HTTP Basic authentication names")
    hostname: str | None = flag(help="Hostname advertised to other instances and to Mesos")
    framework_name: str = flag("marathon", help="The framework name registered with Mesos")
    mesos_role: str | None = flag(help="Mesos role for this framework (default: '*')")
    mesos_user: str | None = flag(help="User tasks run as unless the app says (default: ours)")
    mesos_authentication_principal: str | None = flag(help="Principal to authenticate with")
    mesos_authentication_secret_file: str | None = flag(
        help="File holding the secret to authenticate with"
    )
    failover_timeout: int = flag(604800, help="Seconds Mesos keeps our tasks when we are gone")
    task_launch_timeout: int = flag(
        300000, help="Milliseconds an instance may take to reach TASK_RUNNING"
    )
    reconciliation_interval: int = flag(
        600000, help="Milliseconds between implicit task reconciliations"
    )
    decline_offer_duration: int = flag(
        120000, help="Milliseconds to refuse offers for when nothing is to be launched"
    )
    max_instances_per_offer: int = flag(100, help="Most instances launched on one offer")
    local_port_min: int = flag(10000, help="Lowest service port Marathon assigns")
    local_port_max: int = flag(20000, help="Highest service port Marathon assigns (exclusive)")
    zk_session_timeout: int = flag(10000, help="ZooKeeper session timeout in milliseconds")
    zk_max_versions: int = flag(50, help="App versions kept per app")
    webui_url: str | None = flag(help="URL advertised as the framework's web UI")
    logging_level: str = flag("INFO", help="Log level: DEBUG, INFO, WARNING, ERROR")

    @property
    def user(self) -> str:
        return self.mesos_user or getpass.getuser()

    @property
    def role(self) -> str:
        return self.mesos_role or "*"
