"""`infinity install|list|update|rollback|history|uninstall`: packages as running services.

An install resolves the options, verifies every artifact (from the mirror the agents fetch
from), renders the service and creates its scheduler's Marathon app; the scheduler then
runs the deploy plan, shown live with `--wait`. Records live in the app's labels.
"""

from __future__ import annotations

import os
import shutil
import sys
import time
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console

from mesos_runtime.sdk.plan import PlanError
from mesos_runtime.sdk.plans import check_change
from mesos_runtime.sdk.spec import SpecError, load_spec
from mesos_runtime.universe.artifacts import ArtifactStore
from mesos_runtime.universe.install import (
    InstallError,
    InstallPlan,
    SchedulerTarget,
    ServiceRecord,
    check_options,
    plan_install,
    plan_revision,
    uninstall_definition,
    verify_artifacts,
)
from mesos_runtime.universe.mirror import MirrorError, build_mirror, verify_mirror
from mesos_runtime.universe.options import load_options_file
from mesos_runtime.universe.package import Package

from .catalog import JsonOption, find, paths, universe_errors
from .endpoints import master_state, resolve_master
from .localcluster import ClusterState, cluster_dir
from .output import CliError, err, fail, out, print_json, table
from .plans import plan_text, watch_plan
from .service_api import MARATHON_ENV, Marathon, SchedulerApi, find_scheduler, marathon_url

__all__ = ["history", "install", "list_services", "rollback", "uninstall", "update"]

OptionsFile = Annotated[Path | None, typer.Option("--options", help="Options file (JSON or YAML).")]
MirrorOption = Annotated[
    str | None,
    typer.Option(
        "--mirror",
        envvar="INFINITY_MIRROR",
        help="Artifact mirror the agents fetch from (an `infinity mirror serve` URL) "
        "[default: a mirror folder of the local cluster].",
    ),
]
YesOption = Annotated[bool, typer.Option("--yes", help="Do not ask for confirmation.")]
WaitOption = Annotated[
    bool, typer.Option("--wait", help="Wait until the plan is COMPLETE, showing its progress.")
]
TimeoutOption = Annotated[float, typer.Option("--timeout", help="Seconds --wait waits.")]


# --- the cluster the service goes to --------------------------------------------------------


def _local() -> ClusterState | None:
    try:
        return ClusterState.load(cluster_dir())
    except ValueError:
        return None


def _master() -> str:
    return resolve_master(os.environ.get("INFINITY_MASTER"))


def _marathon() -> Marathon:
    url = marathon_url()
    if url is None:
        fail(
            "no Marathon to run the service's scheduler: start a local cluster "
            "(`infinity cluster up`) or set INFINITY_MARATHON"
        )
    return Marathon(url)


def _local_mirror(state: ClusterState, package: Package, store: ArtifactStore) -> str:
    """The local cluster's mirror of this package version (built once, verified on every
    install): the agents share this machine's file system, so a file:// mirror serves them."""
    root = Path(state.directory) / "mirror" / f"{package.name}-{package.version}"
    if not root.is_dir():
        build_mirror([package], store, root)
    index = verify_mirror(root)
    entry = index.package(package.name)
    if entry is None or entry.version != package.version:
        raise MirrorError(f"{root}: does not hold {package.name} {package.version}")
    for artifact in package.manifest.artifacts:
        held = next((a for a in entry.artifacts if a.name == artifact.name), None)
        if held is None or held.file.sha512 != store.expected_sha512(package, artifact):
            raise MirrorError(
                f"{root}: artifact {artifact.name} is not the package's; refused "
                f"(remove {root} to rebuild it)"
            )
    return root.as_uri()


