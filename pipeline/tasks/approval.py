"""Task bodies of the approval gate of ``rnn_retraining`` and ``rnn_sweep``: price the run before anything
is trained, decide whether it waits for a person, and write the request they would see.

The figure is the budget guard's pre-flight estimate (:func:`pipeline.spot.budget.estimate_training`,
for a local run too: priced as if on the instance type), held against the run's
``approval_threshold_usd`` by :func:`pipeline.approval.gate`:

* **rnn_retraining** - the run's own estimate. A spot run above its ``max_budget_usd`` is not put to
  anyone: ``check_spot_budget`` refuses it as before.
* **rnn_sweep** - the whole sweep, once, before the first round: ``max_trials`` trials, each priced at
  the costliest configuration of the search space (:func:`pipeline.sweep_space.costliest_params`), and
  at most ``budget_usd``, since the rounds stop before their estimates take the spend above it. One
  decision before anything is spent, on a bound of what the sweep can spend; asking again every round
  would hold the search between rounds, with a person answering up to three times for one sweep.

Each returns the request (a JSON-serialisable dict, the XCom the approval task and the branch read) and
records the decision on the MLflow run: ``approval.decision`` is ``under-threshold`` (nothing waits),
``above-hard-limit`` or ``waiting`` (then the answer replaces it, :mod:`pipeline.approval.record`).
"""

from __future__ import annotations

import json
import logging
from typing import Any

from pipeline import names
from pipeline.approval.record import record_gate
from pipeline.approval.request import approval_body, approval_subject, gate, usd
from pipeline.spot.budget import estimate_training
from pipeline.sweep_space import costliest_params
from pipeline.ui.links import mlflow_run_url

log = logging.getLogger(__name__)


def _fail(message: str) -> Exception:
    from airflow.sdk.exceptions import AirflowFailException

    return AirflowFailException(message)


def _estimate(validated: dict[str, Any], config: dict[str, Any] | None = None) -> Any:
    try:
        return estimate_training(validated, config)
    except ValueError as error:
        raise _fail(
            f"cannot estimate what this run would cost, so it cannot be put to the approval threshold; "
            f"nothing was trained: {error}"
        ) from error


def _corpus(validated: dict[str, Any]) -> str:
    text = validated["config"]["corpus_uri"]
    if validated.get("dataset_chars") is not None:
        text += f" ({validated['dataset_chars']:,} characters, {validated['dataset_vocab_size']} distinct"
        if validated.get("dataset_sha256"):
            text += f", sha256 {validated['dataset_sha256'][:12]}…"
        text += ")"
    return text


def _where(compute: dict[str, Any]) -> list[tuple[str, str]]:
    backend = compute["backend"]
    how = (
        "trained on the Airflow worker, priced as if on the instance type"
        if backend == names.COMPUTE_LOCAL
        else "trained on an EC2 instance of this type"
    )
    return [
        ("Compute", f"{backend}: {how}"),
        ("Instance type", compute["instance_type"]),
        ("Market", compute["market"]),
        ("Region", compute["region"]),
    ]


def _mlflow_run(validated: dict[str, Any]) -> tuple[str, str]:
    run = validated["mlflow_run_id"]
    return ("MLflow run", f"[{run}]({mlflow_run_url(validated['experiment_id'], run)})")


def _request(
    *,
    what: str,
    validated: dict[str, Any],
    params: dict[str, Any],
    estimate_usd: float,
    hard_limit_usd: float | None,
    budget_left_usd: float | None,
    budget_left_how: str,
    how: str,
    inputs: list[tuple[str, str]],
    config: dict[str, Any],
    on_reject: str,
    estimate: dict[str, Any],
) -> dict[str, Any]:
    threshold = float(params["approval_threshold_usd"])
    timeout_minutes = float(params["approval_timeout_minutes"])
    try:
        decision = gate(estimate_usd=estimate_usd, threshold_usd=threshold, hard_limit_usd=hard_limit_usd)
    except ValueError as error:
        raise _fail(str(error)) from error
    body = approval_body(
        headline=f"**{what}**: {decision.reason}.",
        estimate_usd=estimate_usd,
        threshold_usd=threshold,
        budget_left_usd=budget_left_usd,
        budget_left_how=budget_left_how,
        how=how,
        inputs=inputs,
        config=config,
        timeout_minutes=timeout_minutes,
        on_reject=on_reject,
    )
    record_gate(
        validated["mlflow_run_id"], estimate_usd=estimate_usd, threshold_usd=threshold, decision=decision
    )
    log.info("%s: %s", what, decision.reason)
    if decision.waits:
        log.info("the request:\n%s", body)
    return {
        "what": what,
        "waits": decision.waits,
        "decision": decision.decision,
        "reason": decision.reason,
        "estimate_usd": estimate_usd,
        "threshold_usd": threshold,
        "budget_left_usd": budget_left_usd,
        "timeout_minutes": timeout_minutes,
        "subject": approval_subject(what, estimate_usd, threshold),
        "body": body,
        "mlflow_run_id": validated["mlflow_run_id"],
        "estimate": estimate,
    }


