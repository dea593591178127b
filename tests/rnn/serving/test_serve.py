"""The inference server: its API, every bad input, overload, disconnects, metrics, SIGTERM, the registry."""

from __future__ import annotations

import json
import signal
import socket
import threading
import time
from pathlib import Path

import httpx
import pytest
import torch
from fastapi.testclient import TestClient

from rnn.data import Vocab
from rnn.serving.batching import GenerationRequest, Ticket
from rnn.serving.decoder import FastDecoder, generate_ids
from rnn.serving.generate import ModelFileError, load_model, load_model_source, parse_registry_uri
from rnn.serving.server import create_app, one_openmp_team
from rnn.serving.settings import API_KEY_ENV, ServeSettings, resolve_api_key
from toolkit.registry import REGISTERED_MODEL


def app_for(model_file: Path, **settings: object):
    loaded, source = load_model_source(str(model_file))
    return create_app(loaded, source, ServeSettings(**settings))  # type: ignore[arg-type]


def alone(model_file: Path, prompt: str, chars: int, seed: int) -> str:
    loaded = load_model(str(model_file))
    ids = generate_ids(
        FastDecoder(loaded.model),
        loaded.vocab.encode(prompt).tolist(),
        length=chars,
        generator=torch.Generator().manual_seed(seed),
    )
    return loaded.vocab.decode(ids[0])


def metric(text: str, name: str) -> float:
    """The value of one sample in Prometheus text, e.g. ``rnn_requests_total{...}`` (0 if absent)."""
    for line in text.splitlines():
        key, _, value = line.rpartition(" ")
        if key == name:
            return float(value)
    return 0.0


@pytest.fixture(scope="module")
def client(tiny_model_file: Path):
    with TestClient(app_for(tiny_model_file)) as client:
        yield client


def test_generate_returns_the_seeded_text_and_its_timings(client: TestClient, tiny_model_file: Path) -> None:
    response = client.post("/v1/generate", json={"prompt": "the ", "max_chars": 80, "seed": 42})
    assert response.status_code == 200
    body = response.json()
    assert set(body) == {"text", "chars", "queue_ms", "generate_ms", "batch_size_mean", "seed"}
    assert body["chars"] == 80 and body["seed"] == 42
    assert body["text"] == alone(tiny_model_file, "the ", 80, 42)
    assert body["queue_ms"] >= 0 and body["generate_ms"] > 0 and body["batch_size_mean"] >= 1
    # defaults: 200 characters, a random seed that reproduces the text
    default = client.post("/v1/generate", json={"prompt": "a"}).json()
    assert default["chars"] == 200 and default["text"] == alone(tiny_model_file, "a", 200, default["seed"])


def test_streaming_sends_the_text_as_server_sent_events(client: TestClient) -> None:
    with client.stream(
        "POST", "/v1/generate", json={"prompt": "the ", "max_chars": 60, "seed": 1, "stream": True}
    ) as r:
        assert r.status_code == 200 and r.headers["content-type"].startswith("text/event-stream")
        raw = "".join(r.iter_text())
    events = [block for block in raw.split("\n\n") if block]
    chunks = [json.loads(e.removeprefix("data: "))["text"] for e in events if e.startswith("data: ")]
    assert events[-1].startswith("event: done\ndata: ")
    done = json.loads(events[-1].split("data: ", 1)[1])
    assert "".join(chunks) == done["text"] and done["chars"] == 60
    plain = client.post("/v1/generate", json={"prompt": "the ", "max_chars": 60, "seed": 1}).json()
    assert done["text"] == plain["text"]


