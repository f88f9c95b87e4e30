"""Carving tasks out of offers: the resources a task takes and a command TaskInfo.

Task resources keep the offer's allocation role (offers carry `allocation_info`), so the
same TaskInfo is valid for MULTI_ROLE frameworks and for single-role ones.
"""

from __future__ import annotations

from collections.abc import Mapping

from mesos_runtime.wire.mesos import (
    CommandInfo,
    Environment,
    Offer,
    TaskID,
    TaskInfo,
    Variable,
    new_id,
)
from mesos_runtime.wire.resources import Resources


def offer_role(offer: Offer) -> str | None:
    """The role an offer was allocated to (None for masters that send no allocation_info)."""
    if offer.allocation_info is not None and offer.allocation_info.role is not None:
        return offer.allocation_info.role
    for resource in offer.resources:
        if resource.allocation_info is not None and resource.allocation_info.role is not None:
            return resource.allocation_info.role
    return None


def task_resources(offer: Offer, **amounts: float) -> Resources:
    """`task_resources(offer, cpus=0.1, mem=32)`: unreserved scalars in the offer's role."""
    wanted = Resources.scalars("*", **amounts)
    role = offer_role(offer)
    return wanted.allocate(role) if role is not None else wanted


def command_task(
    offer: Offer,
    command: str,
    *,
    name: str | None = None,
    task_id: str | None = None,
    cpus: float = 0.1,
    mem: float = 32.0,
    disk: float = 0.0,
    environment: Mapping[str, str] | None = None,
    resources: Resources | None = None,
) -> TaskInfo:
    """A shell command task on the offer's agent (the agent's command executor runs it)."""
    task_id = task_id or f"{name or 'task'}.{new_id()}"
    if resources is None:
        resources = task_resources(offer, cpus=cpus, mem=mem, disk=disk)
    env = None
    if environment:
        env = Environment(variables=[Variable(name=k, value=v) for k, v in environment.items()])
    return TaskInfo(
        name=name or task_id,
        task_id=TaskID(value=task_id),
        agent_id=offer.agent_id,
        resources=resources.to_wire(),
        command=CommandInfo(shell=True, value=command, environment=env),
    )
