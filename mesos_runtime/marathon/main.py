"""`marathon`: parse Marathon's flags (or `MARATHON_*` variables), then serve until SIGTERM."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import sys

from mesos_runtime.wire.flags import FlagError, parse_flags

from .daemon import FlagsInvalid, MarathonDaemon, check_flags
from .flags import MarathonFlags
from .security import ApiSecurity, SecurityInvalid, api_security

log = logging.getLogger("marathon")


async def run(flags: MarathonFlags, secret: str | None, security: ApiSecurity) -> int:
    daemon = MarathonDaemon(flags, secret, security)
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, daemon.stop)
    try:
        await daemon.start()
    except OSError as e:
        log.error("cannot serve the API: %s", e)
        await daemon.close()
        return 1
    except Exception as e:  # noqa: BLE001 - a store that cannot be opened, a 2nd instance
        log.error("cannot start: %s", e)
        await daemon.close()
        return 1
    try:
        await daemon.serve()
    finally:
        with contextlib.suppress(Exception):
            await daemon.close()
    return 0


def main(argv: list[str] | None = None) -> int:
    try:
        flags = parse_flags(
            MarathonFlags, sys.argv[1:] if argv is None else argv, prefix="MARATHON_"
        )
        secret = check_flags(flags)
        security = api_security(flags)
    except (FlagError, FlagsInvalid, SecurityInvalid) as e:
        print(str(e).replace("(also MESOS_", "(also MARATHON_"), file=sys.stderr)
        return 1
    logging.basicConfig(
        level=getattr(logging, flags.logging_level.upper(), logging.INFO),
        format="%(asctime)s %(levelname).1s %(name)s] %(message)s",
        stream=sys.stderr,
    )
    logging.getLogger("aiohttp.access").setLevel(logging.WARNING)
    return asyncio.run(run(flags, secret, security))


if __name__ == "__main__":
    sys.exit(main())
