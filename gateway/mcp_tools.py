"""MCP tools at /mcp: each root field and each trusted document as a Model Context Protocol tool.

Agents get the same contract as GraphQL clients, under the same rules: a tool call becomes one
GraphQL request through ``GraphQLHTTP.run`` (then ``Gateway.execute``) with the caller's roles, so API keys,
``@auth``, policy, limits, trusted-documents-only and the admin stats apply unchanged. Served with
the official ``mcp`` SDK's streamable HTTP transport (stateless, JSON responses).

- ``query_<field>`` / ``mutation_<field>``: input ``{q, selection, ...the field's other arguments}``;
  the description is the field's SDL description and its return type. Not offered in
  trusted-documents-only mode, where only the manifest runs.
- ``document_<OperationName>``: a trusted document; its input is the operation's variables.

A tool beyond the caller's roles is not listed, and calling it answers a coded error
(``FORBIDDEN``, or ``TOOL_NOT_FOUND`` for a name that is no tool) with nothing run.
"""

from __future__ import annotations

import contextlib
import json
import re
from dataclasses import dataclass
from typing import Any, Protocol

import mcp_types as types
from graphql import (
    FieldNode,
    GraphQLEnumType,
    GraphQLInputObjectType,
    GraphQLInputType,
    GraphQLList,
    GraphQLNonNull,
    OperationDefinitionNode,
    get_named_type,
    is_leaf_type,
    parse,
    type_from_ast,
)
from mcp.server import Server
from mcp.server.streamable_http_manager import (
    StreamableHTTPASGIApp,
    StreamableHTTPSessionManager,
)
from mcp.server.transport_security import TransportSecuritySettings
from starlette.requests import Request
from starlette.types import Receive, Scope, Send

from .access import presented_key
from .admin import Refusal
from .errors import Forbidden, GatewayError, ToolNotFound, Unauthenticated
from .execution import Caller, Result
from .persisted import PersistedDocuments
from .sdl import RootField
from .service import Gateway


class Runner(Protocol):
    """The HTTP layer's ``run`` (``GraphQLHTTP.run``: a persisted document looked up, then
    ``Gateway.execute``, counted for the admin stats). The HTTP layer mounts this module and hands
    itself in; this module never imports it."""

    async def run(self, params: Any, caller: Caller, read_only: bool = False) -> Result: ...


SCALARS = {"Int": "integer", "Float": "number", "Boolean": "boolean"}


def json_schema(t: GraphQLInputType) -> dict[str, Any]:
    """The JSON Schema of a GraphQL input type (nullability is expressed by ``required``)."""
    if isinstance(t, GraphQLNonNull):
        return json_schema(t.of_type)
    if isinstance(t, GraphQLList):
        return {"type": "array", "items": json_schema(t.of_type)}
    if isinstance(t, GraphQLEnumType):
        return {"type": "string", "enum": list(t.values)}
    if isinstance(t, GraphQLInputObjectType):
        return {
            "type": "object",
            "properties": {n: json_schema(f.type) for n, f in t.fields.items()},
            "required": [n for n, f in t.fields.items() if isinstance(f.type, GraphQLNonNull)],
        }
    return {"type": SCALARS.get(t.name, "string")}  # a scalar


@dataclass
class Tool:
    name: str
    description: str
    input_schema: dict[str, Any]
    root: RootField | None = None  # a root field's tool
    document_id: str | None = None  # a trusted document's tool
    roots: tuple[RootField, ...] = ()  # the root fields a document's tool reaches


