"""The local cluster: a standalone master, N agents and a Marathon on loopback, run as
detached processes whose pids, ports and work dirs are recorded in `<dir>/cluster.json`.

Each agent is a host of its own: agent N listens on 127.0.0.(N+2) (all of 127/8 reaches
`lo`) with that address as its `--hostname` and a rack attribute, so placement rules such
as `hostname:UNIQUE` spread a service's pods over the agents as over separate machines.

With `authenticate` (what `infinity cluster up` does), the master authenticates frameworks,
agents and operators against credentials generated once under `<dir>/credentials/` (0700):
the agents present theirs, and the CLI and the scheduler library present `infinity.json`.
Its Marathon's REST API then takes the operator's credential only (all but `/ping`).

Stopping signals exactly the recorded pids, and only after checking (command line and
start time in /proc) that each pid is still the process this module started.
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import re
import secrets
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

STATE_FILE = "cluster.json"
DEFAULT_DIR = ".cluster"
CREDENTIALS_DIR = "credentials"
OPERATOR_PRINCIPAL = "infinity"  # the CLI's and local frameworks' principal
AGENT_PRINCIPAL = "agent"
MARATHON_PRINCIPAL = "marathon"  # the local Marathon's framework principal
PORTS_BASE, PORTS_PER_AGENT = 31000, 250  # agent N offers ports [31000+250N, ...+249]
SERVICES_PRINCIPAL = "services"  # the service schedulers Marathon runs for `infinity install`


def cluster_dir(directory: Path | None = None) -> Path:
    """`--dir`, else $INFINITY_CLUSTER_DIR, else `.cluster` in the current directory."""
    if directory is not None:
        return directory.absolute()
    return Path(os.environ.get("INFINITY_CLUSTER_DIR") or DEFAULT_DIR).absolute()


class ClusterError(RuntimeError):
    """The local cluster cannot be started or stopped; the message says why."""


@dataclass
class Process:
    """One daemon this module started."""

    kind: str  # "master" | "agent" | "marathon"
    pid: int
    port: int
    work_dir: str
    log: str
    argv: list[str]
    start_time: int  # /proc/<pid>/stat field 22: tells a reused pid apart
    ip: str = "127.0.0.1"  # also its hostname: agents each have a loopback address of their own
    attributes: str | None = None  # an agent's --attributes

    @property
    def address(self) -> str:
        return f"{self.ip}:{self.port}"

    @property
    def url(self) -> str:
        return f"http://{self.ip}:{self.port}"

    def is_ours(self) -> bool:
        """Still running, and still the very process we started (not a reused pid)."""
        info = _proc_info(self.pid)
        if info is None:
            return False
        cmdline, start_time, state = info
        return (
            state != "Z"
            and start_time == self.start_time
            and f"mesos_runtime.{self.kind}.main" in cmdline
            and f"--work_dir={self.work_dir}" in cmdline
        )


@dataclass
class ClusterState:
    directory: str
    master: Process
    agents: list[Process] = field(default_factory=list)
    created: float = field(default_factory=time.time)
    marathon: Process | None = None
    credential: str | None = None  # the operator's credential file, when authenticating
    services_credential: str | None = None  # what service schedulers present, likewise

    @property
    def processes(self) -> list[Process]:
        return [self.master, *self.agents, *([self.marathon] if self.marathon else [])]

    @classmethod
    def load(cls, directory: Path) -> ClusterState | None:
        try:
            doc = json.loads((directory / STATE_FILE).read_text())
        except FileNotFoundError:
            return None
        except ValueError as e:
            raise ClusterError(f"{directory / STATE_FILE} is not valid JSON: {e}") from None
        try:
            return cls(
                directory=doc["directory"],
                master=Process(**doc["master"]),
                agents=[Process(**a) for a in doc.get("agents", [])],
                created=doc.get("created", 0.0),
                marathon=Process(**doc["marathon"]) if doc.get("marathon") else None,
                credential=doc.get("credential"),
                services_credential=doc.get("services_credential"),
            )
        except (KeyError, TypeError) as e:
            raise ClusterError(f"{directory / STATE_FILE} is not a cluster record: {e}") from None

    def save(self) -> None:
        path = Path(self.directory) / STATE_FILE
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(asdict(self), indent=2) + "\n")
        os.replace(tmp, path)

    def to_json(self) -> dict[str, Any]:
        doc = asdict(self)
        entries = [doc["master"], *doc["agents"], *([doc["marathon"]] if self.marathon else [])]
        for entry, process in zip(entries, self.processes, strict=True):
            entry["running"] = process.is_ours()
        return doc


def start_cluster(
    directory: Path,
    *,
    agents: int = 1,
    port: int = 5050,
    agent_resources: str | None = None,
    master_flags: Sequence[str] = (),
    agent_flags: Sequence[str] = (),
    timeout: float = 60.0,
    progress: Callable[[str], None] = lambda _: None,
    interpreter: Callable[[str, Path], Sequence[str]] | None = None,
    marathon: bool = False,
    marathon_port: int = 8080,
    marathon_flags: Sequence[str] = (),
    authenticate: bool = False,
) -> ClusterState:
    """Start the master, then the agents, wait until every agent is registered, then start
    Marathon beside the master (`marathon_port`, or a free port when that one is taken).

    `authenticate` turns Mesos' authentication on with generated credentials (see above).
    On failure everything started so far is stopped again and ClusterError says why.
    `interpreter(kind, work_dir)` gives the command that runs `-m <daemon module>` (this
    Python by default; e.g. `python -m cProfile -o ...` to profile a daemon).
    """
    interpreter = interpreter or _this_python
    existing = ClusterState.load(directory)
    if existing is not None and any(p.is_ours() for p in existing.processes):
        what = "is already running" if existing.master.is_ours() else "is partly running"
        raise ClusterError(
            f"a cluster {what} from {directory} (master at {existing.master.url}"
            f"{'' if existing.master.is_ours() else ', not running'}); "
            "run `infinity cluster down` first"
        )
    if not 0 <= port <= 65535:
        raise ClusterError(f"port {port} is out of range (0-65535; 0 picks a free one)")
    directory.mkdir(parents=True, exist_ok=True)
    if port == 0:
        port = free_port()  # chosen here so that cluster.json records the real one
    elif not _port_free(port):
        raise ClusterError(f"port {port} on 127.0.0.1 is in use; choose another with --port")
    started: list[Process] = []
    security = ensure_credentials(directory) if authenticate else None
    secured_master = security.master_flags() if security else []
    secured_agent = security.agent_flags() if security else []
    try:
        master = _spawn(
            "master",
            directory / "master",
            port,
            [
                "--ip=127.0.0.1",
                f"--port={port}",
                "--hostname=127.0.0.1",
                *secured_master,
                *master_flags,
            ],
            interpreter,
        )
        started.append(master)
        state = ClusterState(
            directory=str(directory),
            master=master,
            credential=str(security.operator) if security else None,
            services_credential=str(security.services) if security else None,
        )
        state.save()
        _wait_healthy(master, timeout)
        progress(f"master running at {master.url} (pid {master.pid})")
        agent_ports = _agent_ports(port, agents)
        for index, agent_port in enumerate(agent_ports):
            ip, attributes = agent_host(index)
            flags = [
                f"--ip={ip}",
                f"--port={agent_port}",
                f"--hostname={ip}",
                f"--attributes={attributes}",
                f"--master={master.address}",
                *secured_agent,
                *agent_flags,
            ]
            resources = _with_own_ports(agent_resources, index)
            if resources:
                flags.append(f"--resources={resources}")
            agent = _spawn(
                "agent", directory / f"agent-{index}", agent_port, flags, interpreter, ip=ip
            )
            agent.attributes = attributes
            started.append(agent)
            state.agents.append(agent)
            state.save()
        for agent in state.agents:
            _wait_healthy(agent, timeout)
        _wait_registered(state, timeout)
        progress(f"{agents} agent(s) registered")
        if marathon:
            state.marathon = _start_marathon(
                state,
                directory,
                marathon_port,
                [*(security.marathon_flags() if security else []), *marathon_flags],
                interpreter,
            )
            started.append(state.marathon)
            state.save()
            _wait_healthy(state.marathon, timeout, path="/ping")
            progress(f"Marathon running at {state.marathon.url} (pid {state.marathon.pid})")
        return state
    except BaseException:
        stop_processes(started)
        (directory / STATE_FILE).unlink(missing_ok=True)
        raise


def stop_cluster(state: ClusterState, grace: float = 10.0) -> list[Process]:
    """Stop the recorded processes and forget the state file.

    Agents go first and are drained with SIGUSR1, which makes `mesos-agent` kill its tasks
    and unregister (SIGTERM would leave the tasks running for a restarted agent to recover).
    """
    # Marathon first, without tearing its framework down: the agents' drain kills its tasks
    stopped = stop_processes([state.marathon], grace) if state.marathon else []
    stopped += stop_processes(state.agents, grace + 20, first=signal.SIGUSR1)
    stopped += stop_processes([state.master], grace)
    with contextlib.suppress(FileNotFoundError):
        (Path(state.directory) / STATE_FILE).unlink()
    return stopped


def stop_processes(
    processes: Sequence[Process], grace: float = 10.0, first: int = signal.SIGTERM
) -> list[Process]:
    """Signal (`first`) every process that is still ours, SIGKILL whichever outlives `grace`."""
    running = [p for p in processes if p.is_ours()]
    for p in running:
        _signal(p, first)
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline and any(p.is_ours() for p in running):
        _reap(running)
        time.sleep(0.1)
    for p in running:
        if p.is_ours():
            _signal(p, signal.SIGKILL)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and any(p.is_ours() for p in running):
        _reap(running)
        time.sleep(0.05)
    return running


# --- credentials ----------------------------------------------------------------------------


@dataclass(frozen=True)
class ClusterCredentials:
    """The files `ensure_credentials` keeps under `<dir>/credentials/`."""

    credentials: Path  # the master's --credentials (and agents' --http_credentials)
    operator: Path  # the CLI's and local frameworks' credential
    agent: Path  # the agents' --credential
    marathon_secret: Path  # the local Marathon's --mesos_authentication_secret_file
    services: Path  # the service schedulers' credential (their INFINITY_CREDENTIAL)
    marathon_api: Path  # Marathon's --http_credentials_file: the operator's principal only

    def master_flags(self) -> list[str]:
        return [
            f"--credentials={self.credentials}",
            "--authenticate_frameworks",
            "--authenticate_agents",
            "--authenticate_http_readonly",
            "--authenticate_http_readwrite",
        ]

    def agent_flags(self) -> list[str]:
        return [
            f"--credential={self.agent}",
            f"--http_credentials={self.credentials}",
            "--authenticate_http_readonly",
            "--authenticate_http_executors",
        ]

    def marathon_flags(self) -> list[str]:
        return [
            f"--mesos_authentication_principal={MARATHON_PRINCIPAL}",
            f"--mesos_authentication_secret_file={self.marathon_secret}",
            f"--http_credentials_file={self.marathon_api}",
        ]


def ensure_credentials(directory: Path) -> ClusterCredentials:
    """Generate the cluster's credentials once (kept across `down`/`up`; remove the
    directory while the cluster is down to rotate them)."""
    where = directory / CREDENTIALS_DIR
    files = ClusterCredentials(
        credentials=where / "credentials.json",
        operator=where / f"{OPERATOR_PRINCIPAL}.json",
        agent=where / f"{AGENT_PRINCIPAL}.json",
        marathon_secret=where / f"{MARATHON_PRINCIPAL}.secret",
        services=where / f"{SERVICES_PRINCIPAL}.json",
        marathon_api=where / "marathon-api.json",
    )
    kept = (files.credentials, files.operator, files.agent, files.marathon_secret, files.services)
    if not all(p.exists() for p in kept):
        _generate(where, files)
    # derived from the operator's file on every `up`: cluster directories made before
    # Marathon's API was secured have the other files already
    operator = json.loads(files.operator.read_text())
    _write_private(files.marathon_api, {"credentials": [operator]})
    return files


def _generate(where: Path, files: ClusterCredentials) -> None:
    where.mkdir(mode=0o700, parents=True, exist_ok=True)
    os.chmod(where, 0o700)
    entries = [
        {"principal": principal, "secret": secrets.token_urlsafe(24)}
        for principal in (
            OPERATOR_PRINCIPAL,
            AGENT_PRINCIPAL,
            MARATHON_PRINCIPAL,
            SERVICES_PRINCIPAL,
        )
    ]
    _write_private(files.credentials, {"credentials": entries})
    _write_private(files.operator, entries[0])
    _write_private(files.agent, entries[1])
    _write_private_text(files.marathon_secret, entries[2]["secret"])
    _write_private(files.services, entries[3])


def _write_private(path: Path, doc: dict[str, Any]) -> None:
    _write_private_text(path, json.dumps(doc, indent=2) + "\n")


def _write_private_text(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(text)
    os.replace(tmp, path)


# --- helpers ------------------------------------------------------------------------------


def agent_host(index: int) -> tuple[str, str]:
    """Agent `index`'s loopback address (also its hostname) and its --attributes."""
    if not 0 <= index < 128:
        raise ClusterError("the local cluster has room for at most 128 agents")
    return f"127.0.0.{index + 2}", f"rack:r{index + 1}"


