"""What Marathon does on its own, with real processes: replace instances that fail their
health checks or exit (with backoff), roll out new versions within the upgrade strategy and
readiness checks, honour constraints, and tell the event stream."""

from __future__ import annotations

import time

import pytest

from tests.harness import daemons

from .conftest import EventStream, Marathon

pytestmark = pytest.mark.integration


def app(app_id: str, instances: int = 1, cmd: str = "sleep 1000", **extra: object) -> dict:
    return {"id": app_id, "cmd": cmd, "cpus": 0.05, "mem": 16, "instances": instances, **extra}


def command_check(command: str, **timing: int) -> dict:
    return {
        "protocol": "COMMAND",
        "command": {"value": command},
        "gracePeriodSeconds": 0,
        "intervalSeconds": 1,
        "timeoutSeconds": 1,
        "delaySeconds": 0,
        "maxConsecutiveFailures": 2,
        **timing,
    }


def test_an_instance_failing_its_health_checks_is_killed_and_replaced(
    marathon_api: Marathon,
) -> None:
    m = marathon_api
    events = EventStream(m.url, "unhealthy_instance_kill_event", "health_status_changed_event")
    try:
        # healthy for its first second, then the check fails
        body = app(
            "/sick",
            cmd="touch alive; sleep 3; rm alive; sleep 1000",
            healthChecks=[command_check("test -f alive", delaySeconds=1)],
            backoffSeconds=0,
        )
        assert m("POST", "/v2/apps", body).status == 201
        first = daemons.wait_until(lambda: m.running("/sick", 1), 30)[0]["id"]
        replacement = daemons.wait_until(
            lambda: (r := m.running("/sick", 1)) and r[0]["id"] != first and r[0],
            60,
            message="a replacement instance",
        )
        assert replacement["id"] != first
        killed = daemons.wait_until(lambda: events.of("unhealthy_instance_kill_event"), 10)
        assert killed[0]["taskId"] == first and killed[0]["appId"] == "/sick"
        alive = [e["alive"] for e in events.of("health_status_changed_event", taskId=first)]
        assert True in alive and alive[-1] is False, alive
        failure = m.app("/sick")["lastTaskFailure"]
        assert failure["taskId"] == first and failure["state"] == "TASK_KILLED"
    finally:
        events.close()
        m.remove("/sick")


def test_health_check_results_show_on_tasks(marathon_api: Marathon) -> None:
    m = marathon_api
    body = app(
        "/web-health",
        cmd="exec python3 -m http.server $PORT0",
        healthChecks=[
            {
                "protocol": "HTTP",
                "path": "/",
                "portIndex": 0,
                "gracePeriodSeconds": 30,
                "intervalSeconds": 1,
                "timeoutSeconds": 1,
                "delaySeconds": 0,
            }
        ],
    )
    assert m("POST", "/v2/apps", body).status == 201
    m.wait_running("/web-health", 1)  # the deployment ends only once healthy
    (task,) = m.tasks("/web-health")
    (result,) = task["healthCheckResults"]
    assert result["alive"] is True and result["consecutiveFailures"] == 0
    assert m.app("/web-health")["tasksHealthy"] == 1
    m.remove("/web-health")


def test_a_rolling_upgrade_keeps_the_minimum_health_capacity(marathon_api: Marathon) -> None:
    m = marathon_api
    healthy_after_a_second = "sleep 1; touch ready; sleep 1000"
    body = app(
        "/rolling",
        4,
        cmd=healthy_after_a_second,
        healthChecks=[command_check("test -f ready", maxConsecutiveFailures=0)],
        upgradeStrategy={"minimumHealthCapacity": 0.5, "maximumOverCapacity": 0},
    )
    assert m("POST", "/v2/apps", body).status == 201
    old = {t["id"] for t in m.wait_running("/rolling", 4)}
    assert m("PUT", "/v2/apps/rolling", {"cmd": healthy_after_a_second + " "}).status == 200
    samples: list[tuple[int, int, int]] = []  # (healthy, old alive, new alive)
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        tasks = m.tasks("/rolling")
        healthy = sum(
            1
            for t in tasks
            if t["state"] == "TASK_RUNNING"
            and any(r["alive"] for r in t.get("healthCheckResults", []))
        )
        samples.append(
            (healthy, sum(t["id"] in old for t in tasks), sum(t["id"] not in old for t in tasks))
        )
        if m.deployed("/rolling") and samples[-1][1] == 0:
            break
        time.sleep(0.05)
    assert samples[-1][1:] == (0, 4), samples[-5:]
    assert min(h for h, _, _ in samples) >= 2, samples  # 4 x 0.5 stayed healthy throughout
    assert any(o and n for _, o, n in samples)  # old and new side by side: it rolled
    m.remove("/rolling")


