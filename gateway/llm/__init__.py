"""Language-model providers behind one interface, chosen by a spec string.

``embedded`` (default, offline: Qwen2.5-Coder-1.5B), ``embedded:qwen2.5-coder-0.5b`` (the
faster, weaker packaged model), ``embedded:/path/model.gguf``, ``mistral:<model>``,
``openai:<model>`` and ``scripted:<file>`` (tests).
"""

from __future__ import annotations

import os

from ..errors import ModelUnavailable
from .base import Completion, Message, Provider, Usage

__all__ = ["Completion", "Message", "Provider", "Usage", "default_model_spec", "get_provider"]


def default_model_spec() -> str:
    """``mistral:mistral-large-latest`` when a Mistral key is set, else the embedded model."""
    if os.environ.get("MISTRAL_API_KEY"):
        return "mistral:mistral-large-latest"
    return "embedded"


def get_provider(spec: str | None = None) -> Provider:
    """Build the provider a spec string names (see the module docstring)."""
    spec = spec or os.environ.get("GATEWAY_MODEL") or default_model_spec()
    kind, _, arg = spec.partition(":")
    if kind == "scripted":
        from .scripted import ScriptedProvider

        return ScriptedProvider.from_file(arg)
    if kind == "embedded":
        from .embedded import EmbeddedProvider

        return EmbeddedProvider(arg or None)
    if kind == "mistral":
        from .mistral import MistralProvider

        return MistralProvider(arg or "mistral-large-latest")
    if kind == "openai":
        from .openai_compat import OpenAICompatProvider

        return OpenAICompatProvider(arg)
    raise ModelUnavailable(f"unknown model {spec!r}: use embedded, embedded:qwen2.5-coder-0.5b, "
                           "embedded:/path.gguf, mistral:<model>, openai:<model> or scripted:<file>")
