"""The error catalogue: every error the gateway raises, each with the ``extensions.code`` a client can branch on.

Hierarchy (code in brackets)::

    GatewayError
    ├── SchemaError                 [SCHEMA_INVALID]          start-up: the SDL cannot be served
    ├── ConfigInvalid               [CONFIG_INVALID]          start-up: a setting cannot be used as given
    ├── MigrationRefused            [MIGRATION_REFUSED]       start-up: a change would lose data
    ├── ImportInvalid               [IMPORT_INVALID]          ``gateway import``: seed data does not fit
    ├── RequestError                [BAD_REQUEST]             HTTP 400: not a GraphQL request at all
    │   ├── Unauthenticated         [UNAUTHENTICATED]         HTTP 401: no valid API key
    │   ├── MutationNotAllowed      [MUTATION_NOT_ALLOWED]    HTTP 405: a mutation sent with GET
    │   ├── NotAcceptable           [NOT_ACCEPTABLE]          HTTP 406: no acceptable response media type
    │   ├── PayloadTooLarge         [PAYLOAD_TOO_LARGE]       HTTP 413: body over GATEWAY_MAX_BODY_BYTES
    │   ├── BatchTooLarge           [BATCH_TOO_LARGE]         HTTP 413: more operations than GATEWAY_MAX_BATCH
    │   ├── UnsupportedMediaType    [UNSUPPORTED_MEDIA_TYPE]  HTTP 415: body not JSON or GraphQL
    │   ├── PersistedQueryNotFound  [PERSISTED_QUERY_NOT_FOUND]  HTTP 200: APQ hash unknown; send the document
    │   ├── PersistedQueryHashMismatch [PERSISTED_QUERY_HASH_MISMATCH]  HTTP 400: the document is not that hash's
    │   ├── PersistedQueryInvalid   [PERSISTED_QUERY_INVALID] HTTP 400: malformed persistedQuery or documentId
    │   ├── DocumentNotFound        [DOCUMENT_NOT_FOUND]      HTTP 400: a documentId that names no document
    │   ├── DocumentNotTrusted      [DOCUMENT_NOT_TRUSTED]    HTTP 403: trusted-documents-only, not in the manifest
    │   ├── StreamNotFound          [STREAM_NOT_FOUND]        HTTP 404: an event-stream token this process did not reserve
    │   ├── StreamConflict          [STREAM_CONFLICT]         HTTP 409: the reserved stream or the operation id is taken
    │   └── TooManyStreams          [TOO_MANY_STREAMS]        HTTP 429: more stream reservations than the caller may hold
    ├── GraphQLParseFailed          [GRAPHQL_PARSE_FAILED]    the document does not parse
    ├── GraphQLValidationFailed     [GRAPHQL_VALIDATION_FAILED]  the document does not fit the schema
    ├── BadUserInput                [BAD_USER_INPUT]          the variables do not fit their declarations
    ├── QueryTooComplex             [QUERY_TOO_COMPLEX]       the document is too deep, too wide or asks too much
    ├── SubscriptionNeedsStream     [SUBSCRIPTION_NEEDS_STREAM]  a subscription sent as one JSON request
    ├── BatchRefused                [BATCH_REFUSED]           not run: another entry of the batch was refused
    ├── InternalError               [INTERNAL_ERROR]          an unexpected failure (details only in the log)
    ├── PlanInvalid                 [PLAN_INVALID]            the model's answer does not fit the contract
    │   └── InventedValue           [INVENTED_VALUE]          a write would store text found nowhere
    ├── PlanRefused                 [PLAN_REFUSED]            the contract cannot serve the request
    ├── PlanRejected                [PLAN_REJECTED]           the model's plan was rejected by a developer
    ├── PlanNotFrozen               [PLAN_NOT_FROZEN]         a frozen gateway has no reviewed plan for it
    ├── UnknownPlan                 [PLAN_NOT_FOUND]          plan review: no plan has this id
    ├── LockFileInvalid             [LOCK_FILE_INVALID]       start-up: a bad plans lock file
    ├── ManifestInvalid             [MANIFEST_INVALID]        start-up: a bad persisted-documents manifest
    ├── ToolNotFound                [TOOL_NOT_FOUND]          MCP: a tool name that is no tool
    ├── PlanFailed                  [PLAN_FAILED]             a valid plan could not complete
    │   └── NothingChanged          [NOTHING_CHANGED]         a Mutation's plan matched no record
    ├── PolicyDenied                [POLICY_DENIED]           the plan may not do this here
    ├── PageInvalid                 [PAGE_INVALID]            a page over the maximum, or a cursor not handed out
    ├── TooManySubscriptions        [TOO_MANY_SUBSCRIPTIONS]  more open subscriptions than the caller may hold
    ├── Forbidden                   [FORBIDDEN]               the caller's role may not see or change this
    ├── StoreError                  [STORE_ERROR]             the store failed; the transaction rolled back
    ├── ModelError                  [MODEL_ERROR]             the model could not answer
    │   ├── ModelUnavailable        [MODEL_UNAVAILABLE]
    │   ├── ModelTimeout            [MODEL_TIMEOUT]
    │   ├── ModelAuth               [MODEL_AUTH]
    │   ├── ModelRateLimited        [MODEL_RATE_LIMITED]
    │   └── ModelBudgetExceeded     [MODEL_BUDGET_EXCEEDED]
    └── ConnectorError              [CONNECTOR_ERROR]         a connector raised
        ├── ConnectorTimeout        [CONNECTOR_TIMEOUT]
        └── ConnectorResultInvalid  [CONNECTOR_RESULT_INVALID]

``RequestError`` and its subclasses answer the whole HTTP request with their own status and no
``data``; the document errors up to ``BatchRefused`` refuse a request before anything runs
(HTTP 400 under ``application/graphql-response+json``, 200 under ``application/json``); the
others fail one root field (or, for the start-up ones, the command). ``catalogue()`` lists the codes;
the README's list is tested against it. On the client side,
:class:`gateway.client.GatewayQueryError` carries whatever errors a response held.
"""

