"""The HA registry store: the master's registry document in ZooKeeper, fenced by leadership.

It lives beside the `--zk` path, never under it (clients take the lowest child there):
`<path>_registry/registry` holds a one-line JSON header and the document, or, for a
document over `CHUNK_SIZE`, the name of a `chunks-<id>` node whose children hold it.
Each write is one ZooKeeper transaction: "our `json.info_` znode still exists" + "the head
is still at the version we last read" + the new head, so a master that lost its session
(and with it its leadership), or whose view is stale, cannot write.
"""

from __future__ import annotations

import hashlib
import json
import logging
import uuid
from dataclasses import dataclass
from typing import Any

from kazoo.exceptions import KazooException, NoNodeError, NotEmptyError

from mesos_runtime.discovery.contender import MasterContender
from mesos_runtime.discovery.zk_client import await_result, znode_acl

# the registry's own error: this store is one of its RegistryStores
from mesos_runtime.master.registry import RegistryFenced

__all__ = ["CHUNK_SIZE", "RegistryFenced", "ZooKeeperStore"]

log = logging.getLogger(__name__)

# ZooKeeper refuses requests over jute.maxbuffer (1 MB by default); a transaction carries
# the head plus a little more, so stay well below it.
CHUNK_SIZE = 512 * 1024
FORMAT = 1
_CHUNK_PREFIX = "chunks-"
_LOAD_ATTEMPTS = 5


@dataclass(frozen=True, slots=True)
class _Header:
    size: int
    sha256: str
    chunks: str | None  # the chunks node's name, or None when the document is inline
    count: int = 0

    def encode(self) -> bytes:
        fields: dict[str, Any] = {"format": FORMAT, "size": self.size, "sha256": self.sha256}
        if self.chunks is not None:
            fields.update(chunks=self.chunks, count=self.count)
        return json.dumps(fields, separators=(",", ":")).encode() + b"\n"

    @classmethod
    def decode(cls, head: bytes, where: str) -> tuple[_Header, bytes]:
        line, _, payload = head.partition(b"\n")
        try:
            fields = json.loads(line)
            if fields.get("format") != FORMAT:
                raise ValueError(f"unknown format {fields.get('format')!r}")
            header = cls(
                size=int(fields["size"]),
                sha256=str(fields["sha256"]),
                chunks=fields.get("chunks"),
                count=int(fields.get("count", 0)),
            )
        except (ValueError, KeyError, TypeError) as e:
            raise ValueError(f"{where} is not an Infinity registry head: {e}") from None
        return header, payload