def _target(package: Package, mirror: str | None, *, dry_run: bool) -> SchedulerTarget:
    state = _local()
    store = ArtifactStore(paths(), mirror=mirror)
    if mirror is not None:
        verify_artifacts(package, store)
        base = mirror
    elif state is not None and not dry_run:
        base = _local_mirror(state, package, store)
    else:
        verify_artifacts(package, store)
        base = (
            "http://mirror.invalid"
            if state is None
            else ((Path(state.directory) / "mirror" / f"{package.name}-{package.version}").as_uri())
        )
    local = state is not None and not os.environ.get(MARATHON_ENV)
    command = os.environ.get("INFINITY_SCHEDULER_CMD") or (
        f"{sys.executable} -m mesos_runtime.sdk.scheduler" if local else "infinity-scheduler"
    )
    store_root = os.environ.get("INFINITY_SERVICE_STORE") or (
        str(Path(state.directory) / "services")
        if state is not None
        else "/var/lib/infinity/services"
    )
    credential = os.environ.get("INFINITY_SERVICE_CREDENTIAL") or (
        state.services_credential if state is not None else None
    )
    return SchedulerTarget(
        master=_master(),
        mirror=base,
        store_root=store_root,
        command=command,
        credential=credential,
        principal="services" if credential and state is not None else None,
        zookeeper=os.environ.get("INFINITY_ZOOKEEPER"),
    )


def _records(marathon: Marathon) -> dict[str, tuple[ServiceRecord, dict[str, Any]]]:
    found = {}
    for app in marathon.apps():
        record = ServiceRecord.from_labels(dict(app.get("labels") or {}))
        if record is not None:
            found[record.name] = (record, app)
    return found


def _installed(marathon: Marathon, name: str) -> tuple[ServiceRecord, dict[str, Any]]:
    app = marathon.app(name)
    record = ServiceRecord.from_labels(dict(app.get("labels") or {})) if app else None
    if app is None or record is None:
        fail(f"no service named {name!r} is installed (`infinity list` shows them)")
    return record, app


# --- waiting for the scheduler's plan ------------------------------------------------------


UNINSTALL_PHASES = {"kill-tasks", "unreserve-resources", "deregister-service"}
UNINSTALL_TIMEOUT = 300.0  # seconds the uninstall plan is given by default


def _plan_fetcher(name: str, spec: str | None = None, uninstalling: bool = False) -> Any:
    """Fetch the service's deploy plan, from the scheduler that runs `spec` (a restarted
    scheduler serves the new configuration's rollout as its deploy plan; the old one's
    COMPLETE plan must not count), or from the one running the uninstall plan."""
    master = _master()
    known: list[str] = []

    def fetch() -> dict[str, Any] | None:
        try:
            return _fetch()
        except CliError:  # a scheduler restarting, a master briefly away: poll again
            return None

    def _fetch() -> dict[str, Any] | None:
        url = find_scheduler(master, name)
        if url is None and uninstalling and known:
            url = known[-1]  # its framework is torn down: the scheduler still serves the plan
        if url is None:
            return None
        known.append(url)
        api = SchedulerApi(name, url)
        if spec is not None:
            answer = api.call("GET", "/v1/configurations/target")
            target = answer.body.get("spec") if isinstance(answer.body, dict) else answer.body
            if answer.status != 200 or target != spec:
                return None
        answer = api.call("GET", "/v1/plans/deploy")
        plan = answer.body
        if not isinstance(plan, dict) or "status" not in plan:
            return None
        phases = {p.get("name") for p in plan.get("phases", [])}
        if uninstalling != bool(phases & UNINSTALL_PHASES):
            return None
        return plan

    return fetch


def _wait(
    name: str, timeout: float, what: str, spec: str | None = None, uninstalling: bool = False
) -> tuple[bool, dict[str, Any] | None]:
    """Follow the plan until COMPLETE or `timeout`, saying which on stderr: whether it
    completed, and the last plan seen (None when the scheduler never answered)."""
    fetch = _plan_fetcher(name, spec, uninstalling)
    last = watch_plan(fetch, timeout, live=sys.stderr.isatty())
    if last is not None and last.get("status") == "COMPLETE":
        err.print(f"{name}: {what} plan COMPLETE")
        return True, last
    if last is None:
        err.print(f"[red]{name}: its scheduler did not register within {timeout:.0f}s[/]")
    else:
        err.print(plan_text(last), markup=False)
        err.print(f"[red]{name}: {what} plan {last.get('status')} after {timeout:.0f}s[/]")
    return False, last


# --- the commands ------------------------------------------------------------------------


def _given(options_file: Path | None) -> dict[str, Any]:
    with universe_errors():
        return load_options_file(options_file) if options_file else {}


