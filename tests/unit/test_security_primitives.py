"""The security building blocks on their own: Mesos credential files (JSON and text),
executor tokens (JWT HS256 over fid/eid/cid), and TLS settings from LIBPROCESS_SSL_*."""

from __future__ import annotations

import json
import ssl

import pytest

from mesos_runtime.security import executor_tokens
from mesos_runtime.security.credentials import (
    CredentialError,
    environment_credential,
    load_credential,
    load_credentials,
)
from mesos_runtime.security.tls import TlsError, TlsSettings, client_context, server_context
from tests.harness.tls import make_pki


def test_credentials_files_in_mesos_json_and_text_forms(tmp_path) -> None:
    doc = {"credentials": [{"principal": "a", "secret": "sa"}, {"principal": "b", "secret": "sb"}]}
    path = tmp_path / "credentials.json"
    path.write_text(json.dumps(doc))
    credentials = load_credentials(str(path))
    assert credentials.verify("a", "sa") and credentials.verify("b", "sb")
    assert not credentials.verify("a", "sb") and not credentials.verify("nobody", "sa")
    text = tmp_path / "credentials.txt"
    text.write_text("# comment\na sa\nb  sb \n")
    assert load_credentials(str(text)).verify("b", "sb")
    assert load_credentials(json.dumps(doc)).verify("a", "sa")  # inline, as file:// gives it
    one = tmp_path / "agent.json"
    one.write_text('{"principal": "agent", "secret": "x"}')
    assert load_credential(str(one)).principal == "agent"
    assert "x" not in repr(load_credential(str(one)))  # secrets never printed
    assert environment_credential({"INFINITY_CREDENTIAL": str(one)}).principal == "agent"  # type: ignore[union-attr]
    assert environment_credential({}) is None


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("{nope", "not valid JSON"),
        ('{"credentials": {}}', "'credentials' must be a list"),
        (
            '{"credentials": [{"secret": "s"}]}',
            "missing required field 'credentials\\[0\\].principal'",
        ),
        ("justaprincipal\n", "line 1: expected 'principal secret'"),
        ("", "holds no credentials"),
    ],
)
def test_bad_credentials_files_are_refused_saying_why(tmp_path, content, message) -> None:
    path = tmp_path / "bad"
    path.write_text(content)
    with pytest.raises(CredentialError, match=message):
        load_credentials(str(path))
    with pytest.raises(CredentialError, match="cannot read"):
        load_credentials(str(tmp_path / "missing"))


def test_executor_tokens_open_only_for_their_executor_and_key() -> None:
    key = b"k" * 32
    claims = executor_tokens.ExecutorClaims("fw", "ex", "c1")
    token = executor_tokens.issue(key, claims)
    assert executor_tokens.verify(key, token) == claims
    with pytest.raises(executor_tokens.TokenError, match="signature"):
        executor_tokens.verify(b"x" * 32, token)
    header, _payload, signature = token.split(".")
    forged = executor_tokens.issue(b"x" * 32, executor_tokens.ExecutorClaims("fw", "other", "c1"))
    with pytest.raises(executor_tokens.TokenError, match="signature"):
        executor_tokens.verify(key, f"{header}.{forged.split('.')[1]}.{signature}")
    for junk in ("", "a.b", "a.b.c", "x" * 5000):
        with pytest.raises(executor_tokens.TokenError):
            executor_tokens.verify(key, junk)


def test_the_executor_key_is_created_once_and_kept_private(tmp_path) -> None:
    path = tmp_path / "meta" / "executor_secret_key"
    key = executor_tokens.load_or_create_key(None, path)
    assert executor_tokens.load_or_create_key(None, path) == key
    assert path.stat().st_mode & 0o777 == 0o600
    short = tmp_path / "short"
    short.write_bytes(b"abc")
    with pytest.raises(ValueError, match="fewer than 16 bytes"):
        executor_tokens.load_or_create_key(str(short), path)


def test_tls_settings_come_from_libprocess_environment(tmp_path) -> None:
    assert server_context(TlsSettings.from_environment({})) is None
    assert client_context(TlsSettings.from_environment({})) is None
    pki = make_pki(tmp_path)
    settings = TlsSettings.from_environment(pki.environment(require_cert=True))
    server = server_context(settings)
    assert server is not None and server.verify_mode is ssl.CERT_REQUIRED
    client = client_context(settings)
    assert client is not None and client.check_hostname
    assert TlsSettings.from_environment({"SSL_ENABLED": "1"}).enabled  # libprocess' short form
    with pytest.raises(TlsError, match="LIBPROCESS_SSL_CERT_FILE"):
        server_context(TlsSettings.from_environment({"LIBPROCESS_SSL_ENABLED": "true"}))
    broken = {**pki.environment(), "LIBPROCESS_SSL_KEY_FILE": str(tmp_path / "none")}
    with pytest.raises(TlsError, match="KEY_FILE"):
        server_context(TlsSettings.from_environment(broken))
