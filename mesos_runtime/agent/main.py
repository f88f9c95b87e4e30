"""`mesos-agent`: parse flags, recover the checkpoint, serve HTTP, register with the master.

SIGTERM/SIGINT stop the agent and leave its tasks running (a restarted agent recovers
them, as after a crash); SIGUSR1 kills every task and unregisters from the master first,
and forgets the agent id (the next start registers afresh).
"""

from __future__ import annotations

import asyncio
import logging
import signal
import socket
import sys
from pathlib import Path

from aiohttp import web

from mesos_runtime.security.credentials import CredentialError, load_credential
from mesos_runtime.security.http_limits import ConnectionGuard, GuardedRunner, connection_limit
from mesos_runtime.security.tls import TlsError, TlsSettings, client_context, server_context
from mesos_runtime.wire.flags import FlagError, HelpRequested, parse_flags
from mesos_runtime.wire.mesos import AgentInfo
from mesos_runtime.wire.record import WireError

from .access import build_access
from .agent import Agent
from .flags import AgentFlags
from .host import agent_resources, parse_attributes
from .http import create_app
from .master_link import MasterLink

log = logging.getLogger("mesos_runtime.agent")


def build_agent(flags: AgentFlags) -> Agent:
    if flags.recover not in ("reconnect", "cleanup"):
        raise FlagError(f"--recover must be 'reconnect' or 'cleanup', not {flags.recover!r}")
    if not 0.0 <= flags.gc_disk_headroom <= 1.0:
        raise FlagError(f"--gc_disk_headroom must be within [0, 1], not {flags.gc_disk_headroom}")
    if flags.cgroups_pids_max < 0:
        raise FlagError(
            f"--cgroups_pids_max must be >= 0 (0: unlimited), not {flags.cgroups_pids_max}"
        )
    if float(flags.disk_watch_interval) <= 0:
        raise FlagError("--disk_watch_interval must be positive")
    if flags.credential:
        load_credential(flags.credential)  # a bad --credential stops the start, named
    server_context()  # so do bad LIBPROCESS_SSL_* settings
    client_context()
    work_dir = Path(flags.work_dir)
    resources = agent_resources(flags.resources, work_dir, flags.default_role)
    info = AgentInfo(
        hostname=flags.hostname or socket.gethostname(),
        port=flags.advertise_port or flags.port,
        resources=resources.to_wire(),
        attributes=parse_attributes(flags.attributes),
    )
    return Agent(flags, info, build_access(flags))


async def serve(flags: AgentFlags) -> int:
    agent = build_agent(flags)
    try:
        agent.recover()
    except Exception:
        if flags.strict:
            raise
        log.exception("recovery failed; starting afresh (--strict=false)")
    agent.start_gc()
    tls = TlsSettings.from_environment()
    app = create_app(agent, agent.access)
    # half the descriptors for clients: tasks need theirs (pidfds, logs, cgroup events)
    guard = ConnectionGuard(connection_limit(0.5))
    runner = GuardedRunner(app, guard, access_log=None, handle_signals=False)
    await runner.setup()
    site = web.TCPSite(
        runner,
        flags.ip or "0.0.0.0",
        flags.port,
        reuse_address=True,
        ssl_context=server_context(tls),
    )
    await site.start()
    log.info(
        "agent listening on %s:%d (%s, isolation %s)",
        flags.ip,
        flags.port,
        "TLS" if tls.enabled else "plain HTTP",
        agent.containerizer.isolator.kind,
    )
    link: MasterLink | None = None
    if flags.master:
        link = MasterLink(
            agent,
            flags.master,
            backoff_factor=float(flags.registration_backoff_factor),
            ping_timeout=float(flags.master_ping_timeout) if flags.master_ping_timeout else None,
            credential=load_credential(flags.credential) if flags.credential else None,
            ssl=client_context(tls),
        )
        link.start()
    else:
        log.warning("no --master given: the agent runs unregistered")

    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    drain = asyncio.Event()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    loop.add_signal_handler(signal.SIGINT, stop.set)
    loop.add_signal_handler(signal.SIGUSR1, drain.set)

    async def wait_drain() -> None:
        await drain.wait()
        log.warning("SIGUSR1: killing every task and unregistering")
        await agent.shutdown_everything()
        if link is not None:
            await link.unregister()
        # as Mesos' agent does when it terminates so: the next start registers afresh rather
        # than recover an id the master has removed (and be told to shut down again)
        agent.layout.latest_agent.unlink(missing_ok=True)
        stop.set()

    async def wait_shutdown() -> None:
        await agent.stopped.wait()
        stop.set()

    helpers = [loop.create_task(wait_drain()), loop.create_task(wait_shutdown())]
    await stop.wait()
    for helper in helpers:
        helper.cancel()
    agent.detach()
    if link is not None:
        await link.close()
    await agent.fetcher.close()
    await runner.cleanup()
    return 0


def main(argv: list[str] | None = None) -> None:
    logging.basicConfig(
        level=logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    try:
        flags = parse_flags(AgentFlags, sys.argv[1:] if argv is None else argv)
    except HelpRequested as e:
        print(f"Usage: mesos-agent [options]\n\n{e}")
        sys.exit(0)
    except FlagError as e:
        print(f"mesos-agent: {e}", file=sys.stderr)
        sys.exit(1)
    try:
        sys.exit(asyncio.run(serve(flags)))
    except (FlagError, WireError, CredentialError, TlsError, ValueError) as e:
        print(f"mesos-agent: {e}", file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
