"""Prices and the cost model: what training, retraining and serving this model cost on AWS.

Three layers, each importing only the ones below it (import-linter contracts in pyproject.toml):

* :mod:`costing.pricing` - AWS price documents -> validated, immutable snapshots -> a price sheet.
* :mod:`costing.model` - measured model profile + assumptions + price sheet -> training cost,
  serving alternatives, TCO, sensitivity.
* :mod:`costing.report` - the results as text tables, an HTML report with charts, CSV, JSON, email.

:mod:`costing.units` holds unit constants (where ``include/`` is comes from :mod:`toolkit.paths`);
:mod:`costing.cli` is ``python -m costing``. This package never imports Airflow, torch or
:mod:`rnn`, and the cost maths never calls AWS.
"""
