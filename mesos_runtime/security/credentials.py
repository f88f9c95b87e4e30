"""Mesos' credential files: `--credentials` (the master's, or an agent's
`--http_credentials`) holds principals and their secrets, `--credential` (an agent's, a
framework's) one of them. Both are Mesos' JSON, or the older text form, one
`principal secret` pair per line.

    {"credentials": [{"principal": "kafka", "secret": "s3cr3t"}]}
    {"principal": "agent", "secret": "s3cr3t"}

A flag may give the file's path or (as `file:///path` flag values are read by the flag
parser) its content; `load_*` accept both.
"""

from __future__ import annotations

import hmac
import json
import os
from collections.abc import Iterable, Mapping
from pathlib import Path

from mesos_runtime.wire.mesos import Credential
from mesos_runtime.wire.record import WireError

__all__ = [
    "Credential",
    "CredentialError",
    "Credentials",
    "credentials_flag",
    "environment_credential",
    "load_credential",
    "load_credentials",
]


class CredentialError(ValueError):
    """A credentials file that cannot be used; the message names it and says why."""


def _text(source: str | Path) -> tuple[str, str]:
    """(content, what to call it in errors) of a path or of inline content."""
    text = str(source)
    if text.lstrip().startswith("{") or "\n" in text:
        return text, "the credentials given inline"
    path = Path(text)
    try:
        return path.read_text(), str(path)
    except OSError as e:
        raise CredentialError(f"cannot read credentials file {path}: {e.strerror}") from None


def _parse(text: str, where: str) -> list[Credential]:
    stripped = text.strip()
    if stripped.startswith("{"):
        try:
            doc = json.loads(stripped)
        except ValueError as e:
            raise CredentialError(f"{where} is not valid JSON: {e}") from None
        entries = doc.get("credentials", [doc]) if isinstance(doc, dict) else None
        if not isinstance(entries, list):
            raise CredentialError(f"{where}: 'credentials' must be a list")
        try:
            return [Credential.from_json(e, f"credentials[{i}]") for i, e in enumerate(entries)]
        except WireError as e:
            raise CredentialError(f"{where}: {e}") from None
    credentials = []
    for number, line in enumerate(stripped.splitlines(), start=1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        principal, _, secret = line.strip().partition(" ")
        if not secret.strip():
            raise CredentialError(f"{where}, line {number}: expected 'principal secret'")
        credentials.append(Credential(principal=principal, secret=secret.strip()))
    return credentials


def load_credential(source: str | Path) -> Credential:
    """The one credential in a file (an agent's or a framework's `--credential`)."""
    text, where = _text(source)
    found = _parse(text, where)
    if len(found) != 1:
        raise CredentialError(f"{where}: expected one credential, found {len(found)}")
    return found[0]


# a client's credential file, for the CLI and for frameworks built on the scheduler library
CREDENTIAL_ENV = "INFINITY_CREDENTIAL"


def environment_credential(environ: Mapping[str, str] | None = None) -> Credential | None:
    """The credential `$INFINITY_CREDENTIAL` names (None when unset)."""
    path = (os.environ if environ is None else environ).get(CREDENTIAL_ENV)
    return load_credential(path) if path else None


def load_credentials(source: str | Path) -> Credentials:
    """Every principal and secret in a `--credentials` file."""
    text, where = _text(source)
    found = _parse(text, where)
    if not found:
        raise CredentialError(f"{where} holds no credentials")
    return Credentials(found)


def credentials_flag(flag: str, value: str | None) -> Credentials | None:
    """The credentials a daemon's `--<flag>` names (None when unset); ValueError naming
    the flag when they cannot be used."""
    if not value:
        return None
    try:
        return load_credentials(value)
    except CredentialError as e:
        raise ValueError(f"--{flag}: {e}") from None


class Credentials:
    """Principals and their secrets; checks a presented secret in constant time."""

    def __init__(self, credentials: Iterable[Credential]) -> None:
        self._secrets = {c.principal: (c.secret or "").encode() for c in credentials}

    def __len__(self) -> int:
        return len(self._secrets)

    def __contains__(self, principal: object) -> bool:
        return principal in self._secrets

    def verify(self, principal: str, secret: str) -> bool:
        expected = self._secrets.get(principal)
        presented = secret.encode("utf-8", "surrogateescape")
        if expected is None:
            hmac.compare_digest(presented, presented)  # the same work for unknown principals
            return False
        return hmac.compare_digest(presented, expected)
