"""Which measured metrics.json a cost question is answered for, named in every output.

The same question must get the same answer: the default is never "the newest file on disk" (a
training run finishing elsewhere would change it) but the **registered model**: the metrics.json
of ``models:/rnn-textgen@champion`` when ``MLFLOW_TRACKING_URI`` points at an existing tracking
store, else the reference measurements shipped in ``include/reference_metrics.json``. A caller can
name a file, a ``models:/`` URI or ``reference`` explicitly (``python -m costing ... --metrics``).

Every :class:`MetricsSource` carries a label with the file (or registry URI and version) and the
sha256 of its bytes; the label becomes :attr:`ModelProfile.source`, which the text tables, the JSON
documents, the report and the MLflow tags print. MLflow is imported only to resolve a ``models:/``
URI. The registered model's name and alias come from :mod:`toolkit.registry`, as the pipeline's do.
"""

from __future__ import annotations

import hashlib
import json
import re
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlparse

from costing.model.profile import (
    REFERENCE_LABEL,
    REFERENCE_METRICS_PATH,
    MetricsSchemaError,
    ModelProfile,
    profile_from_metrics,
)
from toolkit.paths import INCLUDE_DIR, tracking_uri
from toolkit.registry import (
    CHAMPION_ALIAS,
    CHAMPION_MODEL_URI,
    REGISTERED_MODEL,
    VERSION_TAG_VAL_LOSS,
    champion_version,
)

REFERENCE = "reference"  # --metrics reference: the shipped reference measurements
METRICS_ARTIFACT = "metrics.json"

_MODEL_URI = re.compile(r"^models:/(?P<name>[^/@]+)(?:@(?P<alias>[^/]+)|/(?P<version>\d+))$")


class MetricsSourceError(ValueError):
    """The metrics asked for cannot be read; the message says what to pass instead."""


@dataclass(frozen=True)
class MetricsSource:
    """A metrics.json document and where it came from."""

    metrics: Mapping[str, Any]
    uri: str  # the path (relative to the repo when inside it), or the models:/ URI
    sha256: str  # of the metrics.json bytes
    why: str  # how it was chosen: "--metrics", "the registry's champion", "no tracking store: ..."
    version: str | None = None  # registered model version, for models:/ URIs
    run_id: str | None = None  # MLflow run that logged it, for models:/ URIs

    @property
    def label(self) -> str:
        """What the outputs print: the file or registry version, and the first 12 hex digits of its sha256."""
        where = self.uri
        if self.version is not None:
            where += f" (version {self.version}, run {(self.run_id or '?')[:8]})"
        if self.uri == _display_path(REFERENCE_METRICS_PATH):
            where += f" ({REFERENCE_LABEL})"
        return f"{where}, metrics.json sha256 {self.sha256[:12]}"

    def profile(self) -> ModelProfile:
        """The measured profile, its source the label; a default choice says in a note why it was made."""
        profile = profile_from_metrics(self.metrics, source=self.label)
        if self.why.startswith("default"):
            profile = replace(profile, notes=(f"metrics chosen by {self.why}", *profile.notes))
        return profile

    def describe(self) -> dict[str, Any]:
        """The source as JSON, for documents and MLflow tags."""
        return {
            "uri": self.uri,
            "sha256": self.sha256,
            "why": self.why,
            "version": self.version,
            "run_id": self.run_id,
            "label": self.label,
        }


def _display_path(path: Path) -> str:
    try:  # inside the repo, say where relative to it, so outputs do not depend on the checkout's location
        return str(path.resolve().relative_to(INCLUDE_DIR.parent))
    except ValueError:
        return str(path)


def _document(data: bytes, where: str) -> dict[str, Any]:
    try:
        document = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise MetricsSchemaError(f"metrics file {where!r} is not valid JSON: {exc}") from exc
    if not isinstance(document, dict):
        raise MetricsSchemaError(f"metrics file {where!r} holds a {type(document).__name__}, not an object")
    return document


