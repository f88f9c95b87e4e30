"""The scheduler run as DC/OS runs it: a Marathon app (its API on the app's port) that
deploys its pods; with `SDK_UNINSTALL=true` in the app's env Marathon restarts it as the
uninstaller, which leaves nothing behind."""

from __future__ import annotations

import json
import sys
import urllib.error
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest

from tests.harness import daemons
from tests.marathon.conftest import Marathon, marathon

from .service import TEMPLATE, Cluster, spec, start_cluster

pytestmark = pytest.mark.integration

NAME = "fromapp"
ROLE = f"{NAME}-role"


@pytest.fixture(scope="module")
def marathon_on_cluster(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[Cluster, Marathon]]:
    root = tmp_path_factory.mktemp("sdk-marathon")
    c = start_cluster(root)
    process = marathon(root / "marathon", c.master.address)
    try:
        with daemons.running(process):
            yield c, Marathon(process, c.master)
    finally:
        c.stop()


def app(c: Cluster, **env: str) -> dict[str, Any]:
    templates = c.root / "templates"
    templates.mkdir(exist_ok=True)
    (templates / "index.html.j2").write_text(TEMPLATE)
    return {
        "id": f"/{NAME}",
        "cmd": f"exec {sys.executable} -m mesos_runtime.sdk.scheduler",
        "cpus": 0.2,
        "mem": 256,
        "instances": 1,
        "portDefinitions": [{"port": 0, "name": "api"}],
        "env": {
            "SERVICE_NAME": NAME,
            "SERVICE_SPEC": spec(NAME),
            "MESOS_MASTER": c.master.address,
            "SERVICE_STORE": str(c.root / "store"),
            "SERVICE_TEMPLATES_DIR": str(templates),
            "PYTHONUNBUFFERED": "1",
            **env,
        },
        "upgradeStrategy": {"minimumHealthCapacity": 0, "maximumOverCapacity": 0},
    }


def scheduler_api(m: Marathon) -> str:
    task = m.wait_running(f"/{NAME}", 1)[0]
    return f"http://127.0.0.1:{task['ports'][0]}"


def plan(url: str) -> dict[str, Any] | None:
    """The deploy plan (200 COMPLETE, 202 in progress), None while the API is not up."""
    try:
        with urllib.request.urlopen(url + "/v1/plans/deploy", timeout=5) as r:
            return json.loads(r.read())
    except urllib.error.HTTPError as e:
        return json.loads(e.read())
    except OSError:
        return None


def test_marathon_runs_the_scheduler_which_deploys_then_uninstalls_its_service(
    marathon_on_cluster: tuple[Cluster, Marathon],
) -> None:
    c, m = marathon_on_cluster
    created = m("POST", "/v2/apps", app(c))
    assert created.status == 201, created.body
    url = scheduler_api(m)
    daemons.wait_until(
        lambda: (p := plan(url)) is not None and p["status"] == "COMPLETE",
        90,
        interval=0.3,
        message="the deploy plan COMPLETE",
    )
    frameworks = {f["name"]: f for f in c.state()["frameworks"]}
    service = frameworks[NAME]
    assert service["webui_url"].endswith(url.rsplit(":", 1)[1])
    assert sorted(t["name"] for t in service["tasks"]) == ["web-0-server", "web-1-server"]
    hosts = {t["slave_id"] for t in service["tasks"]}
    assert len(hosts) == 2

    # the DC/OS uninstall: the app's env gets SDK_UNINSTALL, Marathon restarts the scheduler
    updated = m("PUT", f"/v2/apps/{NAME}?force=true", app(c, SDK_UNINSTALL="true"))
    assert updated.status in (200, 201), updated.body
    daemons.wait_until(
        lambda: NAME not in {f["name"] for f in c.state()["frameworks"]},
        90,
        interval=0.3,
        message="the service's framework torn down",
    )
    url = scheduler_api(m)
    daemons.wait_until(
        lambda: (p := plan(url)) is not None and p["status"] == "COMPLETE",
        60,
        message="the uninstall plan COMPLETE",
    )
    for agent in c.state()["slaves"]:
        assert ROLE not in agent["reserved_resources"]
    m.remove(f"/{NAME}")