from __future__ import annotations

from typing import Any, ClassVar

from graphql import GraphQLError


class GatewayError(Exception):
    """An error a client sees as a GraphQL error with ``extensions.code``; raise a subclass."""

    code: ClassVar[str]

    def __init__(self, message: str, **extensions: Any) -> None:
        super().__init__(message)
        self.message = message
        self.extensions = extensions

    def as_extensions(self) -> dict[str, Any]:
        return {"code": self.code, **self.extensions}

    def as_graphql_error(self) -> GraphQLError:
        """The field error a client sees: the message, located by GraphQL, with the code."""
        return GraphQLError(self.message, original_error=self, extensions=self.as_extensions())

    def formatted(self) -> dict[str, Any]:
        """The error as a response's ``errors`` entry, for errors that no field owns."""
        return {"message": self.message, "extensions": self.as_extensions()}


# -- start-up and commands -----------------------------------------------------------------
class SchemaError(GatewayError):
    """The SDL cannot be served; raised at start-up with the file, the line and a reason."""

    code = "SCHEMA_INVALID"


class ConfigInvalid(GatewayError):
    """A setting cannot be used as given (e.g. a malformed API key list); raised at start-up."""

    code = "CONFIG_INVALID"


class MigrationRefused(GatewayError):
    """The store holds data that the new SDL would drop or retype."""

    code = "MIGRATION_REFUSED"


class ImportInvalid(GatewayError):
    """Seed data does not fit the SDL; nothing was imported."""

    code = "IMPORT_INVALID"


