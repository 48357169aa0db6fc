"""Who may call, and what each role may see: API keys, roles and the ``@auth`` directive.

Keys come from ``GATEWAY_API_KEYS`` (``key1:admin|editor,key2:viewer``) or a keys file (JSON
``{"key": ["role", ...]}``). ``@auth(roles: [...])`` on a type or field limits it to those
roles. Access is enforced twice: on the plan (a plan may not read, filter on or write what the
caller cannot see) and on the response (nested fields are checked as GraphQL resolves them).
"""

from __future__ import annotations

import hmac
import json
import re
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from .errors import ConfigInvalid, Forbidden
from .plan import Call, Filter, Plan, StepTree
from .plan.nodes import FieldRef, FieldTest, Node, Related, StepRef
from .plan.visitor import ScopedVisitor
from .sdl import Catalog, Model, RootField

ROLE_NAME = re.compile(r"[A-Za-z0-9_.\-]+")


class ApiKeys:
    """The configured API keys and their roles. Configuration that is set but malformed is an error:
    it never falls back to open access."""

    def __init__(self, keys: dict[str, frozenset[str]]) -> None:
        self._keys = keys

    @classmethod
    def load(cls, spec: str | None, path: str | None) -> ApiKeys | None:
        """Parse the env spec and/or keys file; None only when neither is set (open access)."""
        if not spec and not path:
            return None
        keys: dict[str, frozenset[str]] = {}
        if spec:
            for number, item in enumerate(spec.split(","), 1):
                key, colon, roles = item.strip().partition(":")
                if not key or not colon:
                    raise ConfigInvalid(
                        f"GATEWAY_API_KEYS entry {number} is not key:role|role "
                        "(entries are separated by commas; a key needs a colon, even with no roles)"
                    )
                cls._add(keys, key, [r for r in roles.split("|") if r], f"GATEWAY_API_KEYS entry {number}")
        if path:
            try:
                data = json.loads(Path(path).read_text(encoding="utf-8"))
            except (OSError, ValueError) as e:
                raise ConfigInvalid(f"cannot read the API keys file {path}: {e}") from e
            if not isinstance(data, dict) or not data:
                raise ConfigInvalid(f"{path}: a keys file is a non-empty JSON object of key -> list of roles")
            for key, roles in data.items():
                if not isinstance(roles, list) or not all(isinstance(r, str) for r in roles):
                    raise ConfigInvalid(
                        f"{path}: the roles of a key are a JSON list of strings, "
                        f'e.g. ["admin"], not {type(roles).__name__}'
                    )
                cls._add(keys, key, roles, path)
        return cls(keys)

    @staticmethod
    def _add(keys: dict[str, frozenset[str]], key: str, roles: list[str], where: str) -> None:
        if not key.strip() or key != key.strip() or any(c.isspace() for c in key):
            raise ConfigInvalid(f"{where}: an API key may not be empty or hold spaces")
        bad = [r for r in roles if not ROLE_NAME.fullmatch(r)]
        if bad:
            raise ConfigInvalid(f"{where}: role names are letters, digits, '_', '.' or '-'")
        if key in keys and keys[key] != frozenset(roles):
            raise ConfigInvalid(f"{where}: a key is configured twice with different roles")
        keys[key] = frozenset(roles)

    def roles_for(self, presented: str | None) -> frozenset[str] | None:
        """The roles of a presented key, or None when the key is missing or wrong."""
        if not presented:
            return None
        found = None
        for key, roles in self._keys.items():  # compare every key: no timing hint of which matched
            if hmac.compare_digest(key.encode(), presented.encode()):
                found = roles
        return found


def presented_key(headers: Any) -> str | None:
    auth: str = headers.get("authorization", "")
    if auth.lower().startswith("bearer "):
        return auth[7:].strip()
    key: str | None = headers.get("x-api-key")
    return key


def allowed(roles: Iterable[str], required: tuple[str, ...] | None) -> bool:
    return required is None or bool(set(roles) & set(required))


