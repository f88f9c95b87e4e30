"""Who may call Marathon's REST API and over what: HTTPS on `--https_port` when TLS is
configured (the `LIBPROCESS_SSL_*` environment, as every daemon here reads it), plain HTTP
on `--http_port` unless `--disable_http`, and HTTP Basic against `--http_credentials
user:password` and/or `--http_credentials_file` (a Mesos credentials file) in `--http_realm`.

Authentication is one layer in front of the handlers: every path but `/ping` needs valid
credentials once any are configured (`/ping` stays open for liveness probes, as Marathon's).
"""

from __future__ import annotations

import json
import ssl
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass

from aiohttp import web
from aiohttp.typedefs import Middleware

from mesos_runtime.security.authentication import BasicAuthenticator
from mesos_runtime.security.credentials import (
    Credential,
    CredentialError,
    Credentials,
    load_credentials,
)
from mesos_runtime.security.tls import TlsError, TlsSettings, client_context, server_context

from .flags import MarathonFlags

__all__ = ["ApiSecurity", "SecurityInvalid", "api_security", "authentication"]

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

# answered without credentials (Marathon's liveness endpoint)
OPEN_PATHS = frozenset({"/ping"})


class SecurityInvalid(ValueError):
    """TLS or credential flags that cannot be used (the message names the flag)."""


@dataclass(frozen=True)
class ApiSecurity:
    """How this instance serves its API and reaches the leader when it proxies."""

    server_tls: ssl.SSLContext | None  # None: no HTTPS listener
    client_tls: ssl.SSLContext | None  # the leader proxy's (verifies against the CA)
    credentials: Credentials | None  # None: no authentication
    realm: str
    serve_http: bool

    @property
    def scheme(self) -> str:
        """How the instances reach each other and are advertised: https whenever TLS is on."""
        return "https" if self.server_tls is not None else "http"


def _http_credentials(flags: MarathonFlags) -> Credentials | None:
    if flags.http_credentials is not None and flags.http_credentials_file is not None:
        raise SecurityInvalid("give --http_credentials or --http_credentials_file, not both")
    if flags.http_credentials is not None:
        principal, colon, secret = flags.http_credentials.partition(":")
        if not colon or not principal or not secret:
            raise SecurityInvalid("--http_credentials: expected user:password")
        return Credentials([Credential(principal=principal, secret=secret)])
    if flags.http_credentials_file is not None:
        try:
            return load_credentials(flags.http_credentials_file)
        except CredentialError as e:
            raise SecurityInvalid(f"--http_credentials_file: {e}") from None
    return None


def api_security(flags: MarathonFlags, env: Mapping[str, str] | None = None) -> ApiSecurity:
    """The API's TLS contexts and credentials from the flags and the environment; raises
    SecurityInvalid naming the first flag or variable that cannot be used."""
    settings = TlsSettings.from_environment(env)
    try:
        server = server_context(settings)
        client = client_context(settings)
    except TlsError as e:
        raise SecurityInvalid(str(e)) from None
    if flags.disable_http and server is None:
        raise SecurityInvalid(
            "--disable_http needs HTTPS: set LIBPROCESS_SSL_ENABLED=true with "
            "LIBPROCESS_SSL_CERT_FILE and LIBPROCESS_SSL_KEY_FILE"
        )
    if server is not None and not 0 < flags.https_port < 65536:
        raise SecurityInvalid(f"--https_port={flags.https_port}: expected a port in 1-65535")
    if server is not None and not flags.disable_http and flags.https_port == flags.http_port:
        raise SecurityInvalid(
            f"--https_port={flags.https_port} is --http_port too: give HTTPS its own port "
            "or --disable_http"
        )
    if not flags.http_realm.strip() or '"' in flags.http_realm:
        raise SecurityInvalid("--http_realm: expected a non-empty name without quotes")
    return ApiSecurity(
        server_tls=server,
        client_tls=client,
        credentials=_http_credentials(flags),
        realm=flags.http_realm,
        serve_http=not flags.disable_http,
    )


def authentication(security: ApiSecurity) -> Middleware:
    """The middleware that refuses anonymous and wrongly authenticated callers with 401,
    `WWW-Authenticate: Basic realm=...` and Marathon's JSON `{"message": ...}`."""
    authenticator = BasicAuthenticator(security.credentials)

    @web.middleware
    async def authenticate(request: web.Request, handler: Handler) -> web.StreamResponse:
        if security.credentials is None or request.path in OPEN_PATHS:
            return await handler(request)
        refused = authenticator.authenticate(request, security.realm, required=True)
        if refused is None:
            return await handler(request)
        return web.Response(
            status=401,
            text=json.dumps({"message": refused.text}),
            content_type="application/json",
            headers={"WWW-Authenticate": refused.headers["WWW-Authenticate"]},
        )

    return authenticate