def metrics_from_file(path: Path | str, *, why: str = "--metrics") -> MetricsSource:
    """A local metrics.json; a missing file or a folder is a :class:`MetricsSchemaError` saying so."""
    path = Path(path)
    if path.is_dir():
        inside = " (it holds a metrics.json: pass that file)" if (path / METRICS_ARTIFACT).is_file() else ""
        raise MetricsSchemaError(f"metrics path {str(path)!r} is a folder, not a metrics.json file{inside}")
    try:
        data = path.read_bytes()
    except FileNotFoundError as exc:
        raise MetricsSchemaError(f"metrics file not found: {str(path)!r}") from exc
    except OSError as exc:
        raise MetricsSchemaError(f"cannot read metrics file {str(path)!r}: {exc.strerror or exc}") from exc
    return MetricsSource(
        metrics=_document(data, str(path)),
        uri=_display_path(path),
        sha256=hashlib.sha256(data).hexdigest(),
        why=why,
    )


def reference_metrics(why: str = "--metrics reference") -> MetricsSource:
    return metrics_from_file(REFERENCE_METRICS_PATH, why=why)


def local_store_missing(uri: str) -> str | None:
    """Why a local tracking URI (``sqlite:///...``, ``file:...`` or a path) has no store yet, else None.

    Opening a missing SQLite store would create an empty one: a cost question never does that.
    """
    parsed = urlparse(uri)
    if parsed.scheme == "sqlite":
        path = Path(unquote(parsed.path[1:] if parsed.path.startswith("//") else parsed.path))
        if str(path) in ("", ":memory:") or parsed.path in ("", "/:memory:"):
            return f"{uri} is an in-memory store"
        return None if path.is_file() else f"no MLflow store at {path} yet"
    if parsed.scheme in ("", "file"):
        path = Path(unquote(parsed.path) if parsed.scheme else uri)
        return None if path.is_dir() else f"no MLflow store at {path} yet"
    return None  # a server (http, https, databricks, ...): asked, not guessed


def _model_uri_match(model_uri: str) -> re.Match[str]:
    match = _MODEL_URI.match(model_uri)
    if match is None:
        raise MetricsSourceError(
            f"{model_uri!r} is not a registered-model URI; use models:/<name>@<alias> or models:/<name>/<version>, "
            f"e.g. {CHAMPION_MODEL_URI}"
        )
    return match


def metrics_from_registry(model_uri: str, *, store_uri: str | None = None, why: str = "") -> MetricsSource:
    """The metrics.json logged with the run behind ``models:/<name>@<alias>`` or ``models:/<name>/<version>``."""
    match = _model_uri_match(model_uri)
    store = store_uri or "the configured tracking store"
    if store_uri and urlparse(store_uri).scheme in ("http", "https"):
        _check_reachable(store_uri, model_uri)
    from mlflow import MlflowClient
    from mlflow.exceptions import MlflowException

    client = MlflowClient(tracking_uri=store_uri, registry_uri=store_uri)
    try:
        if match.group("alias"):
            version = client.get_model_version_by_alias(match.group("name"), match.group("alias"))
        else:
            version = client.get_model_version(match.group("name"), match.group("version"))
    except MlflowException as exc:
        raise _not_found(model_uri, store, exc) from exc
    except Exception as exc:  # an unreachable server: connection refused, DNS, TLS, timeouts
        raise MetricsSourceError(
            f"cannot reach the MLflow store {store} to resolve {model_uri} ({type(exc).__name__}: {exc}); "
            "start it, or pass --metrics FILE or --metrics reference"
        ) from exc
    try:
        with tempfile.TemporaryDirectory() as tmp:
            data = Path(client.download_artifacts(version.run_id, METRICS_ARTIFACT, tmp)).read_bytes()
    except Exception as exc:
        raise MetricsSourceError(
            f"{model_uri} is version {version.version} (run {version.run_id}), but its run has no readable "
            f"{METRICS_ARTIFACT} artifact ({type(exc).__name__}: {exc}); pass --metrics FILE"
        ) from exc
    return MetricsSource(
        metrics=_document(data, f"{model_uri} ({METRICS_ARTIFACT})"),
        uri=model_uri,
        sha256=hashlib.sha256(data).hexdigest(),
        why=why or f"--metrics {model_uri}",
        version=str(version.version),
        run_id=str(version.run_id),
    )