@pytest.mark.parametrize(
    ("body", "field", "message"),
    [
        ({"max_chars": 5}, "prompt", "Field required"),
        ({"prompt": 7}, "prompt", "valid string"),
        ({"prompt": "a", "max_chars": "200"}, "max_chars", "valid integer"),
        ({"prompt": "a", "max_chars": 0}, "max_chars", "greater than or equal to 1"),
        ({"prompt": "a", "max_chars": 2001}, "max_chars", "less than or equal to 2000"),
        ({"prompt": "a", "max_chars": True}, "max_chars", "valid integer"),
        ({"prompt": "a", "temperature": 0}, "temperature", "greater than 0"),
        ({"prompt": "a", "temperature": "hot"}, "temperature", "valid number"),
        ({"prompt": "a", "top_k": -1}, "top_k", "greater than or equal to 0"),
        ({"prompt": "a", "seed": -3}, "seed", "greater than or equal to 0"),
        ({"prompt": "a", "seed": 2**63}, "seed", "less than or equal to"),
        ({"prompt": "a", "stream": "yes"}, "stream", "valid boolean"),
        ({"prompt": "a", "max_tokens": 5}, "max_tokens", "Extra inputs are not permitted"),
    ],
)
def test_bad_values_get_422_naming_the_field(
    client: TestClient, body: dict, field: str, message: str
) -> None:
    response = client.post("/v1/generate", json=body)
    assert response.status_code == 422
    [error] = [e for e in response.json()["detail"] if e["loc"][-1] == field]
    assert error["loc"] == ["body", field] and message in error["msg"]


@pytest.mark.parametrize(
    "raw", [b"{bad", b"", b'{"prompt": "a", "temperature": NaN}', b"[1, 2]", b"\xff\xfe"]
)
def test_a_body_that_is_not_a_json_object_gets_422(client: TestClient, raw: bytes) -> None:
    response = client.post("/v1/generate", content=raw)
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["body"]


def test_prompt_characters_outside_the_vocabulary_are_listed(client: TestClient) -> None:
    response = client.post("/v1/generate", json={"prompt": "thé ☃ caf\u00e9"})
    assert response.status_code == 422
    [error] = response.json()["detail"]
    assert error["loc"] == ["body", "prompt"] and error["input"] == ["é", "☃"]
    assert "not in the model's vocabulary" in error["msg"]


def test_a_body_over_64_kb_gets_413(client: TestClient) -> None:
    big = json.dumps({"prompt": "a" * 70_000}).encode()
    assert client.post("/v1/generate", content=big).status_code == 413

    def chunks():  # no Content-Length: counted as it arrives
        for _ in range(70):
            yield b"a" * 1000

    response = client.post("/v1/generate", content=chunks())
    assert response.status_code == 413 and "65,536 bytes" in response.json()["detail"]
    # just under the limit is fine
    padded = b'{"prompt": "a", "max_chars": 1}' + b" " * 65_000
    assert client.post("/v1/generate", content=padded).status_code == 200


def test_healthz_and_metrics(client: TestClient, tiny_model_file: Path) -> None:
    health = client.get("/healthz").json()
    assert health["status"] == "ok" and health["vocab_size"] == len(load_model(str(tiny_model_file)).vocab)
    assert health["model"] == str(tiny_model_file) and health["version"].startswith("sha256:")
    assert health["rss_bytes"] > 10 * 2**20 and health["peak_rss_bytes"] >= health["rss_bytes"] / 2
    assert health["uptime_seconds"] > 0 and health["max_batch_size"] == 64
    client.post("/v1/generate", json={"prompt": "a", "max_chars": 10})
    client.post("/v1/generate", json={"prompt": 1})
    text = client.get("/metrics").text
    for name in (
        'rnn_requests_total{endpoint="/v1/generate",status="200"}',
        'rnn_requests_total{endpoint="/v1/generate",status="422"}',
        "rnn_request_duration_seconds_count",
        "rnn_queue_duration_seconds_count",
        "rnn_batch_size_count",
        "rnn_generated_characters_total",
        "rnn_requests_in_flight",
        "rnn_queue_length",
        "process_resident_memory_bytes",
        "process_cpu_seconds_total",
    ):
        assert name in text, name
    assert metric(text, "rnn_generated_characters_total") >= 10


def test_metrics_count_every_step_and_character_of_a_many_step_call(tiny_model_file: Path) -> None:
    """A call that advances k steps counts k steps of rnn_batch_size and k x its rows' characters."""
    with TestClient(app_for(tiny_model_file)) as client:
        before = client.get("/metrics").text
        assert (
            client.post("/v1/generate", json={"prompt": "the ", "max_chars": 300, "seed": 3}).status_code
            == 200
        )
        after = client.get("/metrics").text

    def delta(name: str) -> float:
        return metric(after, name) - metric(before, name)

    assert delta("rnn_generated_characters_total") == 300
    assert delta("rnn_batch_size_count") == 3 + 300  # steps: three prompt characters, then 300
    assert delta("rnn_batch_size_sum") == 303  # one row each
    assert delta("rnn_step_duration_seconds_count") == 303
    assert delta('rnn_batch_size_bucket{le="1.0"}') == 303
    assert 1 <= delta("rnn_steps_per_call_count") <= 3  # 256 steps per call at most
    assert delta("rnn_steps_per_call_sum") == 303


