"""The baseline of ``make bench``: the inference server a user writes first.

One synchronous FastAPI handler per request, running the per-token ``nn.LSTM`` loop at batch 1
(:func:`rnn.serving.generate.sample_reference`); FastAPI runs sync handlers in its thread pool, so
concurrent requests run the loop side by side in threads. It speaks the same API as ``python -m rnn
serve`` (``POST /v1/generate``, ``GET /healthz``, ``GET /metrics``), so ``python -m rnn loadtest``
measures both the same way::

    python -m devtools.naive_server --model model.pt --port 0 --port-file /tmp/port
"""

from __future__ import annotations

import argparse
import os
import sys
import threading
from pathlib import Path
from typing import Any

import torch
import uvicorn
from fastapi import FastAPI
from fastapi.responses import Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from rnn.metrics import peak_rss_bytes
from rnn.serving.generate import default_prompt, load_model, sample_reference
from rnn.serving.server import GenerateBody, bind, resident_memory_bytes


def create_app(model_path: str) -> FastAPI:
    loaded = load_model(model_path)
    prompt = default_prompt(loaded.model, loaded.vocab)
    app = FastAPI(title="naive rnn server (baseline)", docs_url=None, redoc_url=None)
    lock = threading.Lock()
    in_flight = 0

    @app.post("/v1/generate")
    def generate(body: GenerateBody) -> dict:
        nonlocal in_flight
        with lock:
            in_flight += 1
        try:
            generator = torch.Generator().manual_seed(body.seed or 0)
            [text] = sample_reference(
                loaded.model,
                loaded.vocab,
                prompt=body.prompt,
                length=body.max_chars,
                temperature=body.temperature,
                top_k=body.top_k,
                generator=generator,
            )
        finally:
            with lock:
                in_flight -= 1
        return {"text": text, "chars": len(text)}

    @app.get("/healthz")
    def healthz() -> dict:
        return {
            "status": "ok",
            "model": model_path,
            "default_prompt": prompt,  # what the load test sends, as ours says it
            "active": in_flight,
            "queued": 0,
            "cpu_count": os.cpu_count() or 1,
            "torch_threads": torch.get_num_threads(),
            "rss_bytes": resident_memory_bytes(),
            "peak_rss_bytes": peak_rss_bytes(),
        }

    @app.get("/metrics")
    def metrics() -> Response:
        return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)  # the process collector: CPU

    return app


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m devtools.naive_server", description=__doc__)
    parser.add_argument("--model", required=True, help="model.pt written by `python -m rnn train`")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8001, help="0 picks a free port")
    parser.add_argument("--port-file", help="write the bound port here once ready")
    parser.add_argument("--threads", type=int, default=0, help="torch threads; 0 = all cores (default)")
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    app = create_app(args.model)
    sock = bind(args.host, args.port)
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", access_log=False))
    original_startup = server.startup

    async def startup(sockets: Any = None) -> None:
        await original_startup(sockets=sockets)
        print(f"naive server on http://{args.host}:{sock.getsockname()[1]}", flush=True)
        if args.port_file:
            Path(args.port_file).write_text(f"{sock.getsockname()[1]}\n")

    server.startup = startup  # type: ignore[method-assign]
    server.run(sockets=[sock])
    return 0


if __name__ == "__main__":
    sys.exit(main())
