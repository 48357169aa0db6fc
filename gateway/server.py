"""GraphQL over HTTP: the one home of the protocol (methods, media types, status codes).

Follows the GraphQL-over-HTTP spec: POST with ``application/json`` bodies and GET with query
parameters, ``application/graphql-response+json`` when the client accepts it (request errors
then get 4xx), plain ``application/json`` otherwise, batched requests as JSON arrays, and
GraphiQL from assets inside the package for browsers. Subscriptions (and any operation asked for
as ``text/event-stream``, or sent over a WebSocket) stream through :mod:`gateway.transports`;
graphql-sse's single connection mode (``PUT``, ``DELETE`` and requests with an event-stream
token) through :mod:`gateway.sse_single`.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import hashlib
import json
import logging
import re
import time
import zoneinfo
from collections.abc import AsyncIterator, Mapping
from pathlib import Path
from typing import Any

from starlette.applications import Starlette
from starlette.requests import HTTPConnection, Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import BaseRoute, Mount, Route, WebSocketRoute
from starlette.staticfiles import StaticFiles
from starlette.websockets import WebSocket

from . import sse_single, transports
from .access import presented_key
from .admin import AdminApp
from .errors import (
    BatchRefused,
    BatchTooLarge,
    GatewayError,
    NotAcceptable,
    PayloadTooLarge,
    PersistedQueryNotFound,
    RequestError,
    SubscriptionNeedsStream,
    Unauthenticated,
    UnsupportedMediaType,
    catalogue,
)
from .execution import Caller, GraphQLRequest, Result, dumps_response
from .graphiql import graphiql_page
from .mcp_tools import McpEndpoint
from .monitor import Monitor
from .persisted import PersistedDocuments, persisted_documents
from .service import Gateway

log = logging.getLogger(__name__)
STATIC_DIR = Path(__file__).resolve().parent / "static"
GRAPHQL_RESPONSE = "application/graphql-response+json"
JSON = "application/json"
ZONE_NAME = re.compile(r"[A-Za-z0-9_+\-]+(/[A-Za-z0-9_+\-]+)*")


class GraphQLJSONResponse(JSONResponse):
    """A JSON response that cannot fail to encode (unpaired surrogates are escaped)."""

    def render(self, content: Any) -> bytes:
        return dumps_response(content)


def _media_type(accept: str | None) -> str | None:
    """Pick the response media type from Accept, or None when nothing acceptable is offered."""
    if not accept:
        return JSON
    offered = [part.split(";")[0].strip().lower() for part in accept.split(",")]
    if GRAPHQL_RESPONSE in offered:
        return GRAPHQL_RESPONSE
    if any(t in (JSON, "application/*", "*/*") for t in offered):
        return JSON
    return None


@functools.lru_cache(maxsize=1)
def _zones() -> frozenset[str]:
    return frozenset(zoneinfo.available_timezones())


def valid_timezone(name: str) -> bool:
    """True for an IANA zone name (``Europe/Paris``, ``UTC``): nothing else reaches the prompt."""
    if len(name) > 64 or not ZONE_NAME.fullmatch(name):
        return False
    if _zones():
        return name in _zones()
    try:  # no zone list on this system: a name that loads is one
        zoneinfo.ZoneInfo(name)
        return True
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        return False


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


def load_json(raw: str | bytes, what: str) -> Any:
    """Parse JSON from a client; anything Python's parser chokes on is a 400, never a 500."""
    try:
        value = json.loads(raw, parse_constant=_no_constant)
        json.dumps(value, ensure_ascii=False).encode("utf-8")  # refuses unpaired surrogates
    except RecursionError as e:
        raise RequestError(f"{what} is nested too deeply") from e
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise RequestError(f"{what} is not valid JSON: {e}") from e
    except UnicodeEncodeError as e:
        raise RequestError(f"{what} holds text that is not valid Unicode (an unpaired surrogate)") from e
    except ValueError as e:  # a number too long to convert, NaN, Infinity
        raise RequestError(f"{what} is not acceptable JSON: {e}") from e
    return value


