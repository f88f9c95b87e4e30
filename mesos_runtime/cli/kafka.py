"""`infinity <kafka service> topic create|list|describe|delete` and `broker list`: Kafka's
own admin tools (TopicCommand, BrokerApiVersionsCommand), run from the package's verified,
locked library against the service's bootstrap servers (its `broker` endpoint).
"""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path
from typing import Annotated, Any

import typer

from mesos_runtime.universe.artifacts import ArtifactStore
from mesos_runtime.universe.install import ServiceRecord
from mesos_runtime.universe.package import Package

from .catalog import JsonOption, find, paths, universe_errors
from .output import fail, out, print_json, table
from .service_api import Marathon, marathon_url

__all__ = ["broker_app", "topic_app"]

topic_app = typer.Typer(help="Kafka topics of the service.", no_args_is_help=True)
broker_app = typer.Typer(help="Kafka brokers of the service.", no_args_is_help=True)

BootstrapOption = Annotated[
    str | None,
    typer.Option(
        "--bootstrap",
        help="Bootstrap servers (host:port,...) [default: the service's broker endpoint].",
    ),
]
_TOOL_JVM = ["-Xmx128m", "-XX:TieredStopAtLevel=1", "-XX:+UseSerialGC"]
_BROKER_LINE = re.compile(
    r"^(?P<address>\S+) \(id: (?P<id>-?\d+) rack: (?P<rack>[^)]*?)"
    r"(?: isFenced: (?P<fenced>\w+))?\) ->"
)


def _service(ctx: typer.Context) -> str:
    name = ctx.find_root().obj
    if not isinstance(name, str):
        fail("usage: infinity <kafka service> topic|broker ...")
    return name


def _package(service: str) -> Package:
    """The Kafka package version the service runs (else the newest one)."""
    url = marathon_url()
    if url:
        app = Marathon(url).app(service)
        record = ServiceRecord.from_labels(dict(app.get("labels") or {})) if app else None
        if record is not None:
            if record.package != "kafka":
                fail(f"{service} runs package {record.package}, not kafka: no topic commands")
            return find(record.package, record.package_version)
    return find("kafka")


def _bootstrap(ctx: typer.Context, given: str | None) -> str:
    if given:
        return given
    from .service import scheduler  # the service's scheduler: its broker endpoint

    addresses = scheduler(ctx).get("/v1/endpoints/broker").get("address") or []
    if not addresses:
        fail(f"{_service(ctx)}: the broker endpoint lists no address yet (is it deployed?)")
    return ",".join(addresses)


def _tool(ctx: typer.Context, klass: str, args: list[str]) -> str:
    package = _package(_service(ctx))
    with universe_errors():
        lib = ArtifactStore(paths()).unpack(package, package.manifest.artifact("lib"))
    java = (
        str(Path(os.environ["JAVA_HOME"]) / "bin" / "java") if "JAVA_HOME" in os.environ else "java"
    )
    command = [java, *_TOOL_JVM, "-cp", f"{lib / 'lib'}/*", klass, *args]
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)
    except (OSError, subprocess.TimeoutExpired) as e:
        fail(f"cannot run Kafka's {klass.rsplit('.', 1)[-1]}: {e}")
    if done.returncode != 0:
        detail = [ln for ln in (done.stderr or done.stdout).splitlines() if ln.strip()]
        message = next((ln for ln in detail if "Error" in ln or "Exception" in ln), None)
        fail(f"kafka: {(message or ' '.join(detail[-3:]) or 'failed').strip()}")
    return done.stdout


_TOPICS = "org.apache.kafka.tools.TopicCommand"


@topic_app.command("create")
def topic_create(  # noqa: PLR0917 - typer maps each option to a parameter
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="Topic name.")],
    partitions: Annotated[int, typer.Option("--partitions", min=1)] = 1,
    replication: Annotated[int, typer.Option("--replication", min=1)] = 3,
    config: Annotated[
        list[str] | None, typer.Option("--config", help="A topic setting, name=value.")
    ] = None,
    bootstrap: BootstrapOption = None,
) -> None:
    """Create a topic."""
    args = ["--bootstrap-server", _bootstrap(ctx, bootstrap), "--create", "--topic", name]
    args += ["--partitions", str(partitions), "--replication-factor", str(replication)]
    for setting in config or []:
        args += ["--config", setting]
    _tool(ctx, _TOPICS, args)
    out.print(f"created topic {name} ({partitions} partitions, {replication} replicas)")


