"""Load the SDL contract, refuse what cannot be served, and derive the stored models.

Object types with an ``id: ID!`` field are *models* (tables); every field of ``Query``,
``Mutation`` and ``Subscription`` is a *root field* served by the one generic resolver.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from graphql import (
    DocumentNode,
    GraphQLEnumType,
    GraphQLError,
    GraphQLInterfaceType,
    GraphQLList,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLScalarType,
    GraphQLSchema,
    GraphQLUnionType,
    build_ast_schema,
    get_named_type,
    parse,
    print_schema,
    validate_schema,
)
from graphql.language import DirectiveDefinitionNode, DirectiveNode, Node, Source
from graphql.utilities import value_from_ast_untyped
from graphql.validation.validate import validate_sdl  # locates each SDL error (assert_valid_sdl drops them)

from .errors import SchemaError
from .incremental import enable as enable_incremental

# Directives the gateway understands; users may use them without declaring them.
GATEWAY_DIRECTIVES = """
directive @readonly on FIELD_DEFINITION
directive @maxRows(n: Int!) on FIELD_DEFINITION
directive @allowBulk on FIELD_DEFINITION
directive @auth(roles: [String!]!) on OBJECT | FIELD_DEFINITION | INTERFACE
directive @index on FIELD_DEFINITION
directive @unique on FIELD_DEFINITION
directive @default(value: String, now: Boolean) on FIELD_DEFINITION
directive @createdAt on FIELD_DEFINITION
directive @updatedAt on FIELD_DEFINITION
"""

BUILTIN_SCALARS = {"ID", "String", "Int", "Float", "Boolean"}

FieldKind = Literal["scalar", "enum", "scalars", "json", "ref", "refs"]


@dataclass(frozen=True)
class Relation:
    """How a reference field is stored.

    ``fk``: a column on this model holds the target's id. ``reverse``: the target's ``via``
    field points back here. ``join``: a join table links the two ids.
    """

    kind: Literal["fk", "reverse", "join"]
    target: str
    via: str | None = None
    table: str | None = None
    own_column: str | None = None
    other_column: str | None = None


@dataclass
class ModelField:
    name: str
    kind: FieldKind
    type_name: str
    nullable: bool
    is_list: bool = False
    relation: Relation | None = None
    index: bool = False
    unique: bool = False
    auth_roles: tuple[str, ...] | None = None
    line: int | None = None
    default: Any = None  # @default(value: ...): stored on insert when the plan gives no value
    auto_time: Literal["created", "updated", "now"] | None = None  # @createdAt, @updatedAt, @default(now: true)

    @property
    def stored_as_column(self) -> bool:
        return self.kind in ("scalar", "enum", "scalars", "json", "ref")

    @property
    def is_reference(self) -> bool:
        return self.kind in ("ref", "refs")


@dataclass
class Model:
    name: str
    fields: dict[str, ModelField]
    interfaces: tuple[str, ...] = ()
    auth_roles: tuple[str, ...] | None = None
    line: int | None = None

    @property
    def columns(self) -> list[ModelField]:
        return [f for f in self.fields.values() if f.stored_as_column]


@dataclass(frozen=True)
class Connection:
    """A Relay connection type (``edges { node cursor }``, ``pageInfo``) over a stored model."""

    type_name: str
    edge_type: str
    node: str


@dataclass
class RootField:
    operation: Literal["query", "mutation", "subscription"]
    name: str
    type_name: str
    returns_list: bool
    nullable: bool
    models: tuple[str, ...]
    arguments: tuple[str, ...]  # the argument names, ``q`` included (their types stay in the schema)
    readonly: bool
    max_rows: int | None
    allow_bulk: bool
    auth_roles: tuple[str, ...] | None
    line: int | None = None
    # set when the field returns a Relay connection: ``type_name`` is then the node model and
    # ``returns_list`` is true, so planning sees a list of nodes
    connection: Connection | None = None

    @property
    def key(self) -> str:
        return f"{self.operation}.{self.name}"


@dataclass
class Catalog:
    """Everything derived from the SDL that the planner, validator and store rely on."""

    sdl: str
    schema: GraphQLSchema
    models: dict[str, Model]
    enums: dict[str, list[str]]
    root_fields: dict[str, RootField]
    # Object types without ``id`` (aggregate rows, connector records, embedded objects),
    # described like models so they are checked, filtered and guarded with the same machinery.
    shapes: dict[str, Model] = field(default_factory=dict)
    version: str = ""
    connectors: dict[str, Any] = field(default_factory=dict)  # registered at start-up

    def root(self, operation: str, name: str) -> RootField:
        return self.root_fields[f"{operation}.{name}"]

    def model(self, name: str) -> Model:
        return self.models[name]

    def object_type(self, name: str) -> Model | None:
        """The stored model or the shape called ``name``; None for scalars, enums and roots."""
        return self.models.get(name) or self.shapes.get(name)

    def describe(self) -> str:
        """A human summary of models, tables and root fields (``gateway check``)."""
        lines = []
        for model in self.models.values():
            lines.append(f"model {model.name} -> table {model.name}")
            for f in model.fields.values():
                lines.append(f"  {f.name}: {_describe_field(f)}")
        for rf in self.root_fields.values():
            shape = f"[{rf.type_name}]" if rf.returns_list else rf.type_name
            lines.append(f"{rf.operation} {rf.name}: {shape}")
        return "\n".join(lines)


def _describe_field(f: ModelField) -> str:
    if f.kind == "ref":
        return f"reference to {f.type_name} (column {f.name})"
    if f.kind == "refs":
        rel = f.relation
        assert rel is not None
        if rel.kind == "reverse":
            return f"list of {f.type_name} (via {f.type_name}.{rel.via})"
        return f"list of {f.type_name} (join table {rel.table})"
    if f.kind in ("scalars", "json"):
        return f"{f.type_name} (JSON column)"
    return f"{f.type_name} column{'' if f.nullable else ', required'}"


def _line(node: Node | None) -> int | None:
    if node is None or node.loc is None:
        return None
    return node.loc.start_token.line


def _fail(node: Node | None, reason: str, source_name: str = "the schema") -> SchemaError:
    """A refusal naming the file, line and column of ``node`` (the file alone when there is no node)."""
    if node is None or node.loc is None:
        return SchemaError(f"{source_name}: {reason}", file=source_name)
    name, token = node.loc.source.name, node.loc.start_token
    return SchemaError(f"{name} line {token.line}: {reason}", file=name, line=token.line, column=token.column)


def _from_graphql_error(e: GraphQLError, source_name: str) -> SchemaError:
    """graphql-core's own SDL errors, located the same way as ours."""
    if e.source is None or not e.locations:
        return _fail(None, e.message, source_name)
    where = e.locations[0]
    return SchemaError(
        f"{e.source.name} line {where.line}: {e.message}", file=e.source.name, line=where.line, column=where.column
    )