def _with_own_ports(resources: str | None, index: int) -> str:
    """The agent's --resources with a port range of its own unless they name ports: the
    agents share one machine, and a task binding 0.0.0.0 must not take a port another
    agent offers."""
    if resources and re.search(r"(^|;)\s*ports\s*(\(|:)", resources):
        return resources
    first = PORTS_BASE + index * PORTS_PER_AGENT
    own = f"ports:[{first}-{first + PORTS_PER_AGENT - 1}]"
    return f"{resources};{own}" if resources else own


def _this_python(kind: str, work_dir: Path) -> Sequence[str]:
    return [sys.executable]


def _spawn(
    kind: str,
    work_dir: Path,
    port: int,
    flags: list[str],
    interpreter: Callable[[str, Path], Sequence[str]],
    *,
    ip: str = "127.0.0.1",
) -> Process:
    work_dir.mkdir(parents=True, exist_ok=True)
    log_path = work_dir / f"{kind}.log"
    argv = [
        *interpreter(kind, work_dir),
        "-m",
        f"mesos_runtime.{kind}.main",
        *flags,
        f"--work_dir={work_dir}",
    ]
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    with log_path.open("ab") as log:
        # own session: the daemon outlives this CLI and its terminal's signals
        child = subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            env=env,
            start_new_session=True,
            close_fds=True,
        )
    # Popen returns once exec has begun; the new command line shows in /proc a moment later
    # (under load, long enough for `is_ours` to take the daemon for gone): wait for it
    deadline = time.monotonic() + 10
    info = _proc_info(child.pid)
    while (
        info is not None
        and info[2] != "Z"
        and f"mesos_runtime.{kind}.main" not in info[0]
        and time.monotonic() < deadline
    ):
        time.sleep(0.01)
        info = _proc_info(child.pid)
    return Process(
        kind=kind,
        pid=child.pid,
        port=port,
        work_dir=str(work_dir),
        log=str(log_path),
        argv=argv,
        start_time=info[1] if info else 0,
        ip=ip,
    )


