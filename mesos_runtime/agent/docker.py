"""The docker containerizer (`--containerizers=mesos,docker`): tasks whose
`TaskInfo.container` runs a Docker image (`type: DOCKER`, or `type: MESOS` with
`mesos.image`) run in a podman container (`--docker=/usr/bin/podman`).

The task's process under the launch wrapper (containerizer.py) is `podman run` in the
foreground, so everything the command executor does for a plain task holds: the wrapper's
pid and start time are checkpointed, a restarted agent re-attaches to it and reads its exit
status (`podman run` exits with the container's), status updates flow as usual. What
differs sits here:
- the container is named `<--docker_container_prefix><container id>` and labelled with the
  agent's work_dir, so a restarted agent adopts the containers of its recovered tasks and
  removes the others of its own (`podman rm -f`), never another agent's;
- stdout/stderr: `--log-driver=passthrough` hands the wrapper's sandbox files to the
  container as its stdio, so output lands in the sandbox even while no agent runs;
- kills go to the container (`podman kill --signal`), since conmon, the container's real
  parent, lives outside the wrapper's process group;
- the image comes from podman's local store, else from an archive fetched with the task's
  URIs (`extract: false`; `podman save` output) or `--docker_registry` (a directory of
  `<name>:<tag>.tar`), loaded with `podman load`; `force_pull_image` loads (or pulls) again.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import shutil
import signal
import tarfile
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mesos_runtime.wire.container import (
    ContainerInfo,
    ContainerType,
    DockerNetwork,
    parse_container,
)
from mesos_runtime.wire.errors import WireError
from mesos_runtime.wire.mesos import (
    CommandInfo,
    HealthCheck,
    HealthCheckType,
    TaskInfo,
    VolumeMode,
)
from mesos_runtime.wire.resources import Resources

from .containerizer import (
    Containerizer,
    ContainerProcess,
    ExitStatus,
    ProcessCheckpoint,
    command_argv,
)
from .environment import inherited_environment
from .flags import AgentFlags
from .isolation import IsolationState, Limitation
from .users import TaskUser

log = logging.getLogger(__name__)

SANDBOX_IN_CONTAINER = "/mnt/mesos/sandbox"  # Mesos' --sandbox_directory
LABEL_WORK_DIR = "infinity.agent.work_dir"
LABEL_CONTAINER_ID = "infinity.container_id"
# where podman looks for its `--init` (catatonit), Debian's path first
INIT_PATHS = ("/usr/bin/catatonit", "/usr/libexec/podman/catatonit")
PULL_TIMEOUT = 120.0
COMMAND_TIMEOUT = 60.0  # podman inspect/kill/rm/load


class ImageError(RuntimeError):
    """The task's image could not be had (the message says why)."""


@dataclass(frozen=True, slots=True)
class DockerSettings:
    """The docker containerizer's flags."""

    docker: str  # --docker: the podman binary
    work_dir: str  # the agent's --work_dir: labels its containers
    container_prefix: str = "mesos-"
    stop_timeout: float = 0.0  # --docker_stop_timeout: `podman stop` grace of the container
    registry: str | None = None  # --docker_registry: a directory of image archives
    ulimits: tuple[str, ...] = ()  # --docker_ulimits
    bridge_network: str = "podman"  # --docker_bridge_network
    init: str | None = None  # catatonit as PID 1, so that SIGTERM reaches the command


@dataclass(frozen=True, slots=True)
class Completed:
    code: int
    stdout: str
    stderr: str

    def why(self) -> str:
        return (self.stderr.strip() or self.stdout.strip() or f"exit status {self.code}")[-800:]


