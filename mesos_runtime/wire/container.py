"""`ContainerInfo` (mesos.proto) as typed records, and what a container must satisfy.

`TaskInfo.container` stays opaque JSON on the wire (the master forwards it as given);
the agent's docker containerizer and the master's task validation read it through
`parse_container`, so both refuse the same things with the same message.
"""

from __future__ import annotations

import enum
import re

from .errors import WireError
from .mesos import VolumeMode
from .record import Record, record, repeated, required


class ContainerType(enum.Enum):
    DOCKER = "DOCKER"
    MESOS = "MESOS"


class DockerNetwork(enum.Enum):
    HOST = "HOST"
    BRIDGE = "BRIDGE"
    NONE = "NONE"
    USER = "USER"


class ImageType(enum.Enum):
    APPC = "APPC"
    DOCKER = "DOCKER"


@record
class Parameter(Record):
    key: str = required()
    value: str = required()


@record
class PortMapping(Record):
    host_port: int = required()
    container_port: int = required()
    protocol: str | None = None  # "tcp" (default) or "udp"


@record
class DockerInfo(Record):
    image: str = required()
    network: DockerNetwork | None = None  # default HOST
    port_mappings: list[PortMapping] = repeated()
    privileged: bool | None = None
    parameters: list[Parameter] = repeated()
    force_pull_image: bool | None = None


@record
class DockerImage(Record):
    name: str = required()


@record
class Image(Record):
    type: ImageType = required()
    docker: DockerImage | None = None
    cached: bool | None = None  # default true: false pulls again, as force_pull_image


@record
class MesosInfo(Record):
    image: Image | None = None


@record
class ContainerVolume(Record):
    """`Volume` of a ContainerInfo: a host path bound into the container."""

    container_path: str = required()
    host_path: str | None = None
    mode: VolumeMode | None = None  # default RW


@record
class NetworkInfo(Record):
    name: str | None = None


@record
class ContainerInfo(Record):
    type: ContainerType = required()
    volumes: list[ContainerVolume] = repeated()
    hostname: str | None = None
    docker: DockerInfo | None = None
    mesos: MesosInfo | None = None
    network_infos: list[NetworkInfo] = repeated()

    @property
    def image(self) -> str | None:
        """The Docker image the container runs, if any (DOCKER, or MESOS with an image)."""
        if self.type is ContainerType.DOCKER:
            return self.docker.image if self.docker else None
        image = self.mesos.image if self.mesos else None
        if image is not None and image.docker is not None:
            return image.docker.name
        return None

    @property
    def force_pull(self) -> bool:
        if self.type is ContainerType.DOCKER:
            return bool(self.docker and self.docker.force_pull_image)
        image = self.mesos.image if self.mesos else None
        return image is not None and image.cached is False


# Docker's reference grammar (distribution/reference): [host[:port]/]path[:tag][@digest]
_COMPONENT = r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*"
_LABEL = r"[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?"
_DOMAIN = rf"(?:{_LABEL}(?:\.{_LABEL})*(?::[0-9]+)?/)"
_IMAGE = re.compile(
    rf"^{_DOMAIN}?{_COMPONENT}(?:/{_COMPONENT})*(?::[\w][\w.-]{{0,127}})?(?:@sha256:[a-f0-9]{{64}})?$"
)
MAX_IMAGE = 255
# `docker run --<key>=<value>`: a long option's name, never something that reads as more
_PARAMETER_KEY = re.compile(r"^[a-z][a-z0-9-]*$")
_PROTOCOLS = ("tcp", "udp")


def check_image_name(name: str) -> str | None:
    """Why `name` is not a Docker image reference, or None."""
    if not name:
        return "the image name is empty"
    if len(name) > MAX_IMAGE or not _IMAGE.match(name):
        return (
            f"{name[:80]!r} is not a valid image reference "
            "([registry[:port]/]name[:tag][@sha256:digest], lower-case name)"
        )
    return None


def parse_container(raw: dict) -> ContainerInfo:
    """The typed ContainerInfo, checked; raises WireError naming the bad field."""
    info = ContainerInfo.from_json(raw, "TaskInfo.container")
    where = "TaskInfo.container"
    if info.type is ContainerType.DOCKER:
        if info.docker is None:
            raise WireError(f"'{where}.docker' is required for a DOCKER container")
        error = check_image_name(info.docker.image)
        if error:
            raise WireError(f"'{where}.docker.image': {error}")
        for i, p in enumerate(info.docker.parameters):
            if not _PARAMETER_KEY.match(p.key):
                raise WireError(
                    f"'{where}.docker.parameters[{i}].key': {p.key[:64]!r} is not an option name"
                    " (lower-case letters, digits and '-')"
                )
        for i, m in enumerate(info.docker.port_mappings):
            at = f"{where}.docker.port_mappings[{i}]"
            for name, port in (("host_port", m.host_port), ("container_port", m.container_port)):
                if not 0 < port < 65536:
                    raise WireError(f"'{at}.{name}' must be within 1-65535, not {port}")
            if m.protocol is not None and m.protocol.lower() not in _PROTOCOLS:
                raise WireError(f"'{at}.protocol' must be tcp or udp, not {m.protocol[:16]!r}")
        network = info.docker.network or DockerNetwork.HOST
        if info.docker.port_mappings and network not in (DockerNetwork.BRIDGE, DockerNetwork.USER):
            raise WireError(
                f"'{where}.docker.port_mappings' need network BRIDGE or USER, not {network.value}"
            )
    elif info.mesos is not None and info.mesos.image is not None:
        image = info.mesos.image
        if image.type is not ImageType.DOCKER or image.docker is None:
            raise WireError(f"'{where}.mesos.image': only DOCKER images are supported")
        error = check_image_name(image.docker.name)
        if error:
            raise WireError(f"'{where}.mesos.image.docker.name': {error}")
    for i, v in enumerate(info.volumes):
        at = f"{where}.volumes[{i}]"
        if not v.container_path or "\0" in v.container_path or ":" in v.container_path:
            raise WireError(f"'{at}.container_path' must be a path without ':'")
        if v.host_path is not None and ("\0" in v.host_path or ":" in v.host_path):
            raise WireError(f"'{at}.host_path' must be a path without ':'")
    return info


def validate_container(
    raw: dict | None, *, in_group: bool = False, has_executor: bool = False
) -> str | None:
    """The master's check of a TaskInfo's container (None: acceptable). Images run only
    for tasks of the built-in command executor (agent/docker.py)."""
    if raw is None:
        return None
    try:
        info = parse_container(raw)
    except WireError as e:
        return str(e)
    if info.type is ContainerType.DOCKER and in_group:
        return "Docker ContainerInfo is not supported on a task in a task group"
    if info.image is not None and (in_group or has_executor):
        return (
            "'TaskInfo.container' with an image is supported for command tasks only "
            "(not in a task group or with a custom executor)"
        )
    return None


def runs_image(raw: dict | None) -> bool:
    """True when the container runs a Docker image (the docker containerizer's work)."""
    if raw is None:
        return False
    try:
        return parse_container(raw).image is not None
    except WireError:
        return False
