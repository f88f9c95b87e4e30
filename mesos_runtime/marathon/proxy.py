"""Non-leaders forward API requests to the leading Marathon, as Marathon does: same method,
path, query, headers and body; the answer streamed back with `X-Marathon-Leader` naming
the leader. A request that already went through a proxy is not forwarded again.

With TLS the leader is reached over https, verified against the CA (`LIBPROCESS_SSL_CA_FILE`);
the caller's `Authorization` goes along, so the leader authenticates the caller itself."""

from __future__ import annotations

import ssl

import aiohttp
from aiohttp import web

__all__ = ["LeaderProxy"]

_VIA = "X-Marathon-Via"
_HOP_BY_HOP = {
    "connection",
    "keep-alive",
    "proxy-authenticate",
    "proxy-authorization",
    "te",
    "trailers",
    "transfer-encoding",
    "upgrade",
    "host",
    "content-length",
}


class LeaderProxy:
    def __init__(
        self,
        identifier: str,
        *,
        tls: ssl.SSLContext | None = None,
        connect_timeout: float = 5.0,
    ) -> None:
        self.identifier = identifier
        self.tls = tls
        self.scheme = "https" if tls is not None else "http"
        self.connect_timeout = connect_timeout
        self._session: aiohttp.ClientSession | None = None

    async def forward(self, request: web.Request, leader: str) -> web.StreamResponse:
        if request.headers.get(_VIA):
            return web.json_response(
                {"message": "Leader is unknown to the instance the request went through"},
                status=503,
            )
        if self._session is None:
            self._session = aiohttp.ClientSession(
                auto_decompress=False,
                connector=aiohttp.TCPConnector(ssl=self.tls if self.tls is not None else True),
            )
        headers = {k: v for k, v in request.headers.items() if k.lower() not in _HOP_BY_HOP}
        headers[_VIA] = self.identifier
        body = await request.read()
        streaming = request.path == "/v2/events"
        timeout = aiohttp.ClientTimeout(
            total=None if streaming else 60.0, sock_connect=self.connect_timeout
        )
        try:
            async with self._session.request(
                request.method,
                f"{self.scheme}://{leader}{request.rel_url}",
                headers=headers,
                data=body or None,
                allow_redirects=False,
                timeout=timeout,
            ) as upstream:
                response = web.StreamResponse(status=upstream.status)
                for key, value in upstream.headers.items():
                    if key.lower() not in _HOP_BY_HOP:
                        response.headers[key] = value
                response.headers["X-Marathon-Leader"] = f"{self.scheme}://{leader}"
                await response.prepare(request)
                async for chunk in upstream.content.iter_any():
                    await response.write(chunk)
                await response.write_eof()
                return response
        except (aiohttp.ClientError, OSError, TimeoutError) as e:
            return web.json_response(
                {"message": f"Could not reach the leader at {leader}: {e}"}, status=503
            )

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
