"""`infinity mirror build|serve|pack|unpack|verify`: every artifact of some packages in one
folder with an index and checksums, served over HTTP to the agents, or packed into one
archive (the packed universe) for sites without network and unpacked there, verified."""

from __future__ import annotations

import asyncio
import contextlib
from pathlib import Path
from typing import Annotated

import typer

from mesos_runtime.universe.artifacts import ArtifactStore
from mesos_runtime.universe.mirror import build_mirror, pack_mirror, unpack_mirror, verify_mirror
from mesos_runtime.universe.mirror_server import serve as serve_mirror
from mesos_runtime.universe.repository import search

from .catalog import JsonOption, find, paths, repositories, universe_errors
from .output import out, print_json

app = typer.Typer(help="Artifact mirrors and packed universes for air-gapped sites.")

MirrorDir = Annotated[Path, typer.Option("--dir", help="The mirror's folder.")]


@app.command()
def build(
    packages: Annotated[
        list[str] | None, typer.Argument(help="Packages to mirror [default: every package].")
    ] = None,
    directory: MirrorDir = Path("mirror"),
    pack: Annotated[
        Path | None, typer.Option("--pack", help="Also write the packed universe (one .tar).")
    ] = None,
    source: Annotated[
        str | None,
        typer.Option("--from", help="Take the artifacts from this mirror (URL or folder)."),
    ] = None,
) -> None:
    """Fetch and verify every artifact of the packages into DIR (replacing what it held)."""
    with universe_errors():
        names = packages or sorted({s.name for s in search(repositories())})
        chosen = [find(name) for name in names]
        index = build_mirror(chosen, ArtifactStore(paths(), mirror=source), directory)
        if pack is not None:
            pack_mirror(directory, pack)
    total = sum(a.file.size for p in index.packages for a in p.artifacts)
    listed = ", ".join(f"{p.name} {p.version}" for p in index.packages)
    out.print(f"mirror {directory}: {listed}; {total / 1e6:.1f} MB of artifacts", markup=False)
    if pack is not None:
        out.print(f"packed universe: {pack} ({pack.stat().st_size / 1e6:.1f} MB)", markup=False)


@app.command()
def serve(
    directory: Annotated[Path, typer.Argument(help="The mirror's folder.")],
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=0, max=65535, help="Port (0: any free one).")] = 8088,
) -> None:
    """Serve a mirror over HTTP (checked first) until interrupted."""
    with universe_errors():
        index = verify_mirror(directory)

    def ready(url: str) -> None:
        names = ", ".join(p.name for p in index.packages)
        out.print(f"serving mirror {directory} ({names}) at {url}/", markup=False)
        out.file.flush()

    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(serve_mirror(directory, host, port, ready))


@app.command()
def pack(
    directory: Annotated[Path, typer.Argument(help="The mirror's folder.")],
    archive: Annotated[Path, typer.Argument(help="The packed universe to write (.tar).")],
) -> None:
    """Pack a mirror (checked first) into one archive for an air-gapped site."""
    with universe_errors():
        pack_mirror(directory, archive)
    out.print(f"packed universe: {archive} ({archive.stat().st_size / 1e6:.1f} MB)", markup=False)


@app.command()
def unpack(
    archive: Annotated[Path, typer.Argument(help="A packed universe (.tar).")],
    directory: MirrorDir = Path("mirror"),
) -> None:
    """Unpack a packed universe into a new folder, refusing unsafe paths and any file whose
    checksum does not match; then serve it and add it as a repository."""
    with universe_errors():
        index = unpack_mirror(archive, directory)
    listed = ", ".join(f"{p.name} {p.version}" for p in index.packages)
    out.print(f"unpacked {archive} into {directory}: {listed}", markup=False)


@app.command()
def verify(
    directory: Annotated[Path, typer.Argument(help="The mirror's folder.")],
    json_output: JsonOption = False,
) -> None:
    """Check every file of a mirror against its index and checksums."""
    with universe_errors():
        index = verify_mirror(directory)
    if json_output:
        print_json(index.to_json())
        return
    out.print(f"mirror {directory}: {len(index.files())} files verified", markup=False)
