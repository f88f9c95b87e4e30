"""HTTP Basic authentication as Mesos' basic authenticator does it: a request may carry
`Authorization: Basic base64(principal:secret)`; checked against `--credentials`, it names
the request's principal. Where a realm requires authentication a request without valid
credentials is answered 401 with `WWW-Authenticate: Basic realm="<realm>"`; elsewhere a
request without credentials goes on unauthenticated (and bad credentials are still 401).
"""

from __future__ import annotations

import base64
import binascii

from aiohttp import web

from mesos_runtime.wire.mesos import Credential

from .credentials import Credentials

# where a request's authenticated principal is kept (None: unauthenticated)
PRINCIPAL = "mesos.principal"

# Mesos' realms
MASTER_SCHEDULER = "mesos-master-scheduler"
MASTER_READONLY = "mesos-master-readonly"
MASTER_READWRITE = "mesos-master-readwrite"
MASTER_AGENT = "mesos-master-agent"
AGENT_READONLY = "mesos-agent-readonly"
AGENT_READWRITE = "mesos-agent-readwrite"
AGENT_EXECUTOR = "mesos-agent-executor"


def basic_header(credential: Credential) -> str:
    """The `Authorization` header value that presents `credential`."""
    pair = f"{credential.principal}:{credential.secret or ''}".encode()
    return "Basic " + base64.b64encode(pair).decode("ascii")


def unauthorized(realm: str, message: str, scheme: str = "Basic") -> web.Response:
    return web.Response(
        status=401,
        text=message,
        content_type="text/plain",
        headers={"WWW-Authenticate": f'{scheme} realm="{realm}"'},
    )


def forbidden(message: str) -> web.Response:
    return web.Response(status=403, text=message, content_type="text/plain")


def _presented(header: str) -> Credential | None:
    scheme, _, encoded = header.strip().partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        decoded = base64.b64decode(encoded.strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return None
    principal, colon, secret = decoded.partition(":")
    if not colon or not principal:
        return None
    return Credential(principal=principal, secret=secret)


class BasicAuthenticator:
    """Authenticates requests against one credentials set (None: authentication is off)."""

    def __init__(self, credentials: Credentials | None) -> None:
        self.credentials = credentials

    def authenticate(
        self, request: web.BaseRequest, realm: str, *, required: bool
    ) -> web.Response | None:
        """Record the request's principal (or None); a 401 response when it must not go on."""
        request[PRINCIPAL] = None
        header = request.headers.get("Authorization")
        if self.credentials is None:
            if required:  # refused at start-up; kept as a guard
                return unauthorized(realm, "Authentication is required but no credentials are set")
            return None
        if header is None:
            if required:
                return unauthorized(
                    realm, f"Authentication required: present HTTP Basic credentials ({realm})"
                )
            return None
        presented = _presented(header)
        if presented is None:
            return unauthorized(realm, "Malformed 'Authorization' header: expected HTTP Basic")
        if not self.credentials.verify(presented.principal, presented.secret or ""):
            return unauthorized(realm, f"Invalid credentials for principal '{presented.principal}'")
        request[PRINCIPAL] = presented.principal
        return None


def principal_of(request: web.BaseRequest) -> str | None:
    """The principal the request authenticated as (None: unauthenticated)."""
    try:
        value = request[PRINCIPAL]
    except KeyError:
        return None
    return value if isinstance(value, str) else None