class GatewayTools:
    """The tool list and the tool calls, both per caller."""

    def __init__(self, gateway: Gateway, http: Runner, persisted: PersistedDocuments | None) -> None:
        self.gateway = gateway
        self.http = http
        self.tools: dict[str, Tool] = {}
        trusted_only = persisted is not None and persisted.trusted_only
        if not trusted_only:
            for root in gateway.catalog.root_fields.values():
                if root.operation not in ("query", "mutation"):  # a subscription streams; a tool call answers once
                    continue
                tool = self._field_tool(root)
                self.tools[tool.name] = tool
        if persisted is not None and persisted.manifest is not None:
            for doc in persisted.manifest.listing():
                tool = self._document_tool(doc.id, doc.document, doc.operation_name)
                self.tools[tool.name] = tool

    # -- building the tools ---------------------------------------------------------------
    def _field_tool(self, root: RootField) -> Tool:
        schema = self.gateway.schema
        root_type = schema.query_type if root.operation == "query" else schema.mutation_type
        field = root_type.fields[root.name]  # type: ignore[union-attr]
        properties: dict[str, Any] = {}
        required: list[str] = []
        for name, arg in field.args.items():
            described = {"description": arg.description} if arg.description else {}
            properties[name] = {**json_schema(arg.type), **described}
            if isinstance(arg.type, GraphQLNonNull):
                required.append(name)
        if "q" in properties:
            listing = "; leave it out to list records" if "q" not in required and root.models else ""
            properties["q"]["description"] = f"the request in plain words{listing}"
        named = get_named_type(field.type)
        if not is_leaf_type(named):
            example = self._default_selection(named)
            properties["selection"] = {
                "type": "string",
                "description": f"GraphQL selection set of the result, e.g. `{example}` (the default)",
            }
        verb = "Changes data and returns" if root.operation == "mutation" else "Returns"
        summary = f"{verb} {field.type}. GraphQL field {root.operation} {{ {root.name} }}; ask in plain words in `q`."
        description = "\n\n".join(p for p in (field.description, summary) if p)
        return Tool(
            f"{root.operation}_{root.name}",
            description,
            {"type": "object", "properties": properties, "required": required},
            root=root,
        )

    def _document_tool(self, document_id: str, text: str, operation_name: str | None) -> Tool:
        document = parse(text)
        ops = [d for d in document.definitions if isinstance(d, OperationDefinitionNode)]
        op = ops[0]
        properties: dict[str, Any] = {}
        required: list[str] = []
        for var in op.variable_definitions or ():
            t = type_from_ast(self.gateway.schema, var.type)
            properties[var.variable.name.value] = json_schema(t) if t is not None else {}  # type: ignore[arg-type]
            if isinstance(t, GraphQLNonNull) and var.default_value is None:
                required.append(var.variable.name.value)
        roots = tuple(
            self.gateway.catalog.root_fields[f"{op.operation.value}.{sel.name.value}"]
            for sel in op.selection_set.selections
            if isinstance(sel, FieldNode)
            and f"{op.operation.value}.{sel.name.value}" in self.gateway.catalog.root_fields
        )
        base = re.sub(r"[^A-Za-z0-9_]", "_", operation_name or document_id[:12])
        name = f"document_{base}" if f"document_{base}" not in self.tools else f"document_{base}_{document_id[:8]}"
        return Tool(
            name,
            f"Trusted document {operation_name or document_id} ({op.operation.value}):\n{text}",
            {"type": "object", "properties": properties, "required": required},
            document_id=document_id,
            roots=roots,
        )

    def _default_selection(self, named: Any) -> str:
        fields = getattr(named, "fields", {})
        leaves = [n for n, f in fields.items() if is_leaf_type(get_named_type(f.type))]
        return " ".join(leaves) or "__typename"

    # -- per caller -----------------------------------------------------------------------
    def may_use(self, tool: Tool, roles: frozenset[str]) -> bool:
        for root in [tool.root] if tool.root is not None else list(tool.roots):
            try:
                self.gateway.access.check_root(root, roles)
            except GatewayError:
                return False
        return True

    def listing(self, roles: frozenset[str]) -> list[types.Tool]:
        return [
            types.Tool(name=t.name, description=t.description, input_schema=t.input_schema)
            for t in self.tools.values()
            if self.may_use(t, roles)
        ]

    async def call(self, name: str, arguments: dict[str, Any], roles: frozenset[str]) -> types.CallToolResult:
        tool = self.tools.get(name)
        if tool is None:
            return _error(ToolNotFound.code, f"no tool named {name!r}")
        if not self.may_use(tool, roles):
            needed = sorted({r for root in ([tool.root] if tool.root else tool.roots) for r in root.auth_roles or ()})
            return _error(Forbidden.code, f"tool {name} needs one of the roles {needed}")
        params = self._request(tool, dict(arguments))
        body = (await self.http.run(params, Caller(roles))).formatted()
        if body.get("errors"):
            return types.CallToolResult(
                content=[_text({"errors": body["errors"], "data": body.get("data")})], is_error=True
            )
        data = body.get("data")
        result = data.get(tool.root.name) if tool.root is not None and isinstance(data, dict) else data
        return types.CallToolResult(content=[_text(result)], structured_content={"result": result}, is_error=False)

    def _request(self, tool: Tool, arguments: dict[str, Any]) -> dict[str, Any]:
        """The GraphQL request a tool call stands for."""
        if tool.document_id is not None:
            return {"documentId": tool.document_id, "variables": arguments}
        root = tool.root
        assert root is not None
        selection = arguments.pop("selection", None)
        schema = self.gateway.schema
        root_type = schema.query_type if root.operation == "query" else schema.mutation_type
        field = root_type.fields[root.name]  # type: ignore[union-attr]
        used = {k: v for k, v in arguments.items() if k in field.args}
        decls = ", ".join(f"${k}: {field.args[k].type}" for k in used)
        call_args = ", ".join(f"{k}: ${k}" for k in used)
        named = get_named_type(field.type)
        body = "" if is_leaf_type(named) else f" {{ {selection or self._default_selection(named)} }}"
        query = (
            f"{root.operation} Tool{'(' + decls + ')' if decls else ''} "
            f"{{ {root.name}{'(' + call_args + ')' if call_args else ''}{body} }}"
        )
        return {"query": query, "variables": used}


