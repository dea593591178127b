"""Reading and writing bytes at local paths or fsspec URLs (s3://...), never leaving half a file.

Local writes go to a temporary sibling and are renamed into place; object stores (S3) make a PUT
visible only once complete, so a plain write is already all-or-nothing there. Local files are
written mode :data:`FILE_MODE` (0644, like any file a process creates under the usual umask).
Twin: ``costing/report/store.py`` (``rnn`` and ``costing`` may not import each other): same rules.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

FILE_MODE = 0o644  # mkstemp creates 0600; models, checkpoints, metrics and reports are meant to be read


def is_remote(uri: str) -> bool:
    return "://" in uri and not uri.startswith("file://")


def _local_path(uri: str) -> Path:
    return Path(uri.removeprefix("file://"))


def join(base: str, *parts: str) -> str:
    if is_remote(base):
        return "/".join([base.rstrip("/"), *parts])
    return str(_local_path(base).joinpath(*parts))


def write_bytes_atomic(uri: str, data: bytes) -> None:
    if is_remote(uri):
        import fsspec

        with fsspec.open(uri, "wb") as handle:
            handle.write(data)
        return
    path = _local_path(uri)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, FILE_MODE)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_text_atomic(uri: str, text: str) -> None:
    write_bytes_atomic(uri, text.encode("utf-8"))


def exists(uri: str) -> bool:
    if is_remote(uri):
        import fsspec

        fs, path = fsspec.core.url_to_fs(uri)
        return fs.exists(path)
    return _local_path(uri).exists()


def read_bytes(uri: str) -> bytes:
    if is_remote(uri):
        import fsspec

        with fsspec.open(uri, "rb") as handle:
            return handle.read()
    return _local_path(uri).read_bytes()