def _start_marathon(
    state: ClusterState,
    directory: Path,
    port: int,
    extra_flags: Sequence[str],
    interpreter: Callable[[str, Path], Sequence[str]],
) -> Process:
    if not _port_free(port):
        port = free_port(exclude={p.port for p in state.processes})
    flags = [
        f"--master={state.master.address}",
        "--http_address=127.0.0.1",
        f"--http_port={port}",
        "--hostname=127.0.0.1",
        *extra_flags,
    ]
    return _spawn("marathon", directory / "marathon", port, flags, interpreter)


def _wait_healthy(process: Process, timeout: float, path: str = "/health") -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        gone = not process.is_ours()
        ended = _exit_status(process)  # after is_ours: a child that just exited is reaped here
        if gone or ended:
            raise ClusterError(
                f"{process.kind} on port {process.port} exited during start-up{ended}; "
                f"its log ({process.log}) ends with:\n{log_tail(process)}"
            )
        try:
            with urllib.request.urlopen(process.url + path, timeout=2) as r:
                if r.status == 200:
                    return
        except (urllib.error.URLError, OSError):
            pass
        time.sleep(0.1)
    raise ClusterError(
        f"{process.kind} on port {process.port} not healthy after {timeout:.0f}s; "
        f"its log ({process.log}) ends with:\n{log_tail(process)}"
    )


