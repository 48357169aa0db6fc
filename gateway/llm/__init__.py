"""Language-model providers behind one interface, chosen by a spec string.

``embedded`` (default, offline: Qwen2.5-Coder-1.5B), ``embedded:qwen2.5-coder-0.5b`` (the
faster, weaker packaged model), ``embedded:/path/model.gguf``, ``mistral:<model>``,
``openai:<model>`` and ``scripted:<file>`` (tests).
"""

from __future__ import annotations

from ..config import Settings
from ..errors import ModelUnavailable
from .base import Completion, Message, Provider, Usage

__all__ = ["Completion", "Message", "Provider", "Usage", "default_model_spec", "get_provider"]


def default_model_spec(settings: Settings) -> str:
    """``mistral:mistral-large-latest`` when a Mistral key is set, else the embedded model."""
    if settings.mistral_api_key:
        return "mistral:mistral-large-latest"
    return "embedded"


def get_provider(spec: str | None = None, settings: Settings | None = None) -> Provider:
    """Build the provider a spec string names (see the module docstring), configured by ``settings``.

    Without settings, they are read from the environment (``Settings.from_env()``).
    """
    settings = settings or Settings.from_env()
    spec = spec or settings.model or default_model_spec(settings)
    kind, _, arg = spec.partition(":")
    if kind == "scripted":
        from .scripted import ScriptedProvider

        return ScriptedProvider.from_file(arg)
    if kind == "embedded":
        from .embedded import EmbeddedProvider

        return EmbeddedProvider(arg or None, n_ctx=settings.embedded_n_ctx, max_tokens=settings.embedded_max_tokens,
                                n_threads=settings.embedded_threads, draft_tokens=settings.embedded_draft_tokens,
                                prefix_cache_mb=settings.embedded_prefix_cache_mb, cache_dir=settings.cache_dir)
    if kind == "mistral":
        from .mistral import MistralProvider

        return MistralProvider(arg or "mistral-large-latest", api_key=settings.mistral_api_key,
                               server_url=settings.mistral_server_url, timeout_s=settings.model_timeout_s)
    if kind == "openai":
        from .openai_compat import OpenAICompatProvider

        return OpenAICompatProvider(arg, base_url=settings.openai_base_url, api_key=settings.openai_api_key,
                                    timeout_s=settings.model_timeout_s,
                                    json_schema_supported=settings.openai_json_schema)
    raise ModelUnavailable(f"unknown model {spec!r}: use embedded, embedded:qwen2.5-coder-0.5b, "
                           "embedded:/path.gguf, mistral:<model>, openai:<model> or scripted:<file>")
