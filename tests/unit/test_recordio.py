"""RecordIO framing as Mesos streams it: `<length>\n<json>`."""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mesos_runtime.wire import WireError
from mesos_runtime.wire.recordio import Decoder, encode, encode_json


def test_encode_json_is_compact_with_no_newline() -> None:
    record = encode_json({"type": "HEARTBEAT", "x": [1, 2]})
    header, _, body = record.partition(b"\n")
    assert int(header) == len(body)
    assert b"\n" not in body and b" " not in body
    assert json.loads(body) == {"type": "HEARTBEAT", "x": [1, 2]}


@given(st.lists(st.binary(max_size=300), max_size=20), st.integers(min_value=1, max_value=17))
def test_records_survive_any_chunking(payloads: list[bytes], chunk: int) -> None:
    stream = b"".join(encode(p) for p in payloads)
    decoder = Decoder()
    out: list[bytes] = []
    for i in range(0, len(stream), chunk):
        out.extend(decoder.feed(stream[i : i + chunk]))
    assert out == payloads
    assert decoder.pending == 0


def test_bad_length_prefix_is_an_error() -> None:
    with pytest.raises(WireError, match="bad length prefix"):
        list(Decoder().feed(b"abc\n{}"))
    with pytest.raises(WireError, match="exceeds"):
        list(Decoder(max_record=10).feed(b"100\n"))
