"""`--quorum` on a master: it needs --zk and must be a majority of the ZooKeeper servers."""

from __future__ import annotations

import subprocess
import sys

import pytest

from mesos_runtime.master.flags import MasterFlags
from mesos_runtime.master.main import check_quorum
from mesos_runtime.wire.flags import parse_flags

ZK = "zk://127.0.0.1:2181,127.0.0.1:2182,127.0.0.1:2183/mesos"


def flags(*argv: str) -> MasterFlags:
    return parse_flags(MasterFlags, list(argv), environ={})


@pytest.mark.parametrize("quorum", [2, 3])
def test_a_majority_of_the_zookeeper_servers_is_accepted(quorum: int) -> None:
    check_quorum(flags(f"--zk={ZK}", f"--quorum={quorum}"))


@pytest.mark.parametrize("quorum", [1, 4])
def test_a_quorum_that_is_no_majority_or_cannot_be_met_is_refused(quorum: int) -> None:
    with pytest.raises(ValueError, match="between 2 and 3"):
        check_quorum(flags(f"--zk={ZK}", f"--quorum={quorum}"))


def test_quorum_without_zk_is_refused_by_the_daemon_before_it_starts(tmp_path) -> None:
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "mesos_runtime.master.main",
            "--quorum=2",
            f"--work_dir={tmp_path}",
            "--port=0",
        ],
        check=False,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 1
    assert "--quorum needs --zk" in result.stderr
    assert not list(tmp_path.iterdir())  # nothing written
