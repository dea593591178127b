"""Prices and the cost model: what a training run (and, later, serving and storage) costs on AWS.

Modules, from data to answers:

* :mod:`costing.pricing.defaults` - default instance type, region and market; AWS billing constants.
* :mod:`costing.pricing.parse` - parses AWS Price List and spot price history documents into records.
* :mod:`costing.pricing.snapshot` - immutable pricing snapshots on disk (raw documents + ``prices.csv`` +
  provenance): load, write, find the latest.
* :mod:`costing.pricing.catalog` - :class:`~costing.pricing.catalog.PriceCatalog`, price lookups from one snapshot.
* :mod:`costing.model.run_cost` - the cost of one training run, estimated or billed.
* :mod:`costing.pricing.recording` - ``python -m costing.pricing.recording``: build a snapshot from
  hand-recorded rates.

This package never imports Airflow, torch or :mod:`rnn`, and the cost maths never calls AWS.
Importing it is cheap: submodules are imported on use.
"""