def _directive(ast_node: Any, name: str) -> DirectiveNode | None:
    directives: tuple[DirectiveNode, ...] = getattr(ast_node, "directives", None) or ()
    for d in directives:
        if d.name.value == name:
            return d
    return None


def _directive_args(d: DirectiveNode) -> dict[str, Any]:
    return {a.name.value: value_from_ast_untyped(a.value) for a in d.arguments or ()}


def _roles(ast_node: Any) -> tuple[str, ...] | None:
    d = _directive(ast_node, "auth")
    if d is None:
        return None
    return tuple(_directive_args(d).get("roles") or ())


def _unwrap(type_: Any, node: Node | None) -> tuple[Any, bool, bool]:
    """Return (named type, nullable, is_list); refuse lists of lists."""
    nullable = not isinstance(type_, GraphQLNonNull)
    inner = type_.of_type if isinstance(type_, GraphQLNonNull) else type_
    is_list = isinstance(inner, GraphQLList)
    if is_list:
        item = inner.of_type
        item = item.of_type if isinstance(item, GraphQLNonNull) else item
        if isinstance(item, GraphQLList):
            raise _fail(node, "lists of lists are not supported")
    return get_named_type(type_), nullable, is_list


def load_sdl(path: str | Path) -> Catalog:
    """Read and check an SDL file; raise :class:`SchemaError` naming the file and line on failure."""
    p = Path(path)
    if not p.exists():
        raise SchemaError(f"schema file not found: {p} (pass --schema or set GATEWAY_SCHEMA)")
    return build_catalog(p.read_text(encoding="utf-8"), source_name=str(path))


