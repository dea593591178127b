"""Character-level LSTM text generator: config, data, model, training, checkpoints, instrumentation.

This package knows nothing about Airflow or cost; it meets the rest of the project through the
files it writes (checkpoints, ``metrics.json``) and the CLI ``python -m rnn``.
"""
