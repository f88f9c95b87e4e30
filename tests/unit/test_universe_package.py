"""Package folders: the manifest checked at the edge, rendering in a sandbox with strict
names, lint, and the archives (reproducible packing, extraction that refuses escapes)."""

from __future__ import annotations

import io
import tarfile
import uuid
from pathlib import Path

import pytest

from mesos_runtime.sdk.context import PodInstance, TaskLaunch
from mesos_runtime.universe.lint import lint_package
from mesos_runtime.universe.mirror import artifact_refs
from mesos_runtime.universe.options import resolve
from mesos_runtime.universe.package import PackageError, load_package
from mesos_runtime.universe.packing import ArchiveError, pack, safe_extract, sha512_of
from mesos_runtime.universe.render import (
    RenderError,
    ServiceIdentity,
    render_configs,
    render_preview,
    render_spec,
)
from tests.universe.tiny_package import SPEC, make_package

SERVICE = ServiceIdentity(name="tiny", uid=str(uuid.uuid4()))
URL_ARTIFACT = {"name": "tool", "url": "http://127.0.0.1:1/tool.tgz", "sha512": "a" * 128}


def errors_loading(root: Path) -> list[str]:
    with pytest.raises(PackageError) as raised:
        load_package(root)
    return raised.value.errors


def test_a_package_loads_with_its_manifest_schema_and_templates(tmp_path: Path) -> None:
    package = load_package(make_package(tmp_path / "tiny", artifacts=[URL_ARTIFACT]))
    assert package.name == "tiny" and package.version == "0.1.0-1.0"
    assert package.manifest.artifact("tool").file_name("tiny", "0.1.0-1.0") == "tool.tgz"
    assert set(package.templates) == {"app.conf.j2"}
    assert [str(p) for p in package.files()] == [
        "README.md",
        "config.schema.json",
        "package.yml",
        "service.yml.j2",
        "templates/app.conf.j2",
    ]


@pytest.mark.parametrize(
    ("manifest", "message"),
    [
        ({"version": "1.0"}, "version: '1.0' is not '<package>-<upstream>' (e.g. '1.0.0-1.0')"),
        ({"minimum_runtime_version": "99.0.0"}, "needs runtime 99.0.0"),
        ({"name": "Bad Name"}, "name: 'Bad Name' does not match"),
        ({"maintainer": None}, "'maintainer' is a required property"),
    ],
)
def test_a_bad_manifest_is_refused_naming_the_field(
    tmp_path: Path, manifest: dict[str, object], message: str
) -> None:
    root = make_package(tmp_path / "tiny", manifest=manifest)
    if manifest.get("maintainer", "") is None:
        text = (root / "package.yml").read_text().replace("maintainer: null\n", "")
        (root / "package.yml").write_text(text)
    assert any(message in e for e in errors_loading(root)), errors_loading(root)


@pytest.mark.parametrize(
    "artifact",
    [
        {"name": "x", "url": "http://h/x.tgz"},  # no checksum
        {
            "name": "x",
            "url": "http://h/x.tgz",
            "sha512": "b" * 128,
            "maven": {"coordinates": ["g:a:1"]},
        },
        {"name": "x", "pypi": "pkg==1.0", "sha512": "c" * 128},  # which file
        {"name": "x", "maven": {"coordinates": ["g:a:1"]}, "sha512": "d" * 128},
    ],
)
def test_an_artifact_needs_exactly_one_source_and_its_checksum(
    tmp_path: Path, artifact: dict[str, object]
) -> None:
    (error,) = errors_loading(make_package(tmp_path / "tiny", artifacts=[artifact]))
    assert error == (
        "package.yml: artifacts.0: give exactly one of: "
        "url + sha512, pypi + file + sha512, or maven"
    )


def test_the_spec_renders_with_the_options_and_configs_render_per_task(tmp_path: Path) -> None:
    package = load_package(make_package(tmp_path / "tiny"))
    options = resolve(package.schema, {"app": {"greeting": "hello"}})
    rendered = render_spec(package, options, SERVICE, artifact_refs(package))
    pod = rendered.spec.pod("app")
    assert pod.count == 2
    instance = PodInstance(pod="app", index=1, hostname="h1", ports={"http": 31005})
    launch = TaskLaunch(service="tiny", pod=pod, task=pod.task("server"), instance=instance)
    assert render_configs(package, options, SERVICE, launch) == {
        "app.conf": "greeting=hello on h1:31005\n"
    }


