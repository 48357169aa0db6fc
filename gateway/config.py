"""Settings from flags and environment variables, with safe defaults: the one module that reads the environment.

Every setting has an environment name (``GATEWAY_<NAME>``, or the provider's own such as
``MISTRAL_API_KEY``); command-line flags override them. The rest of the gateway receives a
:class:`Settings` and never looks at ``os.environ``. Worker processes (``serve --workers``)
get the parent's settings whole, as JSON in one variable (:func:`handed_to_workers`).
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import types
import typing
from collections.abc import Iterator
from dataclasses import dataclass, field, fields
from typing import Any

from .errors import ConfigInvalid

WORKER_SETTINGS_ENV = "GATEWAY_WORKER_SETTINGS"
_TRUE = ("1", "true", "yes", "on")


def _secret(env: str) -> Any:
    """A setting read from a provider's own variable, kept out of ``repr``."""
    return field(default=None, repr=False, metadata={"env": env})


def _named(env: str) -> Any:
    """A setting read from a variable that is not ``GATEWAY_<NAME>``."""
    return field(default=None, metadata={"env": env})


def _cast(raw: str, annotation: Any) -> Any:
    """``raw`` as the setting's type: ``int``, ``float``, ``bool``, ``str`` or one of those or None."""
    if isinstance(annotation, types.UnionType):
        annotation = next(a for a in typing.get_args(annotation) if a is not type(None))
    if annotation is bool:
        return raw.strip().lower() in _TRUE
    return annotation(raw)


@dataclass
class Settings:
    """Every setting of a gateway; ``Settings.from_env()`` reads them, ``Settings(...)`` gives them directly."""

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
    grounding_probes: int = 12  # SQL probes per request matching its phrases to stored values; 0: off
    grounding_hints: int = 8
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
    # the model providers (each receives these instead of reading the environment)
    cache_dir: str | None = None  # where the embedded model file is joined; None: the user cache folder
    embedded_threads: int | None = None  # None: one per core
    embedded_max_tokens: int = 768
    embedded_n_ctx: int = 8192
    # prompt-lookup draft tokens per decoding step; off: on 2 idle CPU cores checking a draft batch
    # costs more than the forward passes it saves (bench/README.md, embedded speed)
    embedded_draft_tokens: int = 0
    embedded_prefix_cache_mb: int = 1024  # saved prompt-prefix KV states; 0: off
    warm_prompts: bool = True  # at start-up, read every field's prompt prefix into the embedded model
    mistral_api_key: str | None = _secret("MISTRAL_API_KEY")
    mistral_server_url: str | None = _named("MISTRAL_SERVER_URL")
    openai_base_url: str | None = _named("OPENAI_BASE_URL")
    openai_api_key: str | None = _secret("OPENAI_API_KEY")
    openai_json_schema: bool | None = _named("OPENAI_JSON_SCHEMA")  # None: try json_schema, fall back
    # production surface: trusted documents, GET caching, the admin API
    documents: str | None = None  # a persisted-documents manifest (hash -> document)
    trusted_documents_only: bool = False
    get_max_age: int = 0  # seconds a CDN may cache a successful GET by hash or documentId
    admin_role: str = "admin"
    admin_local: bool = False  # without API keys, open the admin API to loopback callers

    @classmethod
    def from_env(cls, **overrides: Any) -> Settings:
        """Read each setting's variable, then apply non-None overrides.

        In a worker process started by ``serve --workers``, the parent's settings come whole
        from :data:`WORKER_SETTINGS_ENV` instead.
        """
        handed = os.environ.get(WORKER_SETTINGS_ENV)
        if handed:
            return dataclasses.replace(cls.from_json(handed), **{k: v for k, v in overrides.items() if v is not None})
        hints = typing.get_type_hints(cls)
        values: dict[str, Any] = {}
        for f in fields(cls):
            raw = os.environ.get(f.metadata.get("env", f"GATEWAY_{f.name.upper()}"))
            if raw is not None and raw.strip() != "":
                values[f.name] = _cast(raw, hints[f.name])
        values.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**values)

    def to_json(self) -> str:
        return json.dumps(dataclasses.asdict(self))

    @classmethod
    def from_json(cls, text: str) -> Settings:
        return cls(**json.loads(text))


@contextlib.contextmanager
def handed_to_workers(settings: Settings) -> Iterator[None]:
    """Within the block, processes started from this one (uvicorn's workers) build these settings.

    A spawned worker inherits the environment and nothing else, so the settings travel as
    JSON in one variable, removed again when the block ends.
    """
    previous = os.environ.get(WORKER_SETTINGS_ENV)
    os.environ[WORKER_SETTINGS_ENV] = settings.to_json()
    try:
        yield
    finally:
        if previous is None:
            os.environ.pop(WORKER_SETTINGS_ENV, None)
        else:
            os.environ[WORKER_SETTINGS_ENV] = previous


def require_redis() -> None:
    """Called where a Redis URL is about to be used (plan cache, persisted queries, notifications):
    without the ``redis`` extra that is one clear line at start-up, not a traceback."""
    try:
        import redis  # noqa: F401
    except ModuleNotFoundError as e:
        if e.name != "redis":
            raise
        raise ConfigInvalid(
            "a Redis URL is set but the redis package is not installed: pip install 'llm-graphql-gateway[redis]'"
        ) from e
