"""Rendering a package: `service.yml.j2` with the service's options into the service spec,
and each task's config templates at launch. Jinja2 in a sandbox with StrictUndefined, so
a template can neither reach outside its context nor use a name that is not there.
"""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import json
import shlex
import types
import uuid
from typing import Any

import jinja2
from jinja2.sandbox import ImmutableSandboxedEnvironment

from mesos_runtime.sdk.context import TaskLaunch, config_context, launches, preview_peers
from mesos_runtime.sdk.spec import Problems, ServiceSpec, SpecError, load_spec

from .package import SPEC_TEMPLATE, Package

__all__ = [
    "ArtifactRef",
    "ClusterInfo",
    "RenderError",
    "RenderedService",
    "Renderer",
    "ServiceIdentity",
    "render_configs",
    "render_preview",
    "render_spec",
    "service_name",
]


class RenderError(Problems):
    """A template that does not render, or renders a spec that is not valid."""


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class ServiceIdentity:
    """Who the service is: its name, and a uid fixed at install (cluster ids derive from it)."""

    name: str
    uid: str


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class ClusterInfo:
    """What the cluster offers a package: its ZooKeeper (`host:port,...`) if it has one."""

    zookeeper: str | None = None


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class ArtifactRef:
    """An artifact as a task fetches it: URI, checksum (`sha512:<hex>`), whether to extract."""

    uri: str
    checksum: str
    file: str
    extract: bool


@dataclasses.dataclass(frozen=True, slots=True)
class RenderedService:
    text: str  # the rendered service.yml
    spec: ServiceSpec


def service_name(package: Package, options: dict[str, Any]) -> str:
    """The service's name: the `service.name` option by convention, else the package's."""
    service = options.get("service")
    name = service.get("name") if isinstance(service, dict) else None
    return name if isinstance(name, str) else package.name


def _b64uuid(value: str) -> str:
    """A UUID in the URL-safe base64 form without padding (Kafka's cluster ids)."""
    raw = uuid.UUID(str(value)).bytes
    return base64.urlsafe_b64encode(raw).decode("ascii").rstrip("=")


def _environment(package: Package) -> ImmutableSandboxedEnvironment:
    sources = {SPEC_TEMPLATE: package.spec_template, **package.templates}

    def load(name: str) -> tuple[str, str, Any] | None:
        text = sources.get(name)
        return None if text is None else (text, name, lambda: True)

    env = ImmutableSandboxedEnvironment(
        loader=jinja2.FunctionLoader(load),
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
        autoescape=False,
    )
    env.filters["b64uuid"] = _b64uuid
    env.filters["shquote"] = lambda v: shlex.quote(str(v))
    env.filters["digest"] = _digest
    env.globals["fail"] = _fail
    return env


