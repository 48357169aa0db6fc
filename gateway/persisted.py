"""Persisted queries and trusted documents: turn a hash or ``documentId`` into the document it names.

Two conventions, one lookup, applied before a request is parsed:

- **Automatic persisted queries** (Apollo's APQ, urql's ``persistedExchange``):
  ``extensions.persistedQuery = {"version": 1, "sha256Hash": H}``. Without ``query`` the hash
  must be known, else the answer is ``PersistedQueryNotFound`` (code
  ``PERSISTED_QUERY_NOT_FOUND``, the exact message both clients look for), and the client sends
  the document once with its hash. A document whose sha256 is not ``H`` is refused
  (``PERSISTED_QUERY_HASH_MISMATCH``); a valid one is registered, in the store
  (``_gateway_persisted_queries``) and in Redis when configured, so every process knows it.
- **Trusted documents** (GraphQL Code Generator's persisted-documents manifest, a JSON object of
  hash to document): requests name one with ``documentId`` (``sha256:<hex>`` or the plain hash),
  per the GraphQL-over-HTTP persisted documents appendix, or with an APQ hash. In
  trusted-documents-only mode nothing else runs: not a registered APQ document, not full text
  that is not in the manifest (``DOCUMENT_NOT_TRUSTED``).

The manifest is checked at start-up: each key must be the sha256 (or sha1, codegen's default)
of its document, and each document must parse and validate against the SDL; otherwise the
gateway refuses to start (``MANIFEST_INVALID``).
"""

from __future__ import annotations

import hashlib
import json
import re
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from graphql import (
    GraphQLError,
    GraphQLSchema,
    OperationDefinitionNode,
    parse,
    print_ast,
    validate,
)
from sqlalchemy import Column, Engine, Float, MetaData, Table, Text, insert, select
from sqlalchemy.exc import IntegrityError, SQLAlchemyError

from .config import require_redis
from .errors import (
    DocumentNotFound,
    DocumentNotTrusted,
    ManifestInvalid,
    PersistedQueryHashMismatch,
    PersistedQueryInvalid,
    PersistedQueryNotFound,
)
from .store.tables import INTERNAL_PREFIX

if TYPE_CHECKING:  # the redis extra is imported only when a Redis URL is set
    from .cache.redis import RedisGuard

APQ_VERSION = 1
SHA256 = re.compile(r"[0-9a-f]{64}")
SHA1 = re.compile(r"[0-9a-f]{40}")
MEMO_MAX = 10_000  # documents a process keeps in memory by hash

_metadata = MetaData()
PERSISTED = Table(
    f"{INTERNAL_PREFIX}persisted_queries",
    _metadata,
    Column("hash", Text(), primary_key=True),
    Column("document", Text(), nullable=False),
    Column("created_at", Float(), nullable=False),
)