class Access:
    """Checks a root field and a plan against the caller's roles."""

    def __init__(self, catalog: Catalog) -> None:
        self.catalog = catalog

    def check_root(self, root: RootField, roles: frozenset[str]) -> None:
        if not allowed(roles, root.auth_roles):
            raise Forbidden(f"{root.operation} field {root.name} needs one of the roles {list(root.auth_roles or ())}")
        for name in root.models:
            self.check_model(self.catalog.models[name], roles)
        shape = self.catalog.shapes.get(root.type_name)
        if shape is not None:
            self.check_model(shape, roles)

    def check_model(self, model: Model, roles: frozenset[str]) -> None:
        if not allowed(roles, model.auth_roles):
            raise Forbidden(f"{model.name} needs one of the roles {list(model.auth_roles or ())}")

    def check_field(self, model: Model, name: str, roles: frozenset[str], whole: bool = False) -> None:
        """May these roles read (or write) ``model.name``? With ``whole``, an embedded object's
        own fields count too (a plan that copies it moves all of them)."""
        f = model.fields.get(name)
        if f is None:
            return
        if not allowed(roles, f.auth_roles):
            raise Forbidden(f"{model.name}.{name} needs one of the roles {list(f.auth_roles or ())}")
        target = self.catalog.object_type(f.type_name)
        if target is not None:
            self.check_model(target, roles)
            if f.kind == "json" and whole:
                for inner in target.fields:
                    self.check_field(target, inner, roles, whole=True)

    def check_plan(self, plan: Plan, roles: frozenset[str]) -> None:
        """Refuse a plan that reads, filters on, orders by, copies or writes what these roles may not see."""
        reads = FieldReads(self.catalog, plan)
        for model, name in reads.collect():
            if name is None:
                self.check_model(model, roles)
            else:
                self.check_field(model, name, roles, whole=True)


class FieldReads(ScopedVisitor):
    """Every (model, field) a plan touches: filters, expressions, orderings, step references, writes."""

    def __init__(self, catalog: Catalog, plan: Plan) -> None:
        super().__init__(catalog)
        self.plan = plan
        self.found: list[tuple[Model, str | None]] = []

    def collect(self) -> list[tuple[Model, str | None]]:
        for t in self.plan.tree:
            step = t.step
            model = self.step_model(step)
            if model is not None:
                self.found.append((model, None))
            for node in self.parts(t):
                self.visit(node, model)
            for name in [k for row in t.rows for k in row] + list(t.set) + list(getattr(step, "groupBy", [])):
                if model is not None:
                    self.found.append((model, name))
        return self.found

    def step_model(self, step: Any) -> Model | None:
        if isinstance(step, (Call, Filter)):
            source = (
                step
                if isinstance(step, Call)
                else self.plan.steps[step.step]
                if 0 <= step.step < len(self.plan.steps)
                else None
            )
            c = self.catalog.connectors.get(getattr(source, "connector", ""))
            return self.catalog.shapes.get(c.returns) if c is not None else None
        return self.catalog.models.get(step.model)

    @staticmethod
    def parts(t: StepTree) -> list[Node]:
        nodes: list[Node] = [] if t.where is None else [t.where]
        nodes += list(t.order) + [v for row in t.rows for v in row.values()] + list(t.set.values())
        nodes += list(t.args.values()) + [m.expr for m in t.measures if m.expr is not None]
        return nodes

    def visit_FieldTest(self, node: FieldTest, scope: Model | None) -> None:
        if scope is not None:
            self.found.append((scope, node.field))
        self.generic_visit(node, scope)

    def related(self, node: Related, scope: Model | None) -> None:
        if scope is not None:
            self.found.append((scope, node.field))

    def visit_FieldRef(self, node: FieldRef, scope: Model | None) -> None:
        model = scope
        for name in node.names:
            if model is None or name not in model.fields:
                return
            self.found.append((model, name))
            model = self.catalog.models.get(model.fields[name].type_name)

    def visit_StepRef(self, node: StepRef, scope: Model | None) -> None:
        if not 0 <= node.step < len(self.plan.steps):
            return
        step = self.plan.steps[node.step]
        model = self.step_model(step)
        if model is not None and node.field in model.fields:
            self.found.append((model, node.field))
