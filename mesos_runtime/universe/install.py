"""Installing a package as a service, as DC/OS' Cosmos did: validate and merge the options,
verify every artifact, render the service spec, and describe the scheduler's Marathon app
(`/<name>`, configured through its environment per the scheduler's contract), with the
installed-service record as the app's labels (`DCOS_PACKAGE_*`, numbered option revisions).

Nothing here talks to Marathon: the CLI hands these records to it. Every refusal is a
ValueError whose message names what is wrong (the option path and rule, the artifact file).
"""

from __future__ import annotations

import base64
import copy
import dataclasses
import json
import re
import time
import uuid
from typing import Any

from .artifacts import ArtifactStore
from .mirror import artifact_refs
from .options import resolve, update_options
from .package import Package
from .render import (
    ClusterInfo,
    RenderedService,
    ServiceIdentity,
    identity_context,
    render_spec,
    service_name,
)

__all__ = [
    "InstallError",
    "InstallPlan",
    "OptionRevision",
    "SchedulerTarget",
    "ServiceRecord",
    "app_definition",
    "check_options",
    "plan_install",
    "plan_revision",
    "uninstall_definition",
]

# Cosmos' labels, so tools that know DC/OS read the record; ours carry the rest
LABEL_NAME = "DCOS_PACKAGE_NAME"
LABEL_VERSION = "DCOS_PACKAGE_VERSION"
LABEL_OPTIONS = "DCOS_PACKAGE_OPTIONS"  # base64 JSON: the user's options (not the defaults)
LABEL_SERVICE = "DCOS_SERVICE_NAME"
LABEL_FRAMEWORK = "DCOS_PACKAGE_FRAMEWORK_NAME"
LABEL_REVISION = "INFINITY_REVISION"
LABEL_HISTORY = "INFINITY_HISTORY"  # base64 JSON: every option revision
LABEL_UID = "INFINITY_SERVICE_UID"  # fixed at install: cluster ids derive from it

_SERVICE_NAME = re.compile(r"^[a-z][a-z0-9-]{0,62}$")
SCHEDULER_CPUS = 0.25
SCHEDULER_MEM = 256