def test_a_deployment_waits_for_readiness_checks(marathon_api: Marathon) -> None:
    m = marathon_api
    body = app(
        "/ready-web",
        cmd="(sleep 5; touch ready) & exec python3 -m http.server $PORT_HTTP",
        portDefinitions=[{"port": 0, "name": "http"}],
        readinessChecks=[
            {
                "name": "ready",
                "protocol": "HTTP",
                "path": "/ready",
                "portName": "http",
                "intervalSeconds": 2,
                "timeoutSeconds": 1,
                "preserveLastResponse": True,
            }
        ],
    )
    created = m("POST", "/v2/apps", body)
    assert created.status == 201
    waiting = daemons.wait_until(
        lambda: [
            r
            for d in m("GET", "/v2/deployments").body
            for a in d["currentActions"]
            for r in a["readinessCheckResults"]
            if a["app"] == "/ready-web" and (r["lastResponse"] or {}).get("status") == 404
        ],
        30,
        message="a readiness result while not ready",
    )
    assert waiting[0]["ready"] is False
    daemons.wait_until(lambda: m.deployed("/ready-web"), 30, message="ready")
    assert m.running("/ready-web", 1)
    m.remove("/ready-web")


def test_constraints_place_instances_by_hostname_and_attributes(marathon_api: Marathon) -> None:
    m = marathon_api
    unique = app("/spread", 3, constraints=[["hostname", "UNIQUE"]])
    assert m("POST", "/v2/apps", unique).status == 201
    running = daemons.wait_until(lambda: m.running("/spread", 2), 30)
    assert {t["host"] for t in running} == {"127.0.0.1", "127.0.0.2"}
    queued = daemons.wait_until(
        lambda: [
            q
            for q in m("GET", "/v2/queue").body["queue"]
            if q["app"]["id"] == "/spread" and q["processedOffersSummary"]["unusedOffersCount"]
        ],
        30,
        message="the third instance queued",
    )
    assert queued[0]["count"] == 1
    reasons = {
        r["reason"]: r["declined"]
        for r in queued[0]["processedOffersSummary"]["rejectSummaryLaunchAttempt"]
    }
    assert reasons["UnfulfilledConstraint"] >= 1
    assert len(m.tasks("/spread")) == 2

    rack = app("/rack-two", 3, constraints=[["rack", "CLUSTER", "r2"]])
    assert m("POST", "/v2/apps", rack).status == 201
    assert {t["host"] for t in m.wait_running("/rack-two", 3)} == {"127.0.0.2"}
    like = app(
        "/rack-like", 2, constraints=[["rack", "LIKE", "r[1]"], ["hostname", "MAX_PER", "2"]]
    )
    assert m("POST", "/v2/apps", like).status == 201
    assert {t["host"] for t in m.wait_running("/rack-like", 2)} == {"127.0.0.1"}
    for app_id in ("/spread", "/rack-two", "/rack-like"):
        m.remove(app_id)


def test_a_crashing_app_is_relaunched_with_growing_backoff_until_the_delay_is_reset(
    marathon_api: Marathon,
) -> None:
    m = marathon_api
    events = EventStream(m.url, "status_update_event")
    try:
        body = app(
            "/crashing", cmd="exit 1", backoffSeconds=1, backoffFactor=3, maxLaunchDelaySeconds=60
        )
        assert m("POST", "/v2/apps", body).status == 201

        def staged():
            return events.of("status_update_event", appId="/crashing", taskStatus="TASK_STAGING")

        daemons.wait_until(lambda: len(staged()) >= 3, 30, message="three launches")
        times = [_seconds(e["timestamp"]) for e in staged()[:3]]
        first_gap, second_gap = times[1] - times[0], times[2] - times[1]
        assert first_gap >= 0.9 and second_gap >= 2.5, (first_gap, second_gap)
        queue = daemons.wait_until(
            lambda: [
                q
                for q in m("GET", "/v2/queue").body["queue"]
                if q["app"]["id"] == "/crashing" and not q["delay"]["overdue"]
            ],
            30,
        )
        assert queue[0]["delay"]["timeLeftSeconds"] > 0
        count = len(staged())
        assert m("DELETE", "/v2/queue/crashing/delay").status == 204
        reset_at = time.monotonic()
        daemons.wait_until(
            lambda: len(staged()) > count, 10, message="a launch right after the reset"
        )
        assert time.monotonic() - reset_at < 5  # the pending delay was 9 s or more
    finally:
        events.close()
        m.remove("/crashing")


def _seconds(timestamp: str) -> float:
    from datetime import datetime

    return datetime.fromisoformat(timestamp.replace("Z", "+00:00")).timestamp()


def test_the_event_stream_tells_deployments_and_status_updates(marathon_api: Marathon) -> None:
    m = marathon_api
    everything = EventStream(m.url)
    filtered = EventStream(m.url, "deployment_success")
    try:
        assert everything.content_type == "text/event-stream"
        created = m("POST", "/v2/apps", app("/evented", 1))
        assert created.status == 201
        m.wait_running("/evented", 1)
        daemons.wait_until(lambda: filtered.of("deployment_success"), 10)
        kinds = [e["eventType"] for e in everything.events]
        for kind in (
            "event_stream_attached",
            "api_post_event",
            "deployment_info",
            "status_update_event",
            "instance_changed_event",
            "deployment_step_success",
            "deployment_success",
        ):
            assert kind in kinds, kinds
        (post,) = everything.of("api_post_event")
        assert post["appDefinition"]["id"] == "/evented" and post["uri"] == "/v2/apps"
        running = everything.of("status_update_event", appId="/evented", taskStatus="TASK_RUNNING")
        assert running and running[0]["host"] in ("127.0.0.1", "127.0.0.2")
        assert {e["eventType"] for e in filtered.events} == {"deployment_success"}
    finally:
        everything.close()
        filtered.close()
        m.remove("/evented")