def sha256_hex(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def canonical(document: str) -> str | None:
    """The document printed by graphql-core, so whitespace and commas do not matter; None if it does not parse."""
    try:
        return print_ast(parse(document))
    except GraphQLError:
        return None


@dataclass
class TrustedDocument:
    id: str
    document: str
    operation_name: str | None


class Manifest:
    """The trusted documents: id (a sha256 or sha1 hex digest) -> document text."""

    def __init__(self, documents: dict[str, str], source: str = "manifest") -> None:
        self.source = source
        self.documents = documents
        self._canonical = {canonical(text): key for key, text in documents.items()}

    @classmethod
    def load(cls, path: str | Path, schema: GraphQLSchema) -> Manifest:
        """Read and check a manifest file; ``ManifestInvalid`` names the first problem found."""
        path = Path(path)
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except OSError as e:
            raise ManifestInvalid(f"{path}: cannot read the manifest: {e.strerror or e}") from e
        except (json.JSONDecodeError, UnicodeDecodeError) as e:
            raise ManifestInvalid(f"{path}: the manifest is not valid JSON: {e}") from e
        if not isinstance(data, dict) or not data:
            raise ManifestInvalid(f"{path}: a manifest is a non-empty JSON object of hash -> document")
        documents: dict[str, str] = {}
        for key, text in data.items():
            where = f"{path}: document {key!r}"
            if not isinstance(text, str) or not text.strip():
                raise ManifestInvalid(f"{where} is not a GraphQL document string")
            digest = key.removeprefix("sha256:")
            if SHA256.fullmatch(digest):
                actual = sha256_hex(text)
            elif SHA1.fullmatch(key):
                actual = hashlib.sha1(text.encode("utf-8")).hexdigest()
            else:
                raise ManifestInvalid(f"{where}: a key is the document's sha256 (or sha1) as lower-case hex")
            if actual != digest:
                raise ManifestInvalid(f"{where}: the key is not the hash of its document (that is {actual})")
            try:
                errors = validate(schema, parse(text))
            except GraphQLError as e:
                raise ManifestInvalid(f"{where} does not parse: {e.message}") from e
            if errors:
                raise ManifestInvalid(f"{where} does not fit the schema: {errors[0].message}")
            documents[digest] = text
        return cls(documents, str(path))

    def get(self, digest: str) -> str | None:
        return self.documents.get(digest)

    def contains_text(self, query: str) -> bool:
        """Whether this full text is a trusted document (exactly, or printed the same way)."""
        if sha256_hex(query) in self.documents:
            return True
        form = canonical(query)
        return form is not None and form in self._canonical

    def listing(self) -> list[TrustedDocument]:
        """Each document with its operation name (None when it has several or none named)."""
        out = []
        for key, text in sorted(self.documents.items()):
            names = [
                d.name.value
                for d in parse(text).definitions
                if isinstance(d, OperationDefinitionNode) and d.name is not None
            ]
            out.append(TrustedDocument(key, text, names[0] if len(names) == 1 else None))
        return out


class ApqStore:
    """Documents clients registered by hash: in the store and, when configured, in Redis.

    A hash names one text forever, so each process also keeps the documents it has seen in memory
    (at most ``MEMO_MAX``): a repeat by hash reads neither Redis nor the store.
    """

    def __init__(self, engine: Engine, redis_url: str | None = None, redis_prefix: str = "gateway:apq:") -> None:
        self.engine = engine
        self.prefix = redis_prefix
        self._memo: dict[str, str] = {}
        self._redis: RedisGuard | None = None
        if redis_url:
            require_redis()
            from .cache.redis import RedisGuard

            self._redis = RedisGuard(redis_url, f"gateway-apq:{redis_prefix}", "persisted queries")
        try:
            _metadata.create_all(engine, checkfirst=True)
        except SQLAlchemyError:  # another process created it at the same moment
            _metadata.create_all(engine, checkfirst=True)

    def get(self, digest: str) -> str | None:
        if digest in self._memo:
            return self._memo[digest]
        found = self._fetch(digest)
        if found is not None:
            self._remember(digest, found)
        return found

    def _remember(self, digest: str, document: str) -> None:
        if len(self._memo) >= MEMO_MAX:
            self._memo.clear()
        self._memo[digest] = document

    def _fetch(self, digest: str) -> str | None:
        if self._redis is not None:
            found = self._redis(lambda r: r.get(self.prefix + digest), None)
            if found is not None:
                return str(found)
        with self.engine.connect() as conn:
            text = conn.execute(select(PERSISTED.c.document).where(PERSISTED.c.hash == digest)).scalar()
        if text is not None:
            self._redis_set(digest, text)
        return text

    def put(self, digest: str, document: str) -> None:
        """Register a document under its (already checked) hash; a repeat is a no-op."""
        if digest in self._memo:
            return
        try:
            with self.engine.begin() as conn:
                exists = conn.execute(select(PERSISTED.c.hash).where(PERSISTED.c.hash == digest)).first()
                if exists is None:
                    conn.execute(insert(PERSISTED).values(hash=digest, document=document, created_at=time.time()))
        except IntegrityError:  # a concurrent request registered it first
            pass
        self._redis_set(digest, document)
        self._remember(digest, document)

    def _redis_set(self, digest: str, document: str) -> None:
        if self._redis is not None:
            self._redis(lambda r: r.set(self.prefix + digest, document), None)

    def close(self) -> None:
        if self._redis is not None:
            self._redis.close()


@dataclass
class Resolved:
    """A request with its document filled in; ``by_hash`` when the client sent only an id."""

    params: dict[str, Any]
    by_hash: bool


class PersistedDocuments:
    """The one lookup the HTTP layer calls before running a request."""

    def __init__(
        self,
        schema: GraphQLSchema,
        store: ApqStore | None,
        manifest: Manifest | None = None,
        trusted_only: bool = False,
    ) -> None:
        if trusted_only and manifest is None:
            raise ManifestInvalid("trusted-documents-only needs a manifest (--documents FILE)")
        self.schema = schema
        self.store = store
        self.manifest = manifest
        self.trusted_only = trusted_only

    def resolve(self, params: dict[str, Any]) -> Resolved:
        """Fill ``query`` from ``documentId`` or an APQ hash, register new APQ documents, enforce trust."""
        query = params.get("query")
        document_id = params.get("documentId")
        extensions = params.get("extensions")
        persisted = extensions.get("persistedQuery") if isinstance(extensions, dict) else None
        if document_id is not None:
            if query is not None:
                raise PersistedQueryInvalid("send either documentId or query, not both")
            return Resolved({**params, "query": self._by_document_id(document_id)}, True)
        if persisted is not None:
            digest = self._apq_hash(persisted)
            if isinstance(query, str):
                self._register(digest, query)
                return Resolved(params, False)
            return Resolved({**params, "query": self._by_apq_hash(digest)}, True)
        if self.trusted_only and isinstance(query, str) and not self.manifest.contains_text(query):  # type: ignore[union-attr]
            raise DocumentNotTrusted("this gateway only runs trusted documents; this one is not in the manifest")
        return Resolved(params, False)

    # -- the two ways to name a document ---------------------------------------------------
    def _by_document_id(self, document_id: Any) -> str:
        if not isinstance(document_id, str) or not document_id:
            raise PersistedQueryInvalid("documentId must be a non-empty string")
        prefix, colon, payload = document_id.partition(":")
        digest = payload if colon else document_id
        if colon and prefix != "sha256":
            raise PersistedQueryInvalid(f"documentId prefix {prefix!r} is not supported; use sha256:<hex>")
        found = self.manifest.get(digest) if self.manifest is not None else None
        if found is None and not self.trusted_only and self.store is not None and SHA256.fullmatch(digest):
            found = self.store.get(digest)
        if found is None:
            if self.trusted_only:
                raise DocumentNotTrusted(f"no trusted document with id {document_id!r}")
            raise DocumentNotFound(f"no persisted document with id {document_id!r}")
        return found

    def _apq_hash(self, persisted: Any) -> str:
        if not isinstance(persisted, dict):
            raise PersistedQueryInvalid("extensions.persistedQuery must be an object")
        if persisted.get("version") != APQ_VERSION:
            raise PersistedQueryInvalid(
                f"unsupported persisted query version {persisted.get('version')!r}; "
                f"this gateway speaks version {APQ_VERSION}"
            )
        digest = persisted.get("sha256Hash")
        if isinstance(digest, str):  # codegen's embedded hashes carry the documentId prefix
            digest = digest.removeprefix("sha256:")
        if not isinstance(digest, str) or not SHA256.fullmatch(digest):
            raise PersistedQueryInvalid("extensions.persistedQuery.sha256Hash must be a sha256 as lower-case hex")
        return digest

    def _by_apq_hash(self, digest: str) -> str:
        found = self.manifest.get(digest) if self.manifest is not None else None
        if found is None and self.trusted_only:
            raise DocumentNotTrusted("this gateway only runs trusted documents; this hash is not in the manifest")
        if found is None and self.store is not None:
            found = self.store.get(digest)
        if found is None:
            raise PersistedQueryNotFound()
        return found

    def _register(self, digest: str, query: str) -> None:
        """Check a document sent with its hash and remember it for hash-only requests."""
        actual = sha256_hex(query)
        if actual != digest:
            raise PersistedQueryHashMismatch(f"the query's sha256 is {actual}, not the sha256Hash sent ({digest})")
        if self.manifest is not None and self.manifest.get(digest) is not None:
            return
        if self.trusted_only:
            raise DocumentNotTrusted("this gateway only runs trusted documents; this one is not in the manifest")
        if self.store is None:
            return
        try:  # only documents that can run are kept: junk must not fill the store
            if validate(self.schema, parse(query)):
                return
        except GraphQLError:
            return
        self.store.put(digest, query)


def persisted_documents(
    schema: GraphQLSchema,
    engine: Engine,
    documents: str | None,
    trusted_only: bool,
    redis_url: str | None,
    redis_prefix: str,
) -> PersistedDocuments:
    """The lookup for a gateway's settings: its manifest (checked now) and its APQ store.

    In Redis, documents live under ``GATEWAY_REDIS_PREFIX`` (default ``gateway:plans:``) + ``apq:``.
    """
    manifest = Manifest.load(documents, schema) if documents else None
    store = None if trusted_only else ApqStore(engine, redis_url, redis_prefix + "apq:")
    return PersistedDocuments(schema, store, manifest, trusted_only)