def _show_plan(plan: InstallPlan, json_output: bool) -> None:
    if json_output:
        print_json(
            {
                "service": plan.name,
                "package": plan.package.name,
                "package_version": plan.package.version,
                "revision": plan.record.current.revision,
                "options": plan.options,
                "service_spec": plan.rendered.text,
                "app": plan.app,
            }
        )
        return
    spec = plan.rendered.spec
    pods = ", ".join(f"{p.name} x{p.count}" for p in spec.pods)
    out.print(
        f"{plan.name}: {plan.package.name} {plan.package.version}, revision "
        f"{plan.record.current.revision}; pods {pods}; scheduler app {plan.app['id']}",
        markup=False,
    )


def install(  # noqa: PLR0917 - typer maps each option to a parameter
    package_name: Annotated[str, typer.Argument(metavar="PACKAGE", help="Package to install.")],
    options_file: OptionsFile = None,
    yes: YesOption = False,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Check and render; change nothing.")
    ] = False,
    package_version: Annotated[
        str | None, typer.Option("--package-version", help="A version other than the newest.")
    ] = None,
    name: Annotated[str | None, typer.Option("--name", help="Service name.")] = None,
    wait: WaitOption = False,
    timeout: TimeoutOption = 600.0,
    atomic: Annotated[
        bool,
        typer.Option(
            "--atomic",
            help="Wait (as --wait), and uninstall again if it does not deploy in time: "
            "no app, task, reservation or state is left of a failed install.",
        ),
    ] = False,
    mirror: MirrorOption = None,
    json_output: JsonOption = False,
) -> None:
    """Install a package as a service: its scheduler runs on Marathon and deploys its pods."""
    package = find(package_name, package_version)
    given = _given(options_file)
    with universe_errors():
        service = check_options(package, given, name)
    marathon = None if dry_run else _marathon()
    existing = set(_records(marathon)) if marathon else set()
    if marathon is not None:
        existing |= {a["id"].strip("/") for a in marathon.apps()}
        if service in existing:
            fail(
                f"a service named {service!r} is already installed; choose another with "
                "--name, or `infinity update` it"
            )
    with universe_errors():
        target = _target(package, mirror, dry_run=dry_run)
        plan = plan_install(package, given, target, name=name, existing=existing)
    if dry_run:
        _show_plan(plan, json_output)
        out.print("dry run: nothing installed") if not json_output else None
        return
    notes = package.manifest.pre_install_notes
    if notes and not yes and not json_output:
        err.print(notes, markup=False)
        if not sys.stdin.isatty() or not typer.confirm("Continue installing?", err=True):
            fail("not installed (pass --yes to install without asking)")
    assert marathon is not None
    marathon.create(plan.app)
    if json_output and not wait:
        _show_plan(plan, json_output)
        return
    out.print(f"installing {plan.name} ({package.name} {package.version})", markup=False)
    wait = wait or atomic
    if wait and not _wait(plan.name, timeout, "deploy", plan.app["env"]["SERVICE_SPEC"])[0]:
        if atomic:
            err.print(f"--atomic: uninstalling {plan.name}", markup=False)
            # the uninstall has its own budget: a short deploy timeout must not cut it short
            left = _uninstall(marathon, plan.name, timeout=UNINSTALL_TIMEOUT)
            _report_uninstall(plan.name, left, err)
        fail(f"{plan.name} did not deploy within {timeout:.0f}s")
    if package.manifest.post_install_notes:
        out.print(package.manifest.post_install_notes, markup=False)


def list_services(json_output: JsonOption = False) -> None:
    """The installed services: package, version, revision, scheduler state."""
    marathon = _marathon()
    rows = []
    for name, (record, app) in sorted(_records(marathon).items()):
        rows.append(
            {
                "name": name,
                "package": record.package,
                "package_version": record.package_version,
                "revision": record.current.revision,
                "app": app.get("id"),
                "scheduler_running": int(app.get("tasksRunning", 0) or 0),
            }
        )
    if json_output:
        print_json(rows)
        return
    if not rows:
        out.print("no services installed")
        return
    out.print(
        table(
            None,
            ["NAME", "PACKAGE", "VERSION", "REVISION", "SCHEDULER"],
            [
                (
                    r["name"],
                    r["package"],
                    r["package_version"],
                    r["revision"],
                    "running" if r["scheduler_running"] else "not running",
                )
                for r in rows
            ],
        )
    )