def test_the_main_thread_keeps_one_torch_thread_and_the_engine_gets_the_rest(tiny_model_file: Path) -> None:
    """One OpenMP team in the server process: the engine's (rnn.serving.server.one_openmp_team)."""
    before = torch.get_num_threads()
    try:
        settings = one_openmp_team(ServeSettings())
        assert settings.threads == before and torch.get_num_threads() == 1
        assert one_openmp_team(ServeSettings(threads=3)).threads == 3
        loaded, source = load_model_source(str(tiny_model_file))
        with TestClient(create_app(loaded, source, settings)) as client:
            assert client.get("/healthz").json()["torch_threads"] == before
            assert client.post("/v1/generate", json={"prompt": "a", "max_chars": 5}).status_code == 200
    finally:
        torch.set_num_threads(before)


KEY = "test-key-Zq9"


@pytest.fixture(scope="module")
def keyed(tiny_model_file: Path):
    with TestClient(app_for(tiny_model_file, api_key=KEY)) as client:
        yield client


@pytest.mark.parametrize(
    ("headers", "challenge"),
    [
        ({}, 'Bearer realm="rnn"'),
        ({"Authorization": "Bearer"}, 'Bearer realm="rnn"'),
        ({"Authorization": f"Basic {KEY}"}, 'Bearer realm="rnn"'),
        ({"Authorization": "Bearer wrong"}, 'Bearer realm="rnn", error="invalid_token"'),
        ({"Authorization": f"Bearer {KEY}x"}, 'Bearer realm="rnn", error="invalid_token"'),
    ],
    ids=["none", "empty", "basic", "wrong", "longer"],
)
def test_without_the_key_generate_is_401_and_nothing_runs(
    keyed: TestClient, headers: dict, challenge: str
) -> None:
    engine = keyed.app.fastapi.state.engine  # type: ignore[attr-defined]
    steps = engine.steps
    response = keyed.post("/v1/generate", json={"prompt": "the ", "max_chars": 50}, headers=headers)
    assert response.status_code == 401 and response.headers["WWW-Authenticate"] == challenge
    assert response.json()["detail"] in (
        "this endpoint needs an API key: send the header 'Authorization: Bearer <key>'",
        "the API key is not valid",
    )
    assert KEY not in response.text
    # refused before the body was read: an oversized or broken body is still a 401, and no step ran
    assert keyed.post("/v1/generate", content=b"x" * 100_000, headers=headers).status_code == 401
    assert keyed.post("/v1/generate", content=b"{bad", headers=headers).status_code == 401
    assert engine.steps == steps and engine.queued == 0


def test_with_the_key_generate_works_and_healthz_and_metrics_stay_open(keyed: TestClient) -> None:
    for scheme in ("Bearer", "bearer"):
        response = keyed.post(
            "/v1/generate", json={"prompt": "a", "max_chars": 5}, headers={"Authorization": f"{scheme} {KEY}"}
        )
        assert response.status_code == 200 and response.json()["chars"] == 5
    assert keyed.get("/healthz").status_code == 200
    text = keyed.get("/metrics").text
    assert metric(text, 'rnn_requests_total{endpoint="/v1/generate",status="401"}') >= 1


def test_protect_metrics_puts_metrics_behind_the_key_too(tiny_model_file: Path) -> None:
    with TestClient(app_for(tiny_model_file, api_key=KEY, protect_metrics=True)) as client:
        assert client.get("/metrics").status_code == 401
        assert client.get("/metrics", headers={"Authorization": f"Bearer {KEY}"}).status_code == 200
        assert client.get("/healthz").status_code == 200


def test_keys_are_compared_in_constant_time(keyed: TestClient, monkeypatch: pytest.MonkeyPatch) -> None:
    import secrets

    from rnn.serving import server

    compared: list[tuple[bytes, bytes]] = []
    compare_digest = secrets.compare_digest

    def spy(a: bytes, b: bytes) -> bool:
        compared.append((a, b))
        return compare_digest(a, b)

    monkeypatch.setattr(server.secrets, "compare_digest", spy)
    keyed.post("/v1/generate", json={"prompt": "a", "max_chars": 1}, headers={"Authorization": "Bearer nope"})
    assert compared == [(b"nope", KEY.encode())]


