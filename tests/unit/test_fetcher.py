"""The fetcher: downloads from a local HTTP server and local paths into a sandbox, checksum
verification, the per-agent cache, the executable bit and archive extraction that refuses
members escaping the sandbox."""

from __future__ import annotations

import hashlib
import io
import re
import tarfile
import zipfile
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from aiohttp import web

from mesos_runtime.agent.fetcher import Fetcher, FetchError
from mesos_runtime.wire.mesos import URI


class ArtifactServer:
    """Serves files from a dict on 127.0.0.1 and counts requests per path."""

    def __init__(self) -> None:
        self.files: dict[str, bytes] = {}
        self.hits: dict[str, int] = {}
        self.url = ""

    async def handle(self, request: web.Request) -> web.Response:
        name = request.match_info["name"]
        self.hits[name] = self.hits.get(name, 0) + 1
        if name not in self.files:
            return web.Response(status=404)
        return web.Response(body=self.files[name])


@pytest.fixture
async def server() -> AsyncIterator[ArtifactServer]:
    artifacts = ArtifactServer()
    app = web.Application()
    app.router.add_get("/{name}", artifacts.handle)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    artifacts.url = f"http://127.0.0.1:{port}"
    try:
        yield artifacts
    finally:
        await runner.cleanup()


@pytest.fixture
async def fetcher(tmp_path: Path) -> AsyncIterator[Fetcher]:
    f = Fetcher(tmp_path / "cache", 1 << 20)
    try:
        yield f
    finally:
        await f.close()


@pytest.fixture
def sandbox(tmp_path: Path) -> Path:
    path = tmp_path / "sandbox"
    path.mkdir()
    return path


def _tar(members: dict[str, bytes], links: dict[str, str] | None = None) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
        for name, target in (links or {}).items():
            info = tarfile.TarInfo(name)
            info.type = tarfile.SYMTYPE
            info.linkname = target
            tar.addfile(info)
    return buffer.getvalue()


def _zip(members: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as z:
        for name, data in members.items():
            z.writestr(name, data)
    return buffer.getvalue()


async def test_http_download_with_matching_checksum(server, fetcher, sandbox) -> None:
    server.files["tool.bin"] = b"payload"
    for algorithm in ("sha256", "sha512"):
        digest = hashlib.new(algorithm, b"payload").hexdigest()
        uri = URI(value=f"{server.url}/tool.bin", checksum=f"{algorithm}:{digest}")
        await fetcher.fetch([uri], sandbox)
        assert (sandbox / "tool.bin").read_bytes() == b"payload"


async def test_checksum_mismatch_fails_naming_the_uri(server, fetcher, sandbox) -> None:
    server.files["tool.bin"] = b"tampered"
    uri = URI(value=f"{server.url}/tool.bin", checksum="sha256:" + "ab" * 32)
    with pytest.raises(FetchError, match=r"tool\.bin.*sha256 checksum mismatch"):
        await fetcher.fetch([uri], sandbox)
    assert not (sandbox / "tool.bin").exists()


async def test_http_error_fails_naming_the_uri(server, fetcher, sandbox) -> None:
    with pytest.raises(FetchError, match=r"missing\.bin.*HTTP 404"):
        await fetcher.fetch([URI(value=f"{server.url}/missing.bin")], sandbox)


async def test_local_path_and_file_uri_with_executable_bit(tmp_path, fetcher, sandbox) -> None:
    script = tmp_path / "run.sh"
    script.write_text("#!/bin/sh\necho hi\n")
    await fetcher.fetch([URI(value=str(script), executable=True)], sandbox)
    assert (sandbox / "run.sh").stat().st_mode & 0o111
    await fetcher.fetch([URI(value=f"file://{script}", output_file="bin/other.sh")], sandbox)
    assert (sandbox / "bin" / "other.sh").read_text() == script.read_text()
    assert not (sandbox / "bin" / "other.sh").stat().st_mode & 0o111


async def test_cached_uri_is_downloaded_once(server, fetcher, tmp_path) -> None:
    server.files["big.bin"] = b"x" * 1000
    for name in ("one", "two"):
        sandbox = tmp_path / name
        sandbox.mkdir()
        await fetcher.fetch([URI(value=f"{server.url}/big.bin", cache=True)], sandbox)
        assert (sandbox / "big.bin").read_bytes() == b"x" * 1000
    assert server.hits["big.bin"] == 1


async def test_cache_evicts_least_recently_used_beyond_its_size(server, tmp_path) -> None:
    fetcher = Fetcher(tmp_path / "cache", 2500)
    try:
        for name in ("a", "b", "c"):
            server.files[name] = name.encode() * 1000
        sandbox = tmp_path / "s"
        sandbox.mkdir()
        for name in ("a", "b", "a", "c"):  # `b` is the least recently used when `c` arrives
            await fetcher.fetch([URI(value=f"{server.url}/{name}", cache=True)], sandbox)
        await fetcher.fetch([URI(value=f"{server.url}/a", cache=True)], sandbox)
        await fetcher.fetch([URI(value=f"{server.url}/b", cache=True)], sandbox)
        assert server.hits == {"a": 1, "b": 2, "c": 1}
    finally:
        await fetcher.close()


async def test_archives_are_extracted_into_the_sandbox(server, fetcher, sandbox) -> None:
    server.files["app.tar.gz"] = _tar({"app/bin/run": b"run", "app/conf": b"conf"})
    server.files["data.zip"] = _zip({"data/one.txt": b"1"})
    server.files["keep.tgz"] = _tar({"inner": b"i"})
    await fetcher.fetch(
        [
            URI(value=f"{server.url}/app.tar.gz"),
            URI(value=f"{server.url}/data.zip"),
            URI(value=f"{server.url}/keep.tgz", extract=False),
        ],
        sandbox,
    )
    assert (sandbox / "app" / "bin" / "run").read_bytes() == b"run"
    assert (sandbox / "data" / "one.txt").read_bytes() == b"1"
    assert not (sandbox / "inner").exists()


@pytest.mark.parametrize(
    ("archive", "member"),
    [
        (lambda: _tar({"../escape.txt": b"x"}), "../escape.txt"),
        (lambda: _tar({"/tmp/absolute.txt": b"x"}), "/tmp/absolute.txt"),
        (lambda: _tar({}, links={"link": "../../outside"}), "link"),
        (lambda: _tar({}, links={"etc": "/etc"}), "etc"),
    ],
)
async def test_tar_members_escaping_the_sandbox_are_refused(
    server, fetcher, sandbox, archive, member
) -> None:
    server.files["evil.tar.gz"] = archive()
    with pytest.raises(FetchError, match=re.escape(f"member '{member}'")):
        await fetcher.fetch([URI(value=f"{server.url}/evil.tar.gz")], sandbox)
    assert not (sandbox.parent / "escape.txt").exists()


async def test_zip_member_escaping_the_sandbox_is_refused(server, fetcher, sandbox) -> None:
    server.files["evil.zip"] = _zip({"ok.txt": b"fine", "../../escape.txt": b"x"})
    with pytest.raises(FetchError, match=r"member '\.\./\.\./escape\.txt' escapes the sandbox"):
        await fetcher.fetch([URI(value=f"{server.url}/evil.zip")], sandbox)


async def test_output_file_may_not_escape_the_sandbox(server, fetcher, sandbox) -> None:
    server.files["f"] = b"x"
    with pytest.raises(FetchError, match="escapes the sandbox"):
        await fetcher.fetch([URI(value=f"{server.url}/f", output_file="../f")], sandbox)
