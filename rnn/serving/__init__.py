"""Serving the trained model: the fast decoder, continuous batching, the inference server, its load test.

- :mod:`rnn.serving.generate`: loading ``model.pt`` (or a registry version) and sampling text;
- :mod:`rnn.serving.decoder`: the incremental decoder, its small-batch step in C++ (:mod:`rnn.serving.fused_step`);
- :mod:`rnn.serving.batching`: continuous batching (the batch is re-formed every step);
- :mod:`rnn.serving.server`: ``POST /v1/generate``, ``GET /healthz``, ``GET /metrics``; settings in
  :mod:`rnn.serving.settings` (no torch);
- :mod:`rnn.serving.loadtest`: open-loop load at fixed arrival rates, goodput at the SLO (no torch);
- :mod:`rnn.serving.benchmark`: the in-process inference benchmark recorded in ``metrics.json``;
- :mod:`rnn.serving.handler`: a serverless-style handler (load once, answer one request at a time);
- :mod:`rnn.serving.coldstart`: cold starts, measured: the server from start to ready and its first
  request, the handler from spawn to its first answer (no torch: each runs in its own process).

Training never imports this package; serving reads what training wrote (``model.pt``, ``metrics.json``).
"""
