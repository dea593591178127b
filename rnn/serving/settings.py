"""What the inference server can be told, without importing torch: settings, limits, precisions, model URIs.

The CLI builds its ``serve`` flags from :class:`ServeSettings`; :mod:`rnn.serving.server`, :mod:`rnn.serving.decoder`
and :mod:`rnn.serving.generate` use the constants. docs/serving.md explains which settings matter behind a
load balancer.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

PRECISIONS = ("fp32", "bf16", "int8")  # bf16 / int8 (dynamic quantisation) only when asked for
DEFAULT_PRECISION = "fp32"
# "0" turns the fast decoder's fused C++ step off (rnn.serving.fused_step): the torch-ops step serves every batch
FUSED_STEP_ENV = "RNN_FUSED_STEP"

REGISTRY_SCHEME = "models:/"
# The API key when neither --api-key nor --api-key-file is given (serve, loadtest and bench --url read it)
API_KEY_ENV = "RNN_API_KEY"  # pragma: allowlist secret

MAX_CHARS_LIMIT = 2000  # max_chars of one request: 1 .. this
DEFAULT_MAX_CHARS = 200
DEFAULT_TEMPERATURE = 0.8
# steps one model call may advance a batch of 1-8 rows while nothing joins or leaves (rnn.serving.batching)
DEFAULT_STEPS_PER_CALL = 256


@dataclass(frozen=True)
class ServeSettings:
    max_batch_size: int = 64  # rows the model loop advances per step
    steps_per_call: int = DEFAULT_STEPS_PER_CALL  # 1: re-form the batch after every step, changed or not
    max_queue: int = 256  # requests waiting for a row; beyond that 503 + Retry-After
    max_body_bytes: int = 65_536  # larger request bodies get 413
    drain_seconds: float = 30.0  # on SIGTERM, how long in-flight requests may take to finish
    threads: int = 0  # torch intra-op threads; 0 = torch's default (all cores)
    precision: str = DEFAULT_PRECISION  # fp32 | bf16 | int8 (see docs/serving.md)
    timeout_keep_alive_seconds: int = 75  # above the ALB's 60 s idle timeout, as AWS recommends
    # POST /v1/generate needs "Authorization: Bearer <api_key>" (None: anyone who reaches the port may call it)
    api_key: str | None = field(default=None, repr=False)
    protect_metrics: bool = False  # GET /metrics needs the key too (GET /healthz never does)

    def __post_init__(self) -> None:
        if (
            self.max_batch_size < 1
            or self.max_queue < 0
            or self.max_body_bytes < 1
            or self.steps_per_call < 1
        ):
            raise ValueError(
                f"max_batch_size >= 1, max_queue >= 0, max_body_bytes >= 1, steps_per_call >= 1 required, got "
                f"{self.max_batch_size}, {self.max_queue}, {self.max_body_bytes}, {self.steps_per_call}"
            )
        if self.drain_seconds < 0 or self.threads < 0:
            raise ValueError(
                f"drain_seconds and threads must be >= 0, got {self.drain_seconds}, {self.threads}"
            )
        if self.precision not in PRECISIONS:
            raise ValueError(f"precision {self.precision!r} is not one of {PRECISIONS}")
        if self.api_key is not None:
            check_api_key(self.api_key, "the API key")
        elif self.protect_metrics:
            raise ValueError(
                f"--protect-metrics needs an API key: --api-key, --api-key-file or ${API_KEY_ENV}"
            )

    @property
    def max_connections(self) -> int:
        """Requests uvicorn lets in at once; beyond, it answers 503 itself (without Retry-After).

        Well above rows + queue, so overload is normally answered by the app's own 503 + Retry-After;
        it bounds what refused requests can hold (each body is at most ``max_body_bytes``).
        """
        return self.max_batch_size + self.max_queue + 1024


def check_api_key(key: str, where: str) -> str:
    """``key`` if it can be a bearer token (printable ASCII, no spaces, not empty); the error never shows it."""
    if not key:
        raise ValueError(
            f"{where} is empty; make one with: python -c 'import secrets; print(secrets.token_urlsafe(32))'"
        )
    if not all(33 <= ord(ch) <= 126 for ch in key):
        raise ValueError(f"{where} has spaces or characters outside printable ASCII; a bearer token cannot")
    return key


def resolve_api_key(
    key: str | None, key_file: str | None, environ: Mapping[str, str] | None = None
) -> str | None:
    """The API key from ``--api-key``, else ``--api-key-file`` (its text, stripped), else ``$RNN_API_KEY``.

    None when none of them is given. Both flags at once, an unreadable file, or an empty key (an empty
    ``$RNN_API_KEY`` included: a secret that was never filled in) is a ``ValueError`` that does not
    show the key.
    """
    environ = os.environ if environ is None else environ
    if key is not None and key_file is not None:
        raise ValueError("give --api-key or --api-key-file, not both")
    if key is not None:
        return check_api_key(key, "--api-key")
    if key_file is not None:
        try:
            text = Path(key_file).read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            reason = getattr(exc, "strerror", None) or exc
            raise ValueError(f"cannot read --api-key-file {key_file!r}: {reason}") from None
        return check_api_key(text.strip(), f"--api-key-file {key_file!r}")
    if API_KEY_ENV in environ:
        return check_api_key(environ[API_KEY_ENV].strip(), f"${API_KEY_ENV}")
    return None
