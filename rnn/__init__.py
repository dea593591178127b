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

# OpenMP threads (torch's intra-op pool) wait passively between parallel regions, after a short spin,
# unless the environment sets a wait policy. libgomp reads this once, when torch is first imported, so it
# is set here, before any module of this package imports torch. Long spinning waits for a team-mate that
# another process has descheduled, at every decoder step: with two busy processes on 2 cores the
# inference server found 8.6 requests/s within a 1 s p95 with libgomp's own spin (300,000), 18-26
# passive and 21-27 with a 2,000-iteration spin; on quiet cores a lone 200-character completion took
# 35.9 ms passive, 19.4 ms with the short spin and 17.6 ms ACTIVE, and the short spin served the most
# requests (114/s against 86-103 passive). Measured A/B on 2026-12-07, same model and load test
# (docs/serving.md). An operator's OMP_WAIT_POLICY wins, and then no spin count is added (one would
# also shorten ACTIVE's spin).
OMP_WAIT_POLICY_ENV = "OMP_WAIT_POLICY"
DEFAULT_OMP_WAIT_POLICY = "PASSIVE"
GOMP_SPINCOUNT_ENV = "GOMP_SPINCOUNT"
DEFAULT_GOMP_SPINCOUNT = "2000"
if OMP_WAIT_POLICY_ENV not in os.environ:
    os.environ[OMP_WAIT_POLICY_ENV] = DEFAULT_OMP_WAIT_POLICY
    os.environ.setdefault(GOMP_SPINCOUNT_ENV, DEFAULT_GOMP_SPINCOUNT)
