"""Named errors: each carries the GraphQL ``extensions.code`` a client can branch on."""

from __future__ import annotations

from typing import Any

from graphql import GraphQLError


class GatewayError(Exception):
    """An error a client sees as a GraphQL error with ``extensions.code``."""

    code = "INTERNAL"

    def __init__(self, message: str, **extensions: Any) -> None:
        super().__init__(message)
        self.message = message
        self.extensions = extensions

    def as_extensions(self) -> dict[str, Any]:
        return {"code": self.code, **self.extensions}

    def as_graphql_error(self) -> GraphQLError:
        """The field error a client sees: the message, located by GraphQL, with the code."""
        return GraphQLError(self.message, original_error=self, extensions=self.as_extensions())


class SchemaError(GatewayError):
    """The SDL cannot be served; raised at start-up with the line and a reason."""

    code = "SCHEMA_INVALID"


class ConfigInvalid(GatewayError):
    """A setting cannot be used as given (e.g. a malformed API key list); raised at start-up."""

    code = "CONFIG_INVALID"


class MigrationRefused(GatewayError):
    """The store holds data that the new SDL would drop or retype."""

    code = "MIGRATION_REFUSED"


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


class PolicyDenied(GatewayError):
    """The plan is well formed but not allowed here (a write in a Query, too many rows...)."""

    code = "POLICY_DENIED"


class Unauthenticated(GatewayError):
    """No valid API key was given."""

    code = "UNAUTHENTICATED"


class Forbidden(GatewayError):
    """The caller's role may not see or change this."""

    code = "FORBIDDEN"


class StoreError(GatewayError):
    """The store failed or is unreachable; the plan's transaction was rolled back."""

    code = "STORE_ERROR"


class ImportInvalid(GatewayError):
    """Seed data does not fit the SDL; nothing was imported."""

    code = "IMPORT_INVALID"


class ModelError(GatewayError):
    """The language model could not produce an answer."""

    code = "MODEL_ERROR"


class ModelUnavailable(ModelError):
    code = "MODEL_UNAVAILABLE"


class ModelTimeout(ModelError):
    code = "MODEL_TIMEOUT"


class ModelAuth(ModelError):
    code = "MODEL_AUTH"


class ModelRateLimited(ModelError):
    code = "MODEL_RATE_LIMITED"


class ModelBudgetExceeded(ModelError):
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
