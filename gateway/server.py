"""GraphQL over HTTP: the one home of the protocol (methods, media types, status codes).

Follows the GraphQL-over-HTTP spec: POST with ``application/json`` bodies and GET with query
parameters, ``application/graphql-response+json`` when the client accepts it (request errors
then get 4xx), plain ``application/json`` otherwise, batched requests as JSON arrays, and
GraphiQL from assets inside the package for browsers. Subscriptions (and any operation asked for
as ``text/event-stream``) stream through :mod:`gateway.transports`.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
from pathlib import Path
from typing import Any, AsyncIterator, Mapping

import graphql.validation
from graphql import (
    ExecutionResult,
    FieldNode,
    GraphQLError,
    OperationDefinitionNode,
    OperationType,
    execute,
    get_operation_ast,
    parse,
    validate,
)
from graphql.execution.values import get_variable_values
from graphql.validation import NoSchemaIntrospectionCustomRule, specified_rules
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.requests import HTTPConnection
from starlette.routing import Mount, Route, WebSocketRoute
from starlette.websockets import WebSocket
from starlette.staticfiles import StaticFiles

from . import transports
from .access import presented_key
from .limits import check_complexity
from .service import Gateway, RequestContext

STATIC_DIR = Path(__file__).resolve().parent / "static"
GRAPHQL_RESPONSE = "application/graphql-response+json"
JSON = "application/json"


class RequestError(Exception):
    """A request that cannot be executed at all (no ``data`` in the response)."""

    def __init__(self, message: str, status: int = 400, code: str = "BAD_REQUEST", headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.message, self.status, self.code, self.headers = message, status, code, headers or {}


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


class GraphQLHTTP:
    def __init__(self, gateway: Gateway) -> None:
        self.gateway = gateway
        rules = list(specified_rules)
        # refuses cyclic introspection (fields { type { fields ... } }); graphql-core >= 3.2.7
        depth_rule = getattr(graphql.validation, "MaxIntrospectionDepthRule", None)
        if depth_rule is not None and depth_rule not in rules:
            rules.append(depth_rule)
        if not gateway.settings.introspection:
            rules.append(NoSchemaIntrospectionCustomRule)
        self.rules = rules
        self.graphiql_html = (STATIC_DIR / "graphiql.html").read_text(encoding="utf-8")

    # -- HTTP entry points ----------------------------------------------------------------
    async def handle(self, request: Request) -> Response:
        media = _media_type(request.headers.get("accept"))
        if request.method == "GET" and self.gateway.settings.graphiql and self._wants_graphiql(request):
            return HTMLResponse(self.graphiql_html)
        if transports.wants_event_stream(request):
            return await transports.sse_response(self, request)
        if media is None:
            return self._error_response(RequestError(
                f"cannot answer with {request.headers.get('accept')}; accept {GRAPHQL_RESPONSE} or {JSON}",
                406, "NOT_ACCEPTABLE"), JSON)
        try:
            ctx = self.gateway_context(request)
            payload = await self._read_params(request)
            if isinstance(payload, list):
                if not payload:
                    raise RequestError("a batch must hold at least one request")
                results = [await self.execute_request(p, request.method, media, ctx_for_batch(ctx)) for p in payload]
                return JSONResponse([body for _, body in results], status_code=200, media_type=media)
            status, body = await self.execute_request(payload, request.method, media, ctx)
            return JSONResponse(body, status_code=status, media_type=media)
        except RequestError as e:
            return self._error_response(e, media)

    def gateway_context(self, request: HTTPConnection, headers: Mapping[str, str] | None = None) -> RequestContext:
        """The caller's roles from their API key; without a valid key (when keys are set), 401."""
        headers = request.headers if headers is None else headers
        roles: frozenset[str] = frozenset()
        key = presented_key(headers)
        if self.gateway.api_keys is not None:
            found = self.gateway.api_keys.roles_for(key)
            if found is None:
                raise RequestError("a valid API key is required (Authorization: Bearer <key>)", 401,
                                   "UNAUTHENTICATED", {"WWW-Authenticate": "Bearer"})
            roles = found
        # subscriptions are counted per API key, or per client address where keys are off
        caller = ("key:" + hashlib.sha256(key.encode()).hexdigest()[:16] if key and self.gateway.api_keys
                  else "addr:" + (request.client.host if request.client else ""))
        return RequestContext(self.gateway, roles=roles, timezone=headers.get("x-timezone"), caller=caller)

    @staticmethod
    def _wants_graphiql(request: Request) -> bool:
        accept = request.headers.get("accept", "")
        return "text/html" in accept and "query" not in request.query_params

    def _error_response(self, e: RequestError, media: str) -> Response:
        body = {"errors": [{"message": e.message, "extensions": {"code": e.code}}]}
        return JSONResponse(body, status_code=e.status, media_type=media, headers=e.headers)

    async def _read_params(self, request: Request) -> Any:
        if request.method == "GET":
            params: dict[str, Any] = dict(request.query_params)
            for key in ("variables", "extensions"):
                if isinstance(params.get(key), str):
                    try:
                        params[key] = json.loads(params[key])
                    except json.JSONDecodeError as e:
                        raise RequestError(f"{key} is not valid JSON: {e.msg}") from e
            return params
        content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
        limit = self.gateway.settings.max_body_bytes
        length = request.headers.get("content-length")
        if length and length.isdigit() and int(length) > limit:
            raise RequestError(f"request body over {limit} bytes", 413, "PAYLOAD_TOO_LARGE")
        body = b""
        async for chunk in request.stream():
            body += chunk
            if len(body) > limit:
                raise RequestError(f"request body over {limit} bytes", 413, "PAYLOAD_TOO_LARGE")
        if content_type == "application/graphql":
            return {"query": body.decode("utf-8", "replace")}
        if content_type != JSON:
            raise RequestError(f"unsupported content type {content_type or '(none)'}; send {JSON}", 415,
                               "UNSUPPORTED_MEDIA_TYPE")
        try:
            return json.loads(body)
        except (json.JSONDecodeError, UnicodeDecodeError) as e:
            raise RequestError(f"the body is not valid JSON: {e}") from e

    # -- one GraphQL request --------------------------------------------------------------
    async def execute_request(self, params: Any, method: str, media: str,
                              ctx: RequestContext) -> tuple[int, dict[str, Any]]:
        """Run one GraphQL request (already parsed from HTTP); returns (status, body)."""
        if not isinstance(params, dict):
            raise RequestError("a GraphQL request is a JSON object with a query")
        query, variables, op_name = params.get("query"), params.get("variables"), params.get("operationName")
        if not isinstance(query, str) or not query.strip():
            raise RequestError("the request has no query string")
        if variables is not None and not isinstance(variables, dict):
            raise RequestError("variables must be an object")
        if op_name is not None and not isinstance(op_name, str):
            raise RequestError("operationName must be a string")
        if params.get("extensions") is not None and not isinstance(params["extensions"], dict):
            raise RequestError("extensions must be an object")
        strict = media == GRAPHQL_RESPONSE
        failed = 400 if strict else 200
        try:
            document = parse(query)
        except GraphQLError as e:
            return failed, {"errors": [e.formatted]}
        schema = self.gateway.schema
        errors = validate(schema, document, self.rules)
        if errors:
            return failed, {"errors": [e.formatted for e in errors]}
        operation = get_operation_ast(document, op_name)
        if operation is None:
            raise RequestError(f"no operation named {op_name!r}" if op_name else "several operations: name one")
        if operation.operation == OperationType.SUBSCRIPTION:
            raise RequestError("subscriptions are streamed: send Accept: text/event-stream (graphql-sse) or "
                               "use a WebSocket (graphql-transport-ws)", 400, "SUBSCRIPTION_NEEDS_STREAM")
        if method == "GET" and operation.operation != OperationType.QUERY:
            raise RequestError("mutations are sent with POST", 405, "METHOD_NOT_ALLOWED", {"Allow": "POST"})
        problem = None if _introspection_only(operation) else check_complexity(
            document, operation, self.gateway.settings.max_depth, self.gateway.settings.max_fields)
        if problem:
            return failed, {"errors": [{"message": problem, "extensions": {"code": "QUERY_TOO_COMPLEX"}}]}
        coerced = get_variable_values(schema, operation.variable_definitions or (), variables or {})
        if isinstance(coerced, list):
            return failed, {"errors": [e.formatted for e in coerced]}
        result = execute(schema, document, variable_values=variables, operation_name=op_name, context_value=ctx)
        if not isinstance(result, ExecutionResult):
            result = await result
        body: dict[str, Any] = {}
        if result.errors:
            body["errors"] = [e.formatted for e in result.errors]
        body["data"] = result.data
        if ctx.traces:
            body["extensions"] = {"fields": ctx.traces}
        return 200, body