SERVER_PROBE_TIMEOUT_SECONDS = 5.0


def _check_reachable(store_uri: str, model_uri: str) -> None:
    """Fail in seconds, not after MLflow's minutes of retries, when a tracking server does not answer."""
    import urllib.error
    import urllib.request

    try:
        with urllib.request.urlopen(f"{store_uri.rstrip('/')}/health", timeout=SERVER_PROBE_TIMEOUT_SECONDS):
            pass
    except urllib.error.HTTPError:
        return  # it answered (auth, a proxy, an older server without /health): let MLflow ask
    except (OSError, ValueError) as exc:
        reason = getattr(exc, "reason", exc)
        raise MetricsSourceError(
            f"cannot reach the MLflow server {store_uri} to resolve {model_uri} ({reason}); "
            "start it, or pass --metrics FILE or --metrics reference"
        ) from exc


def _not_found(model_uri: str, store: str, exc: Exception) -> MetricsSourceError:
    code = getattr(exc, "error_code", "")
    if code in ("RESOURCE_DOES_NOT_EXIST", "INVALID_PARAMETER_VALUE", "NOT_FOUND") or "not found" in str(exc):
        return MetricsSourceError(f"{model_uri} is not in the MLflow store {store}: {exc}")
    return MetricsSourceError(f"the MLflow store {store} refused to resolve {model_uri}: {exc}")


def default_metrics_source() -> MetricsSource:
    """The registered champion's metrics when a tracking store is configured and has one, else the reference."""
    uri = tracking_uri()
    if not uri:
        return reference_metrics(why="default: MLFLOW_TRACKING_URI is not set, so the shipped reference")
    missing = local_store_missing(uri)
    if missing:
        return reference_metrics(why=f"default: {missing}, so the shipped reference")
    if urlparse(uri).scheme in ("http", "https"):
        _check_reachable(uri, CHAMPION_MODEL_URI)
    from mlflow import MlflowClient

    try:
        found = champion_version(MlflowClient(tracking_uri=uri, registry_uri=uri))
    except Exception as exc:  # an unreachable server: connection refused, DNS, TLS, timeouts
        raise MetricsSourceError(
            f"cannot reach the MLflow store {uri} to find the champion ({type(exc).__name__}: {exc}); "
            "start it, or pass --metrics FILE or --metrics reference"
        ) from exc
    if found is None:
        return reference_metrics(
            why=f"default: no {REGISTERED_MODEL} version in {uri} has the {CHAMPION_ALIAS} alias or a "
            f"{VERSION_TAG_VAL_LOSS} tag; so the shipped reference"
        )
    version, by_alias = found
    if by_alias:
        return metrics_from_registry(
            CHAMPION_MODEL_URI, store_uri=uri, why=f"default: the registry's {CHAMPION_ALIAS} in {uri}"
        )
    return metrics_from_registry(
        f"models:/{REGISTERED_MODEL}/{version.version}",
        store_uri=uri,
        why=f"default: the best registered version by {VERSION_TAG_VAL_LOSS} in {uri} (no {CHAMPION_ALIAS} alias yet)",
    )


def resolve_metrics(spec: Path | str | None) -> MetricsSource:
    """``None``: :func:`default_metrics_source`; ``"reference"``; a ``models:/`` URI; or a file path."""
    if spec is None:
        return default_metrics_source()
    text = str(spec)
    if text == REFERENCE:
        return reference_metrics()
    if text.startswith("models:/"):
        _model_uri_match(text)
        uri = tracking_uri()
        missing = local_store_missing(uri) if uri else "MLFLOW_TRACKING_URI is not set"
        if missing:
            raise MetricsSourceError(
                f"cannot resolve {text}: {missing}; set MLFLOW_TRACKING_URI to the store"
            )
        return metrics_from_registry(text, store_uri=uri)
    return metrics_from_file(text)


def load_profile(path: Path | str) -> ModelProfile:
    """The profile of a local metrics.json, labelled with its path and sha256."""
    return metrics_from_file(path).profile()
