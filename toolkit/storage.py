"""Reading and writing bytes at local paths or fsspec URLs (s3://...), never leaving half a file.

Local writes go to a temporary sibling and are renamed into place; object stores (S3) make a PUT
visible only once complete, so a plain write is already all-or-nothing there. Local files are
written mode :data:`FILE_MODE` (0644, like any file a process creates under the usual umask).
Models, checkpoints, metrics, pricing snapshots and reports are all written through here.

When remote storage fails, :func:`explain` turns whatever fsspec, s3fs, botocore or aiohttp raised
into a :class:`StorageError` with one line saying what happened, and whether trying again may help
(``transient``: the host could not be reached) or not (no credentials, access denied, not found).
"""

from __future__ import annotations

import contextlib
import errno
import os
import ssl
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

FILE_MODE = 0o644  # mkstemp creates 0600; models, checkpoints, metrics and reports are meant to be read
WRITE_CHECK_NAME = ".write-check"  # the probe :func:`check_writable` leaves behind where it cannot delete

# botocore / aiohttp exceptions, by class name (neither library is imported here)
_NO_CREDENTIALS = {"NoCredentialsError", "PartialCredentialsError", "CredentialRetrievalError"}
_UNREACHABLE = {
    "EndpointConnectionError",
    "ConnectTimeoutError",
    "ReadTimeoutError",
    "ConnectionClosedError",
    "ClientConnectorError",
    "ServerDisconnectedError",
    "ServerTimeoutError",
    "ClientConnectorDNSError",
}
_TLS = {"SSLError", "ClientConnectorSSLError", "ClientConnectorCertificateError", "ClientSSLError"}
_ACCESS_DENIED_CODES = {"AccessDenied", "InvalidAccessKeyId", "SignatureDoesNotMatch", "AllAccessDisabled"}


class StorageError(OSError):
    """Reading or writing a URI failed; the message names the URI, what happened and what to do.

    ``transient`` is True when the other end could not be reached (worth retrying), False when
    retrying cannot help (no credentials, access denied, not found).
    """

    def __init__(self, message: str, *, transient: bool = False) -> None:
        super().__init__(message)
        self.transient = transient

    def __str__(self) -> str:
        return str(self.args[0])


class StorageNotFoundError(StorageError, FileNotFoundError):
    """Nothing at that URI (still a FileNotFoundError for callers that only know that one)."""


def first_line(exc: BaseException) -> str:
    """The first line of an exception's message (some libraries write paragraphs)."""
    lines = str(exc).strip().splitlines()
    return lines[0] if lines else type(exc).__name__


def _chain(exc: BaseException) -> list[BaseException]:
    seen: list[BaseException] = []
    current: BaseException | None = exc
    while current is not None and current not in seen:
        seen.append(current)
        current = current.__cause__ or current.__context__
    return seen


def _names(exc: BaseException) -> set[str]:
    return {cls.__name__ for cls in type(exc).__mro__}


def explain(uri: str, exc: BaseException, *, action: str = "read") -> StorageError:
    """One line for a failed ``action`` ("read", "write") on ``uri``, classified transient or not."""
    chain = _chain(exc)
    last = chain[-1]
    detail = f"{type(last).__name__}: {first_line(last)}"
    for cause in chain:
        names = _names(cause)
        if names & _NO_CREDENTIALS:
            return StorageError(
                f"cannot {action} {uri}: no AWS credentials found. Set AWS_ACCESS_KEY_ID and "
                "AWS_SECRET_ACCESS_KEY (or AWS_PROFILE), or run where an instance role provides them"
            )
        if names & _TLS or isinstance(cause, ssl.SSLError):
            return StorageError(
                f"could not reach {uri}: the TLS handshake failed ({type(cause).__name__}: {cause}); "
                "check the URL's scheme and the server's certificate",
                transient=True,
            )
    for cause in chain:
        if _names(cause) & _UNREACHABLE or isinstance(cause, ConnectionError | TimeoutError):
            return StorageError(
                f"could not reach {uri} ({type(cause).__name__}: {cause}); the host may be down or "
                "unreachable from here: check the address and the network, then try again",
                transient=True,
            )
        if isinstance(cause, OSError) and cause.errno in (errno.EHOSTUNREACH, errno.ENETUNREACH):
            return StorageError(f"could not reach {uri} ({cause})", transient=True)
        code = _error_code(cause)
        if code in _ACCESS_DENIED_CODES or isinstance(cause, PermissionError):
            return StorageError(
                f"cannot {action} {uri}: access denied ({detail}); grant the credentials in use "
                f"permission to {action} there, or choose another location"
            )
        if code == "NoSuchBucket":
            return StorageError(f"cannot {action} {uri}: the bucket does not exist")
        status = getattr(cause, "status", None)
        if isinstance(status, int) and status >= 500:
            return StorageError(
                f"{uri} answered HTTP {status}; the server is failing, try again", transient=True
            )
    if any(isinstance(cause, FileNotFoundError) for cause in chain):
        return StorageNotFoundError(f"not found: {uri}")
    if any(isinstance(cause, IsADirectoryError) for cause in chain):
        return StorageError(f"{uri} is a directory; give the path of one file")
    return StorageError(f"cannot {action} {uri}: {detail}")


