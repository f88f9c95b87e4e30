"""`--zk` URLs as Mesos takes them: zk://[user:pass@]hosts/path and file:///path."""

from __future__ import annotations

from pathlib import Path

import pytest

from mesos_runtime.discovery import ZooKeeperURLError, parse_zk_url


def test_zk_url_with_several_servers_and_a_path() -> None:
    url = parse_zk_url("zk://10.0.0.1:2181,zk2.example.com:2182/mesos")
    assert url.servers == (("10.0.0.1", 2181), ("zk2.example.com", 2182))
    assert url.path == "/mesos"
    assert url.hosts == "10.0.0.1:2181,zk2.example.com:2182"
    assert url.auth_data == []


def test_zk_url_credentials_become_digest_auth_and_are_masked_when_printed() -> None:
    url = parse_zk_url("zk://jdoe:s3cr:et@h1:2181/clusters/a/")
    assert (url.username, url.password) == ("jdoe", "s3cr:et")
    assert url.auth_data == [("digest", "jdoe:s3cr:et")]
    assert url.path == "/clusters/a"
    assert str(url) == "zk://jdoe:****@h1:2181/clusters/a"


def test_zk_url_without_port_uses_zookeepers_default_and_accepts_ipv6() -> None:
    url = parse_zk_url("zk://h1,[::1]:2888/mesos")
    assert url.servers == (("h1", 2181), ("::1", 2888))
    assert url.hosts == "h1:2181,[::1]:2888"


def test_zk_url_is_read_from_a_file(tmp_path: Path) -> None:
    f = tmp_path / "zk"
    f.write_text("zk://h1:2181,h2:2181/mesos\n")
    assert parse_zk_url(f"file://{f}").servers == (("h1", 2181), ("h2", 2181))


@pytest.mark.parametrize(
    ("text", "complaint"),
    [
        ("http://h1:2181/mesos", "not a ZooKeeper URL"),
        ("zk://h1:2181", "no znode path"),
        ("zk:///mesos", "names no ZooKeeper server"),
        ("zk://h1:2181,/mesos", "empty server"),
        ("zk://h1:port/mesos", "port 'port' of h1"),
        ("zk://h1:70000/mesos", "not in 1-65535"),
        ("zk://bad_host!:2181/mesos", "not a valid host"),
        ("zk://h1:2181/", "must name a node below '/'"),
        ("zk://h1:2181/a//b", "empty, '.' or '..' segment"),
        ("zk://jdoe@h1:2181/mesos", "user:password"),
        ("zk://[::1:2181/mesos", "unclosed '['"),
        ("file://relative/zk", "absolute path"),
        ("file:///nonexistent/zk-url", "cannot read ZooKeeper URL from /nonexistent/zk-url"),
    ],
)
def test_zk_url_errors_name_the_problem(text: str, complaint: str) -> None:
    with pytest.raises(ZooKeeperURLError) as e:
        parse_zk_url(text)
    assert complaint in str(e.value)


def test_zk_url_file_must_hold_a_zk_url(tmp_path: Path) -> None:
    f = tmp_path / "zk"
    f.write_text("h1:2181\n")
    with pytest.raises(ZooKeeperURLError, match="must contain a zk:// URL"):
        parse_zk_url(f"file://{f}")