def _introspection_only(operation: OperationDefinitionNode) -> bool:
    """True when every root selection is ``__schema``, ``__type`` or ``__typename``.

    The depth and field limits guard the store and the model; introspection touches neither,
    and the standard introspection query (codegen, GraphiQL) is 15 levels deep with about 230
    fields. Validation's MaxIntrospectionDepthRule still refuses cyclic introspection queries.
    """
    return all(isinstance(sel, FieldNode) and sel.name.value.startswith("__")
               for sel in operation.selection_set.selections)


def ctx_for_batch(ctx: RequestContext) -> RequestContext:
    """Each request of a batch gets its own traces, with the caller's identity."""
    return RequestContext(ctx.gateway, ctx.roles, ctx.timezone, caller=ctx.caller)


def create_app(gateway: Gateway) -> Starlette:
    http = GraphQLHTTP(gateway)

    async def health(_request: Request) -> Response:
        return JSONResponse({"status": "ok", "schema": gateway.catalog.version})

    async def websocket(ws: WebSocket) -> None:
        await transports.GraphQLWebSocket(http, ws).serve()

    routes = [
        Route("/graphql", http.handle, methods=["GET", "POST"]),
        WebSocketRoute("/graphql", websocket),
        Route("/healthz", health),
    ]
    if gateway.settings.graphiql:
        routes.append(Mount("/static", StaticFiles(directory=STATIC_DIR), name="static"))
    @contextlib.asynccontextmanager
    async def lifespan(_app: Starlette) -> AsyncIterator[None]:
        yield
        gateway.close()

    app = Starlette(routes=routes, lifespan=lifespan)
    app.state.gateway = gateway
    return app


def app_from_env() -> Starlette:
    """App factory for ``uvicorn --workers N``: each worker reads its settings from GATEWAY_*."""
    from .config import Settings

    return create_app(Gateway(Settings.from_env()))
