"""Prices and the cost model: what a training run (and, later, serving and storage) costs on AWS.

Modules, from data to answers:

* :mod:`costing.defaults` - default instance type, region and market; AWS billing constants.
* :mod:`costing.prices` - parses AWS Price List and spot price history documents into records.
* :mod:`costing.snapshot` - immutable pricing snapshots on disk (raw documents + ``prices.csv`` +
  provenance): load, write, find the latest.
* :mod:`costing.catalog` - :class:`~costing.catalog.PriceCatalog`, price lookups from one snapshot.
* :mod:`costing.training` - the cost of one training run, estimated or billed.
* :mod:`costing.snapshot_tools` - ``python -m costing.snapshot_tools``: build a snapshot from
  hand-recorded rates.

This package never imports Airflow, torch or :mod:`rnn`, and the cost maths never calls AWS.
Importing it is cheap: submodules are imported on use.
"""
