"""`mesos-master`: parse flags, recover the registry, serve the HTTP APIs until SIGTERM.

Standalone (no --zk) the registry is a file under --work_dir and this master always leads;
with --zk the leadership and the registry store come from mesos_runtime.discovery.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import socket
import sys
from pathlib import Path

from aiohttp import web

from mesos_runtime import MESOS_API_VERSION, __version__
from mesos_runtime.wire.flags import FlagError, parse_flags

from .allocator import Allocator
from .flags import MasterFlags, parse_weights
from .http import StandaloneLeadership, build_app
from .master import Master
from .registry import FileStore, Registry

log = logging.getLogger("mesos.master")


def _setup_logging(flags: MasterFlags) -> None:
    handlers: list[logging.Handler] = [logging.StreamHandler(sys.stderr)]
    if flags.log_dir:
        Path(flags.log_dir).mkdir(parents=True, exist_ok=True)
        handlers.append(logging.FileHandler(Path(flags.log_dir) / "mesos-master.log"))
    logging.basicConfig(
        level=getattr(logging, flags.logging_level.upper(), logging.INFO),
        format="%(asctime)s %(levelname).1s %(name)s] %(message)s",
        handlers=handlers,
    )
    logging.getLogger("aiohttp.access").setLevel(logging.WARNING)


async def run(flags: MasterFlags) -> int:
    """Serve until SIGTERM/SIGINT (0) or until the registry fences this master (1)."""
    hostname = flags.hostname or socket.gethostname()
    advertise_ip = flags.advertise_ip or (flags.ip if flags.ip != "0.0.0.0" else "127.0.0.1")
    advertise_port = flags.advertise_port or flags.port
    weights = parse_weights(flags.weights)
    allocator = Allocator(
        role_weights=weights,
        min_allocatable_cpus=flags.min_allocatable_cpus,
        min_allocatable_mem=flags.min_allocatable_mem,
    )
    if flags.zk:
        log.warning("--zk=%s given: HA is not wired in yet; running standalone", flags.zk)
    registry = Registry(FileStore(flags.work_dir))
    master = Master(
        flags,
        registry,
        allocator,
        hostname=hostname,
        advertise_ip=advertise_ip,
        advertise_port=advertise_port,
    )
    await master.recover()
    leadership = StandaloneLeadership(master.info)
    app = build_app(master, leadership)
    runner = web.AppRunner(app, handler_cancellation=True, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, flags.ip, flags.port, reuse_address=True)
    await site.start()
    master.start()
    log.info(
        "Master %s (Infinity %s, Mesos API %s) listening on %s:%d as %s; work_dir %s",
        master.id,
        __version__,
        MESOS_API_VERSION,
        flags.ip,
        flags.port,
        master.info.pid,
        flags.work_dir,
    )
    log.info("Elected as the leading master (standalone)")

    stop = asyncio.Event()
    fenced = asyncio.Event()

    def on_fenced() -> None:
        fenced.set()
        stop.set()

    master.on_fenced = on_fenced
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    log.info("Shutting down")
    await master.stop()
    with contextlib.suppress(Exception):
        await asyncio.wait_for(runner.cleanup(), 5)
    return 1 if fenced.is_set() else 0


def main(argv: list[str] | None = None) -> int:
    try:
        flags = parse_flags(MasterFlags, sys.argv[1:] if argv is None else argv)
    except FlagError as e:
        print(e, file=sys.stderr)
        return 1
    if flags.version:
        print(f"mesos-master (Infinity {__version__}) {MESOS_API_VERSION}")
        return 0
    try:
        parse_weights(flags.weights)
    except ValueError as e:
        print(e, file=sys.stderr)
        return 1
    _setup_logging(flags)
    return asyncio.run(run(flags))


if __name__ == "__main__":
    sys.exit(main())
