"""RecordIO framing of Mesos' streaming APIs: `<decimal length>\\n<bytes>` per record."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterator
from typing import Any

from .record import WireError

MAX_RECORD_BYTES = 64 * 1024 * 1024


def encode(payload: bytes) -> bytes:
    return b"%d\n%s" % (len(payload), payload)


# one compact encoder for every record: json.dumps with separators builds one per call
_compact = json.JSONEncoder(separators=(",", ":")).encode


def encode_json(obj: Any) -> bytes:
    """One record of compact JSON, no newline inside (Mesos clients split on length)."""
    return encode(_compact(obj).encode())


class Decoder:
    """Incremental decoder: feed bytes as they arrive, get whole records back."""

    def __init__(self, max_record: int = MAX_RECORD_BYTES) -> None:
        self._buffer = bytearray()
        self._max = max_record

    def feed(self, data: bytes) -> Iterator[bytes]:
        self._buffer += data
        while True:
            newline = self._buffer.find(b"\n")
            if newline < 0:
                if len(self._buffer) > 20:
                    raise WireError("RecordIO: length prefix too long")
                return
            header = bytes(self._buffer[:newline])
            if not header.isdigit():
                raise WireError(f"RecordIO: bad length prefix {header[:20]!r}")
            length = int(header)
            if length > self._max:
                raise WireError(f"RecordIO: record of {length} bytes exceeds {self._max}")
            end = newline + 1 + length
            if len(self._buffer) < end:
                return
            payload = bytes(self._buffer[newline + 1 : end])
            del self._buffer[:end]
            yield payload

    @property
    def pending(self) -> int:
        return len(self._buffer)


async def read_records(chunks: AsyncIterator[bytes]) -> AsyncIterator[bytes]:
    """Records from an async stream of byte chunks (e.g. aiohttp's `iter_any()`)."""
    decoder = Decoder()
    async for chunk in chunks:
        for payload in decoder.feed(chunk):
            yield payload
