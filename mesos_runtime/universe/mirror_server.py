"""`infinity mirror serve DIR`: the mirror's files over plain HTTP (GET and HEAD, no
listings, nothing outside DIR), for agents on other hosts to fetch artifacts from.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path

from aiohttp import web

__all__ = ["make_app", "serve"]


def make_app(root: Path) -> web.Application:
    app = web.Application()
    # aiohttp's static route refuses paths that leave `root` and, here, symlinks and listings
    app.router.add_static("/", root.resolve(), show_index=False, follow_symlinks=False)
    return app


async def serve(root: Path, host: str, port: int, on_ready: Callable[[str], None]) -> None:
    """Serve until cancelled; `on_ready` gets the base URL once listening."""
    runner = web.AppRunner(make_app(root), access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, host, port)
    await site.start()
    try:
        bound = runner.addresses[0][1] if runner.addresses else port
        on_ready(f"http://{host}:{bound}")
        await asyncio.Event().wait()
    finally:
        await runner.cleanup()