def _digest(value: Any) -> str:
    """`{{ options.kafka | digest }}`: a short fingerprint of options the spec does not
    show but config templates do, so a change to them changes the spec (and rolls)."""
    text = json.dumps(value, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _fail(message: str) -> None:
    """`{{ fail("...") }}`: a package refuses options it cannot render."""
    raise jinja2.TemplateRuntimeError(message)


def _template_line(error: BaseException, name: str) -> int | None:
    """The line in template `name` where rendering failed, from the rewritten traceback."""
    line = getattr(error, "lineno", None)
    tb: types.TracebackType | None = error.__traceback__
    while tb is not None:
        if tb.tb_frame.f_code.co_filename == name:
            line = tb.tb_lineno
        tb = tb.tb_next
    return line


def _render(env: ImmutableSandboxedEnvironment, name: str, context: dict[str, Any]) -> str:
    try:
        return env.get_template(name).render(context)
    except jinja2.TemplateError as e:
        where = getattr(e, "name", None) or name
        line = _template_line(e, where)
        at = f"{where} line {line}" if line else where
        raise RenderError([f"{at}: {e.message or type(e).__name__}"]) from None


def _base_context(
    package: Package, options: dict[str, Any], service: ServiceIdentity, cluster: ClusterInfo
) -> dict[str, Any]:
    return {"options": options, **identity_context(package, service, cluster)}


def identity_context(
    package: Package, service: ServiceIdentity, cluster: ClusterInfo
) -> dict[str, Any]:
    """What every template sees besides the options: `service`, `package`, `cluster` (the
    service scheduler gets it as SERVICE_CONTEXT for the tasks' config files)."""
    m = package.manifest
    return {
        "service": {"name": service.name, "uid": service.uid},
        "package": {"name": m.name, "version": m.version, "upstream_version": m.upstream_version},
        "cluster": {"zookeeper": cluster.zookeeper},
    }


class Renderer:
    """One package's templates, compiled once: the scheduler keeps one per package
    version and renders every task's configs with it."""

    def __init__(self, package: Package) -> None:
        self.package = package
        self.env = _environment(package)

    def spec(
        self,
        options: dict[str, Any],
        service: ServiceIdentity,
        artifacts: dict[str, ArtifactRef],
        cluster: ClusterInfo | None = None,
    ) -> RenderedService:
        """Render service.yml.j2 and check the spec it gives (and the templates it names)."""
        package = self.package
        context = _base_context(package, options, service, cluster or ClusterInfo())
        context["artifacts"] = {name: dataclasses.asdict(ref) for name, ref in artifacts.items()}
        text = _render(self.env, SPEC_TEMPLATE, context)
        try:
            spec = load_spec(text, f"{SPEC_TEMPLATE} (rendered)")
        except SpecError as e:
            raise RenderError([f"{SPEC_TEMPLATE} (rendered): {m}" for m in e.errors]) from None
        errors = []
        if spec.name != service.name:
            errors.append(
                f"{SPEC_TEMPLATE} (rendered): name: {spec.name!r} is not the service's name "
                f"{service.name!r}"
            )
        for pod in spec.pods:
            for task in pod.tasks:
                for config in task.configs:
                    if config.template not in package.templates:
                        errors.append(
                            f"{SPEC_TEMPLATE} (rendered): pods.{pod.name}.tasks.{task.name}."
                            f"configs.{config.name}.template: no templates/{config.template} "
                            "in the package"
                        )
        if errors:
            raise RenderError(errors)
        return RenderedService(text=text, spec=spec)

    def configs(
        self,
        options: dict[str, Any],
        service: ServiceIdentity,
        launch: TaskLaunch,
        cluster: ClusterInfo | None = None,
    ) -> dict[str, str]:
        """The task's config files (destination path -> text), rendered for this launch."""
        context = config_context(launch)
        context.update(_base_context(self.package, options, service, cluster or ClusterInfo()))
        return {c.dest: _render(self.env, c.template, context) for c in launch.task.configs}


def render_spec(
    package: Package,
    options: dict[str, Any],
    service: ServiceIdentity,
    artifacts: dict[str, ArtifactRef],
    cluster: ClusterInfo | None = None,
) -> RenderedService:
    """Render service.yml.j2 and check the spec it gives (and the templates it names)."""
    return Renderer(package).spec(options, service, artifacts, cluster)


def render_configs(
    package: Package,
    options: dict[str, Any],
    service: ServiceIdentity,
    launch: TaskLaunch,
    cluster: ClusterInfo | None = None,
) -> dict[str, str]:
    """The task's config files (destination path -> text), rendered for this launch."""
    return Renderer(package).configs(options, service, launch, cluster)


def render_preview(
    package: Package,
    options: dict[str, Any],
    service: ServiceIdentity,
    artifacts: dict[str, ArtifactRef],
    cluster: ClusterInfo | None = None,
) -> tuple[RenderedService, dict[str, dict[str, str]]]:
    """The spec and every task instance's configs, with stand-in hosts and ports."""
    renderer = Renderer(package)
    rendered = renderer.spec(options, service, artifacts, cluster)
    configs = {}
    for launch in launches(rendered.spec, preview_peers(rendered.spec)):
        files = renderer.configs(options, service, launch, cluster)
        if files:
            configs[launch.task_name] = files
    return rendered, configs
