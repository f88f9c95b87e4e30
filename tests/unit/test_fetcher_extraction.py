"""Archive extraction cannot escape the sandbox (issue 11, finding 2), on Python 3.11.2's
tarfile without extraction filters: members are written by walking from the sandbox root
without following links, and every link an archive leaves must resolve inside it."""

from __future__ import annotations

import io
import os
import tarfile
import zipfile
from pathlib import Path

import pytest

from mesos_runtime.agent.fetcher import Fetcher, FetchError
from mesos_runtime.wire.mesos import URI


def _tar(*members: tuple[str, str, str | bytes]) -> bytes:
    """Members in order: (name, "file" | "dir" | "symlink" | "hardlink", data or target)."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        for name, kind, payload in members:
            info = tarfile.TarInfo(name)
            if kind == "file":
                data = payload if isinstance(payload, bytes) else payload.encode()
                info.size = len(data)
                tar.addfile(info, io.BytesIO(data))
                continue
            info.type = {
                "dir": tarfile.DIRTYPE,
                "symlink": tarfile.SYMTYPE,
                "hardlink": tarfile.LNKTYPE,
                "fifo": tarfile.FIFOTYPE,
            }[kind]
            info.linkname = str(payload)
            tar.addfile(info)
    return buffer.getvalue()


@pytest.fixture
def layout(tmp_path: Path) -> tuple[Path, Path, Path]:
    """(sandbox, the directory above it where an escape would land, the artifact dir)."""
    outside = tmp_path / "outside"
    sandbox = outside / "a" / "b" / "c" / "d" / "e" / "sandbox"
    sandbox.mkdir(parents=True)
    artifacts = tmp_path / "artifacts"
    artifacts.mkdir()
    return sandbox, outside, artifacts


async def _fetch(artifacts: Path, sandbox: Path, name: str, data: bytes) -> None:
    (artifacts / name).write_bytes(data)
    fetcher = Fetcher(artifacts.parent / "cache", 1 << 20)
    try:
        await fetcher.fetch([URI(value=str(artifacts / name))], sandbox)
    finally:
        await fetcher.close()


def _everything_under(root: Path) -> set[str]:
    return {str(p.relative_to(root)) for p in root.rglob("*")}


async def test_a_chain_of_symlinks_cannot_carry_a_member_out_of_the_sandbox(layout) -> None:
    sandbox, outside, artifacts = layout
    before = _everything_under(outside)
    chain = [(f"p{i}", "symlink", ".") for i in range(9)]
    climb = "/".join(f"p{i}" for i in range(9)) + "/../../../.."
    archive = _tar(*chain, ("L", "symlink", climb), ("L/ESCAPED", "file", "owned"))
    with pytest.raises(FetchError, match="Refusing to extract"):
        await _fetch(artifacts, sandbox, "chain.tar", archive)
    escaped = [p for p in outside.rglob("ESCAPED")]
    assert escaped == []
    assert _everything_under(outside) - before <= {
        str((sandbox / name).relative_to(outside)) for name in ("chain.tar", *(c[0] for c in chain))
    }


async def test_a_link_that_resolves_outside_through_other_links_is_removed_and_refused(
    layout,
) -> None:
    sandbox, _outside, artifacts = layout
    # each link alone looks harmless; together `L` points four levels above the sandbox
    archive = _tar(("d", "symlink", "x/y/z/w"), ("L", "symlink", "d/../../../../.."))
    with pytest.raises(FetchError, match="member 'L' links outside the sandbox"):
        await _fetch(artifacts, sandbox, "bend.tar", archive)
    assert not os.path.lexists(sandbox / "L")


async def test_a_member_written_through_a_link_of_an_earlier_fetch_is_refused(layout) -> None:
    sandbox, outside, artifacts = layout
    (sandbox / "logs").symlink_to(outside)  # e.g. left by an earlier URI or a sibling task
    with pytest.raises(FetchError, match="member 'logs' is a symbolic link or a file"):
        await _fetch(artifacts, sandbox, "a.tar", _tar(("logs/x", "file", "data")))
    assert not (outside / "x").exists()


async def test_the_fetched_file_itself_is_never_written_through_a_link(layout) -> None:
    sandbox, outside, artifacts = layout
    victim = outside / "victim"
    victim.write_text("precious")
    (sandbox / "tool.bin").symlink_to(victim)
    await _fetch(artifacts, sandbox, "tool.bin", b"fetched")
    assert victim.read_text() == "precious"
    assert not (sandbox / "tool.bin").is_symlink()
    assert (sandbox / "tool.bin").read_bytes() == b"fetched"


async def test_links_inside_the_sandbox_and_hard_links_still_extract(layout) -> None:
    sandbox, _outside, artifacts = layout
    archive = _tar(
        ("app/lib/real.so", "file", "lib"),
        ("app/lib/alias.so", "symlink", "real.so"),
        ("app/bin/tool", "symlink", "../lib/real.so"),
        ("app/copy.so", "hardlink", "app/lib/real.so"),
    )
    await _fetch(artifacts, sandbox, "app.tar", archive)
    assert (sandbox / "app" / "bin" / "tool").read_text() == "lib"
    assert (sandbox / "app" / "lib" / "alias.so").read_text() == "lib"
    assert (sandbox / "app" / "copy.so").read_text() == "lib"


async def test_special_files_in_a_tar_are_refused(layout) -> None:
    sandbox, _outside, artifacts = layout
    with pytest.raises(FetchError, match="member 'pipe' is a device, FIFO"):
        await _fetch(artifacts, sandbox, "p.tar", _tar(("pipe", "fifo", "")))


async def test_zip_members_never_go_through_links(layout) -> None:
    sandbox, outside, artifacts = layout
    (sandbox / "data").symlink_to(outside)
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as z:
        z.writestr("data/planted", "x")
    with pytest.raises(FetchError, match="member 'data' is a symbolic link or a file"):
        await _fetch(artifacts, sandbox, "d.zip", buffer.getvalue())
    assert not (outside / "planted").exists()
