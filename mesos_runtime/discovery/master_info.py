"""MasterInfo as Mesos advertises it in ZooKeeper, and the address clients take from it.

Mesos puts the master's IPv4 address in `ip` as the in-memory `s_addr` (network byte order)
read as a host-order uint32: 127.0.0.1 becomes 16777343 on little-endian machines, which is
what every Mesos client decodes. `pid` is the libprocess id `master@<ip>:<port>`.
"""

from __future__ import annotations

import json
import socket
import struct

from mesos_runtime.wire.mesos import Address, MasterInfo

__all__ = [
    "decode_ip",
    "encode_ip",
    "from_znode_data",
    "make_master_info",
    "master_endpoint",
    "to_znode_data",
]


def encode_ip(ip: str) -> int:
    """`127.0.0.1` → 16777343: network-order bytes read as a little-endian uint32."""
    return struct.unpack("<I", socket.inet_aton(ip))[0]


def decode_ip(value: int) -> str:
    return socket.inet_ntoa(struct.pack("<I", value & 0xFFFFFFFF))


def make_master_info(
    master_id: str, ip: str, port: int, hostname: str | None = None, version: str | None = None
) -> MasterInfo:
    """The MasterInfo a master advertises, with every field Mesos clients read."""
    hostname = hostname or ip
    return MasterInfo(
        id=master_id,
        ip=encode_ip(ip),
        port=port,
        pid=f"master@{ip}:{port}",
        hostname=hostname,
        version=version,
        address=Address(hostname=hostname, ip=ip, port=port),
    )


def master_endpoint(info: MasterInfo) -> tuple[str, int]:
    """The (ip, port) to connect to: `address` first, then the legacy `ip`/`port` fields."""
    if info.address is not None and info.address.ip:
        return info.address.ip, info.address.port
    return decode_ip(info.ip), info.port


def to_znode_data(info: MasterInfo) -> bytes:
    """The `json.info_` znode's content: MasterInfo as compact JSON."""
    return json.dumps(info.to_json(), separators=(",", ":")).encode()


def from_znode_data(data: bytes) -> MasterInfo:
    """Decode a `json.info_` znode (raises WireError/ValueError when it is not MasterInfo)."""
    return MasterInfo.from_json(json.loads(data.decode()))