def _wait_registered(state: ClusterState, timeout: float) -> None:
    want = {a.port for a in state.agents}
    deadline = time.monotonic() + timeout
    registered: set[int] = set()
    headers = {}
    if state.credential:
        doc = json.loads(Path(state.credential).read_text())
        pair = f"{doc['principal']}:{doc['secret']}".encode()
        headers["Authorization"] = "Basic " + base64.b64encode(pair).decode()
    request = urllib.request.Request(state.master.url + "/master/state", headers=headers)
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(request, timeout=5) as r:
                doc = json.loads(r.read())
            registered = {
                int(a.get("port") or str(a.get("pid", "")).rsplit(":", 1)[-1])
                for a in doc.get("slaves", [])
                if a.get("active", True)
            }
            if want <= registered:
                return
        except (urllib.error.URLError, OSError, ValueError):
            pass
        for agent in state.agents:
            if not agent.is_ours():
                raise ClusterError(
                    f"agent on port {agent.port} exited; its log ends with:\n{log_tail(agent)}"
                )
        time.sleep(0.2)
    missing = sorted(want - registered)
    raise ClusterError(f"agents on ports {missing} did not register within {timeout:.0f}s")


def _agent_ports(master_port: int, count: int) -> list[int]:
    """Mesos' habit is master 5050, agent 5051: take the ports after the master's if free."""
    ports: list[int] = []
    candidate = master_port + 1
    while len(ports) < count:
        if candidate < 65536 and _port_free(candidate):
            ports.append(candidate)
            candidate += 1
        else:
            ports.append(free_port(exclude=set(ports)))
    return ports