class GraphQLHTTP:
    """The GraphQL-over-HTTP endpoint: reads requests, hands them to ``Gateway.execute``, picks statuses."""

    def __init__(
        self, gateway: Gateway, persisted: PersistedDocuments | None = None, monitor: Monitor | None = None
    ) -> None:
        self.gateway = gateway
        self.persisted = persisted
        self.monitor = monitor
        self.graphiql_html = graphiql_page(STATIC_DIR / "graphiql.html", gateway.catalog)
        self.single_connections = sse_single.SingleConnections(self)

    async def handle(self, request: Request) -> Response:
        media = _media_type(request.headers.get("accept"))
        if request.method == "GET" and self.gateway.settings.graphiql and self._wants_graphiql(request):
            return HTMLResponse(self.graphiql_html)
        if request.method in ("PUT", "DELETE") or sse_single.token_of(request) is not None:
            return await self.single_connections.handle(request)  # graphql-sse, single connection mode
        if transports.wants_event_stream(request):
            return await transports.sse_response(self, request)
        if media is None and not transports.wants_multipart(request):
            return self._error_response(
                NotAcceptable(
                    f"cannot answer with {request.headers.get('accept')}; accept {GRAPHQL_RESPONSE} or {JSON}"
                ),
                JSON,
            )
        media = media or JSON
        started = time.perf_counter()
        try:
            caller = self.caller(request)
            payload = await self._read_params(request)
            read_only = request.method == "GET"
            if isinstance(payload, list):
                if not payload:
                    raise RequestError("a batch must hold at least one request")
                limit = self.gateway.settings.max_batch
                if len(payload) > limit:
                    raise BatchTooLarge(f"a batch holds at most {limit} requests")
                results = await self._run_batch(payload, caller, read_only)
                for r in results:
                    self._record(r, started)
                # each entry carries its own result; when none ran, the batch answers as its first refusal
                refusals = [r for r in results if r.code != BatchRefused.code]
                status, headers = (200, {}) if any(r.executed for r in results) else self._status(refusals[0], media)
                return GraphQLJSONResponse(
                    [r.formatted() for r in results], status_code=status, media_type=media, headers=headers
                )
            if transports.wants_multipart(request):
                streamed = self.request_from(payload)
                if not isinstance(streamed, Result) and transports.may_defer(streamed.document):
                    return await transports.multipart_response(self, streamed, caller, media, read_only)
            result = await self.run(payload, caller, read_only=read_only)
            if result.code == SubscriptionNeedsStream.code and transports.accepts_event_stream(request):
                streamed = self.request_from(payload)
                if not isinstance(streamed, Result):
                    return transports.event_stream(self, streamed, caller)
            response = self._result_response(result, media)
            response.headers.update(self._cache_headers(request.method, payload, result))
            return response
        except RequestError as e:
            self._record(Result(errors=[e.formatted()], executed=False), started)
            return self._error_response(e, media)

    async def run(self, params: Any, caller: Caller, read_only: bool = False) -> Result:
        """One request's parameters (as any transport carries them) to its result, counted for the admin stats."""
        started = time.perf_counter()
        request = self.request_from(params)
        if isinstance(request, Result):
            result = request
        else:
            result = await self.gateway.execute(
                request.document, request.variables, request.operation_name, caller, read_only=read_only
            )
        self._record(result, started)
        return result

    async def _run_batch(self, payload: list[Any], caller: Caller, read_only: bool) -> list[Result]:
        """A batch through ``execute_batch``; an APQ miss is no refusal of the others (the client
        resends that entry with its document), so it answers in place while the rest runs."""
        requests = [self.request_from(p) for p in payload]
        missed = [isinstance(r, Result) and r.code == PersistedQueryNotFound.code for r in requests]
        rest = [r for r, miss in zip(requests, missed, strict=True) if not miss]
        ran = iter(await self.gateway.execute_batch(rest, caller, read_only=read_only) if rest else [])
        return [r if miss and isinstance(r, Result) else next(ran) for r, miss in zip(requests, missed, strict=True)]

    def request_from(self, params: Any) -> GraphQLRequest | Result:
        """The request's document, taken from a persisted id or hash when it names one."""
        if self.persisted is not None and isinstance(params, dict):
            try:
                params = self.persisted.resolve(params).params
            except GatewayError as e:
                return Result(errors=[e.formatted()], executed=False)
        return GraphQLRequest.from_params(params)

    def _record(self, result: Result, started: float) -> None:
        if self.monitor is not None:
            fields = (result.extensions or {}).get("fields") or {}
            self.monitor.record(fields, result.errors, (time.perf_counter() - started) * 1000)

    def _cache_headers(self, method: str, params: Any, result: Result) -> dict[str, str]:
        """A GET that names its document by hash can be cached by a CDN; errors never are."""
        if method != "GET" or not isinstance(params, dict):
            return {}
        extensions = params.get("extensions")
        if params.get("documentId") is None and not (isinstance(extensions, dict) and "persistedQuery" in extensions):
            return {}
        if result.errors:
            return {"Cache-Control": "private, no-cache, must-revalidate"}
        max_age = self.gateway.settings.get_max_age
        if max_age <= 0:
            return {}
        scope = "private" if self.gateway.api_keys is not None else "public"
        return {"Cache-Control": f"{scope}, max-age={max_age}", "Vary": "Accept, Authorization, X-API-Key"}

    def caller(self, request: HTTPConnection, headers: Mapping[str, str] | None = None) -> Caller:
        """The caller's roles from their API key (401 without a valid one) and their time zone.

        ``headers`` stands in for the request's (a WebSocket's ``connection_init`` payload).
        """
        headers = request.headers if headers is None else headers
        roles: frozenset[str] = frozenset()
        key = presented_key(headers)
        if self.gateway.api_keys is not None:
            found = self.gateway.api_keys.roles_for(key)
            if found is None:
                raise Unauthenticated("a valid API key is required (Authorization: Bearer <key>)")
            roles = found
        timezone = headers.get("x-timezone")
        if timezone is not None and not valid_timezone(timezone.strip()):
            raise RequestError("X-Timezone must be an IANA time zone name such as Europe/Paris or UTC")
        # who is asking (whose templates, whose open subscriptions): a digest of the API key, or the
        # client address where keys are off
        who = (
            "key:" + hashlib.sha256(key.encode()).hexdigest()[:16]
            if key and self.gateway.api_keys is not None
            else "addr:" + (request.client.host if request.client else "")
        )
        return Caller(roles, timezone.strip() if timezone else None, who)

    @staticmethod
    def _wants_graphiql(request: Request) -> bool:
        accept = request.headers.get("accept", "")
        return "text/html" in accept and "query" not in request.query_params

    def _result_response(self, result: Result, media: str) -> Response:
        status, headers = self._status(result, media)
        return GraphQLJSONResponse(result.formatted(), status_code=status, media_type=media, headers=headers)

    @staticmethod
    def _status(result: Result, media: str) -> tuple[int, dict[str, str]]:
        """200 once a request ran; a request error has its own status (errors.py); another refusal is
        400 under application/graphql-response+json and 200 under application/json."""
        if result.executed:
            return 200, {}
        kind = catalogue().get(result.code or "")
        if kind is not None and issubclass(kind, RequestError):
            return kind.status, dict(kind.response_headers)
        return (400 if media == GRAPHQL_RESPONSE else 200), {}

    def _error_response(self, e: RequestError, media: str) -> Response:
        body = {"errors": [e.formatted()]}
        return GraphQLJSONResponse(body, status_code=e.status, media_type=media, headers=e.headers)

    async def _read_params(self, request: Request) -> Any:
        if request.method == "GET":
            params: dict[str, Any] = dict(request.query_params)
            for key in ("variables", "extensions"):
                if isinstance(params.get(key), str):
                    params[key] = load_json(params[key], key)
            return params
        content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
        limit = self.gateway.settings.max_body_bytes
        length = request.headers.get("content-length")
        if length and length.isdigit() and int(length) > limit:
            raise PayloadTooLarge(f"request body over {limit} bytes")
        body = bytearray()
        async for chunk in request.stream():
            body += chunk
            if len(body) > limit:
                raise PayloadTooLarge(f"request body over {limit} bytes")
        if content_type == "application/graphql":
            return {"query": body.decode("utf-8", "replace")}
        if content_type != JSON:
            raise UnsupportedMediaType(f"unsupported content type {content_type or '(none)'}; send {JSON}")
        return load_json(bytes(body), "the body")


