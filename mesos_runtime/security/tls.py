"""TLS configured as Mesos' libprocess configures it, from the environment:

    LIBPROCESS_SSL_ENABLED=true          TLS on every listener and client
    LIBPROCESS_SSL_CERT_FILE=/path.pem   this process' certificate (chain)
    LIBPROCESS_SSL_KEY_FILE=/path.key    and its private key
    LIBPROCESS_SSL_CA_FILE=/ca.pem       the CA(s) peers are verified against
    LIBPROCESS_SSL_CA_DIR=/dir           (or a directory of them)
    LIBPROCESS_SSL_REQUIRE_CERT=true     servers demand a client certificate
    LIBPROCESS_SSL_VERIFY_CERT=true      clients verify servers (default: true here)

(`SSL_*` without the prefix is accepted too, as libprocess does.) Servers and clients of the
runtime build their `ssl.SSLContext` here; with TLS off they get None and speak plain HTTP.
"""

from __future__ import annotations

import os
import ssl
from collections.abc import Mapping
from dataclasses import dataclass

__all__ = ["TlsError", "TlsSettings", "client_context", "scheme", "server_context"]

_TRUE = ("1", "true", "yes", "on")


class TlsError(ValueError):
    """TLS settings that cannot be used: the message names the variable."""


def _get(env: Mapping[str, str], name: str) -> str | None:
    return env.get(f"LIBPROCESS_SSL_{name}") or env.get(f"SSL_{name}")


@dataclass(frozen=True, slots=True)
class TlsSettings:
    enabled: bool = False
    cert_file: str | None = None
    key_file: str | None = None
    ca_file: str | None = None
    ca_dir: str | None = None
    require_cert: bool = False
    verify_cert: bool = True

    @classmethod
    def from_environment(cls, env: Mapping[str, str] | None = None) -> TlsSettings:
        env = os.environ if env is None else env
        enabled = (_get(env, "ENABLED") or "false").lower() in _TRUE
        verify = _get(env, "VERIFY_CERT")
        return cls(
            enabled=enabled,
            cert_file=_get(env, "CERT_FILE"),
            key_file=_get(env, "KEY_FILE"),
            ca_file=_get(env, "CA_FILE"),
            ca_dir=_get(env, "CA_DIR"),
            require_cert=(_get(env, "REQUIRE_CERT") or "false").lower() in _TRUE,
            verify_cert=True if verify is None else verify.lower() in _TRUE,
        )

    def environment(self) -> dict[str, str]:
        """These settings as LIBPROCESS_SSL_* variables (for the processes a daemon starts)."""
        if not self.enabled:
            return {}
        out = {"LIBPROCESS_SSL_ENABLED": "true"}
        for name, value in (
            ("CERT_FILE", self.cert_file),
            ("KEY_FILE", self.key_file),
            ("CA_FILE", self.ca_file),
            ("CA_DIR", self.ca_dir),
        ):
            if value:
                out[f"LIBPROCESS_SSL_{name}"] = value
        out["LIBPROCESS_SSL_REQUIRE_CERT"] = str(self.require_cert).lower()
        out["LIBPROCESS_SSL_VERIFY_CERT"] = str(self.verify_cert).lower()
        return out

    def _trust(self, context: ssl.SSLContext) -> None:
        if self.ca_file or self.ca_dir:
            try:
                context.load_verify_locations(cafile=self.ca_file, capath=self.ca_dir)
            except (OSError, ssl.SSLError) as e:
                raise TlsError(f"LIBPROCESS_SSL_CA_FILE/CA_DIR: cannot load CAs: {e}") from None
        else:
            context.load_default_certs()

    def _identity(self, context: ssl.SSLContext, required: bool) -> None:
        if not self.cert_file or not self.key_file:
            if required:
                raise TlsError(
                    "LIBPROCESS_SSL_ENABLED needs LIBPROCESS_SSL_CERT_FILE and "
                    "LIBPROCESS_SSL_KEY_FILE for a server"
                )
            return
        try:
            context.load_cert_chain(self.cert_file, self.key_file)
        except (OSError, ssl.SSLError) as e:
            raise TlsError(
                f"LIBPROCESS_SSL_CERT_FILE/KEY_FILE ({self.cert_file}, {self.key_file}): {e}"
            ) from None


def server_context(settings: TlsSettings | None = None) -> ssl.SSLContext | None:
    """The context a listener serves TLS with (None: TLS is off)."""
    settings = settings or TlsSettings.from_environment()
    if not settings.enabled:
        return None
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    settings._identity(context, required=True)
    if settings.require_cert:
        settings._trust(context)
        context.verify_mode = ssl.CERT_REQUIRED
    return context


def client_context(settings: TlsSettings | None = None) -> ssl.SSLContext | None:
    """The context a client connects with (None: TLS is off). It presents this process'
    certificate when one is configured (servers may require it)."""
    settings = settings or TlsSettings.from_environment()
    if not settings.enabled:
        return None
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    if settings.verify_cert:
        settings._trust(context)
    else:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    settings._identity(context, required=False)
    return context


def scheme(context: ssl.SSLContext | None) -> str:
    return "https" if context is not None else "http"
