"""One `host:port` parser for every part (agent, scheduler library, CLI, `--zk`): IPv6
addresses in brackets, default ports, and errors that name the problem."""

from __future__ import annotations

import pytest

from mesos_runtime.discovery.zk_url import parse_zk_url
from mesos_runtime.scheduler.leader import MasterAddressError, base_url
from mesos_runtime.wire.address import (
    AddressError,
    join_host_port,
    split_host_port,
    split_master_url,
)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("m1", ("m1", 5050)),
        ("m1:5051", ("m1", 5051)),
        ("10.0.0.5:5050", ("10.0.0.5", 5050)),
        ("[::1]:5051", ("::1", 5051)),
        ("[fe80::1]", ("fe80::1", 5050)),
        ("::1", ("::1", 5050)),
    ],
)
def test_host_and_port_split_ipv6_safely(text: str, expected: tuple[str, int]) -> None:
    assert split_host_port(text, 5050) == expected
    host, port = expected
    assert split_host_port(join_host_port(host, port), 1) == expected


@pytest.mark.parametrize(
    ("text", "complaint"),
    [
        ("[::1", "unclosed '['"),
        ("[::1]5050", "expected ':port'"),
        ("m1:0", "not in 1-65535"),
        ("m1:x", "port 'x' of m1"),
        (":5050", "missing host"),
    ],
)
def test_bad_addresses_name_the_problem(text: str, complaint: str) -> None:
    with pytest.raises(AddressError, match=complaint.replace("[", r"\[")):
        split_host_port(text, 5050)


def test_every_part_reads_an_ipv6_master_the_same_way() -> None:
    assert split_master_url("http://[::1]:5051/api/v1", 5050) == ("http", "::1", 5051)
    assert split_master_url("master@[::1]:5051", 5050) == ("http", "::1", 5051)
    assert base_url("[::1]:5051") == "http://[::1]:5051"
    assert base_url("https://[2001:db8::2]") == "https://[2001:db8::2]:5050"
    assert parse_zk_url("zk://[::1]:2182,h2/mesos").servers == (("::1", 2182), ("h2", 2181))
    with pytest.raises(MasterAddressError, match="unsupported scheme 'ftp'"):
        base_url("ftp://m1")
