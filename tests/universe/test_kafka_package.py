"""The Kafka package for real: its Maven library resolves and matches the lock; a KRaft
broker (combined mode), and a dedicated controller with a broker, started from that
library with the package's rendered spec and server.properties become ready and carry a
real client's records; its plans start the quorum together and roll updates one by one."""

from __future__ import annotations

import base64
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import confluent_kafka
import pytest
from confluent_kafka.admin import AdminClient, NewTopic

from mesos_runtime.sdk.context import PodInstance
from mesos_runtime.sdk.plan import Status
from mesos_runtime.sdk.plans import build_plan
from mesos_runtime.sdk.spec import Strategy
from mesos_runtime.universe.artifacts import ArtifactStore
from mesos_runtime.universe.mirror import artifact_refs
from mesos_runtime.universe.options import merge, resolve
from mesos_runtime.universe.package import Package
from mesos_runtime.universe.render import ServiceIdentity, render_spec
from tests.harness.daemons import free_port, wait_until
from tests.universe.sandbox_launcher import SandboxTask

# small-footprint options for 2 cores: one combined broker+controller, few threads
TEST_OPTIONS = {
    "brokers": {
        "count": 1,
        "heap_mb": 192,
        "num_network_threads": 1,
        "num_io_threads": 2,
        "background_threads": 1,
        "jvm_opts": "-XX:+UseSerialGC -XX:TieredStopAtLevel=1 -XX:+ExitOnOutOfMemoryError",
    },
    "controllers": {"count": 1},
    "kafka": {"num_partitions": 2, "group_initial_rebalance_delay_ms": 0},
}


@dataclass
class Broker:
    task: SandboxTask
    instance: PodInstance
    service: ServiceIdentity
    ready_before_start: bool

    @property
    def bootstrap(self) -> str:
        return self.instance.address("broker")


@pytest.fixture(scope="module")
def broker(
    kafka_package: Package, store: ArtifactStore, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Broker]:
    lib = store.unpack(kafka_package, kafka_package.manifest.artifact("lib"))
    options = resolve(kafka_package.schema, TEST_OPTIONS)
    service = ServiceIdentity(name="kafka", uid=str(uuid.uuid4()))
    spec = render_spec(kafka_package, options, service, artifact_refs(kafka_package)).spec
    instance = PodInstance(
        pod="kafka",
        index=0,
        hostname="127.0.0.1",
        ports={"broker": free_port(), "controller": free_port()},
    )
    sandbox = tmp_path_factory.mktemp("kafka-0-broker")
    task = SandboxTask.of(spec, instance, "broker", {"kafka": [instance]}, sandbox)
    task.prepare(kafka_package, options, service, [lib])
    ready_before = task.ready()
    task.start()
    try:
        task.wait_ready(120)
        yield Broker(task, instance, service, ready_before)
    finally:
        task.stop()


def test_the_kafka_library_resolved_by_maven_matches_every_locked_file(
    kafka_package: Package, store: ArtifactStore
) -> None:
    artifact = kafka_package.manifest.artifact("lib")
    checked = store.check_source(kafka_package, artifact)
    locked = store.locked(kafka_package, artifact)
    assert checked == len(locked.files) > 50
    jars = {p.name for p in (store.unpack(kafka_package, artifact) / "lib").iterdir()}
    assert jars == {f.name for f in locked.files}
    assert {"kafka_2.13-4.1.1.jar", "kafka-clients-4.1.1.jar", "kafka-tools-4.1.1.jar"} <= jars


def test_the_broker_becomes_ready_once_registered_in_the_metadata_quorum(broker: Broker) -> None:
    assert broker.ready_before_start is False  # the readiness check can fail
    assert broker.task.ready() is True
    properties = (broker.task.sandbox / "server.properties").read_text().splitlines()
    port = broker.instance.ports["broker"]
    assert f"advertised.listeners=PLAINTEXT://127.0.0.1:{port}" in properties
    assert "process.roles=broker,controller" in properties
    assert "offsets.topic.replication.factor=1" in properties  # capped at brokers.count


def test_the_log_lives_on_the_volume_with_a_stable_node_id_and_the_service_cluster_id(
    broker: Broker,
) -> None:
    meta = dict(
        line.split("=", 1)
        for line in (broker.task.sandbox / "kafka-data" / "meta.properties")
        .read_text()
        .splitlines()
        if "=" in line and not line.startswith("#")
    )
    assert meta["node.id"] == "0"
    assert uuid.UUID(bytes=_b64decode(meta["cluster.id"])) == uuid.UUID(broker.service.uid)