def test_api_key_settings_are_checked_without_showing_the_key() -> None:
    with pytest.raises(ValueError, match="--protect-metrics needs an API key"):
        ServeSettings(protect_metrics=True)
    with pytest.raises(ValueError, match="outside printable ASCII") as bad:
        ServeSettings(api_key="two words")  # pragma: allowlist secret
    assert "two words" not in str(bad.value)
    assert "sekrit" not in repr(ServeSettings(api_key="sekrit"))  # pragma: allowlist secret


def test_the_key_comes_from_the_flag_the_file_or_the_environment(tmp_path: Path) -> None:
    key_file = tmp_path / "key"
    key_file.write_text("  from-file \n")
    env = {API_KEY_ENV: "from-env"}  # pragma: allowlist secret
    assert resolve_api_key("from-flag", None, env) == "from-flag"
    assert resolve_api_key(None, str(key_file), env) == "from-file"
    assert resolve_api_key(None, None, env) == "from-env"
    assert resolve_api_key(None, None, {}) is None
    for args, message in (
        (("a", str(key_file), env), "give --api-key or --api-key-file, not both"),
        ((None, None, {API_KEY_ENV: ""}), r"\$RNN_API_KEY is empty"),
        (("", None, {}), "--api-key is empty"),
        ((None, str(tmp_path / "none"), {}), "cannot read --api-key-file .*none': No such file"),
    ):
        with pytest.raises(ValueError, match=message):
            resolve_api_key(*args)  # type: ignore[arg-type]


def test_a_full_queue_gets_503_with_retry_after(tiny_model_file: Path) -> None:
    app = app_for(tiny_model_file, max_batch_size=1, max_queue=0)
    engine = app.fastapi.state.engine  # not started (no lifespan): what is submitted stays
    engine.submit(Ticket(GenerationRequest(prompt_ids=[1], max_chars=5)))
    response = TestClient(app).post("/v1/generate", json={"prompt": "a"})
    assert response.status_code == 503
    assert int(response.headers["Retry-After"]) >= 1 and "queue is full" in response.json()["detail"]


def test_registry_uris_are_parsed_or_refused() -> None:
    assert parse_registry_uri("models:/rnn-textgen/3") == ("rnn-textgen", "3", None)
    assert parse_registry_uri("models:/rnn-textgen@champion") == ("rnn-textgen", None, "champion")
    for bad in ("models:/rnn-textgen", "models:/rnn-textgen/latest", "models:/@x", "models:/a/b/c"):
        with pytest.raises(ModelFileError, match="not a registry URI"):
            parse_registry_uri(bad)


# -- a real server on 127.0.0.1 ---------------------------------------------------------------------


