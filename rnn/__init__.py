"""Character-level LSTM text generator, in two rooms.

Training (this package's top level): config, corpus and its validation (read in chunks), data and
token files (ids in the smallest dtype, memory-mapped), model, the training loop, checkpoint/resume,
evaluation on a fixed split, and the ``metrics.json`` document.
Serving (:mod:`rnn.serving`): the fast decoder, continuous batching, the inference server, its load
test and the inference benchmark. Training never imports serving.

This package knows nothing about Airflow or cost; it meets the rest of the project through the
files it writes (checkpoints, ``model.pt``, ``metrics.json``) and the CLI ``python -m rnn``.
"""

import os

# OpenMP threads (torch's intra-op pool) wait passively between parallel regions unless the environment
# says otherwise. libgomp reads this once, when torch is first imported, so it is set here, before any
# module of this package imports torch. Spinning threads wait for a team-mate that another process has
# descheduled at every decoder step: with other work on 2 cores, the inference server found at most
# 0.7 requests/s within a 1 s p95 (four load tests, 0-0.7) where passive waiting found 7.7-10.9
# (measured A/B, alternating, same model and load test). On a machine with nothing else to run,
# ``OMP_WAIT_POLICY=ACTIVE`` can lower single-request latency; ``make bench`` measures this default.
OMP_WAIT_POLICY_ENV = "OMP_WAIT_POLICY"
DEFAULT_OMP_WAIT_POLICY = "PASSIVE"
os.environ.setdefault(OMP_WAIT_POLICY_ENV, DEFAULT_OMP_WAIT_POLICY)
