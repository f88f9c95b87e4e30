"""The Prometheus text rendering of a metrics snapshot, read back with `prometheus_client`."""

from __future__ import annotations

import math

from prometheus_client.parser import text_string_to_metric_families

from mesos_runtime.wire.prometheus import metric_name, render


def test_mesos_keys_become_prometheus_safe_names() -> None:
    assert metric_name("master/tasks_finished") == "master_tasks_finished"
    assert metric_name("allocator/mesos/event_queue_dispatches") == (
        "allocator_mesos_event_queue_dispatches"
    )
    assert metric_name("registrar/state-store.ms") == "registrar_state_store_ms"
    assert metric_name("1st") == "_1st"


def test_rendered_snapshot_parses_with_types_and_special_values() -> None:
    text = render(
        {"master/tasks_finished": 3, "master/cpus_percent": 0.25, "x/odd": math.nan},
        counters={"master/tasks_finished"},
    )
    families = {f.name: f for f in text_string_to_metric_families(text)}
    assert families["master_tasks_finished"].type == "counter"
    assert families["master_tasks_finished"].samples[0].value == 3.0
    assert families["master_cpus_percent"].type == "gauge"
    assert families["master_cpus_percent"].samples[0].value == 0.25
    assert math.isnan(families["x_odd"].samples[0].value)
    assert "Mesos metric master/tasks_finished" in families["master_tasks_finished"].documentation


def test_two_keys_with_one_safe_name_are_rendered_once() -> None:
    text = render({"a/b": 1, "a_b": 2})
    assert [f.name for f in text_string_to_metric_families(text)] == ["a_b"]
