"""Two scheduler instances of one service on a ZooKeeper store: one leads (serves its API
and runs the framework), the other waits; when the leader is killed the other is elected,
re-subscribes as the same framework and adopts the running tasks (nothing relaunched)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest

from tests.harness import daemons, zookeeper

from .service import Cluster, Scheduler, spec, start_cluster

pytestmark = [pytest.mark.integration, pytest.mark.zookeeper]

NAME = "twice"


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    c = start_cluster(tmp_path_factory.mktemp("sdk-ha"))
    try:
        yield c
    finally:
        c.stop()


def test_the_standby_instance_takes_over_and_adopts_the_tasks(
    cluster: Cluster, zk_quorum: zookeeper.QuorumHandle
) -> None:
    store = zk_quorum.zk_url(f"/infinity/services/{NAME}-{uuid.uuid4().hex[:6]}")
    first = Scheduler(cluster, NAME, store, spec(NAME)).start()
    second = Scheduler(cluster, NAME, store, spec(NAME)).start(wait=False)
    try:
        first.wait_complete(timeout=60)
        tasks = {n: t["id"] for n, t in first.tasks().items()}
        framework_id = first.get("/v1/state/frameworkId")["frameworkId"]
        assert second.get("/v1/plans") is None  # the standby serves nothing
        first.kill()
        second.wait_serving(timeout=60)  # elected once the leader's session expires
        second.wait_complete(timeout=60)
        daemons.wait_until(
            lambda: all(t["status"] == "TASK_RUNNING" for t in second.tasks().values()),
            30,
            message="tasks reconciled",
        )
        assert {n: t["id"] for n, t in second.tasks().items()} == tasks
        assert second.get("/v1/state/frameworkId")["frameworkId"] == framework_id
        frameworks = [f for f in cluster.state()["frameworks"] if f["name"] == NAME]
        assert len(frameworks) == 1 and frameworks[0]["webui_url"] == second.url
    finally:
        first.kill()
        second.stop()
        fw = next((f for f in cluster.state()["frameworks"] if f["name"] == NAME), None)
        if fw is not None:
            daemons.http_json(
                cluster.master.url + "/api/v1",
                {"type": "TEARDOWN", "teardown": {"framework_id": {"value": fw["id"]}}},
            )