@topic_app.command("list")
def topic_list(
    ctx: typer.Context, bootstrap: BootstrapOption = None, json_output: JsonOption = False
) -> None:
    """The service's topics."""
    text = _tool(ctx, _TOPICS, ["--bootstrap-server", _bootstrap(ctx, bootstrap), "--list"])
    topics = sorted(t for t in text.split() if t)
    if json_output:
        print_json(topics)
        return
    for topic in topics:
        out.print(topic, markup=False)


def _describe(text: str) -> dict[str, Any]:
    """TopicCommand --describe's lines as a record: the topic's settings and partitions."""
    doc: dict[str, Any] = {"partitions": []}
    for line in text.splitlines():
        fields = dict(re.findall(r"(\w+):\s*(\S*)", line))
        if "Partition" in fields:
            doc["partitions"].append(
                {
                    "partition": int(fields["Partition"]),
                    "leader": int(fields["Leader"]) if fields.get("Leader", "").isdigit() else None,
                    "replicas": [int(x) for x in fields.get("Replicas", "").split(",") if x],
                    "isr": [int(x) for x in fields.get("Isr", "").split(",") if x],
                }
            )
        elif "Topic" in fields:
            doc["topic"] = fields["Topic"]
            doc["partition_count"] = int(fields.get("PartitionCount", 0))
            doc["replication_factor"] = int(fields.get("ReplicationFactor", 0))
    return doc


@topic_app.command("describe")
def topic_describe(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="Topic name.")],
    bootstrap: BootstrapOption = None,
    json_output: JsonOption = False,
) -> None:
    """A topic's partitions: leader, replicas, in-sync replicas."""
    args = ["--bootstrap-server", _bootstrap(ctx, bootstrap), "--describe", "--topic", name]
    text = _tool(ctx, _TOPICS, args)
    doc = _describe(text)
    if "topic" not in doc:
        fail(f"kafka: no topic {name!r}")
    if json_output:
        print_json(doc)
        return
    out.print(
        f"{doc['topic']}: {doc['partition_count']} partitions, replication factor "
        f"{doc['replication_factor']}",
        markup=False,
    )
    out.print(
        table(
            None,
            ["PARTITION", "LEADER", "REPLICAS", "ISR"],
            [(p["partition"], p["leader"], p["replicas"], p["isr"]) for p in doc["partitions"]],
        )
    )


@topic_app.command("delete")
def topic_delete(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="Topic name.")],
    bootstrap: BootstrapOption = None,
) -> None:
    """Delete a topic."""
    _tool(
        ctx,
        _TOPICS,
        ["--bootstrap-server", _bootstrap(ctx, bootstrap), "--delete", "--topic", name],
    )
    out.print(f"deleted topic {name}")


@broker_app.command("list")
def broker_list(
    ctx: typer.Context, bootstrap: BootstrapOption = None, json_output: JsonOption = False
) -> None:
    """The brokers in the cluster's metadata: id, address, rack, fenced or not."""
    text = _tool(
        ctx,
        "org.apache.kafka.tools.BrokerApiVersionsCommand",
        ["--bootstrap-server", _bootstrap(ctx, bootstrap)],
    )
    brokers: list[dict[str, Any]] = []
    for line in text.splitlines():
        match = _BROKER_LINE.match(line)
        if match:
            brokers.append(
                {
                    "id": int(match["id"]),
                    "address": match["address"],
                    "rack": None if match["rack"] == "null" else match["rack"],
                    "fenced": match["fenced"] == "true",
                }
            )
    brokers.sort(key=lambda b: b["id"])
    if json_output:
        print_json(brokers)
        return
    out.print(
        table(
            None,
            ["ID", "ADDRESS", "RACK", "FENCED"],
            [(b["id"], b["address"], b["rack"] or "", b["fenced"]) for b in brokers],
        )
    )
