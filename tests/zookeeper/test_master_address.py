"""`--master` values the agent, scheduler library and CLI resolve to the leading master."""

from __future__ import annotations

from pathlib import Path

import pytest

from mesos_runtime.discovery import (
    ZooKeeperURL,
    decode_ip,
    detect_leader,
    encode_ip,
    leading_master,
    parse_master_address,
)


@pytest.mark.parametrize(
    ("master", "endpoint"),
    [
        ("10.0.0.5:5050", ("10.0.0.5", 5050)),
        ("http://master.example.com:5051/", ("master.example.com", 5051)),
        ("https://m1:443/api/v1", ("m1", 443)),
        ("master@10.0.0.5:5050", ("10.0.0.5", 5050)),
        ("m1", ("m1", 5050)),
    ],
)
async def test_plain_master_addresses_resolve_without_zookeeper(
    master: str, endpoint: tuple[str, int]
) -> None:
    assert parse_master_address(master) == endpoint
    assert await leading_master(master) == endpoint


async def test_master_address_is_read_from_a_file(tmp_path: Path) -> None:
    f = tmp_path / "master"
    f.write_text("10.0.0.7:5050\n")
    assert await detect_leader(f"file://{f}") == "10.0.0.7:5050"


@pytest.mark.parametrize("master", ["ftp://m1:21", "http://:5050", "m1:notaport"])
def test_bad_master_addresses_say_what_is_expected(master: str) -> None:
    with pytest.raises(ValueError, match="--master="):
        parse_master_address(master)


def test_master_ip_is_encoded_as_mesos_does() -> None:
    assert encode_ip("127.0.0.1") == 16777343
    assert encode_ip("10.0.0.1") == 16777226
    assert decode_ip(16777343) == "127.0.0.1"


@pytest.mark.zookeeper
async def test_no_advertised_leader_times_out_with_a_clear_message(zk_url: ZooKeeperURL) -> None:
    with pytest.raises(TimeoutError, match="no leading master advertised"):
        await leading_master(f"zk://{zk_url.hosts}{zk_url.path}", timeout=1.0)
