"""Executor secrets as Mesos hands them out: the agent signs a JSON Web Token (HS256) naming
the executor (`fid`, `eid`, `cid` claims: framework, executor and container ids) with its
`--executor_secret_key`, gives it to the executor in `MESOS_EXECUTOR_AUTHENTICATION_TOKEN`,
and the executor presents it as `Authorization: Bearer <token>`. A token opens the executor
API for that one executor run only.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import secrets
from dataclasses import dataclass
from pathlib import Path

ENV = "MESOS_EXECUTOR_AUTHENTICATION_TOKEN"
_HEADER = {"alg": "HS256", "typ": "JWT"}
KEY_BYTES = 32


class TokenError(ValueError):
    """A token that does not verify: the message says why (never echoing the token)."""


@dataclass(frozen=True, slots=True)
class ExecutorClaims:
    framework_id: str
    executor_id: str
    container_id: str


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def issue(key: bytes, claims: ExecutorClaims) -> str:
    header = _b64(json.dumps(_HEADER, separators=(",", ":")).encode())
    payload = _b64(
        json.dumps(
            {"fid": claims.framework_id, "eid": claims.executor_id, "cid": claims.container_id},
            separators=(",", ":"),
        ).encode()
    )
    signature = hmac.new(key, f"{header}.{payload}".encode(), hashlib.sha256).digest()
    return f"{header}.{payload}.{_b64(signature)}"


def verify(key: bytes, token: str) -> ExecutorClaims:
    parts = token.split(".")
    if len(parts) != 3 or len(token) > 4096:
        raise TokenError("not a JSON Web Token")
    header, payload, signature = parts
    expected = hmac.new(key, f"{header}.{payload}".encode(), hashlib.sha256).digest()
    try:
        presented = _unb64(signature)
    except ValueError:
        raise TokenError("the token is malformed") from None
    if not hmac.compare_digest(presented, expected):
        raise TokenError("the token's signature does not verify")
    try:
        algorithm = json.loads(_unb64(header)).get("alg")
        claims = json.loads(_unb64(payload))
        parsed = ExecutorClaims(str(claims["fid"]), str(claims["eid"]), str(claims["cid"]))
    except (ValueError, KeyError, TypeError, AttributeError):
        raise TokenError("the token is malformed") from None
    if algorithm != "HS256":
        raise TokenError("the token is not signed with HS256")
    return parsed


def load_or_create_key(flag: str | None, default: Path) -> bytes:
    """`--executor_secret_key` (a file), else a key kept at `default` (created once, 0600, so
    that executors keep their tokens across agent restarts)."""
    if flag:
        try:
            key = Path(flag).read_bytes().strip()
        except OSError as e:
            raise ValueError(f"--executor_secret_key: cannot read {flag}: {e.strerror}") from None
        if len(key) < 16:
            raise ValueError(f"--executor_secret_key: {flag} holds fewer than 16 bytes")
        return key
    try:
        return default.read_bytes()
    except FileNotFoundError:
        pass
    default.parent.mkdir(parents=True, exist_ok=True)
    key = secrets.token_bytes(KEY_BYTES)
    tmp = default.with_name(f".{default.name}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(key)
    os.replace(tmp, default)
    return key
