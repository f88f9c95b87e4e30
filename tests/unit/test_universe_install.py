"""The install records: options checked before anything else (the option path and rule
named), the scheduler's Marathon app per the SDK's contract, the installed-service record
as its labels, and numbered option revisions for update and rollback."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest

from mesos_runtime.universe.install import (
    InstallError,
    SchedulerTarget,
    ServiceRecord,
    check_options,
    plan_install,
    plan_revision,
    uninstall_definition,
)
from mesos_runtime.universe.options import OptionsError
from mesos_runtime.universe.package import Package, load_package
from tests.universe.tiny_package import make_package

TARGET = SchedulerTarget(
    master="127.0.0.1:5050",
    mirror="http://127.0.0.1:8088",
    store_root="/var/lib/infinity/services",
    command="infinity-scheduler",
    credential="/etc/infinity/services.json",
    principal="services",
)


@pytest.fixture
def tiny(tmp_path: Path) -> Package:
    return load_package(make_package(tmp_path / "tiny"))


def test_an_install_is_the_schedulers_app_configured_by_its_environment(tiny: Package) -> None:
    plan = plan_install(tiny, {"app": {"count": 3}}, TARGET)
    app = plan.app
    assert app["id"] == "/tiny" and app["cmd"] == "infinity-scheduler" and app["instances"] == 1
    env = app["env"]
    assert env["SERVICE_NAME"] == "tiny"
    assert env["SERVICE_SPEC"] == plan.rendered.text and "count: 3" in env["SERVICE_SPEC"]
    assert env["MESOS_MASTER"] == "127.0.0.1:5050"
    assert env["SERVICE_STORE"] == "/var/lib/infinity/services/tiny"
    assert env["SERVICE_ROLE"] == "tiny-role"
    assert env["INFINITY_CREDENTIAL"] == "/etc/infinity/services.json"
    assert env["SERVICE_PRINCIPAL"] == "services"
    assert "SDK_UNINSTALL" not in env
    # the package's definition (its templates) comes from the mirror into the sandbox
    fetched = {f["destPath"]: f["uri"] for f in app["fetch"]}
    assert fetched["package/templates/app.conf.j2"] == (
        "http://127.0.0.1:8088/packages/tiny/templates/app.conf.j2"
    )
    assert app["portDefinitions"] == [{"port": 0, "name": "api", "protocol": "tcp"}]


def test_the_record_is_the_apps_labels_and_reads_back(tiny: Package) -> None:
    plan = plan_install(tiny, {"app": {"greeting": "hello"}}, TARGET, now=100.0)
    labels = plan.app["labels"]
    assert labels["DCOS_PACKAGE_NAME"] == "tiny"
    assert labels["DCOS_PACKAGE_VERSION"] == "0.1.0-1.0"
    assert labels["DCOS_SERVICE_NAME"] == "tiny"
    assert json.loads(base64.b64decode(labels["DCOS_PACKAGE_OPTIONS"])) == {
        "app": {"greeting": "hello"}
    }
    assert labels["INFINITY_REVISION"] == "1"
    assert all(isinstance(v, str) for v in labels.values())
    back = ServiceRecord.from_labels(labels)
    assert back == plan.record
    assert ServiceRecord.from_labels({"owner": "someone"}) is None


def test_bad_options_name_the_option_path_and_the_rule(tiny: Package) -> None:
    with pytest.raises(OptionsError) as e:
        check_options(tiny, {"app": {"count": "three"}})
    assert "app.count: 'three' is not of type 'integer'" in str(e.value)
    with pytest.raises(OptionsError) as e:
        plan_install(tiny, {"app": {"count": 0}}, TARGET)
    assert "app.count: 0 is less than the minimum of 1" in str(e.value)
    with pytest.raises(InstallError, match="--name: 'Bad_Name' is not a service name"):
        check_options(tiny, {}, "Bad_Name")


def test_name_sets_the_service_name_and_a_taken_name_is_refused(tiny: Package) -> None:
    plan = plan_install(tiny, {}, TARGET, name="tiny-2")
    assert plan.name == "tiny-2" and plan.app["id"] == "/tiny-2"
    assert plan.record.options == {"service": {"name": "tiny-2"}}
    with pytest.raises(InstallError, match="a service named 'tiny' is already installed"):
        plan_install(tiny, {}, TARGET, existing={"tiny"})


def test_an_update_merges_with_the_stored_options_unless_replaced(tiny: Package) -> None:
    first = plan_install(tiny, {"app": {"count": 3}}, TARGET, now=1.0)
    merged = plan_revision(
        first.record, tiny, {"app": {"greeting": "hey"}}, TARGET, action="update", replace=False
    )
    assert merged.record.current.revision == 2
    assert merged.record.options == {"app": {"count": 3, "greeting": "hey"}}
    assert "count: 3" in merged.rendered.text
    assert merged.record.uid == first.record.uid  # cluster ids derive from it: fixed
    replaced = plan_revision(
        merged.record, tiny, {"app": {"greeting": "yo"}}, TARGET, action="update", replace=True
    )
    assert replaced.record.options == {"app": {"greeting": "yo"}}
    assert "count: 2" in replaced.rendered.text  # back to the default
    assert [r.revision for r in replaced.record.revisions] == [1, 2, 3]
    with pytest.raises(OptionsError, match=r"app\.count"):
        plan_revision(
            replaced.record, tiny, {"app": {"count": -1}}, TARGET, action="update", replace=False
        )


def test_a_rollback_is_a_new_revision_with_an_old_revisions_options(tiny: Package) -> None:
    first = plan_install(tiny, {"app": {"count": 3}}, TARGET)
    second = plan_revision(first.record, tiny, {"app": {"count": 1}}, TARGET, action="update")
    old = second.record.revision(1)
    back = plan_revision(second.record, tiny, old.options, TARGET, action="rollback to 1")
    assert back.record.current.revision == 3 and back.record.current.action == "rollback to 1"
    assert back.app["env"]["SERVICE_SPEC"] == first.app["env"]["SERVICE_SPEC"]
    with pytest.raises(InstallError, match="tiny has no revision 7 \\(it has 1, 2, 3\\)"):
        back.record.revision(7)


def test_a_service_cannot_be_renamed_by_an_update(tiny: Package) -> None:
    first = plan_install(tiny, {}, TARGET)
    with pytest.raises(InstallError, match="cannot be renamed"):
        plan_revision(first.record, tiny, {"service": {"name": "other"}}, TARGET, action="update")


def test_uninstall_restarts_the_scheduler_with_sdk_uninstall(tiny: Package) -> None:
    app = plan_install(tiny, {}, TARGET).app
    change = uninstall_definition(app)
    assert change["env"]["SDK_UNINSTALL"] == "true"
    assert change["env"]["SERVICE_NAME"] == "tiny"


def test_the_kafka_package_installs_with_its_defaults() -> None:
    kafka = load_package(Path(__file__).resolve().parents[2] / "packages" / "kafka")
    plan = plan_install(kafka, {}, TARGET)
    assert [(p.name, p.count) for p in plan.rendered.spec.pods] == [("kafka", 3)]
    assert plan.app["env"]["PERMANENT_FAILURE_TIMEOUT"] == "1200"
    with pytest.raises(OptionsError) as e:
        check_options(kafka, {"brokers": {"count": "three"}})
    assert "brokers.count: 'three' is not of type 'integer'" in str(e.value)