# -- the HTTP request ----------------------------------------------------------------------
class RequestError(GatewayError):
    """A request that cannot be executed at all: no ``data``, an HTTP status of its own."""

    code = "BAD_REQUEST"
    status: ClassVar[int] = 400
    response_headers: ClassVar[dict[str, str]] = {}  # sent with every such answer

    def __init__(self, message: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.headers = {**self.response_headers, **(headers or {})}


class Unauthenticated(RequestError):
    """API keys are on and the request carries no valid one."""

    code = "UNAUTHENTICATED"
    status = 401
    response_headers: ClassVar[dict[str, str]] = {"WWW-Authenticate": "Bearer"}


class MutationNotAllowed(RequestError):
    """A mutation sent with GET (GET may only read)."""

    code = "MUTATION_NOT_ALLOWED"
    status = 405
    response_headers: ClassVar[dict[str, str]] = {"Allow": "POST"}


class NotAcceptable(RequestError):
    """The client accepts neither ``application/graphql-response+json`` nor ``application/json``."""

    code = "NOT_ACCEPTABLE"
    status = 406


class PayloadTooLarge(RequestError):
    """The body is over ``GATEWAY_MAX_BODY_BYTES``."""

    code = "PAYLOAD_TOO_LARGE"
    status = 413


class BatchTooLarge(RequestError):
    """A batch holds more operations than ``GATEWAY_MAX_BATCH``; none ran."""

    code = "BATCH_TOO_LARGE"
    status = 413


class UnsupportedMediaType(RequestError):
    """The body is neither JSON nor ``application/graphql``."""

    code = "UNSUPPORTED_MEDIA_TYPE"
    status = 415


# -- persisted queries and trusted documents (``persisted.py``) ----------------------------
class PersistedQueryNotFound(RequestError):
    """The APQ hash names no known document; the client should send the document with its hash."""

    code = "PERSISTED_QUERY_NOT_FOUND"
    status = 200  # part of the protocol, as Apollo Server answers it: the clients then send the document
    response_headers: ClassVar[dict[str, str]] = {"Cache-Control": "private, no-cache, must-revalidate"}

    def __init__(self, message: str = "PersistedQueryNotFound", headers: dict[str, str] | None = None) -> None:
        super().__init__(message, headers)  # Apollo's and urql's links match this exact message


class PersistedQueryHashMismatch(RequestError):
    """The document sent with a hash does not hash to it; nothing is stored."""

    code = "PERSISTED_QUERY_HASH_MISMATCH"


class PersistedQueryInvalid(RequestError):
    """A malformed ``persistedQuery`` extension or ``documentId``."""

    code = "PERSISTED_QUERY_INVALID"


class DocumentNotFound(RequestError):
    """A ``documentId`` that names no trusted (or registered) document."""

    code = "DOCUMENT_NOT_FOUND"


class DocumentNotTrusted(RequestError):
    """Trusted-documents-only mode: the document is not in the manifest."""

    code = "DOCUMENT_NOT_TRUSTED"
    status = 403


class StreamNotFound(RequestError):
    """graphql-sse single connection mode: a token this process has no reservation for (or it expired)."""

    code = "STREAM_NOT_FOUND"
    status = 404


class StreamConflict(RequestError):
    """graphql-sse single connection mode: the reservation's stream is already open, or the
    operation id is already running on it."""

    code = "STREAM_CONFLICT"
    status = 409


class TooManyStreams(RequestError):
    """graphql-sse single connection mode: the caller already holds ``GATEWAY_MAX_SUBSCRIPTIONS`` reservations."""

    code = "TOO_MANY_STREAMS"
    status = 429


# -- the document, before anything runs ------------------------------------------------------
class GraphQLParseFailed(GatewayError):
    """The document is not GraphQL (graphql-core's syntax error, with its location)."""

    code = "GRAPHQL_PARSE_FAILED"


class GraphQLValidationFailed(GatewayError):
    """The document does not fit the schema (graphql-core's validation errors, with locations)."""

    code = "GRAPHQL_VALIDATION_FAILED"


class BadUserInput(GatewayError):
    """The variables do not fit the operation's declarations."""

    code = "BAD_USER_INPUT"


class BatchRefused(GatewayError):
    """Not run: another entry of the same batch was refused, so none of the batch ran."""

    code = "BATCH_REFUSED"


class QueryTooComplex(GatewayError):
    """The document passes a limit: depth, fields, tokens, or model fields per request (``GATEWAY_MAX_*``)."""

    code = "QUERY_TOO_COMPLEX"


class SubscriptionNeedsStream(GatewayError):
    """A subscription sent as one JSON request: it streams over SSE (graphql-sse) or a WebSocket."""

    code = "SUBSCRIPTION_NEEDS_STREAM"


# -- one root field ------------------------------------------------------------------------
class PageInvalid(GatewayError):
    """A page size over ``GATEWAY_MAX_PAGE_SIZE`` or below zero, or a cursor this field did not hand out."""

    code = "PAGE_INVALID"


class TooManySubscriptions(GatewayError):
    """The caller already holds ``GATEWAY_MAX_SUBSCRIPTIONS`` open subscriptions."""

    code = "TOO_MANY_SUBSCRIPTIONS"


class InternalError(GatewayError):
    """An unexpected failure while resolving a field: a generic message, the details in the log."""

    code = "INTERNAL_ERROR"


class PlanInvalid(GatewayError):
    """The model's answer is not a plan that fits the contract."""

    code = "PLAN_INVALID"


class PlanRefused(GatewayError):
    """The request cannot be served by this contract (the model said why), or a Mutation's plan
    changes nothing; nothing was written."""

    code = "PLAN_REFUSED"


class InventedValue(PlanInvalid):
    """A write would store text that is neither in the request nor in the store."""

    code = "INVENTED_VALUE"


class PlanFailed(GatewayError):
    """A valid plan could not complete on the store (e.g. a step it relies on found nothing)."""

    code = "PLAN_FAILED"


class NothingChanged(PlanFailed):
    """A Mutation's plan ran but matched no record, so nothing was written: said as an error,
    not a silent empty success (the request named something that is not there, or the model
    misread it)."""

    code = "NOTHING_CHANGED"


class PolicyDenied(GatewayError):
    """The plan is well formed but not allowed here (a write in a Query, too many rows...)."""

    code = "POLICY_DENIED"


class Forbidden(GatewayError):
    """The caller's role may not see or change this."""

    code = "FORBIDDEN"


class StoreError(GatewayError):
    """The store failed or is unreachable; the plan's transaction was rolled back."""

    code = "STORE_ERROR"


class ModelError(GatewayError):
    """The language model could not produce an answer."""

    code = "MODEL_ERROR"


class ModelUnavailable(ModelError):
    """The model cannot be reached or loaded (no server, no model file, an unknown spec)."""

    code = "MODEL_UNAVAILABLE"


class ModelTimeout(ModelError):
    """The model did not answer within ``GATEWAY_MODEL_TIMEOUT_S``."""

    code = "MODEL_TIMEOUT"


class ModelAuth(ModelError):
    """The provider refused the API key (or none is set)."""

    code = "MODEL_AUTH"


class ModelRateLimited(ModelError):
    """The provider kept answering 429 after the retries."""

    code = "MODEL_RATE_LIMITED"


class ModelBudgetExceeded(ModelError):
    """Repairs used up ``GATEWAY_MAX_TOKENS_PER_REQUEST``."""

    code = "MODEL_BUDGET_EXCEEDED"


class UnknownPlan(GatewayError):
    """No single cached plan has this id (or id prefix)."""

    code = "PLAN_NOT_FOUND"


class PlanRejected(GatewayError):
    """The model answered with a plan a developer rejected (or marked wrong) for this request."""

    code = "PLAN_REJECTED"


class PlanNotFrozen(GatewayError):
    """A frozen gateway (``serve --frozen``) has no reviewed plan for this request and calls no model."""

    code = "PLAN_NOT_FROZEN"


class LockFileInvalid(GatewayError):
    """A plans lock file is malformed or was made for another SDL; raised at start-up."""

    code = "LOCK_FILE_INVALID"


class ManifestInvalid(GatewayError):
    """The persisted-documents manifest cannot be used; the gateway does not start."""

    code = "MANIFEST_INVALID"


class ToolNotFound(GatewayError):
    """An MCP tool call names no tool this gateway offers."""

    code = "TOOL_NOT_FOUND"


class ConnectorError(GatewayError):
    """The connector raised; nothing was written."""

    code = "CONNECTOR_ERROR"


class ConnectorTimeout(ConnectorError):
    """The connector did not answer within its ``timeout_s``; nothing was written."""

    code = "CONNECTOR_TIMEOUT"


class ConnectorResultInvalid(ConnectorError):
    """The connector returned data outside its declared type."""

    code = "CONNECTOR_RESULT_INVALID"


def catalogue() -> dict[str, type[GatewayError]]:
    """Every error code the gateway can answer with, and its class."""
    found: dict[str, type[GatewayError]] = {}
    pending: list[type[GatewayError]] = list(GatewayError.__subclasses__())
    while pending:
        cls = pending.pop(0)
        found[cls.code] = cls
        pending.extend(cls.__subclasses__())
    return found
