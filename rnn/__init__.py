"""Character-level LSTM text generator, in two rooms.

Training (this package's top level): config, corpus and its validation (read in chunks), data and
token files (ids in the smallest dtype, memory-mapped), model, the training loop, checkpoint/resume,
evaluation on a fixed split, and the ``metrics.json`` document.
Serving (:mod:`rnn.serving`): the fast decoder, continuous batching, the inference server, its load
test and the inference benchmark. Training never imports serving.

This package knows nothing about Airflow or cost; it meets the rest of the project through the
files it writes (checkpoints, ``model.pt``, ``metrics.json``) and the CLI ``python -m rnn``.
"""