def _error_code(exc: BaseException) -> str | None:
    response = getattr(exc, "response", None)  # botocore ClientError
    if isinstance(response, dict):
        return (response.get("Error") or {}).get("Code")
    return None


def is_remote(uri: str) -> bool:
    return "://" in uri and not uri.startswith("file://")


def _local_path(uri: str) -> Path:
    return Path(uri.removeprefix("file://"))


def join(base: str, *parts: str) -> str:
    if is_remote(base):
        return "/".join([base.rstrip("/"), *parts])
    return str(_local_path(base).joinpath(*parts))


def parent(uri: str) -> str:
    """The folder (or prefix) holding ``uri``."""
    if is_remote(uri):
        return uri.rstrip("/").rsplit("/", 1)[0]
    return str(_local_path(uri).parent)


def write_bytes_atomic(uri: str, data: bytes) -> None:
    if is_remote(uri):
        import fsspec

        try:
            with fsspec.open(uri, "wb") as handle:
                handle.write(data)
        except Exception as exc:
            raise explain(uri, exc, action="write") from exc
        return
    with atomic_local_file(str(_local_path(uri))) as handle:
        handle.write(data)


@contextlib.contextmanager
def atomic_local_file(path: str) -> Iterator[BinaryIO]:
    """A local file written through the block, all or nothing: the handle writes to a temporary
    sibling, which replaces ``path`` when the block ends without an exception and is deleted if not.

    For files too large to hold in memory first (a corpus's token file); :func:`write_bytes_atomic`
    is this with one write.
    """
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, FILE_MODE)
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_text_atomic(uri: str, text: str) -> None:
    write_bytes_atomic(uri, text.encode("utf-8"))


def check_writable(uri: str) -> None:
    """Raise :class:`StorageError` now if nothing can be written under the folder or prefix ``uri``.

    Writes a zero-byte ``.write-check`` there and removes it (an S3 role that may not delete leaves
    it behind; it is overwritten next time, never accumulated).
    """
    probe = join(uri, WRITE_CHECK_NAME)
    if not is_remote(uri):
        try:
            write_bytes_atomic(probe, b"")
            _local_path(probe).unlink(missing_ok=True)
        except OSError as exc:
            raise StorageError(f"cannot write to {uri}: {exc.strerror or exc}") from exc
        return
    import fsspec

    try:
        fs, path = fsspec.core.url_to_fs(probe)
        fs.pipe_file(path, b"")
    except Exception as exc:
        raise explain(uri, exc, action="write to") from exc
    with contextlib.suppress(Exception):  # a role without s3:DeleteObject keeps the empty probe
        fs.rm_file(path)


def exists(uri: str) -> bool:
    if is_remote(uri):
        import fsspec

        try:
            fs, path = fsspec.core.url_to_fs(uri)
            return fs.exists(path)
        except Exception as exc:
            raise explain(uri, exc) from exc
    return _local_path(uri).exists()


def list_files(uri: str) -> list[str]:
    """The files directly under the folder ``uri`` (local path or fsspec URL), as URIs, sorted; [] if it
    does not exist."""
    if not is_remote(uri):
        folder = _local_path(uri)
        return sorted(str(p) for p in folder.iterdir() if p.is_file()) if folder.is_dir() else []
    import fsspec

    fs, path = fsspec.core.url_to_fs(uri)
    try:
        entries = fs.ls(path, detail=True)
    except FileNotFoundError:
        return []
    protocol = uri.split("://", 1)[0]
    return sorted(f"{protocol}://{e['name']}" for e in entries if e.get("type") == "file")


def read_bytes(uri: str) -> bytes:
    if is_remote(uri):
        import fsspec

        try:
            with fsspec.open(uri, "rb") as handle:
                return handle.read()
        except Exception as exc:
            raise explain(uri, exc) from exc
    return _local_path(uri).read_bytes()