def _text(value: Any) -> types.TextContent:
    return types.TextContent(type="text", text=json.dumps(value, default=str, ensure_ascii=False))


def _error(code: str, message: str) -> types.CallToolResult:
    return types.CallToolResult(
        content=[_text({"errors": [{"message": message, "extensions": {"code": code}}]})], is_error=True
    )


def caller_roles(gateway: Gateway, request: Any) -> frozenset[str]:
    """The roles of the HTTP request that carried this MCP message (the endpoint already refused bad keys)."""
    if gateway.api_keys is None or request is None:
        return frozenset()
    return gateway.api_keys.roles_for(presented_key(request.headers)) or frozenset()


class McpEndpoint:
    """The /mcp ASGI app: API keys checked first, then the SDK's streamable HTTP transport."""

    def __init__(self, gateway: Gateway, http: Runner, persisted: PersistedDocuments | None) -> None:
        self.gateway = gateway
        self.tools = GatewayTools(gateway, http, persisted)

        async def list_tools(ctx: Any, _params: Any) -> types.ListToolsResult:
            return types.ListToolsResult(tools=self.tools.listing(caller_roles(gateway, ctx.request)))

        async def call_tool(ctx: Any, params: types.CallToolRequestParams) -> types.CallToolResult:
            return await self.tools.call(params.name, dict(params.arguments or {}), caller_roles(gateway, ctx.request))

        server: Server[Any] = Server(
            "llm-graphql-gateway",
            instructions="Each tool is a field of this GraphQL contract; ask in plain words in `q`.",
            on_list_tools=list_tools,
            on_call_tool=call_tool,
        )
        host = gateway.settings.host
        security = (
            TransportSecuritySettings(
                enable_dns_rebinding_protection=True,
                allowed_hosts=["127.0.0.1:*", "localhost:*", "[::1]:*"],
                allowed_origins=["http://127.0.0.1:*", "http://localhost:*", "http://[::1]:*"],
            )
            if host in ("127.0.0.1", "localhost", "::1")
            else None
        )
        self.sessions = StreamableHTTPSessionManager(
            app=server, stateless=True, json_response=True, security_settings=security
        )
        self.app = StreamableHTTPASGIApp(self.sessions)

    def run(self) -> contextlib.AbstractAsyncContextManager[None]:
        """The session manager's task group; entered in the app's lifespan."""
        return self.sessions.run()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and self.gateway.api_keys is not None:
            request = Request(scope)
            if self.gateway.api_keys.roles_for(presented_key(request.headers)) is None:
                refusal = Refusal(
                    401, Unauthenticated.code, "a valid API key is required (Authorization: Bearer <key>)"
                )
                await refusal.response()(scope, receive, send)
                return
        await self.app(scope, receive, send)