def build_catalog(sdl: str, source_name: str = "schema.graphql") -> Catalog:
    """Parse SDL text into a :class:`Catalog`, refusing unsupported constructs.

    ``source_name`` is the file the text came from: every refusal names it with the line.
    """
    try:
        user_doc = parse(Source(sdl, source_name))
    except GraphQLError as e:
        raise _from_graphql_error(e, source_name) from e
    declared = {d.name.value for d in user_doc.definitions if isinstance(d, DirectiveDefinitionNode)}
    prelude = [
        d
        for d in parse(Source(GATEWAY_DIRECTIVES, "gateway directives")).definitions
        if isinstance(d, DirectiveDefinitionNode) and d.name.value not in declared
    ]
    document = DocumentNode(definitions=(*prelude, *user_doc.definitions))
    sdl_errors = validate_sdl(document)
    if sdl_errors:
        raise _from_graphql_error(sdl_errors[0], source_name)
    try:
        schema = build_ast_schema(document, assume_valid_sdl=True)
    except (GraphQLError, TypeError) as e:  # not expected after validate_sdl; still name the file
        raise _fail(None, str(e), source_name) from e
    errors = _validate_schema(schema, source_name)
    if errors:
        raise errors[0]
    enable_incremental(schema)  # @defer and @stream, declared before anything hashes the schema
    return _derive(sdl, schema, source_name)


def _validate_schema(schema: GraphQLSchema, source_name: str) -> list[SchemaError]:
    return [_fail(e.nodes[0] if e.nodes else None, e.message, source_name) for e in validate_schema(schema)]


def _is_model(t: Any) -> bool:
    if not isinstance(t, GraphQLObjectType):
        return False
    id_field = t.fields.get("id")
    return (
        id_field is not None
        and isinstance(id_field.type, GraphQLNonNull)
        and getattr(id_field.type.of_type, "name", None) == "ID"
    )


def _derive(sdl: str, schema: GraphQLSchema, source_name: str = "schema.graphql") -> Catalog:
    if schema.query_type is None:
        raise _fail(None, "declares no Query type", source_name)
    models: dict[str, Model] = {}
    enums: dict[str, list[str]] = {}
    shapes: dict[str, Model] = {}
    roots = {
        schema.query_type.name,
        getattr(schema.mutation_type, "name", None),
        getattr(schema.subscription_type, "name", None),
    }
    for t in schema.type_map.values():
        if t.name.startswith("__"):
            continue
        if isinstance(t, GraphQLUnionType):
            raise _fail(t.ast_node, f"union {t.name}: unions are not supported; use an interface")
        if isinstance(t, GraphQLEnumType):
            enums[t.name] = list(t.values)
        elif isinstance(t, GraphQLObjectType) and t.name not in roots:
            if _is_model(t):
                models[t.name] = _model(t)
            else:
                shapes[t.name] = _model(t)
    for model in [*models.values(), *shapes.values()]:
        _inherit_auth(model, schema)
    for model in models.values():
        _resolve_relations(model, models, schema)
    root_fields: dict[str, RootField] = {}
    for op, root in (
        ("query", schema.query_type),
        ("mutation", schema.mutation_type),
        ("subscription", schema.subscription_type),
    ):
        if root is None:
            continue
        for name, f in root.fields.items():
            rf = _root_field(op, name, f, models, schema)
            root_fields[rf.key] = rf
    version = hashlib.sha256(print_schema(schema).encode()).hexdigest()[:16]
    return Catalog(sdl, schema, models, enums, root_fields, shapes, version)


