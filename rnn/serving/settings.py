"""What the inference server can be told, without importing torch: settings, limits, precisions, model URIs.

The CLI builds its ``serve`` flags from :class:`ServeSettings`; :mod:`rnn.serving.server`, :mod:`rnn.serving.decoder`
and :mod:`rnn.serving.generate` use the constants. docs/serving.md explains which settings matter behind a
load balancer.
"""

from __future__ import annotations

from dataclasses import dataclass

PRECISIONS = ("fp32", "bf16", "int8")  # bf16 / int8 (dynamic quantisation) only when asked for
DEFAULT_PRECISION = "fp32"
# "0" turns the fast decoder's fused C++ step off (rnn.serving.fused_step): the torch-ops step serves every batch
FUSED_STEP_ENV = "RNN_FUSED_STEP"

REGISTRY_SCHEME = "models:/"

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

    @property
    def max_connections(self) -> int:
        """Requests uvicorn lets in at once; beyond, it answers 503 itself (without Retry-After).

        Well above rows + queue, so overload is normally answered by the app's own 503 + Retry-After;
        it bounds what refused requests can hold (each body is at most ``max_body_bytes``).
        """
        return self.max_batch_size + self.max_queue + 1024