def test_an_undefined_name_fails_naming_the_template_and_line(tmp_path: Path) -> None:
    package = load_package(
        make_package(
            tmp_path / "tiny", templates={"app.conf.j2": "a=1\nb={{ options.app.colour }}\n"}
        )
    )
    options = resolve(package.schema)
    with pytest.raises(RenderError) as raised:
        render_preview(package, options, SERVICE, artifact_refs(package))
    assert raised.value.errors == ["app.conf.j2 line 2: 'dict object' has no attribute 'colour'"]


def test_templates_run_sandboxed(tmp_path: Path) -> None:
    escape = "{{ ''.__class__.__mro__[1].__subclasses__() }}"
    package = load_package(make_package(tmp_path / "tiny", spec=SPEC + f"# {escape}\n"))
    with pytest.raises(RenderError, match="unsafe"):
        render_spec(package, resolve(package.schema), SERVICE, artifact_refs(package))


def test_a_spec_naming_a_missing_template_is_refused(tmp_path: Path) -> None:
    package = load_package(make_package(tmp_path / "tiny", templates={}))
    with pytest.raises(RenderError, match=r"configs.conf.template: no templates/app.conf.j2"):
        render_spec(package, resolve(package.schema), SERVICE, artifact_refs(package))


def test_lint_passes_a_good_package_and_names_each_problem_of_a_bad_one(tmp_path: Path) -> None:
    assert lint_package(make_package(tmp_path / "good")).errors == []
    schema = {
        "type": "object",
        "properties": {
            "app": {
                "type": "object",
                "properties": {"count": {"type": "integer", "default": "two"}},
            }
        },
    }
    bad = make_package(
        tmp_path / "bad",
        schema=schema,
        readme=False,
        artifacts=[{"name": "lib", "maven": {"coordinates": ["org.slf4j:slf4j-api:1.7.36"]}}],
    )
    report = lint_package(bad)
    assert report.errors == [
        "README.md: missing (say what the package runs and its options)",
        "config.schema.json: option app has no description",
        "config.schema.json: option app.count has no description",
        "config.schema.json: the defaults break the schema: "
        "app.count: 'two' is not of type 'integer'",
        f"artifacts.lock.json: artifact lib is not locked (`infinity package lock {bad}`)",
    ]


def test_lint_reports_a_spec_that_does_not_render_valid(tmp_path: Path) -> None:
    root = make_package(tmp_path / "tiny", spec=SPEC.replace("cpus: 0.1", "cpus: lots"))
    assert lint_package(root).errors == [
        "service.yml.j2 (rendered): pods.app.tasks.server.cpus: 'lots' is not of type 'number'"
    ]


def test_packing_is_reproducible(tmp_path: Path) -> None:
    files = []
    for name in ("b.jar", "a.jar"):
        (tmp_path / name).write_bytes(name.encode() * 100)
        files.append((f"lib/{name}", tmp_path / name))
    pack(files, tmp_path / "one.tar")
    (tmp_path / "a.jar").touch()  # a new mtime changes nothing
    pack(reversed(files), tmp_path / "two.tar")
    assert sha512_of(tmp_path / "one.tar") == sha512_of(tmp_path / "two.tar")
    assert sorted(safe_extract(tmp_path / "one.tar", tmp_path / "out")) == [
        "lib/a.jar",
        "lib/b.jar",
    ]


def _tar(path: Path, member: tarfile.TarInfo, data: bytes = b"x") -> Path:
    with tarfile.open(path, "w") as tar:
        member.size = len(data) if member.isfile() else 0
        tar.addfile(member, io.BytesIO(data) if member.isfile() else None)
    return path


@pytest.mark.parametrize(
    ("name", "kind", "message"),
    [
        ("../evil", tarfile.REGTYPE, "escapes the destination"),
        ("/etc/evil", tarfile.REGTYPE, "escapes the destination"),
        ("ok/../../evil", tarfile.REGTYPE, "escapes the destination"),
        ("link", tarfile.SYMTYPE, "is a link or special file"),
        ("dev", tarfile.CHRTYPE, "is a link or special file"),
    ],
)
def test_extraction_refuses_members_that_escape_links_and_devices(
    tmp_path: Path, name: str, kind: bytes, message: str
) -> None:
    member = tarfile.TarInfo(name)
    member.type = kind
    member.linkname = "/etc/passwd" if kind == tarfile.SYMTYPE else ""
    archive = _tar(tmp_path / "bad.tar", member)
    with pytest.raises(ArchiveError, match=message):
        safe_extract(archive, tmp_path / "dest")
    assert list((tmp_path / "dest").iterdir()) == []
    assert not (tmp_path / "evil").exists()
