"""kopf's session with the API server, with a bound on the requests it has in flight.

kopf's own session opens one connection per concurrent request, without limit (aiohttp
``limit=0``). When many objects appear at once every object's worker patches its object and
posts its Events at the same moment, so the connections pile up: a heap profile of the operator
while 300 of each kind converged found 458 TLS connections open at once, each holding asyncio's
read buffer (128 KiB) besides OpenSSL's own buffers, 57 MiB of buffers in all, and the memory
they leave behind stays with the process. Their handshakes also cost CPU on the operator's two
cores and the API server's.

This session is kopf's, made the same way from the same credentials (the kubeconfig or the
in-cluster account, read by ``kopf.login_via_client``), with one difference: a request other
than a watch waits for one of ``REQUESTS_IN_FLIGHT`` slots from its start until its response
headers arrive (aiohttp's request tracing, which signals the end or the failure, cancellation
included, of every request it signalled the start of). Watches take no slot: their number
depends on the kinds and namespaces watched, and one whose response is slow to start must not
keep requests waiting. A connection is reused once its response has been read, so about as
many stay open as there are slots (plus the watches).
"""

from __future__ import annotations

import asyncio
from types import SimpleNamespace
from typing import Final

import aiohttp
import kopf
from yarl import URL

#: requests (not watches) in flight at once; more wait for a slot. The operator's handler
#: threads have their own 32 connections (``kube.CONNECTION_POOL_SIZE``).
REQUESTS_IN_FLIGHT: Final = 32


def is_watch(url: URL) -> bool:
    """A watch request (``?watch=true``): it streams until the server closes it."""
    return url.query.get("watch", "").lower() in ("true", "1")


class RequestSlots:
    """At most ``limit`` requests other than watches between their start and their response."""

    def __init__(self, limit: int) -> None:
        if limit < 1:
            raise ValueError(f"at least one request must be allowed in flight, not {limit}")
        self.limit = limit
        self._free = asyncio.Semaphore(limit)
        self.in_flight = 0

    def trace_config(self) -> aiohttp.TraceConfig:
        config = aiohttp.TraceConfig()
        config.on_request_start.append(self._started)
        config.on_request_end.append(self._ended)
        config.on_request_exception.append(self._ended)
        return config

    async def _started(
        self,
        _session: aiohttp.ClientSession,
        context: SimpleNamespace,
        params: aiohttp.TraceRequestStartParams,
    ) -> None:
        context.holds_slot = False
        if is_watch(params.url):
            return
        await self._free.acquire()  # cancelled here: the request never started, holds nothing
        context.holds_slot = True
        self.in_flight += 1

    async def _ended(
        self,
        _session: aiohttp.ClientSession,
        context: SimpleNamespace,
        _params: aiohttp.TraceRequestEndParams | aiohttp.TraceRequestExceptionParams,
    ) -> None:
        if getattr(context, "holds_slot", False):
            context.holds_slot = False
            self.in_flight -= 1
            self._free.release()


def bounded_session(
    info: kopf.ConnectionInfo, *, requests: int = REQUESTS_IN_FLIGHT
) -> kopf.AiohttpSession:
    """kopf's session for ``info`` (as kopf builds it), with ``requests`` slots for requests.

    Call it inside the operator's event loop (an async login handler): the session belongs to
    the loop it is made in.
    """
    slots = RequestSlots(requests)
    session = aiohttp.ClientSession(
        connector=aiohttp.TCPConnector(limit=0, ssl=info.as_ssl_context()),
        headers=info.as_http_headers(),
        proxy=info.proxy_url,
        trust_env=info.trust_env,
        trace_configs=[slots.trace_config()],
    )
    return kopf.AiohttpSession(
        aiohttp_session=session,
        server=info.server,
        default_namespace=info.default_namespace,
        priority=info.priority,
        expiration=info.expiration,
    )
