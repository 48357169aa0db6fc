"""A GraphQL gateway whose one resolver is a language model; this module declares its public API.

What is listed in ``__all__`` is what users, examples and benchmarks import (``from gateway
import Gateway, Settings``); every other module is internal and may change. The stages of a
request each have a room: ``sdl`` (the contract), ``planner`` (the model's plan), ``plan`` and
``validation`` (its shape and its fit to the contract), ``policy``, ``executor`` and ``store``
(running it), ``selection`` (nested fields) and ``server`` (GraphQL over HTTP).
"""

from .client import Answer, GatewayClient, GatewayQueryError
from .config import Settings
from .connectors import connector
from .errors import (
    BadUserInput,
    BatchRefused,
    BatchTooLarge,
    ConfigInvalid,
    ConnectorError,
    ConnectorResultInvalid,
    ConnectorTimeout,
    DocumentNotFound,
    DocumentNotTrusted,
    Forbidden,
    GatewayError,
    GraphQLParseFailed,
    GraphQLValidationFailed,
    ImportInvalid,
    InternalError,
    InventedValue,
    LockFileInvalid,
    ManifestInvalid,
    MigrationRefused,
    ModelAuth,
    ModelBudgetExceeded,
    ModelError,
    ModelRateLimited,
    ModelTimeout,
    ModelUnavailable,
    MutationNotAllowed,
    NotAcceptable,
    PayloadTooLarge,
    PersistedQueryHashMismatch,
    PersistedQueryInvalid,
    PersistedQueryNotFound,
    PlanFailed,
    PlanInvalid,
    PlanNotFrozen,
    PlanRefused,
    PlanRejected,
    PolicyDenied,
    QueryTooComplex,
    RequestError,
    SchemaError,
    StoreError,
    ToolNotFound,
    Unauthenticated,
    UnknownPlan,
    UnsupportedMediaType,
)
from .llm import Completion, Message, Provider, Usage
from .llm.scripted import ScriptedProvider
from .seed import export_records, import_records
from .server import create_app
from .service import Gateway

__version__ = "0.1.0"

__all__ = [
    # serving
    "Gateway",
    "Settings",
    "create_app",
    "connector",
    "import_records",
    "export_records",
    # the model seam: a provider of your own, or the scripted one for tests
    "Provider",
    "Message",
    "Completion",
    "Usage",
    "ScriptedProvider",
    # the Python client
    "GatewayClient",
    "Answer",
    "GatewayQueryError",
    # the error catalogue (gateway.errors)
    "GatewayError",
    "SchemaError",
    "ConfigInvalid",
    "MigrationRefused",
    "ImportInvalid",
    "RequestError",
    "Unauthenticated",
    "MutationNotAllowed",
    "NotAcceptable",
    "PayloadTooLarge",
    "BatchTooLarge",
    "UnsupportedMediaType",
    "PersistedQueryNotFound",
    "PersistedQueryHashMismatch",
    "PersistedQueryInvalid",
    "DocumentNotFound",
    "DocumentNotTrusted",
    "GraphQLParseFailed",
    "GraphQLValidationFailed",
    "BadUserInput",
    "QueryTooComplex",
    "BatchRefused",
    "InternalError",
    "PlanInvalid",
    "InventedValue",
    "PlanRefused",
    "PlanRejected",
    "PlanNotFrozen",
    "UnknownPlan",
    "LockFileInvalid",
    "ManifestInvalid",
    "ToolNotFound",
    "PlanFailed",
    "PolicyDenied",
    "Forbidden",
    "StoreError",
    "ModelError",
    "ModelUnavailable",
    "ModelTimeout",
    "ModelAuth",
    "ModelRateLimited",
    "ModelBudgetExceeded",
    "ConnectorError",
    "ConnectorTimeout",
    "ConnectorResultInvalid",
]
