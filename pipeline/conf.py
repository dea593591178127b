"""What a DAG run's ``conf`` may hold: only the DAG's Params, and only finite numbers.

Airflow validates each Param it knows and keeps any other key without a word, so a typo in a
trigger (``"dropuot": 0.3``) would run with the default. Every DAG with Params sets
``pre_execute=refuse_bad_conf`` in its ``default_args``: before any task does anything, a key that
is not a Param, or a NaN or infinite number anywhere in the conf, fails the task at once (no retry)
with the list of known keys.
"""

from __future__ import annotations

import difflib
import math
from collections.abc import Iterable, Mapping
from typing import Any


def conf_problems(conf: Mapping[str, Any] | None, known: Iterable[str]) -> list[str]:
    """What is wrong with ``conf`` for a DAG whose Params are ``known``; empty when nothing is."""
    known = sorted(known)
    problems = []
    unknown = sorted(set(conf or {}) - set(known))
    for key in unknown:
        close = difflib.get_close_matches(key, known, n=1)
        problems.append(f"unknown conf key {key!r}" + (f" (did you mean {close[0]!r}?)" if close else ""))
    if unknown:
        problems.append(f"known keys: {', '.join(known)}")
    for path, value in _numbers(conf or {}):
        if not math.isfinite(value):
            problems.append(f"conf key {path} is {value!r}: numbers must be finite")
    return problems


def _numbers(value: Any, path: str = "") -> Iterable[tuple[str, float]]:
    if isinstance(value, Mapping):
        for key, item in value.items():
            yield from _numbers(item, f"{path}.{key}" if path else str(key))
    elif isinstance(value, list | tuple):
        for index, item in enumerate(value):
            yield from _numbers(item, f"{path}[{index}]")
    elif isinstance(value, float):
        yield path, value


def refuse_bad_conf(context: Mapping[str, Any]) -> None:
    """A task's ``pre_execute`` hook: fail, not retry, when the run's conf is not the DAG's Params."""
    dag_run = context["dag_run"]
    problems = conf_problems(dag_run.conf, context["dag"].params.keys())
    if problems:
        from airflow.sdk.exceptions import AirflowFailException

        raise AirflowFailException(
            f"{context['dag'].dag_id}: refusing the run's conf, nothing was done: " + "; ".join(problems)
        )