def _b64decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def test_a_real_client_produces_and_consumes_through_the_broker(broker: Broker) -> None:
    admin = AdminClient({"bootstrap.servers": broker.bootstrap})
    futures = admin.create_topics([NewTopic("orders", num_partitions=2, replication_factor=1)])
    futures["orders"].result(timeout=60)
    producer = confluent_kafka.Producer({"bootstrap.servers": broker.bootstrap, "acks": "all"})
    sent = {f"order-{i}" for i in range(200)}
    for value in sorted(sent):
        producer.produce("orders", key=value[-1:].encode(), value=value.encode())
    assert producer.flush(60) == 0
    consumer = confluent_kafka.Consumer(
        {
            "bootstrap.servers": broker.bootstrap,
            "group.id": "test-readers",
            "auto.offset.reset": "earliest",
        }
    )
    consumer.subscribe(["orders"])
    received: set[str] = set()

    def all_received() -> bool:
        message = consumer.poll(1.0)
        if message is not None and message.error() is None:
            received.add(message.value().decode())
        return received == sent

    try:
        wait_until(all_received, 90, interval=0, message="all 200 records consumed")
        consumer.commit(asynchronous=False)
    finally:
        consumer.close()
    assert received == sent


def test_data_written_before_a_broker_restart_is_read_after_it(broker: Broker) -> None:
    producer = confluent_kafka.Producer({"bootstrap.servers": broker.bootstrap})
    producer.produce("durable", value=b"kept")
    assert producer.flush(60) == 0
    broker.task.stop()
    broker.task.start()
    broker.task.wait_ready(120)
    consumer = confluent_kafka.Consumer(
        {
            "bootstrap.servers": broker.bootstrap,
            "group.id": "after",
            "auto.offset.reset": "earliest",
        }
    )
    consumer.subscribe(["durable"])

    def record() -> bytes | None:
        message = consumer.poll(1.0)
        return message.value() if message is not None and message.error() is None else None

    try:
        value = wait_until(record, 90, interval=0, message="the record written before the restart")
    finally:
        consumer.close()
    assert value == b"kept"


def _one_record(bootstrap: str, topic: str, value: bytes) -> bytes | None:
    """Produce `value` to `topic`, then read the topic's first record back."""
    producer = confluent_kafka.Producer({"bootstrap.servers": bootstrap, "acks": "all"})
    producer.produce(topic, value=value)
    assert producer.flush(60) == 0
    consumer = confluent_kafka.Consumer(
        {"bootstrap.servers": bootstrap, "group.id": "one", "auto.offset.reset": "earliest"}
    )
    consumer.subscribe([topic])

    def record() -> bytes | None:
        message = consumer.poll(1.0)
        return message.value() if message is not None and message.error() is None else None

    try:
        return wait_until(record, 90, interval=0, message=f"a record on {topic}")
    finally:
        consumer.close()


def test_a_dedicated_controller_and_a_broker_form_a_cluster(
    kafka_package: Package, store: ArtifactStore, tmp_path: Path
) -> None:
    lib = store.unpack(kafka_package, kafka_package.manifest.artifact("lib"))
    options = resolve(
        kafka_package.schema,
        merge(TEST_OPTIONS, {"controllers": {"mode": "dedicated", "count": 1, "heap_mb": 128}}),
    )
    service = ServiceIdentity(name="kafka", uid=str(uuid.uuid4()))
    spec = render_spec(kafka_package, options, service, artifact_refs(kafka_package)).spec
    controller = PodInstance(
        pod="controller", index=0, hostname="127.0.0.1", ports={"controller": free_port()}
    )
    broker = PodInstance(pod="kafka", index=0, hostname="127.0.0.1", ports={"broker": free_port()})
    peers = {"controller": [controller], "kafka": [broker]}
    node = SandboxTask.of(spec, controller, "node", peers, tmp_path / "controller-0-node")
    broker_task = SandboxTask.of(spec, broker, "broker", peers, tmp_path / "kafka-0-broker")
    tasks = [t.prepare(kafka_package, options, service, [lib]) for t in (node, broker_task)]
    try:
        for task in tasks:  # the deploy plan's order: controllers, then brokers
            task.start().wait_ready(120)
        properties = (node.sandbox / "server.properties").read_text().splitlines()
        assert "process.roles=controller" in properties and "node.id=1000" in properties
        assert _one_record(broker.address("broker"), "dedicated", b"via the controller") == (
            b"via the controller"
        )
    finally:
        for task in reversed(tasks):
            task.stop()


def test_the_deploy_plan_starts_the_quorum_together_and_updates_roll_one_broker_at_a_time(
    kafka_package: Package,
) -> None:
    options = resolve(kafka_package.schema)  # 3 brokers, combined controllers
    service = ServiceIdentity(name="kafka", uid=str(uuid.uuid4()))
    spec = render_spec(kafka_package, options, service, artifact_refs(kafka_package)).spec
    deploy, update = build_plan(spec, "deploy"), build_plan(spec, "update")
    assert [s.name for s in deploy.candidates()] == [f"kafka-{i}:[broker]" for i in range(3)]
    (phase,) = update.phases
    assert phase.strategy is Strategy.SERIAL
    first = update.candidates()
    assert [s.name for s in first] == ["kafka-0:[broker]"]
    first[0].prepare()
    first[0].launch()
    first[0].running()  # restarted, not yet ready: the next broker waits
    assert update.candidates() == first
    first[0].complete()
    assert [s.name for s in update.candidates()] == ["kafka-1:[broker]"]
    assert update.status is Status.IN_PROGRESS
    assert spec.pod("kafka").placement[0].to_marathon() == ["hostname", "UNIQUE"]