def create_app(gateway: Gateway) -> Starlette:
    """The ASGI app serving ``gateway`` at ``/graphql`` (and ``/healthz``, ``/admin/graphql``, ``/mcp``);
    uvicorn or any ASGI server runs it. A bad persisted-documents manifest raises ``ManifestInvalid`` here."""
    s = gateway.settings
    persisted = persisted_documents(
        gateway.schema, gateway.engine, s.documents, s.trusted_documents_only, s.redis_url, s.redis_prefix
    )
    monitor = Monitor()
    http = GraphQLHTTP(gateway, persisted, monitor)
    mcp = McpEndpoint(gateway, http, persisted)

    async def health(_request: Request) -> Response:
        return JSONResponse({"status": "ok", "schema": gateway.catalog.version})

    async def websocket(ws: WebSocket) -> None:
        await transports.GraphQLWebSocket(http, ws).serve()

    routes: list[BaseRoute] = [
        Route("/graphql", http.handle, methods=["GET", "POST", "PUT", "DELETE"]),
        WebSocketRoute("/graphql", websocket),
        Route("/healthz", health),
        Route("/admin/graphql", AdminApp(gateway, monitor), methods=["GET", "POST"]),
        Route("/mcp", mcp, methods=["GET", "POST", "DELETE"]),
    ]
    if gateway.settings.graphiql:
        routes.append(Mount("/static", StaticFiles(directory=STATIC_DIR), name="static"))

    @contextlib.asynccontextmanager
    async def lifespan(_app: Starlette) -> AsyncIterator[None]:
        warming = asyncio.create_task(_warm(gateway))
        async with mcp.run():  # the MCP transport's task group
            yield
        warming.cancel()
        if persisted.store is not None:
            persisted.store.close()
        gateway.close()

    app = Starlette(routes=routes, lifespan=lifespan)
    app.state.gateway = gateway
    app.state.monitor = monitor
    return app


async def _warm(gateway: Gateway) -> None:
    """Start-up work in the background: read every field's prompt prefix into the model."""
    try:
        kept = await gateway.warm_model()
    except GatewayError as e:  # no model installed, say: the first request reports it properly
        log.warning("prompt warm-up skipped: %s", e.message)
        return
    if kept:
        log.info("prompt prefixes of %d fields read into the model", kept)


def app_from_env() -> Starlette:
    """App factory for ``uvicorn --workers N``: each worker builds the settings ``serve`` handed it (or GATEWAY_*)."""
    from .config import Settings

    return create_app(Gateway(Settings.from_env()))
