"""Apps through Marathon's REST API against real master, agents and Marathon processes:
create, scale, update, restart, kill, delete, versions, groups, and bad input refused with
Marathon's error shapes while nothing changes."""

from __future__ import annotations

import pytest

from tests.harness import daemons

from .conftest import Marathon

pytestmark = pytest.mark.integration


def app(app_id: str, instances: int = 1, cmd: str = "sleep 1000", **extra: object) -> dict:
    return {"id": app_id, "cmd": cmd, "cpus": 0.05, "mem": 16, "instances": instances, **extra}


def test_an_app_is_created_scaled_updated_restarted_and_deleted(marathon_api: Marathon) -> None:
    m = marathon_api
    created = m("POST", "/v2/apps", app("/life/web", 2, env={"GREETING": "hi"}))
    assert created.status == 201, created
    assert created.headers["Location"] == "/v2/apps/life/web"
    assert created.body["id"] == "/life/web" and created.body["instances"] == 2
    first = m.wait_running("/life/web", 2)
    assert {t["host"] for t in first} <= {"127.0.0.1", "127.0.0.2"}
    assert all(len(t["ports"]) == 1 and 31000 <= t["ports"][0] <= 31999 for t in first)
    service_port = m.app("/life/web")["portDefinitions"][0]["port"]
    assert 10000 <= service_port < 20000

    scaled = m("PUT", "/v2/apps/life/web", {"instances": 4})
    assert scaled.status == 200 and scaled.body["deploymentId"]
    after_scale = m.wait_running("/life/web", 4)
    # scaling keeps the running instances and the config version
    assert {t["id"] for t in first} <= {t["id"] for t in after_scale}
    assert m.app("/life/web")["portDefinitions"][0]["port"] == service_port

    down = m("PUT", "/v2/apps/life/web", {"instances": 1})
    assert down.status == 200
    m.wait_running("/life/web", 1)

    changed = m("PUT", "/v2/apps/life/web", {"cmd": "sleep 999"})
    assert changed.status == 200
    updated = m.wait_running("/life/web", 1)
    assert updated[0]["id"] not in {t["id"] for t in after_scale}
    definition = m.app("/life/web")
    assert definition["cmd"] == "sleep 999" and definition["env"] == {"GREETING": "hi"}
    info = definition["versionInfo"]
    assert info["lastConfigChangeAt"] == definition["version"]

    restarted = m("POST", "/v2/apps/life/web/restart")
    assert restarted.status == 200
    again = m.wait_running("/life/web", 1)
    assert again[0]["id"] != updated[0]["id"]

    versions = m("GET", "/v2/apps/life/web/versions").body["versions"]
    assert len(versions) >= 5 and versions == sorted(versions, reverse=True)
    oldest = m("GET", f"/v2/apps/life/web/versions/{versions[-1]}").body
    assert oldest["instances"] == 2 and oldest["cmd"] == "sleep 1000"

    deleted = m("DELETE", "/v2/apps/life/web")
    assert deleted.status == 200 and deleted.body["deploymentId"]
    assert m("GET", "/v2/apps/life/web").status == 404
    daemons.wait_until(
        lambda: not m("GET", "/v2/tasks").body["tasks"], 30, message="the app's tasks killed"
    )


def test_a_task_killed_through_the_api_is_replaced_unless_scaled_down(
    marathon_api: Marathon,
) -> None:
    m = marathon_api
    assert m("POST", "/v2/apps", app("/killing", 3)).status == 201
    tasks = m.wait_running("/killing", 3)
    killed = m("DELETE", f"/v2/apps/killing/tasks/{tasks[0]['id']}")
    assert killed.status == 200 and killed.body["task"]["id"] == tasks[0]["id"]
    replaced = daemons.wait_until(
        lambda: (
            (r := m.running("/killing", 3)) and tasks[0]["id"] not in {t["id"] for t in r} and r
        ),
        60,
        message="a replacement",
    )
    scaled = m("POST", "/v2/tasks/delete?scale=true", {"ids": [replaced[0]["id"]]})
    assert scaled.status == 200 and scaled.body["deploymentId"]
    left = m.wait_running("/killing", 2)
    assert replaced[0]["id"] not in {t["id"] for t in left}
    assert m.app("/killing")["instances"] == 2
    assert m("POST", "/v2/tasks/delete", {"ids": ["not a task id"]}).status == 400
    m.remove("/killing")


def test_listing_filters_by_cmd_id_and_label_and_embeds_tasks(marathon_api: Marathon) -> None:
    m = marathon_api
    m("POST", "/v2/apps", app("/list/a", 0, labels={"env": "prod", "tier": "web"}))
    m("POST", "/v2/apps", app("/list/b", 0, cmd="sleep 77", labels={"env": "dev"}))
    ids = lambda q: [a["id"] for a in m("GET", "/v2/apps" + q).body["apps"]]  # noqa: E731
    assert ids("?id=/list/") == ["/list/a", "/list/b"]
    assert ids("?cmd=sleep%2077") == ["/list/b"]
    assert ids("?label=env==prod") == ["/list/a"]
    assert ids("?label=env%20in%20(dev,qa)") == ["/list/b"]
    assert ids("?label=tier") == ["/list/a"]
    assert m("GET", "/v2/apps?label=env==(").status == 400
    listed = m("GET", "/v2/apps?id=/list/a&embed=apps.tasks").body["apps"][0]
    assert listed["tasks"] == [] and "tasksRunning" in listed
    group = m("GET", "/v2/groups/list").body
    assert group["id"] == "/list" and [a["id"] for a in group["apps"]] == ["/list/a", "/list/b"]
    root = m("GET", "/v2/groups").body
    assert "/list" in [g["id"] for g in root["groups"]]
    daemons.wait_until(lambda: m.deployed("/list/a") and m.deployed("/list/b"), 30)
    assert m("DELETE", "/v2/groups/list").status == 200
    daemons.wait_until(lambda: m("GET", "/v2/apps/list/a").status == 404, 30)