class ZooKeeperStore:
    """`RegistryStore` in ZooKeeper for the master that `contender` makes leader.

    `load()` reads the document and remembers the head's version; `store()` writes only
    while the contender leads and only over that version, else raises `RegistryFenced`.
    Without a prior `load()` the first `store()` writes over the current version (still
    fenced by leadership).
    """

    def __init__(self, contender: MasterContender, *, base: str | None = None) -> None:
        self.contender = contender
        self.base = base or contender.url.sibling("_registry")
        self.head = f"{self.base}/registry"
        self._acl = znode_acl(contender.url)
        self._version: int | None = None  # of the head we last read or wrote; -1: absent
        self._chunks: str | None = None  # the chunks node the head refers to

    @property
    def client(self) -> Any:
        return self.contender.client

    async def load(self) -> bytes | None:
        """The stored document, or None when nothing was stored yet."""
        try:
            for _ in range(_LOAD_ATTEMPTS):
                try:
                    head, stat = await self._call(self.client.get_async(self.head))
                except NoNodeError:
                    self._version, self._chunks = -1, None
                    return None
                header, payload = _Header.decode(head, self.head)
                if header.chunks is not None:
                    try:
                        payload = await self._read_chunks(header)
                    except NoNodeError:
                        continue  # rewritten while we read: read the new head
                if len(payload) != header.size or _digest(payload) != header.sha256:
                    raise ValueError(f"{self.head}: stored document fails its checksum")
                self._version, self._chunks = stat.version, header.chunks
                return payload
        except (KazooException, TimeoutError) as e:
            raise RegistryFenced(f"cannot read the registry from ZooKeeper: {e!r}") from e
        raise RegistryFenced(f"{self.head} kept changing while being read")

    async def store(self, data: bytes) -> None:
        """Write `data` atomically; raise RegistryFenced unless this master may write."""
        self._require_leader()
        znode = self.contender.znode
        assert znode is not None
        try:
            if self._version is None:
                self._version = await self._current_version()
            header = _Header(size=len(data), sha256=_digest(data), chunks=None)
            head = header.encode() + data
            if len(data) > CHUNK_SIZE:
                header = await self._write_chunks(data)
                head = header.encode()
            await self._commit(znode, head, header)
        except (KazooException, TimeoutError) as e:
            self._version = None  # the outcome is unknown: re-read before trusting it again
            raise RegistryFenced(f"registry write did not complete: {e!r}") from e

    # --- internals --------------------------------------------------------------------

    def _require_leader(self) -> None:
        if not self.contender.is_leader or self.contender.znode is None:
            raise RegistryFenced(
                "this master does not lead (or its ZooKeeper session is not connected)"
            )

    async def _commit(self, znode: str, head: bytes, header: _Header) -> None:
        assert self._version is not None
        if self._version == -1:
            await self._call(self.client.ensure_path_async(self.base, acl=self._acl))
        txn = self.client.transaction()
        # our election znode exists only while our session does: the leadership fence
        txn.check(znode, -1)
        if self._version == -1:
            txn.create(self.head, head, acl=self._acl)
        else:
            txn.set_data(self.head, head, self._version)
        results = await self._call(txn.commit_async())
        failures = [r for r in results if isinstance(r, Exception)]
        if failures:
            await self._discard(header.chunks)
            self._version = None
            raise RegistryFenced(
                "registry write refused by ZooKeeper: another master leads or wrote since "
                f"this one read ({', '.join(type(f).__name__ for f in failures)})"
            )
        written = results[-1]
        self._version = 0 if isinstance(written, str) else written.version
        self._chunks = header.chunks
        await self._collect_garbage(keep=header.chunks)

    async def _collect_garbage(self, keep: str | None) -> None:
        """Remove every chunks node but the head's: the previous document's, and leftovers
        of writes that were cut off or fenced."""
        try:
            names = await self._call(self.client.get_children_async(self.base))
        except (KazooException, TimeoutError):
            return
        for name in names:
            if name.startswith(_CHUNK_PREFIX) and name != keep:
                await self._discard(name)

    async def _current_version(self) -> int:
        stat = await self._call(self.client.exists_async(self.head))
        if stat is None:
            self._chunks = None
            return -1
        head, _ = await self._call(self.client.get_async(self.head))
        self._chunks = _Header.decode(head, self.head)[0].chunks
        return stat.version

    async def _write_chunks(self, data: bytes) -> _Header:
        name = f"{_CHUNK_PREFIX}{uuid.uuid4().hex}"
        node = f"{self.base}/{name}"
        await self._call(self.client.create_async(node, b"", acl=self._acl, makepath=True))
        count = 0
        try:
            for offset in range(0, len(data), CHUNK_SIZE):
                self._require_leader()  # don't keep writing once deposed
                piece = data[offset : offset + CHUNK_SIZE]
                await self._call(
                    self.client.create_async(f"{node}/{count:06d}", piece, acl=self._acl)
                )
                count += 1
        except BaseException:
            await self._discard(name)
            raise
        return _Header(size=len(data), sha256=_digest(data), chunks=name, count=count)

    async def _read_chunks(self, header: _Header) -> bytes:
        node = f"{self.base}/{header.chunks}"
        pieces = []
        for i in range(header.count):
            piece, _ = await self._call(self.client.get_async(f"{node}/{i:06d}"))
            pieces.append(piece)
        return b"".join(pieces)

    async def _discard(self, chunks: str | None) -> None:
        """Best effort: remove a chunks node no head refers to (a leftover is harmless)."""
        if chunks is None:
            return
        node = f"{self.base}/{chunks}"
        try:
            for child in await self._call(self.client.get_children_async(node)):
                await self._call(self.client.delete_async(f"{node}/{child}"))
            await self._call(self.client.delete_async(node))
        except (NoNodeError, NotEmptyError):
            pass
        except (KazooException, TimeoutError) as e:
            log.info("could not remove unused registry chunks %s: %r", node, e)

    async def _call(self, result: Any) -> Any:
        return await await_result(result, self.contender.session_timeout)


def _digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()
