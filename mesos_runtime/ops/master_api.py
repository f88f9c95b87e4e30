"""The leading master's operator API for day-2 operations: find the leader among the
inventory's masters (`/master/redirect`), call `POST /api/v1` (GET_AGENTS, DRAIN_AGENT,
REACTIVATE_AGENT, MARK_AGENT_GONE), as the operator principal over TLS when the cluster's
security is on (the CA, client certificate and secret the roles generated)."""

from __future__ import annotations

import base64
import json
import ssl
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from typing import Any

from .inventory import Inventory, InventoryHost

OPERATOR_PRINCIPAL = "operator"


class MasterApiError(RuntimeError):
    pass


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


@dataclass(frozen=True)
class OperatorApi:
    inventory: Inventory
    timeout: float = 10.0

    def _context(self) -> ssl.SSLContext | None:
        settings = self.inventory.settings
        if not settings.security:
            return None
        secrets = settings.secrets_dir
        context = ssl.create_default_context(cafile=str(secrets / "ca" / "ca.crt"))
        context.load_cert_chain(str(secrets / "operator.crt"), str(secrets / "operator.key"))
        return context

    def _headers(self) -> dict[str, str]:
        headers = {"Content-Type": "application/json", "Accept": "application/json"}
        settings = self.inventory.settings
        if settings.security:
            secret = (settings.secrets_dir / "credentials" / OPERATOR_PRINCIPAL).read_text().strip()
            token = base64.b64encode(f"{OPERATOR_PRINCIPAL}:{secret}".encode()).decode()
            headers["Authorization"] = f"Basic {token}"
        return headers

    def _open(self, request: urllib.request.Request) -> Any:
        handlers: list[Any] = [_NoRedirect()]
        context = self._context()
        if context is not None:
            handlers.append(urllib.request.HTTPSHandler(context=context))
        return urllib.request.build_opener(*handlers).open(request, timeout=self.timeout)

    def master_url(self, master: InventoryHost) -> str:
        settings = self.inventory.settings
        return f"{settings.scheme}://{master.address}:{settings.master_port}"

    def leader(self, wait: float = 30.0) -> str:
        """The leading master's base URL, waiting out an election for up to `wait` s."""
        masters = self.inventory.group("masters")
        if not masters:
            raise MasterApiError(f"the inventory {self.inventory.path} has no 'masters' group")
        deadline = time.monotonic() + wait
        problems: dict[str, str] = {}
        while True:
            for master in masters:
                request = urllib.request.Request(self.master_url(master) + "/master/redirect")
                try:
                    self._open(request)
                    problems[master.name] = "answered without naming a leader"
                except urllib.error.HTTPError as e:
                    location = e.headers.get("Location", "")
                    if e.code == 307 and location.startswith("//"):
                        return f"{self.inventory.settings.scheme}:{location.rstrip('/')}"
                    problems[master.name] = f"{e.code} {e.reason}"
                except (urllib.error.URLError, OSError) as e:
                    problems[master.name] = str(getattr(e, "reason", e))
            if time.monotonic() >= deadline:
                raise MasterApiError(
                    "no leading master: "
                    + "; ".join(f"{name}: {why}" for name, why in sorted(problems.items()))
                )
            time.sleep(0.5)

    def call(self, body: dict[str, Any], leader: str | None = None) -> Any:
        url = (leader or self.leader()) + "/api/v1"
        request = urllib.request.Request(
            url, data=json.dumps(body).encode(), headers=self._headers(), method="POST"
        )
        try:
            with self._open(request) as response:
                raw = response.read()
        except urllib.error.HTTPError as e:
            message = e.read().decode(errors="replace").strip()
            raise MasterApiError(
                f"{body['type']}: the master answered {e.code}: {message}"
            ) from None
        except (urllib.error.URLError, OSError) as e:
            raise MasterApiError(
                f"{body['type']}: cannot reach {url}: {getattr(e, 'reason', e)}"
            ) from None
        return json.loads(raw) if raw else None

    def agents(self, leader: str | None = None) -> list[dict[str, Any]]:
        reply = self.call({"type": "GET_AGENTS"}, leader)
        return list(reply.get("get_agents", {}).get("agents", []))

    def agent_of(self, host: InventoryHost, leader: str | None = None) -> dict[str, Any] | None:
        """The registered agent running on `host` (matched by its pid's address)."""
        for agent in self.agents(leader):
            if agent.get("pid", "").split("@")[-1].split(":")[0] == host.address:
                return agent
        return None