def _model(t: GraphQLObjectType) -> Model:
    fields: dict[str, ModelField] = {}
    for name, f in t.fields.items():
        node = f.ast_node
        named, nullable, is_list = _unwrap(f.type, node)
        if f.args and not (is_list and _is_model(named) and _only_limit(f.args)):
            raise _fail(
                node,
                f"{t.name}.{name}: fields of stored types take no arguments "
                "(a list of stored records may take `limit: Int`, for more than the default page)",
            )
        if isinstance(named, (GraphQLInterfaceType, GraphQLUnionType)):
            raise _fail(node, f"{t.name}.{name}: references to interfaces are not supported; name a concrete type")
        if isinstance(named, GraphQLScalarType):
            kind: FieldKind = "scalars" if is_list else "scalar"
        elif isinstance(named, GraphQLEnumType):
            kind = "scalars" if is_list else "enum"
        elif _is_model(named):
            kind = "refs" if is_list else "ref"
        elif isinstance(named, GraphQLObjectType):
            kind = "json"
        else:  # pragma: no cover - input types cannot appear on output fields
            raise _fail(node, f"{t.name}.{name}: unsupported type {named}")
        if name == "id" and (kind != "scalar" or named.name != "ID"):
            raise _fail(node, f"{t.name}.id must be ID!")
        fields[name] = ModelField(
            name=name,
            kind=kind,
            type_name=named.name,
            nullable=nullable,
            is_list=is_list,
            index=_directive(node, "index") is not None,
            unique=_directive(node, "unique") is not None,
            auth_roles=_roles(node),
            line=_line(node),
        )
        if kind == "ref":
            fields[name].relation = Relation("fk", named.name)
        _defaults(fields[name], node, t.name)
    return Model(
        name=t.name,
        fields=fields,
        interfaces=tuple(i.name for i in t.interfaces),
        auth_roles=_roles(t.ast_node),
        line=_line(t.ast_node),
    )


def _both(a: tuple[str, ...] | None, b: tuple[str, ...] | None) -> tuple[str, ...] | None:
    """Two ``@auth`` rules on one thing: only roles both allow pass (fail closed)."""
    if a is None or b is None:
        return a if b is None else b
    return tuple(r for r in a if r in b)


def _inherit_auth(model: Model, schema: GraphQLSchema) -> None:
    """``@auth`` on an interface, or on an interface's field, binds every implementation."""
    for name in model.interfaces:
        iface = schema.type_map[name]
        model.auth_roles = _both(model.auth_roles, _roles(iface.ast_node))
        for fname, f in model.fields.items():
            iface_field = iface.fields.get(fname)  # type: ignore[attr-defined]
            if iface_field is not None:
                f.auth_roles = _both(f.auth_roles, _roles(iface_field.ast_node))


def _defaults(f: ModelField, node: Any, type_name: str) -> None:
    """Read ``@default``, ``@createdAt`` and ``@updatedAt``: values the gateway fills in itself."""
    d = _directive(node, "default")
    stamps = [name for name in ("createdAt", "updatedAt") if _directive(node, name) is not None]
    if (d is not None or stamps) and (f.kind not in ("scalar", "enum") or f.name == "id"):
        raise _fail(node, f"{type_name}.{f.name}: @default, @createdAt and @updatedAt apply to scalar and enum fields")
    if (stamps and f.type_name in ("Int", "Float", "Boolean", "ID")) or len(stamps) > 1:
        raise _fail(node, f"{type_name}.{f.name}: @{stamps[0]} needs one text field (String, DateTime...)")
    if stamps:
        f.auto_time = "created" if stamps[0] == "createdAt" else "updated"
    if d is None:
        return
    args = _directive_args(d)
    if args.get("now"):
        if f.type_name in ("Int", "Float", "Boolean", "ID"):
            raise _fail(node, f"{type_name}.{f.name}: @default(now: true) needs a text field")
        f.auto_time = "now"
    elif "value" not in args:
        raise _fail(node, f"{type_name}.{f.name}: @default needs value: ... or now: true")
    else:
        f.default = args["value"]


