"""Settings from flags and environment variables, with safe defaults.

Every setting has an environment name (``GATEWAY_*``); command-line flags override them.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field, fields
from typing import Any


def _env(name: str, default: Any, cast: type = str) -> Any:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    if cast is bool:
        return raw.strip().lower() in ("1", "true", "yes", "on")
    return cast(raw)


@dataclass
class Settings:
    schema: str = "schema.graphql"
    db: str = "sqlite:///gateway.db"
    model: str | None = None
    host: str = "127.0.0.1"
    port: int = 8000
    # planning
    repairs: int = 2
    model_timeout_s: float = 120.0
    model_concurrency: int = 2
    max_tokens_per_request: int = 60_000
    # policy and limits
    max_rows: int = 100
    default_page_size: int = 100
    max_page_size: int = 1000
    # live subscriptions
    max_subscriptions: int = 10
    notify: str = "auto"
    max_body_bytes: int = 1_000_000
    max_depth: int = 10
    max_fields: int = 200
    max_introspection_fields: int = 500
    max_introspection_depth: int = 20
    max_document_tokens: int = 10_000
    max_batch: int = 10
    max_model_fields: int = 10
    introspection: bool = True
    graphiql: bool = True
    api_keys: str | None = None
    api_keys_file: str | None = None
    # caching and tracing
    plan_cache: bool = True
    redis_url: str | None = None
    redis_prefix: str = "gateway:plans:"
    frozen: str | None = None  # a plans lock file: serve only its plans, load no model
    plan_examples: int = 3  # stored plans like the request offered to the model as worked examples
    traces: str | None = None
    connectors: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_env(cls, **overrides: Any) -> "Settings":
        """Read ``GATEWAY_<NAME>`` for each setting, then apply non-None overrides."""
        values: dict[str, Any] = {}
        for f in fields(cls):
            if f.name == "extra":
                continue
            default = f.default
            cast = type(default) if default is not None else str
            values[f.name] = _env(f"GATEWAY_{f.name.upper()}", default, cast)
        values.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**values)