class InstallError(ValueError):
    """An install, update or rollback that cannot go ahead; nothing was changed."""


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class OptionRevision:
    """One numbered revision of a service's options: what the user gave, for which version."""

    revision: int
    package_version: str
    options: dict[str, Any]
    action: str  # "install" | "update" | "rollback to N"
    at: float

    def to_json(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_json(cls, doc: dict[str, Any]) -> OptionRevision:
        return cls(
            revision=int(doc["revision"]),
            package_version=str(doc["package_version"]),
            options=dict(doc.get("options") or {}),
            action=str(doc.get("action", "")),
            at=float(doc.get("at", 0.0)),
        )


def _b64(value: Any) -> str:
    return base64.b64encode(json.dumps(value, sort_keys=True).encode()).decode("ascii")


def _unb64(text: str) -> Any:
    return json.loads(base64.b64decode(text.encode("ascii")))


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class ServiceRecord:
    """An installed service, as its Marathon app's labels keep it."""

    name: str
    package: str
    package_version: str
    uid: str
    revisions: tuple[OptionRevision, ...]

    @property
    def current(self) -> OptionRevision:
        return self.revisions[-1]

    @property
    def options(self) -> dict[str, Any]:
        return self.current.options

    def revision(self, number: int) -> OptionRevision:
        for r in self.revisions:
            if r.revision == number:
                return r
        known = ", ".join(str(r.revision) for r in self.revisions)
        raise InstallError(f"{self.name} has no revision {number} (it has {known})")

    def to_labels(self) -> dict[str, str]:
        return {
            LABEL_NAME: self.package,
            LABEL_VERSION: self.package_version,
            LABEL_OPTIONS: _b64(self.options),
            LABEL_SERVICE: self.name,
            LABEL_FRAMEWORK: self.name,
            LABEL_REVISION: str(self.current.revision),
            LABEL_HISTORY: _b64([r.to_json() for r in self.revisions]),
            LABEL_UID: self.uid,
        }

    @classmethod
    def from_labels(cls, labels: dict[str, str]) -> ServiceRecord | None:
        """The record of an app's labels; None for an app that is no installed service."""
        if LABEL_NAME not in labels or LABEL_SERVICE not in labels:
            return None
        try:
            history = [OptionRevision.from_json(d) for d in _unb64(labels[LABEL_HISTORY])]
        except (KeyError, ValueError, TypeError):
            # installed by something that keeps only Cosmos' labels: one revision
            options = _unb64(labels[LABEL_OPTIONS]) if labels.get(LABEL_OPTIONS) else {}
            history = [
                OptionRevision(
                    revision=1,
                    package_version=labels.get(LABEL_VERSION, ""),
                    options=options,
                    action="install",
                    at=0.0,
                )
            ]
        return cls(
            name=labels[LABEL_SERVICE],
            package=labels[LABEL_NAME],
            package_version=labels.get(LABEL_VERSION, ""),
            uid=labels.get(LABEL_UID) or str(uuid.uuid5(uuid.NAMESPACE_URL, labels[LABEL_SERVICE])),
            revisions=tuple(history),
        )


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class SchedulerTarget:
    """Where and how the scheduler runs: the cluster's facts an install renders with."""

    master: str  # MESOS_MASTER: host:port, zk://..., or a URL
    mirror: str  # the artifact mirror's base URL (http(s):// or file://)
    store_root: str  # zk://host:port/infinity/services or a directory for the file store
    command: str  # runs the scheduler, e.g. `infinity-scheduler`
    credential: str | None = None  # INFINITY_CREDENTIAL for the scheduler
    zookeeper: str | None = None  # host:port,... when the cluster has ZooKeeper
    principal: str | None = None  # SERVICE_PRINCIPAL
    user: str | None = None  # SERVICE_USER
    env: dict[str, str] = dataclasses.field(default_factory=dict)  # anything else the app needs

    def store(self, name: str) -> str:
        return f"{self.store_root.rstrip('/')}/{name}"


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class InstallPlan:
    """Everything an install (or update) will do, worked out before anything is done."""

    record: ServiceRecord
    package: Package
    options: dict[str, Any]  # resolved: defaults + the user's
    rendered: RenderedService
    app: dict[str, Any]  # the scheduler's Marathon app

    @property
    def name(self) -> str:
        return self.record.name


def _named(package: Package, given: dict[str, Any], name: str | None) -> dict[str, Any]:
    """The user's options with `--name` folded in (as the `service.name` option)."""
    given = copy.deepcopy(given)
    if name is None:
        return given
    if not _SERVICE_NAME.match(name):
        raise InstallError(
            f"--name: {name!r} is not a service name (lower-case letters, digits and '-', "
            "starting with a letter, at most 63 characters)"
        )
    service_schema = (package.schema.get("properties") or {}).get("service") or {}
    if "name" not in (service_schema.get("properties") or {}):
        raise InstallError(f"--name: package {package.name} has no service.name option")
    service = given.get("service")
    given["service"] = {**(service if isinstance(service, dict) else {}), "name": name}
    return given


def check_options(package: Package, given: dict[str, Any], name: str | None = None) -> str:
    """The service name the options give, or the option path and rule they break: checked
    before anything slow (artifacts) or anything that changes the cluster."""
    options = resolve(package.schema, _named(package, given, name))
    service = service_name(package, options)
    if not _SERVICE_NAME.match(service):
        raise InstallError(f"service.name: {service!r} is not a service name")
    return service


def verify_artifacts(package: Package, store: ArtifactStore) -> list[str]:
    """Fetch (or find in the cache) and verify every artifact of the package; the files."""
    return [str(store.fetch(package, a)) for a in package.manifest.artifacts]


def plan_install(
    package: Package,
    given: dict[str, Any],
    target: SchedulerTarget,
    *,
    name: str | None = None,
    existing: set[str] = frozenset(),  # type: ignore[assignment]
    now: float | None = None,
) -> InstallPlan:
    """Options resolved and rendered into the service and its scheduler's app, refused with
    the option's path and rule, or when the name is taken (`existing`: installed names)."""
    user = _named(package, given, name)
    options = resolve(package.schema, user)
    service = service_name(package, options)
    if not _SERVICE_NAME.match(service):
        raise InstallError(f"service.name: {service!r} is not a service name")
    if service in existing:
        raise InstallError(
            f"a service named {service!r} is already installed; choose another with "
            f"--name, or `infinity update` it"
        )
    revision = OptionRevision(
        revision=1,
        package_version=package.version,
        options=user,
        action="install",
        at=time.time() if now is None else now,
    )
    record = ServiceRecord(
        name=service,
        package=package.name,
        package_version=package.version,
        uid=str(uuid.uuid4()),
        revisions=(revision,),
    )
    return _plan(record, package, options, target)


def plan_revision(
    record: ServiceRecord,
    package: Package,
    user: dict[str, Any],
    target: SchedulerTarget,
    *,
    action: str,
    replace: bool = True,
    now: float | None = None,
) -> InstallPlan:
    """A new revision of an installed service: `user` (merged onto the stored options
    unless `replace`) validated, rendered with the service's fixed name and uid."""
    user, options = update_options(package.schema, record.options, user, replace=replace)
    if service_name(package, options) != record.name:
        raise InstallError(
            f"service.name: a service cannot be renamed ({record.name!r} stays {record.name!r}; "
            "install another under the new name)"
        )
    revision = OptionRevision(
        revision=record.current.revision + 1,
        package_version=package.version,
        options=user,
        action=action,
        at=time.time() if now is None else now,
    )
    new = dataclasses.replace(
        record,
        package_version=package.version,
        revisions=(*record.revisions, revision),
    )
    return _plan(new, package, options, target)


def _plan(
    record: ServiceRecord, package: Package, options: dict[str, Any], target: SchedulerTarget
) -> InstallPlan:
    if package.name != record.package:
        raise InstallError(f"{record.name} runs package {record.package}, not {package.name}")
    rendered = render_spec(
        package,
        options,
        ServiceIdentity(name=record.name, uid=record.uid),
        artifact_refs(package, target.mirror),
        ClusterInfo(zookeeper=target.zookeeper),
    )
    return InstallPlan(
        record=record,
        package=package,
        options=options,
        rendered=rendered,
        app=app_definition(record, package, rendered, options, target),
    )


def _package_fetch(package: Package, mirror: str) -> list[dict[str, Any]]:
    """The package's definition (its templates above all) from the mirror into the
    scheduler's sandbox under `package/`: the scheduler renders each task's configs."""
    base = mirror.rstrip("/") + f"/packages/{package.name}/"
    return [
        {
            "uri": base + relative.as_posix(),
            "destPath": f"package/{relative.as_posix()}",
            "extract": False,
            "executable": False,
            "cache": False,
        }
        for relative in package.files()
    ]


def app_definition(
    record: ServiceRecord,
    package: Package,
    rendered: RenderedService,
    options: dict[str, Any],
    target: SchedulerTarget,
) -> dict[str, Any]:
    """The scheduler's Marathon app: its configuration in `env`, per the SDK's contract."""
    service = options.get("service") if isinstance(options.get("service"), dict) else {}
    env = {
        "SERVICE_NAME": record.name,
        "SERVICE_SPEC": rendered.text,
        "MESOS_MASTER": target.master,
        "SERVICE_STORE": target.store(record.name),
        "SERVICE_ROLE": f"{record.name}-role",
        # the fetched definition's templates (relative to the sandbox) and the options
        # they render with: the scheduler renders each task's config files at launch
        "SERVICE_TEMPLATES_DIR": "package/templates",
        "SERVICE_OPTIONS": json.dumps(options, sort_keys=True),
        # the rest of what the package's templates render with (as `describe --render`)
        "SERVICE_CONTEXT": json.dumps(
            identity_context(
                package,
                ServiceIdentity(name=record.name, uid=record.uid),
                ClusterInfo(zookeeper=target.zookeeper),
            ),
            sort_keys=True,
        ),
        "SERVICE_UID": record.uid,
        "SERVICE_REVISION": str(record.current.revision),
        **target.env,
    }
    timeout = service.get("permanent_failure_timeout_secs") if service else None
    if isinstance(timeout, int) and timeout > 0:
        env["PERMANENT_FAILURE_TIMEOUT"] = str(timeout)
    if target.credential:
        env["INFINITY_CREDENTIAL"] = target.credential
    if target.principal:
        env["SERVICE_PRINCIPAL"] = target.principal
    if target.user:
        env["SERVICE_USER"] = target.user
    return {
        "id": f"/{record.name}",
        "cmd": target.command,
        "cpus": SCHEDULER_CPUS,
        "mem": SCHEDULER_MEM,
        "instances": 1,
        "env": env,
        "labels": record.to_labels(),
        "fetch": _package_fetch(package, target.mirror),
        "portDefinitions": [{"port": 0, "name": "api", "protocol": "tcp"}],
        # one scheduler at a time: the old one stops before the new one starts
        "upgradeStrategy": {"minimumHealthCapacity": 0, "maximumOverCapacity": 0},
    }


def uninstall_definition(app: dict[str, Any]) -> dict[str, Any]:
    """The app with `SDK_UNINSTALL=true`: the restarted scheduler runs the uninstall plan."""
    env = dict(app.get("env") or {})
    env["SDK_UNINSTALL"] = "true"
    return {"env": env}
