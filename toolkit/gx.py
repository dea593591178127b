"""Great Expectations, bootstrapped once: suites run on pandas tables in an ephemeral, in-memory context.

Both validations (the training corpus in :mod:`rnn.corpus_validation`, the prices in
:mod:`costing.pricing.price_validation`) go through :func:`validate_tables`. GX runs with progress
bars off and no stores on disk; GX 1.24 ships no usage-statistics client, and
``GX_ANALYTICS_ENABLED=False`` plus ``analytics_enabled=False`` keep older 1.x releases quiet too.
GX and pandas are imported inside the function, so importing this module is cheap.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any


def validate_tables(
    source: str,
    tables: Mapping[str, tuple[Any, Mapping[str, Any]]],
    *,
    result_format: str = "SUMMARY",
    expectation_parameters: Mapping[str, Any] | None = None,
) -> list[dict[str, Any]]:
    """Validate each ``name -> (DataFrame, suite)`` and return the results as plain JSON, in order.

    ``suite`` is what ``gx.ExpectationSuite(**suite)`` takes: GX's own suite document (``name``,
    ``expectations``, ``meta``). ``expectation_parameters`` fill ``{"$PARAMETER": ...}`` bounds.
    """
    # earlier 1.x releases read this variable at import time
    os.environ["GX_ANALYTICS_ENABLED"] = "False"
    import great_expectations as gx
    from great_expectations.data_context.types.base import (
        DataContextConfig,
        InMemoryStoreBackendDefaults,
        ProgressBarsConfig,
    )

    context = gx.get_context(
        mode="ephemeral",
        project_config=DataContextConfig(
            store_backend_defaults=InMemoryStoreBackendDefaults(init_temp_docs_sites=False),
            progress_bars=ProgressBarsConfig(globally=False),
            analytics_enabled=False,
        ),
    )
    datasource = context.data_sources.add_pandas(source)
    results = []
    for name, (frame, suite_document) in tables.items():
        suite = gx.ExpectationSuite(**suite_document)
        batch = (
            datasource.add_dataframe_asset(name)
            .add_batch_definition_whole_dataframe(name)
            .get_batch(batch_parameters={"dataframe": frame})
        )
        result = batch.validate(
            suite, result_format=result_format, expectation_parameters=dict(expectation_parameters or {})
        )
        results.append(plain_json(result.to_json_dict()))
    return results


def plain_json(value: Any) -> Any:
    """GX's ``to_json_dict()`` can leave numpy scalars behind (e.g. a ``numpy.bool`` ``success``);
    turn them into plain Python values."""
    if isinstance(value, dict):
        return {str(key): plain_json(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [plain_json(item) for item in value]
    if value is None or isinstance(value, str | int | float):
        return value
    if hasattr(value, "item"):  # numpy scalar
        return plain_json(value.item())
    return str(value)
