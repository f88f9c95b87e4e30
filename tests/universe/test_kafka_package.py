"""The Kafka package for real: its Maven library resolves and matches the lock, and a KRaft
broker (combined mode) started from that library with the package's rendered spec and
server.properties becomes ready and carries a real client's records."""

from __future__ import annotations

import base64
import uuid
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from mesos_runtime.sdk.context import PodInstance
from mesos_runtime.universe.artifacts import ArtifactStore
from mesos_runtime.universe.mirror import artifact_refs
from mesos_runtime.universe.options import resolve
from mesos_runtime.universe.package import Package
from mesos_runtime.universe.render import ServiceIdentity, render_spec
from tests.harness.daemons import free_port, wait_until
from tests.universe.sandbox_launcher import SandboxTask

confluent_kafka = pytest.importorskip("confluent_kafka")
from confluent_kafka.admin import AdminClient, NewTopic  # noqa: E402

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