def _port_free(port: int) -> bool:
    """Whether a daemon could listen on `port`: probed with SO_REUSEADDR as the daemons bind,
    so the TIME_WAIT connections a stopped cluster leaves behind do not count as in use."""
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def free_port(exclude: frozenset[int] | set[int] = frozenset()) -> int:
    """A port on 127.0.0.1 that nothing listens on right now."""
    while True:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        if port not in exclude:
            return port


def _proc_info(pid: int) -> tuple[str, int, str] | None:
    """(command line, start time, state) of a pid from /proc, or None when it is gone."""
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
        stat = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return None
    # the command name (field 2) may contain spaces: fields after it follow the last ')'
    fields = stat[stat.rindex(")") + 2 :].split()
    return cmdline, int(fields[19]), fields[0]


def _signal(process: Process, sig: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.kill(process.pid, sig)


def _exit_status(process: Process) -> str:
    """` (exit status N)` / ` (killed by SIGX)` once our child has ended, else ``."""
    try:
        pid, status = os.waitpid(process.pid, os.WNOHANG)
    except (ChildProcessError, OSError):
        return ""
    if pid == 0:
        return ""
    code = os.waitstatus_to_exitcode(status)
    return f" (killed by {signal.Signals(-code).name})" if code < 0 else f" (exit status {code})"


def _reap(processes: Sequence[Process]) -> None:
    """Collect exit statuses of our own children (when `up` and `down` share a process)."""
    for p in processes:
        with contextlib.suppress(ChildProcessError, OSError):
            os.waitpid(p.pid, os.WNOHANG)


def log_tail(process: Process, lines: int = 20) -> str:
    try:
        text = Path(process.log).read_text(errors="replace")
    except FileNotFoundError:
        return "(no log)"
    return "\n".join(text.splitlines()[-lines:])
