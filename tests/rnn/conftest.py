"""Fixtures for the serving tests: small saved models and a real inference server on 127.0.0.1.

Tests use the fixtures: ``random_model(path, hidden_size=..., chars=...)`` saves an untrained model,
``with live_server(model_file, max_batch_size=8) as url:`` runs our server under uvicorn in a thread,
``with server_subprocess(model_file, "--max-queue", "8") as (url, proc):`` runs ``python -m rnn serve``.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from helpers import free_port

VOCAB = list("\n !\"',-.:;?ETabcdefghiklmnoprstuvwy")


def _save_random_model(
    path: Path,
    *,
    hidden_size: int = 16,
    embedding_dim: int = 8,
    num_layers: int = 1,
    chars: list[str] | None = None,
) -> Path:
    """An untrained model (seeded weights) saved the way ``rnn train`` saves one: no training needed.

    ``chars`` is its vocabulary (default: :data:`VOCAB`, a little English).
    """
    import torch

    from rnn.config import TrainConfig
    from rnn.data import Vocab
    from rnn.model import CharLSTM
    from rnn.train import save_model

    config = TrainConfig(hidden_size=hidden_size, embedding_dim=embedding_dim, num_layers=num_layers)
    torch.manual_seed(0)
    vocab = Vocab(chars or VOCAB)
    save_model(str(path), CharLSTM.from_config(config, len(vocab)), config, vocab)
    return path


@pytest.fixture(scope="session")
def tiny_model_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _save_random_model(tmp_path_factory.mktemp("model") / "tiny.pt")


@contextlib.contextmanager
def _running_server(model_path: Path, **settings: object) -> Iterator[str]:
    """Our inference server under uvicorn in a thread of this process, on a free port; yields its URL."""
    import uvicorn

    from rnn.serving.generate import load_model_source
    from rnn.serving.server import create_app
    from rnn.serving.settings import ServeSettings

    loaded, source = load_model_source(str(model_path))
    app = create_app(loaded, source, ServeSettings(**settings))  # type: ignore[arg-type]
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("the test server did not start")
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(30)


@contextlib.contextmanager
def _server_process(
    model_path: Path, *args: str, startup_seconds: float = 90
) -> Iterator[tuple[str, object]]:
    """``python -m rnn serve`` in a subprocess on a free port; yields (URL, Popen), then SIGTERMs it."""
    import signal
    import subprocess
    import sys
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        port_file = Path(tmp) / "port"
        log = open(Path(tmp) / "server.log", "w+")  # noqa: SIM115 - read back on failure
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "rnn",
                "serve",
                "--model",
                str(model_path),
                "--port",
                "0",
                "--port-file",
                str(port_file),
                *args,
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
            text=True,
        )
        proc.log_path = Path(tmp) / "server.log"  # type: ignore[attr-defined]
        try:
            deadline = time.monotonic() + startup_seconds
            while not (port_file.exists() and port_file.read_text().strip()):
                if proc.poll() is not None or time.monotonic() > deadline:
                    log.seek(0)
                    raise RuntimeError(f"the server did not start:\n{log.read()[-3000:]}")
                time.sleep(0.05)
            yield f"http://127.0.0.1:{int(port_file.read_text())}", proc
        finally:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
                try:
                    proc.wait(30)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait(10)
            log.close()


@pytest.fixture(scope="session")
def random_model():
    return _save_random_model


@pytest.fixture(scope="session")
def live_server():
    return _running_server


@pytest.fixture(scope="session")
def server_subprocess():
    return _server_process