def retraining_request(
    *,
    validated: dict[str, Any],
    params: dict[str, Any],
    dag_id: str,
    run_id: str,
    budget_left_usd: float | None,
    budget_left_how: str = "",
) -> dict[str, Any]:
    """``rnn_retraining``'s ``estimate_training_cost`` task: the run's pre-flight estimate, the decision,
    the request. ``budget_left_usd``: the training budget left this month (None: not configured), and
    ``budget_left_how`` how it was reached (:func:`pipeline.tasks.governance.training_budget_left_usd`)."""
    estimate = _estimate(validated)
    compute = validated["compute"]
    on_spot = compute["backend"] == names.COMPUTE_EC2_SPOT
    hard_limit = float(params["max_budget_usd"]) if on_spot else None
    inputs = [
        *_where(compute),
        ("Corpus", _corpus(validated)),
        *(
            [("Hard limit", f"max_budget_usd {usd(hard_limit)}: check_spot_budget refuses a launch above it")]
            if hard_limit is not None
            else []
        ),
        ("DAG run", f"{dag_id} / {run_id}"),
        _mlflow_run(validated),
    ]
    return _request(
        what=f"training run {dag_id} / {run_id}",
        validated=validated,
        params=params,
        estimate_usd=float(estimate.usd),
        hard_limit_usd=hard_limit,
        budget_left_usd=budget_left_usd,
        budget_left_how=budget_left_how,
        how=estimate.describe(),
        inputs=inputs,
        config=validated["config"],
        on_reject="skips training and everything after it, and records who rejected on the MLflow run",
        estimate=estimate.to_dict(),
    )


def sweep_request(
    *,
    validated: dict[str, Any],
    params: dict[str, Any],
    dag_id: str,
    run_id: str,
    budget_left_usd: float | None,
    budget_left_how: str = "",
) -> dict[str, Any]:
    """``rnn_sweep``'s ``estimate_sweep_cost`` task: the whole sweep's bound (module docstring), the
    decision, the request. ``validated`` is ``start``'s result; the budget left as for
    :func:`retraining_request`."""
    sweep = validated["sweep"]
    costliest = {**validated["config"], **costliest_params(sweep["space"])}
    per_trial = _estimate(validated, costliest)
    trials, budget = int(sweep["max_trials"]), float(sweep["budget_usd"])
    every_trial_usd = trials * float(per_trial.usd)
    bound_usd = min(every_trial_usd, budget)
    how = (
        f"{trials} trials (max_trials) x {usd(per_trial.usd)}, the costliest configuration of the search "
        f"space, = {usd(every_trial_usd)}; the rounds stop before their estimates would take the spend above "
        f"budget_usd {usd(budget)}, so at most {usd(bound_usd)}. One trial at that configuration: "
        f"{per_trial.describe()}"
    )
    inputs = [
        ("Trials", f"at most {trials}, {sweep['trials_per_round']} per round"),
        ("Sweep budget (budget_usd)", usd(budget)),
        ("Search space", json.dumps(sweep["space"], sort_keys=True)),
        *_where(validated["compute"]),
        ("Corpus", _corpus(validated)),
        ("DAG run", f"{dag_id} / {run_id}"),
        _mlflow_run(validated),
    ]
    return _request(
        what=f"sweep {dag_id} / {run_id}",
        validated=validated,
        params=params,
        estimate_usd=bound_usd,
        hard_limit_usd=None,  # budget_usd is already in the bound
        budget_left_usd=budget_left_usd,
        budget_left_how=budget_left_how,
        how=how,
        inputs=inputs,
        config=costliest,
        on_reject="skips every round (no trial is trained) and records who rejected on the sweep's MLflow run",
        estimate={**per_trial.to_dict(), "trials": trials, "every_trial_usd": every_trial_usd},
    )
