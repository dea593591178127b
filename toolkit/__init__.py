"""What every layer needs, written once: ``rnn``, ``costing`` and ``pipeline`` may import it; it imports none of them.

- :mod:`toolkit.storage`: bytes at local paths or fsspec URLs (``s3://``), written whole, failures explained;
- :mod:`toolkit.paths`: where ``include/`` is, and the tracking store's variable;
- :mod:`toolkit.arguments`: command-line parsers whose errors are one line, and range-checked types;
- :mod:`toolkit.gx`: Great Expectations in an ephemeral context, run on pandas tables;
- :mod:`toolkit.lstm`: the char-LSTM's shape arithmetic (its parameter count), for training and costing;
- :mod:`toolkit.registry`: the registered model's name and the champion alias.
"""