def _check_rollable(plan: InstallPlan, app: dict[str, Any]) -> None:
    """Refuse, before anything changes, a revision the scheduler would refuse to roll out
    (a pod removed or shrunk, its volumes changed): it would exit on every restart, and
    Marathon restart it forever, while the old revision's label said it was rolling out."""
    try:
        current = load_spec(str((app.get("env") or {}).get("SERVICE_SPEC", "")), "current")
    except SpecError:
        return  # not a spec this CLI rendered: the scheduler judges it
    try:
        check_change(current, plan.rendered.spec)
    except PlanError as e:
        fail(
            f"{plan.name}: revision {plan.record.current.revision} cannot be rolled out: {e}; "
            "nothing changed"
        )


def _roll_out(plan: InstallPlan, marathon: Marathon, wait: bool, timeout: float) -> None:
    answer = marathon.update(plan.name, {"env": plan.app["env"], "labels": plan.app["labels"],
                                "fetch": plan.app["fetch"], "cmd": plan.app["cmd"]})  # fmt: skip
    out.print(
        f"{plan.name}: revision {plan.record.current.revision} ({plan.record.current.action}) "
        "rolling out",
        markup=False,
    )
    if not wait:
        return
    marathon.wait_deployment(answer, timeout)
    if not _wait(plan.name, timeout, "deploy", plan.app["env"]["SERVICE_SPEC"])[0]:
        fail(f"{plan.name}: revision {plan.record.current.revision} did not roll out in time")


def update(  # noqa: PLR0917 - typer maps each option to a parameter
    name: Annotated[str, typer.Argument(help="The installed service.")],
    options_file: OptionsFile = None,
    replace: Annotated[
        bool, typer.Option("--replace", help="Replace the stored options instead of merging.")
    ] = False,
    package_version: Annotated[
        str | None, typer.Option("--package-version", help="Move to this package version.")
    ] = None,
    wait: WaitOption = False,
    timeout: TimeoutOption = 600.0,
    mirror: MirrorOption = None,
    json_output: JsonOption = False,
) -> None:
    """Change a service's options (merged with the stored ones): the pods roll one by one."""
    marathon = _marathon()
    record, app = _installed(marathon, name)
    package = find(record.package, package_version or record.package_version)
    given = _given(options_file)
    with universe_errors():
        plan = plan_revision(
            record, package, given, _target(package, mirror, dry_run=False),
            action="update", replace=replace,
        )  # fmt: skip
    _check_rollable(plan, app)
    if json_output:
        _show_plan(plan, True)
    _roll_out(plan, marathon, wait, timeout)


def rollback(
    name: Annotated[str, typer.Argument(help="The installed service.")],
    revision: Annotated[
        int | None, typer.Argument(help="Revision to return to [default: the one before].")
    ] = None,
    wait: WaitOption = False,
    timeout: TimeoutOption = 600.0,
    mirror: MirrorOption = None,
) -> None:
    """Return a service to the options (and package version) of an earlier revision."""
    marathon = _marathon()
    record, app = _installed(marathon, name)
    if revision is None:
        if len(record.revisions) < 2:
            fail(f"{name} has only revision {record.current.revision}: nothing to roll back to")
        revision = record.revisions[-2].revision
    with universe_errors():
        old = record.revision(revision)
        if old.revision == record.current.revision:
            raise InstallError(f"{name} is at revision {revision} already")
    package = find(record.package, old.package_version)
    with universe_errors():
        plan = plan_revision(
            record, package, old.options, _target(package, mirror, dry_run=False),
            action=f"rollback to {revision}", replace=True,
        )  # fmt: skip
    _check_rollable(plan, app)
    _roll_out(plan, marathon, wait, timeout)


def history(
    name: Annotated[str, typer.Argument(help="The installed service.")],
    json_output: JsonOption = False,
) -> None:
    """A service's numbered option revisions."""
    record, _app = _installed(_marathon(), name)
    revisions = [r.to_json() for r in record.revisions]
    if json_output:
        print_json({"service": name, "current": record.current.revision, "revisions": revisions})
        return
    out.print(
        table(
            f"{name} ({record.package})",
            ["REVISION", "PACKAGE VERSION", "ACTION", "WHEN", "OPTIONS"],
            [
                (
                    ("* " if r["revision"] == record.current.revision else "  ")
                    + str(r["revision"]),
                    r["package_version"],
                    r["action"],
                    time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(r["at"])),
                    _compact(r["options"]),
                )
                for r in revisions
            ],
        )
    )


