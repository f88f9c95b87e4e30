"""A standalone master (no --zk) never loads kazoo: the registry is a file and nothing
of ZooKeeper is needed, so a master built without the ZooKeeper extras still runs."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.harness import daemons

pytestmark = pytest.mark.integration

# serves until /health answers, then says which kazoo modules the process has loaded
_SCRIPT = """
import asyncio, json, sys, urllib.request
from mesos_runtime.master.flags import MasterFlags
from mesos_runtime.master.main import run
from mesos_runtime.wire.flags import parse_flags

async def main(work_dir, port):
    flags = parse_flags(MasterFlags, [f"--work_dir={work_dir}", "--ip=127.0.0.1",
                                      f"--port={port}"], environ={})
    serving = asyncio.create_task(run(flags))
    url = f"http://127.0.0.1:{port}/health"
    for _ in range(300):
        if serving.done():
            serving.result()
        try:
            await asyncio.to_thread(urllib.request.urlopen, url, timeout=1)
            break
        except OSError:
            await asyncio.sleep(0.05)
    else:
        raise SystemExit("the master never answered /health")
    print(json.dumps(sorted(m for m in sys.modules if m.split(".")[0] == "kazoo")))
    serving.cancel()

asyncio.run(main(sys.argv[1], int(sys.argv[2])))
"""


def test_a_standalone_master_serves_without_loading_kazoo(tmp_path: Path) -> None:
    port = daemons.free_port()
    done = subprocess.run(
        [sys.executable, "-c", _SCRIPT, str(tmp_path), str(port)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip().splitlines()[-1] == "[]"