def _resolve_relations(model: Model, models: dict[str, Model], schema: GraphQLSchema) -> None:
    for f in model.fields.values():
        if f.kind != "refs":
            continue
        target = models[f.type_name]
        gql_type = schema.type_map[model.name]
        assert isinstance(gql_type, GraphQLObjectType)  # every model is an object type (build_catalog)
        node = gql_type.fields[f.name].ast_node
        back_refs = [g for g in target.fields.values() if g.kind == "ref" and g.type_name == model.name]
        if len(back_refs) == 1:
            f.relation = Relation("reverse", target.name, via=back_refs[0].name)
            continue
        if len(back_refs) > 1:
            names = ", ".join(f"{target.name}.{g.name}" for g in back_refs)
            raise _fail(node, f"{model.name}.{f.name}: ambiguous list reference; {names} all point back")
        back_lists = [
            g
            for g in target.fields.values()
            if g.kind == "refs" and g.type_name == model.name and (target.name, g.name) != (model.name, f.name)
        ]
        if len(back_lists) > 1:
            raise _fail(node, f"{model.name}.{f.name}: ambiguous many-to-many; {target.name} has several lists back")
        own = (model.name, f.name)
        if back_lists:
            other = (target.name, back_lists[0].name)
            left, right = sorted([own, other])
            table = f"{left[0]}_{left[1]}__{right[0]}_{right[1]}"
            own_col, other_col = ("left_id", "right_id") if own == left else ("right_id", "left_id")
        else:
            table, own_col, other_col = f"{model.name}_{f.name}", "left_id", "right_id"
        f.relation = Relation("join", target.name, table=table, own_column=own_col, other_column=other_col)


def _only_limit(args: dict[str, Any]) -> bool:
    """The one argument a nested list of records takes: ``limit: Int`` (its page size)."""
    return set(args) == {"limit"} and str(args["limit"].type) == "Int"


def _root_field(op: str, name: str, f: Any, models: dict[str, Model], schema: GraphQLSchema) -> RootField:
    node = f.ast_node
    q = f.args.get("q")
    if q is None or get_named_type(q.type).name != "String" or isinstance(q.type, GraphQLList):
        raise _fail(node, f"{op} field {name} needs the natural-language argument `q: String`")
    named, nullable, is_list = _unwrap(f.type, node)
    if isinstance(named, GraphQLUnionType):
        raise _fail(node, f"{name}: unions are not supported")
    if isinstance(named, GraphQLInterfaceType):
        impl = tuple(m.name for m in models.values() if named.name in m.interfaces)
        if not impl:
            raise _fail(node, f"{name}: interface {named.name} has no stored implementation")
        found: tuple[str, ...] = impl
    elif named.name in models:
        found = (named.name,)
    else:
        found = ()
    connection = _connection(named, models)
    if connection is not None:
        found, is_list = (connection.node,), True
    max_rows = _directive(node, "maxRows")
    return RootField(
        operation=op,  # type: ignore[arg-type]
        name=name,
        type_name=connection.node if connection else named.name,
        returns_list=is_list,
        nullable=nullable,
        models=found,
        arguments=tuple(f.args),
        readonly=op != "mutation" or _directive(node, "readonly") is not None,
        max_rows=int(_directive_args(max_rows)["n"]) if max_rows else None,
        allow_bulk=_directive(node, "allowBulk") is not None,
        auth_roles=_roles(node),
        line=_line(node),
        connection=connection,
    )


def _connection(named: Any, models: dict[str, Model]) -> Connection | None:
    """A Relay connection: ``edges: [Edge]`` whose ``node`` is a model and a ``pageInfo`` field."""
    if not isinstance(named, GraphQLObjectType) or named.name in models:
        return None
    edges, page_info = named.fields.get("edges"), named.fields.get("pageInfo")
    if edges is None or page_info is None:
        return None
    edge = get_named_type(edges.type)
    listed = edges.type.of_type if isinstance(edges.type, GraphQLNonNull) else edges.type
    if not isinstance(listed, GraphQLList) or not isinstance(edge, GraphQLObjectType):
        return None
    node = edge.fields.get("node")
    info = get_named_type(page_info.type)
    if node is None or "cursor" not in edge.fields or get_named_type(node.type).name not in models:
        return None
    if not isinstance(info, GraphQLObjectType) or "hasNextPage" not in info.fields:
        return None
    return Connection(named.name, edge.name, get_named_type(node.type).name)