class Podman:
    """podman's command line, asynchronously."""

    def __init__(self, binary: str) -> None:
        self.binary = binary

    async def run(
        self, *args: str, timeout: float | None = COMMAND_TIMEOUT, stdin: Path | None = None
    ) -> Completed:
        with contextlib.ExitStack() as stack:
            source = stack.enter_context(stdin.open("rb")) if stdin else asyncio.subprocess.DEVNULL
            return await self._run(args, timeout, source)

    async def _run(self, args: tuple[str, ...], timeout: float | None, stdin: Any) -> Completed:
        process = await asyncio.create_subprocess_exec(
            self.binary,
            *args,
            stdin=stdin,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        try:
            out, err = await asyncio.wait_for(process.communicate(), timeout)
        except TimeoutError:
            with contextlib.suppress(ProcessLookupError):
                process.kill()
            await process.wait()
            return Completed(124, "", f"podman {args[0]} timed out after {timeout}s")
        assert process.returncode is not None
        return Completed(
            process.returncode, out.decode(errors="replace"), err.decode(errors="replace")
        )

    async def image_exists(self, name: str) -> bool:
        return (await self.run("image", "exists", name)).code == 0

    async def inspect(self, name: str) -> dict[str, Any] | None:
        done = await self.run("container", "inspect", "--format", "json", name)
        if done.code != 0:
            return None
        with contextlib.suppress(ValueError, IndexError):
            found = json.loads(done.stdout)
            return found[0] if isinstance(found, list) else found
        return None

    async def remove(self, name: str) -> None:
        await self.run("rm", "--force", "--time", "0", name)

    async def names(self, label: str) -> list[str]:
        done = await self.run("ps", "--all", "--filter", f"label={label}", "--format", "{{.Names}}")
        return done.stdout.split() if done.code == 0 else []


def is_image_archive(path: Path) -> bool:
    """A `podman save` / `docker save` tarball (docker-archive or oci-archive)."""
    if not path.is_file() or path.is_symlink():
        return False
    try:
        with tarfile.open(path) as tar:
            names = {n.removeprefix("./") for n in tar.getnames()[:10000]}
    except (tarfile.TarError, OSError, EOFError):
        return False
    return "manifest.json" in names or "index.json" in names


def _uri_file(uri_value: str, output_file: str | None, sandbox: Path) -> Path:
    name = output_file or uri_value.rstrip("/").rsplit("/", 1)[-1]
    return sandbox / name


def find_init() -> str | None:
    for path in INIT_PATHS:
        if os.access(path, os.X_OK):
            return path
    return None


@dataclass(slots=True)
class DockerRuntime:
    """The agent's docker containerizer: images, container names, orphans."""

    settings: DockerSettings
    docker_containers: bool = True  # `type: DOCKER` (--containerizers=...,docker)
    mesos_images: bool = False  # `type: MESOS` with an image (--image_providers=docker)
    podman: Podman = field(init=False)
    _image_locks: dict[str, asyncio.Lock] = field(default_factory=dict)
    _present: set[str] = field(default_factory=set)  # images known to be in the store
    _background: set[asyncio.Task[Any]] = field(default_factory=set)
    _base_env: dict[str, str] = field(default_factory=inherited_environment)

    def __post_init__(self) -> None:
        self.podman = Podman(self.settings.docker)

    def container_name(self, container_id: str) -> str:
        return f"{self.settings.container_prefix}{container_id}"

    @property
    def work_dir_label(self) -> str:
        return f"{LABEL_WORK_DIR}={self.settings.work_dir}"

    def background(self, coro: Coroutine[Any, Any, Any]) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    def containerizer(
        self, base: Containerizer, task: TaskInfo, container_id: str, sandbox: Path
    ) -> DockerContainerizer:
        assert task.container is not None
        info = parse_container(task.container)
        return DockerContainerizer(
            self, base, task, info, name=self.container_name(container_id), sandbox=sandbox
        )

    # --- images -------------------------------------------------------------------

    async def ensure_image(self, name: str, *, force: bool, archives: list[Path]) -> None:
        """Have `name` in podman's store: as it is, or loaded from the task's archives or
        --docker_registry, or pulled; `force` skips what is already there."""
        if not force and name in self._present:
            return  # seen in the store before (gone since, `podman run` says so)
        lock = self._image_locks.setdefault(name, asyncio.Lock())
        async with lock:
            await self._ensure_image(name, force=force, archives=archives)
            self._present.add(name)

    async def _ensure_image(self, name: str, *, force: bool, archives: list[Path]) -> None:
        if not force and await self.podman.image_exists(name):
            return
        # reading a tarball's member list is disk work: off the event loop
        loaded = [a for a in archives if await asyncio.to_thread(is_image_archive, a)]
        registry = self._registry_archive(name)
        if registry is not None:
            loaded.append(registry)
        for archive in loaded:
            # on stdin: `podman load --input` refuses paths with a ':' (<name>:<tag>.tar)
            done = await self.podman.run("load", stdin=archive, timeout=PULL_TIMEOUT)
            if done.code != 0:
                raise ImageError(f"Failed to load image archive {archive.name}: {done.why()}")
        if loaded:
            if await self.podman.image_exists(name):
                return
            raise ImageError(
                f"Image '{name}' is not in the loaded archive(s) "
                + ", ".join(a.name for a in loaded)
            )
        done = await self.podman.run("pull", "--quiet", name, timeout=PULL_TIMEOUT)
        if done.code != 0:
            raise ImageError(
                f"Image '{name}' is not in the local image store and could not be pulled: "
                f"{done.why()}"
            )

    def _registry_archive(self, name: str) -> Path | None:
        """`--docker_registry` as a local directory: `<repository>:<tag>.tar` (Mesos)."""
        if not self.settings.registry:
            return None
        reference = name.removeprefix("localhost/")
        if ":" not in reference.rsplit("/", 1)[-1]:
            reference += ":latest"
        for candidate in (reference, reference.replace("/", "_")):
            path = Path(self.settings.registry) / f"{candidate}.tar"
            if path.is_file():
                return path
        return None

    # --- recovery -----------------------------------------------------------------

    async def reap_orphans(self, is_known: Callable[[str], bool]) -> list[str]:
        """Remove this agent's containers that no (recovered) executor owns."""
        removed = []
        for name in await self.podman.names(self.work_dir_label):
            container_id = name.removeprefix(self.settings.container_prefix)
            if name.startswith(self.settings.container_prefix) and is_known(container_id):
                continue
            log.info("removing orphaned container %s", name)
            await self.podman.remove(name)
            removed.append(name)
        return removed


class DockerContainerizer(Containerizer):
    """Runs one task's command in its podman container (one per command-executor task)."""

    def __init__(
        self,
        runtime: DockerRuntime,
        base: Containerizer,
        task: TaskInfo,
        info: ContainerInfo,
        *,
        name: str,
        sandbox: Path,
    ) -> None:
        super().__init__(base.isolator)
        self.runtime = runtime
        self.task = task
        self.info = info
        self.name = name
        self.process: DockerProcess | None = None
        self.sandbox = sandbox
        self._entrypoint: str | None = None

    def command_argv(self, command: CommandInfo) -> list[str]:
        """What follows the image in `podman run`, as Mesos' docker containerizer builds it:
        shell → `--entrypoint /bin/sh IMAGE -c value`; otherwise the image's entrypoint
        with `value` (if any) and `arguments`. A MESOS container with an image runs its
        command as a plain task would (`value` is the executable)."""
        if self.info.type is ContainerType.MESOS:
            if command.shell is False and not command.value:
                return list(command.arguments)
            argv = command_argv(command)
            self._entrypoint = argv[0]
            return argv[1:]
        if command.shell is not False:
            if command.value is None:
                raise ValueError("CommandInfo with shell=true needs 'value'")
            self._entrypoint = "/bin/sh"
            return ["-c", command.value]
        return [*([command.value] if command.value else []), *command.arguments]

    def health_check(self, check: HealthCheck) -> HealthCheck:
        """A COMMAND check runs inside the container (`podman exec`), as Mesos' docker
        executor does; HTTP and TCP checks reach the task's ports from the host."""
        command = check.command
        if command is None or check.http is not None or check.tcp is not None:
            return check
        if check.type not in (None, HealthCheckType.COMMAND):
            return check
        variables = command.environment.variables if command.environment else []
        argv = [
            self.runtime.settings.docker,
            "exec",
            f"--workdir={SANDBOX_IN_CONTAINER}",
            *(f"--env={v.name}" for v in variables),  # values: podman's environment
            self.name,
        ]
        if command.shell is False:
            argv += [command.value or "true", *command.arguments[1:]]
        else:
            argv += ["/bin/sh", "-c", command.value or "true"]
        inner = CommandInfo(
            shell=False, value=argv[0], arguments=argv, environment=command.environment
        )
        return check.replace(command=inner)

    def _environment(self, env: dict[str, str]) -> dict[str, str]:
        """The task's own variables (not the agent's inherited ones) for the container."""
        base = self.runtime._base_env
        inner = {k: v for k, v in env.items() if base.get(k) != v}
        inner["MESOS_SANDBOX"] = SANDBOX_IN_CONTAINER
        return inner

    def run_argv(self, args: list[str], env: dict[str, str], sandbox: Path) -> list[str]:
        settings = self.runtime.settings
        image = self.info.image
        assert image is not None
        argv = [
            settings.docker,
            "run",
            f"--name={self.name}",
            "--replace",  # a leftover container of the same name (a relaunch) goes
            f"--label={self.runtime.work_dir_label}",
            f"--label={LABEL_CONTAINER_ID}={self.name.removeprefix(settings.container_prefix)}",
            "--log-driver=passthrough",
            "--pull=never",
            f"--stop-timeout={int(settings.stop_timeout)}",
            f"--volume={sandbox}:{SANDBOX_IN_CONTAINER}:rw",
            f"--workdir={SANDBOX_IN_CONTAINER}",
        ]
        if settings.init:
            argv += ["--init", f"--init-path={settings.init}"]
        argv += [f"--ulimit={u}" for u in settings.ulimits]
        resources = Resources.from_wire(self.task.resources)
        if resources.cpus > 0:
            argv.append(f"--cpus={resources.cpus:g}")
        if resources.mem > 0:
            mem = max(int(resources.mem), 32)  # Mesos' MIN_MEMORY
            argv += [f"--memory={mem}m", f"--memory-swap={mem}m"]
        argv += self._network_args()
        if self.info.hostname:
            argv.append(f"--hostname={self.info.hostname}")
        for v in self.info.volumes:
            argv.append(f"--volume={self._volume(v.host_path, v.container_path, v.mode, sandbox)}")
        docker = self.info.docker
        if docker is not None:
            if docker.privileged:
                argv.append("--privileged")
            argv += [f"--{p.key}={p.value}" for p in docker.parameters]
        # `--env NAME` takes the value from podman's own environment (the task's): values
        # stay out of the argv; only what differs inside the container is spelled out
        for name, value in sorted(self._environment(env).items()):
            argv.append(f"--env={name}" if env.get(name) == value else f"--env={name}={value}")
        if self._entrypoint is not None:
            argv.append(f"--entrypoint={self._entrypoint}")
        return [*argv, image, *args]

    def _network_args(self) -> list[str]:
        docker = self.info.docker
        network = (docker.network if docker else None) or DockerNetwork.HOST
        if network is DockerNetwork.HOST:
            return ["--network=host"]
        if network is DockerNetwork.NONE:
            return ["--network=none"]
        if network is DockerNetwork.USER:
            names = [n.name for n in self.info.network_infos if n.name]
            if not names:
                raise ValueError("a USER network needs 'network_infos[0].name'")
            out = [f"--network={names[0]}"]
        else:
            out = [f"--network={self.runtime.settings.bridge_network}"]
        assert docker is not None
        for m in docker.port_mappings:
            protocol = (m.protocol or "tcp").lower()
            out.append(f"--publish={m.host_port}:{m.container_port}/{protocol}")
        return out

    @staticmethod
    def _volume(host: str | None, container: str, mode: VolumeMode | None, sandbox: Path) -> str:
        # Mesos: a relative container path is inside the sandbox; a relative host path is
        # the sandbox's (created when missing)
        target = container if container.startswith("/") else f"{SANDBOX_IN_CONTAINER}/{container}"
        if host is None:
            source = sandbox / container.lstrip("/")
            source.mkdir(parents=True, exist_ok=True)
        elif host.startswith("/"):
            source = Path(host)
        else:
            source = sandbox / host
            source.mkdir(parents=True, exist_ok=True)
        return f"{source}:{target}:{'ro' if mode is VolumeMode.RO else 'rw'}"

    async def spawn(
        self,
        isolation: IsolationState,
        argv: list[str],
        *,
        env: dict[str, str],
        workdir: Path,
        sandbox: Path,
        status_file: Path,
        user: TaskUser | None = None,
    ) -> ContainerProcess:
        """Have the image, remove a leftover container of the same name, start `podman run`
        under the wrapper (with no isolation prelude: podman applies the limits to the
        container, and the podman client itself must not count against them)."""
        image = self.info.image
        assert image is not None
        uris = self.task.command.uris if self.task.command else []
        archives = [_uri_file(u.value, u.output_file, sandbox) for u in uris]
        await self.runtime.ensure_image(image, force=self.info.force_pull, archives=archives)
        run = self.run_argv(argv, env, sandbox)
        process = self.launch(
            IsolationState(kind="posix"),
            run,
            env=env,
            workdir=workdir,
            sandbox=sandbox,
            status_file=status_file,
        )
        self.process = DockerProcess(process.checkpoint, is_child=True, containerizer=self)
        return self.process

    def recover(self, checkpoint: ProcessCheckpoint) -> ContainerProcess:
        self.process = DockerProcess(checkpoint, is_child=False, containerizer=self)
        return self.process

    def limitation(self, isolation: IsolationState) -> Limitation | None:
        if self.process is not None and self.process.oom_killed:
            return Limitation("mem", "Memory limit exceeded: the container was OOM-killed")
        return None

    def watch_oom(self, isolation: IsolationState) -> int | None:
        return None


@dataclass(frozen=True, slots=True)
class ContainerRunFailed(ExitStatus):
    """`podman run` failed before the container ran (bad parameter, runtime error...)."""

    error: str = ""

    def describe(self) -> str:
        return f"Failed to run the container: {self.error}"


def _podman_error(stderr: Path) -> str | None:
    """podman's own last `Error: ...` line in the sandbox's stderr, if any."""
    try:
        with stderr.open("rb") as f:
            f.seek(max(f.seek(0, os.SEEK_END) - 4096, 0))
            tail = f.read().decode(errors="replace")
    except OSError:
        return None
    errors = [line for line in tail.splitlines() if line.startswith("Error: ")]
    return errors[-1].removeprefix("Error: ")[:800] if errors else None


class DockerProcess(ContainerProcess):
    """`podman run` under the wrapper; signals go to the container itself."""

    def __init__(
        self, checkpoint: ProcessCheckpoint, *, is_child: bool, containerizer: DockerContainerizer
    ) -> None:
        super().__init__(checkpoint, is_child=is_child)
        self.containerizer = containerizer
        self.oom_killed = False
        self._ended: asyncio.Future[ExitStatus] | None = None

    @property
    def name(self) -> str:
        return self.containerizer.name

    def signal(self, sig: int) -> None:
        self.containerizer.runtime.background(self._signal(sig))

    async def _signal(self, sig: int) -> None:
        podman = self.containerizer.runtime.podman
        done = await podman.run("kill", f"--signal={signal.Signals(sig).name}", self.name)
        if done.code != 0:
            # no container (yet, or any more): the podman client is what runs
            super().signal(sig)

    async def wait(self) -> ExitStatus:
        if self._ended is None:
            self._ended = asyncio.get_running_loop().create_future()
            self.containerizer.runtime.background(self._wait(self._ended))
        return await asyncio.shield(self._ended)

    async def _wait(self, done: asyncio.Future[ExitStatus]) -> None:
        try:
            status = await super().wait()
            podman = self.containerizer.runtime.podman
            state: dict[str, Any] = {}
            if not status.success:  # why it failed: OOM, never started, wrapper gone
                state = ((await podman.inspect(self.name)) or {}).get("State") or {}
            if status.code is None and status.signal is None and state.get("Running"):
                # the wrapper vanished while the container runs on: wait for it directly
                waited = await podman.run("wait", self.name, timeout=None)
                with contextlib.suppress(ValueError):
                    status = ExitStatus(code=int(waited.stdout.strip()))
                state = ((await podman.inspect(self.name)) or {}).get("State") or {}
            self.oom_killed = bool(state.get("OOMKilled"))
            never_ran = not state or str(state.get("StartedAt", "")).startswith("0001-")
            if status.code in (125, 126, 127) and never_ran:
                error = _podman_error(self.containerizer.sandbox / "stderr")
                if error is not None:
                    status = ContainerRunFailed(code=status.code, error=error)
        except Exception as e:  # noqa: BLE001 - the task's end must be reported whatever
            log.warning("container %s: %s", self.name, e)
            status = ExitStatus()
        if not done.done():
            done.set_result(status)
        # removed after the status is out: the update need not wait for podman
        await self.containerizer.runtime.podman.remove(self.name)


def docker_settings(
    *,
    docker: str,
    work_dir: str,
    container_prefix: str,
    stop_timeout: float,
    registry: str | None,
    ulimits: str,
    bridge_network: str,
) -> DockerSettings:
    """Checked settings from the agent's flags; raises ValueError naming the flag."""
    binary = shutil.which(docker)
    if binary is None:
        raise ValueError(f"--docker: {docker!r} is not an executable (podman is needed)")
    limits = tuple(u.strip() for u in ulimits.split(",") if u.strip())
    for u in limits:
        name, _, value = u.partition("=")
        if not name.isalpha() or not value:
            raise ValueError(f"--docker_ulimits: {u!r} is not name=soft[:hard]")
    if registry and not Path(registry).is_dir():
        raise ValueError(f"--docker_registry: {registry!r} is not a directory")
    return DockerSettings(
        docker=binary,
        work_dir=str(Path(work_dir).resolve()),
        container_prefix=container_prefix,
        stop_timeout=stop_timeout,
        registry=registry,
        ulimits=limits,
        bridge_network=bridge_network,
        init=find_init(),
    )


def docker_runtime(flags: AgentFlags) -> DockerRuntime | None:
    """The docker containerizer the flags ask for (None: plain tasks only); raises
    ValueError naming the flag."""
    kinds = [k.strip() for k in flags.containerizers.split(",") if k.strip()]
    if not kinds or set(kinds) - {"mesos", "docker"}:
        raise ValueError(f"--containerizers: {flags.containerizers!r} is not 'mesos[,docker]'")
    providers = [p.strip() for p in (flags.image_providers or "").split(",") if p.strip()]
    if set(providers) - {"docker"}:
        raise ValueError(f"--image_providers: only 'docker' is supported, not {providers}")
    if "docker" not in kinds and not providers:
        return None
    settings = docker_settings(
        docker=flags.docker,
        work_dir=flags.work_dir,
        container_prefix=flags.docker_container_prefix,
        stop_timeout=float(flags.docker_stop_timeout),
        registry=flags.docker_registry,
        ulimits=flags.docker_ulimits,
        bridge_network=flags.docker_bridge_network,
    )
    log.info(
        "docker containerizer: %s, containers %s<container id>, init %s, ulimits %s",
        settings.docker,
        settings.container_prefix,
        settings.init or "none",
        ",".join(settings.ulimits) or "podman's",
    )
    return DockerRuntime(
        settings, docker_containers="docker" in kinds, mesos_images=bool(providers)
    )


def unsupported(runtime: DockerRuntime | None, raw: dict | None) -> str | None:
    """Why this agent cannot run a task's container (None: it can)."""
    if raw is None:
        return None
    try:
        info = parse_container(raw)
    except WireError as e:
        return str(e)
    if info.image is None:
        return None
    if info.type is ContainerType.DOCKER:
        if runtime is None or not runtime.docker_containers:
            return (
                "DOCKER containers need the docker containerizer, which this agent does not "
                "run (start it with --containerizers=mesos,docker)"
            )
    elif runtime is None or not runtime.mesos_images:
        return (
            "MESOS containers with an image need the docker image provider, which this agent "
            "does not have (start it with --image_providers=docker)"
        )
    return None