def _compact(options: dict[str, Any], prefix: str = "") -> str:
    parts = []
    for key, value in sorted(options.items()):
        if isinstance(value, dict) and value:
            parts.append(_compact(value, f"{prefix}{key}."))
        else:
            parts.append(f"{prefix}{key}={value}")
    return " ".join(parts) or "(defaults)"


def _not_removed(plan: dict[str, Any] | None) -> list[str]:
    """What the uninstall plan names as not removed (a task or reservation on an agent that
    is not there), or, when it did not complete, what it had not yet removed."""
    if plan is None:
        return []
    left = []
    for phase in plan.get("phases", []):
        kind = {"kill-tasks": "task", "unreserve-resources": "reservation"}.get(phase.get("name"))
        if kind is None:
            continue
        for step in phase.get("steps", []):
            message = str(step.get("message") or "")
            if message.startswith("not removed: "):  # names the reservation and its host
                left.append(message.removeprefix("not removed: "))
            elif message.startswith("not killed: "):
                left.append(f"task {step.get('name')}: {message.removeprefix('not killed: ')}")
            elif step.get("status") != "COMPLETE":
                where = f" on {message}" if kind == "reservation" and message else ""
                left.append(f"{kind} {step.get('name')}{where} (not yet removed)")
    return left


def _leftovers(name: str, store: str | None, seen_plan: bool) -> list[str]:
    """What is still there of the service as the master and the file system show it: its
    framework, its stored state, and (when no uninstall plan was seen to say better) its
    reservations on the registered agents. An agent that is away is in neither: only the
    uninstall plan can name what is left there."""
    doc = master_state(_master())
    role = f"{name}-role"
    left = []
    if store and not store.startswith("zk://") and Path(store).exists():
        held = [p for p in Path(store).rglob("*") if p.is_file() and p.name != ".lock"]
        if held:
            left.append(f"stored state in {store} ({len(held)} files)")
        else:  # the scheduler wiped it: only the empty layout of the file store is left
            shutil.rmtree(store, ignore_errors=True)
    for framework in doc.get("frameworks", []):
        if framework.get("name") == name:
            tasks = len(framework.get("tasks", []))
            left.append(f"framework {framework.get('id')} ({tasks} tasks)")
    if not seen_plan:
        for agent in doc.get("slaves", []):
            reserved = (agent.get("reserved_resources") or {}).get(role)
            if reserved:
                left.append(f"reservation for {role} on {agent.get('hostname')}: {reserved}")
    return left


def _uninstall(marathon: Marathon, name: str, timeout: float) -> list[str]:
    """Run the uninstall plan, delete the app; what could not be removed, by name."""
    app = marathon.app(name)
    if app is None:
        return []
    answer = marathon.update(name, uninstall_definition(app))
    marathon.wait_deployment(answer, timeout)
    complete, last = _wait(name, timeout, "uninstall", uninstalling=True)
    marathon.wait_deployment(marathon.delete(name), 60)
    left = _not_removed(last)
    left += _leftovers(name, (app.get("env") or {}).get("SERVICE_STORE"), last is not None)
    if not complete:
        left.insert(0, f"the uninstall plan did not complete within {timeout:.0f}s")
    return left


def _report_uninstall(name: str, left: list[str], console: Console) -> None:
    if left:
        for item in left:
            err.print(f"could not remove: {item}", markup=False)
    else:
        console.print(f"{name} uninstalled: no tasks, reservations or state left", markup=False)


def uninstall(
    name: Annotated[str, typer.Argument(help="The installed service.")],
    yes: YesOption = False,
    timeout: TimeoutOption = UNINSTALL_TIMEOUT,
) -> None:
    """Remove a service: its scheduler kills its tasks, destroys its volumes, unreserves
    its resources and wipes its state; then its Marathon app is deleted. What it could not
    remove (on an agent that is unreachable) is named."""
    marathon = _marathon()
    _installed(marathon, name)
    if not yes and sys.stdin.isatty() and not typer.confirm(f"Uninstall {name}?", err=True):
        fail("not uninstalled")
    left = _uninstall(marathon, name, timeout)
    _report_uninstall(name, left, out)
    if left:
        fail(f"{name} uninstalled, but {len(left)} thing(s) remain (listed above)")