@pytest.mark.parametrize(
    ("body", "status", "path", "words"),
    [
        ({"id": "/bad", "cmd": "x", "cpus": -1}, 422, "/cpus", "expected 0.001 or more"),
        ({"id": "/bad", "cmd": "x", "instances": "two"}, 400, "/instances", "jsnumber"),
        ({"id": "/Bad_Id", "cmd": "x"}, 422, "/id", "must fully match"),
        ({"id": "/bad"}, 422, "/", "'cmd' or 'args'"),
        (
            {"id": "/bad", "cmd": "x", "upgradeStrategy": {"minimumHealthCapacity": 2}},
            422,
            "/upgradeStrategy/minimumHealthCapacity",
            "expected 1 or less",
        ),
        (
            {"id": "/bad", "cmd": "x", "constraints": [["hostname", "SOMETIMES"]]},
            422,
            "/constraints(0)",
            "unknown operator",
        ),
        (
            {"id": "/bad", "cmd": "x", "healthChecks": [{"protocol": "HTTP", "portIndex": 3}]},
            422,
            "/healthChecks(0)/portIndex",
            "port(s)",
        ),
        (
            {"id": "/bad", "cmd": "x", "container": {"type": "DOCKER", "docker": {}}},
            422,
            "/container/docker/image",
            "must not be empty",
        ),
    ],
)
def test_an_invalid_app_is_refused_naming_the_field_and_nothing_is_created(
    marathon_api: Marathon, body: dict, status: int, path: str, words: str
) -> None:
    answer = marathon_api("POST", "/v2/apps", body)
    assert answer.status == status, answer
    details = {d["path"]: d["errors"] for d in answer.body["details"]}
    assert path in details, answer.body
    assert any(words in e for e in details[path]), details
    assert answer.body["message"] in ("Object is not valid", "Invalid JSON")
    assert marathon_api("GET", "/v2/apps/bad").status == 404


def test_malformed_bodies_unknown_apps_and_existing_ids_get_their_status(
    marathon_api: Marathon,
) -> None:
    m = marathon_api
    assert m("POST", "/v2/apps", b"{not json").status == 400
    missing = m("GET", "/v2/apps/no/such/app")
    assert missing.status == 404 and missing.body == {
        "message": "App '/no/such/app' does not exist"
    }
    assert m("DELETE", "/v2/apps/no/such/app").status == 404
    assert m("POST", "/v2/apps/no/such/app/restart").status == 404
    assert m("PATCH", "/v2/apps/no/such/app", {"instances": 1}).status == 404
    assert m("GET", "/v2/apps/no/such/app/tasks").status == 404
    assert m("DELETE", "/v2/deployments/nope").status == 404
    assert m("POST", "/v2/apps", app("/dup", 0)).status == 201
    again = m("POST", "/v2/apps", app("/dup", 0))
    assert again.status == 409 and again.body["message"] == "An app with id [/dup] already exists."
    assert m("PUT", "/v2/apps/dup?force=maybe", {"instances": 0}).status == 400
    m.remove("/dup")


def test_a_second_deployment_on_a_locked_app_is_refused_unless_forced(
    marathon_api: Marathon,
) -> None:
    m = marathon_api
    # a health check that never passes keeps the deployment going
    never_healthy = {
        "protocol": "COMMAND",
        "command": {"value": "false"},
        "gracePeriodSeconds": 600,
        "intervalSeconds": 5,
        "timeoutSeconds": 2,
        "maxConsecutiveFailures": 0,
    }
    assert m("POST", "/v2/apps", app("/locked", 1, healthChecks=[never_healthy])).status == 201
    deployments = m("GET", "/v2/deployments").body
    (deployment,) = [d for d in deployments if "/locked" in d["affectedApps"]]
    assert [s["actions"][0]["action"] for s in deployment["steps"]] == [
        "StartApplication",
        "ScaleApplication",
    ]
    refused = m("PUT", "/v2/apps/locked", {"instances": 2})
    assert refused.status == 409
    assert refused.body["deployments"] == [{"id": deployment["id"]}]
    assert "locked" in refused.body["message"]
    assert m.app("/locked")["instances"] == 1
    forced = m("PUT", "/v2/apps/locked?force=true", {"instances": 2})
    assert forced.status == 200
    ids = [d["id"] for d in m("GET", "/v2/deployments").body if "/locked" in d["affectedApps"]]
    assert ids == [forced.body["deploymentId"]]
    assert m.app("/locked")["instances"] == 2

    # DELETE of a deployment rolls it back to what was before it
    rollback = m("DELETE", f"/v2/deployments/{forced.body['deploymentId']}")
    assert rollback.status == 200 and rollback.body["deploymentId"]
    assert m.app("/locked")["instances"] == 1
    # force=true cancels without a rollback
    cancelled = m("DELETE", f"/v2/deployments/{rollback.body['deploymentId']}?force=true")
    assert cancelled.status == 202
    assert not [d for d in m("GET", "/v2/deployments").body if "/locked" in d["affectedApps"]]
    m.remove("/locked")