@pytest.mark.integration
def test_concurrent_clients_each_get_their_own_complete_text(tiny_model_file: Path, live_server) -> None:
    with live_server(tiny_model_file, max_batch_size=8) as url:
        results: dict[int, dict] = {}

        def client(seed: int) -> None:
            with httpx.Client(timeout=60) as http:
                chars = 50 + 30 * (seed % 4)
                results[seed] = http.post(
                    f"{url}/v1/generate", json={"prompt": "the ", "max_chars": chars, "seed": seed}
                ).json()

        threads = [threading.Thread(target=client, args=(seed,)) for seed in range(16)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
        assert sorted(results) == list(range(16))
        for seed, body in results.items():
            assert body["chars"] == 50 + 30 * (seed % 4)
            assert body["text"] == alone(tiny_model_file, "the ", body["chars"], seed)
        assert max(body["batch_size_mean"] for body in results.values()) > 1


@pytest.mark.integration
def test_a_client_that_disconnects_frees_its_row(tmp_path: Path, random_model, live_server) -> None:
    model_file = random_model(tmp_path / "wider.pt", hidden_size=256, embedding_dim=32, num_layers=2)
    with live_server(model_file, max_batch_size=8) as url:
        before = metric(httpx.get(f"{url}/metrics").text, "rnn_generated_characters_total")
        host, port = url.removeprefix("http://").split(":")
        sockets = []
        for seed in range(4):  # 4 x 2,000 characters that nobody will read
            body = json.dumps({"prompt": "the ", "max_chars": 2000, "seed": seed}).encode()
            sock = socket.create_connection((host, int(port)))
            sock.sendall(
                b"POST /v1/generate HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                + f"Content-Length: {len(body)}\r\n\r\n".encode()
                + body
            )
            sockets.append(sock)
        deadline = time.monotonic() + 10
        while httpx.get(f"{url}/healthz").json()["active"] < 4 and time.monotonic() < deadline:
            time.sleep(0.005)
        for sock in sockets:
            sock.close()
        deadline = time.monotonic() + 10
        while httpx.get(f"{url}/healthz").json()["active"] and time.monotonic() < deadline:
            time.sleep(0.01)
        health = httpx.get(f"{url}/healthz").json()
        assert health["active"] == 0 and health["queued"] == 0
        generated = metric(httpx.get(f"{url}/metrics").text, "rnn_generated_characters_total") - before
        assert generated < 4 * 2000 / 2, f"{generated} characters generated for clients that had left"
        # a streaming client that leaves after the first chunk frees its row too
        with (
            httpx.Client(timeout=30) as http,
            http.stream(
                "POST", f"{url}/v1/generate", json={"prompt": "a", "max_chars": 2000, "stream": True}
            ) as stream,
        ):
            next(stream.iter_text())
        deadline = time.monotonic() + 10
        while httpx.get(f"{url}/healthz").json()["active"] and time.monotonic() < deadline:
            time.sleep(0.01)
        assert httpx.get(f"{url}/healthz").json()["active"] == 0


@pytest.mark.integration
def test_a_flood_gets_503s_not_unbounded_memory(tmp_path: Path, random_model, server_subprocess) -> None:
    """300 requests at once at a server with 4 rows and 8 queue slots: the rest are told to come back."""
    model_file = random_model(tmp_path / "wider.pt", hidden_size=128, embedding_dim=16, num_layers=2)
    with server_subprocess(model_file, "--max-batch-size", "4", "--max-queue", "8") as (url, _):
        rss_before = httpx.get(f"{url}/healthz").json()["rss_bytes"]

        async def flood() -> list[httpx.Response]:
            import asyncio

            limits = httpx.Limits(max_connections=400, max_keepalive_connections=0)
            async with httpx.AsyncClient(timeout=120, limits=limits) as http:
                calls = [
                    http.post(f"{url}/v1/generate", json={"prompt": "a" * 1000, "max_chars": 500, "seed": i})
                    for i in range(300)
                ]
                return await asyncio.gather(*calls)

        import asyncio

        responses = asyncio.run(flood())
        statuses = [r.status_code for r in responses]
        assert set(statuses) <= {200, 503}
        assert statuses.count(503) >= 100 and statuses.count(200) >= 12
        assert all(int(r.headers["Retry-After"]) >= 1 for r in responses if r.status_code == 503)
        assert all(r.json()["chars"] == 500 for r in responses if r.status_code == 200)
        health = httpx.get(f"{url}/healthz").json()
        assert health["rss_bytes"] - rss_before < 64 * 2**20, "memory grew with the flood"


@pytest.mark.integration
def test_sigterm_stops_accepting_finishes_in_flight_then_exits(
    tmp_path: Path, random_model, server_subprocess
) -> None:
    model_file = random_model(tmp_path / "wider.pt", hidden_size=256, embedding_dim=32, num_layers=2)
    with server_subprocess(model_file) as (url, proc):
        single = httpx.post(f"{url}/v1/generate", json={"prompt": "a", "max_chars": 2000}, timeout=60).json()
        results: list[httpx.Response] = []

        def client(seed: int) -> None:
            results.append(
                httpx.post(
                    f"{url}/v1/generate", json={"prompt": "a", "max_chars": 2000, "seed": seed}, timeout=60
                )
            )

        threads = [threading.Thread(target=client, args=(seed,)) for seed in range(3)]
        for t in threads:
            t.start()
        deadline = time.monotonic() + 10
        while httpx.get(f"{url}/healthz").json()["active"] < 3 and time.monotonic() < deadline:
            time.sleep(0.005)
        signalled = time.monotonic()
        proc.send_signal(signal.SIGTERM)  # type: ignore[attr-defined]
        time.sleep(0.3)
        with pytest.raises(httpx.ConnectError):  # no longer accepting
            httpx.get(f"{url}/healthz", timeout=2)
        for t in threads:
            t.join(60)
        assert proc.wait(60) == 0  # type: ignore[attr-defined]
        assert [r.status_code for r in results] == [200, 200, 200]
        assert all(r.json()["chars"] == 2000 for r in results)
        log = proc.log_path.read_text()  # type: ignore[attr-defined]
        assert "Shutting down" in log and "Finished server process" in log
        assert time.monotonic() - signalled < 30 + single["generate_ms"] / 1000


@pytest.mark.integration
def test_serving_a_registered_version_and_an_alias(
    tmp_path: Path, tiny_model_file: Path, monkeypatch
) -> None:
    import mlflow
    import mlflow.pytorch
    from mlflow import MlflowClient

    store = f"sqlite:///{tmp_path}/mlflow.db"  # tracking and registry (an earlier test may have set either)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", store)
    monkeypatch.setenv("MLFLOW_REGISTRY_URI", store)
    mlflow.set_tracking_uri(store)
    mlflow.set_registry_uri(store)
    loaded = load_model(str(tiny_model_file))
    (tmp_path / "vocab.json").write_text(json.dumps(loaded.vocab.chars))
    experiment = mlflow.create_experiment("serve-test", artifact_location=str(tmp_path / "artifacts"))
    with mlflow.start_run(experiment_id=experiment):
        info = mlflow.pytorch.log_model(  # as the pipeline's log_to_mlflow logs it
            loaded.model,
            name="model",
            extra_files=[str(tmp_path / "vocab.json")],
            code_paths=[str(Path(__file__).resolve().parents[3] / name) for name in ("rnn", "toolkit")],
            serialization_format="pickle",
        )
    version = mlflow.register_model(f"models:/{info.model_id}", REGISTERED_MODEL)
    MlflowClient().set_registered_model_alias(REGISTERED_MODEL, "champion", version.version)
    try:
        for uri in (
            f"models:/{REGISTERED_MODEL}/{version.version}",
            f"models:/{REGISTERED_MODEL}@champion",
        ):
            served, source = load_model_source(uri)
            assert (source.name, source.version) == (REGISTERED_MODEL, str(version.version))
            assert served.vocab == Vocab(loaded.vocab.chars)
            for key, value in loaded.model.state_dict().items():
                assert torch.equal(served.model.state_dict()[key], value)
        with TestClient(create_app(served, source)) as client:
            health = client.get("/healthz").json()
            assert (health["model"], health["version"]) == (REGISTERED_MODEL, str(version.version))
        with pytest.raises(ModelFileError, match="cannot load 'models:/rnn-textgen@nope'"):
            load_model_source(f"models:/{REGISTERED_MODEL}@nope")
    finally:
        mlflow.set_tracking_uri(None)
        mlflow.set_registry_uri(None)


def test_the_peak_rss_reported_is_the_servers_own_not_its_parents() -> None:
    """Linux keeps ru_maxrss across exec: a server started by a 300 MiB parent must not report 300 MiB."""
    import subprocess
    import sys

    parent = bytearray(300 * 2**20)
    parent[::4096] = b"\1" * len(parent[::4096])  # really resident
    code = "import resource; from rnn.metrics import peak_rss_bytes; print(peak_rss_bytes(), resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024)"
    own, inherited = map(
        int,
        subprocess.run(
            [sys.executable, "-c", code], capture_output=True, text=True, check=True
        ).stdout.split(),
    )
    assert inherited >= 300 * 2**20 > own
    del parent


@pytest.mark.integration  # a CLI process (its bad arguments: tests/test_command_lines.py)
def test_serve_on_a_port_in_use_is_one_line(tiny_model_file: Path) -> None:
    import subprocess
    import sys

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = str(taken.getsockname()[1])
        command = [sys.executable, "-m", "rnn", "serve", "--model", str(tiny_model_file), "--port", port]
        busy = subprocess.run(command, capture_output=True, text=True, timeout=120)
    assert busy.returncode == 2 and busy.stderr.startswith("error: cannot listen on 127.0.0.1:"), busy.stderr
    assert "Traceback" not in busy.stderr and len(busy.stderr.strip().splitlines()) == 1, busy.stderr
