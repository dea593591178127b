"""Task bodies of ``rnn_sweep``: the cheapest model that is good enough, searched with Optuna.

* :func:`start` checks the sweep's settings, validates the corpus once (``rnn_retraining``'s
  :func:`~pipeline.tasks.retraining.validate_dataset`; its MLflow run, in ``rnn-textgen-sweeps``, is the
  sweep's parent run) and creates the study.
* :func:`plan_round` checks the budget and asks the study for a round of trials; a round whose
  pre-flight estimate would take the sweep's training spend above ``budget_usd`` does not start, and
  no later round does.
* :func:`run_trial` (a mapped task) trains, benchmarks, load-tests and costs one trial with
  ``rnn_retraining``'s own task bodies, in a child MLflow run, then prices its model at the target
  volume (:func:`costing.model.sweep.trial_monthly_cost`). A retried trial resumes from its checkpoint.
* :func:`tell_round` (runs whatever the trials did) tells the study each trial's outcome: its two
  objectives and constraints, or ``FAIL`` with the reason a failed trial left behind.
* :func:`summarize` extracts the Pareto front, recommends, prices the champion at the same volume for
  the saving, and logs it all to the parent run (``pareto/`` artifacts, metrics).
* :func:`promote` sends the recommended trial through ``rnn_retraining``'s champion gate, if asked.

**The study.** ``optuna.create_study(directions=["minimize", "minimize"])`` over (monthly cost at the
target volume, validation bits per character), one per DAG run, named ``<dag_id>/<run_id>``, in
``RNN_PIPELINE_SWEEP_STORAGE`` (SQLite beside the embedded defaults, Postgres in production): a restarted
scheduler or worker finds it as it was. **Sampler**: ``TPESampler`` (its multi-objective form, MOTPE),
seeded, ``constant_liar=True`` so trials asked together in one round spread out, with the SLO and the
quality target as constraints (``Trial.set_constraint``: infeasible trials inform the model but never lead
it). NSGA-II needs populations of tens of trials over generations; a sweep of a dozen trials is TPE's
regime. Rounds are unrolled in the DAG (:data:`MAX_ROUNDS`), not a self-triggering run: every round's
budget decision is a task with its log in one DAG run, and the number of rounds is bounded.
Pruning from intermediate losses is not done: each trial is a subprocess that trains its short budget whole.
"""

from __future__ import annotations

import json
import logging
import math
import random
import tempfile
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from costing.model import profile_from_metrics
from costing.model.analysis import training_plan_for
from costing.model.sweep import (
    SweepPoint,
    bits_per_char,
    feasibility,
    pareto_front,
    recommend,
    trial_monthly_cost,
)
from costing.pricing import build_price_sheet
from costing.report.sweep import write_pareto
from pipeline import names, tracking
from pipeline.price_store import newest_snapshot_dir
from pipeline.settings import load_settings
from pipeline.spot.budget import estimate_training
from pipeline.sweep_space import (
    MAX_REQUESTS_PER_DAY,
    MAX_ROUNDS,
    MAX_TRIALS,
    MAX_TRIALS_PER_ROUND,
    MIN_REQUESTS_PER_DAY,
    PRECISION_KEY,
    SpaceError,
    baseline_params,
    check_space,
    distributions,
    split_params,
)
from pipeline.tasks import retraining
from pipeline.tasks.cost_analysis import champion_model_source
from rnn.config import TrainConfig
from toolkit import storage

log = logging.getLogger(__name__)

DIRECTIONS = ["minimize", "minimize"]  # monthly cost at the target volume, validation bits per character
OBJECTIVES = ("usd_per_month", "val_bpc")


def _fail(message: str) -> Exception:
    from airflow.sdk.exceptions import AirflowFailException

    return AirflowFailException(message)


# -- settings ---------------------------------------------------------------------------------------------


def check_settings(params: dict[str, Any]) -> dict[str, Any]:
    """The sweep's settings from its Params; one message naming the field for what the schema let through."""
    try:
        space = check_space(params.get("search_space") or {})
    except SpaceError as exc:
        raise _fail(f"rnn_sweep: {exc}; nothing was run") from exc
    checks = [
        ("budget_usd", float(params["budget_usd"]) > 0, "must be above 0"),
        ("max_trials", 1 <= int(params["max_trials"]) <= MAX_TRIALS, f"must be 1..{MAX_TRIALS}"),
        (
            "trials_per_round",
            1 <= int(params["trials_per_round"]) <= MAX_TRIALS_PER_ROUND,
            f"must be 1..{MAX_TRIALS_PER_ROUND}",
        ),
        (
            "requests_per_day",
            MIN_REQUESTS_PER_DAY <= float(params["requests_per_day"]) <= MAX_REQUESTS_PER_DAY,
            f"must be {MIN_REQUESTS_PER_DAY:,}..{MAX_REQUESTS_PER_DAY:,}",
        ),
        ("slo_ms", float(params["slo_ms"]) > 0, "must be above 0"),
        ("loss_tolerance", 0 <= float(params["loss_tolerance"]) <= 1, "must be 0..1"),
    ]
    if params.get("max_val_bpc") is not None:
        checks.append(("max_val_bpc", float(params["max_val_bpc"]) > 0, "must be above 0 (bits/char)"))
    for field, ok, rule in checks:
        if not ok:
            raise _fail(f"rnn_sweep: {field} {params[field]!r} {rule}; nothing was run")
    rounds_needed = math.ceil(int(params["max_trials"]) / int(params["trials_per_round"]))
    if rounds_needed > MAX_ROUNDS:
        raise _fail(
            f"rnn_sweep: max_trials {params['max_trials']} needs {rounds_needed} rounds of trials_per_round "
            f"{params['trials_per_round']}; the DAG has {MAX_ROUNDS}: raise trials_per_round or lower max_trials"
        )
    return {
        "space": space,
        "requests_per_day": float(params["requests_per_day"]),
        "region": params["region"],
        "slo_ms": float(params["slo_ms"]),
        "max_val_bpc": None if params.get("max_val_bpc") is None else float(params["max_val_bpc"]),
        "loss_tolerance": float(params["loss_tolerance"]),
        "budget_usd": float(params["budget_usd"]),
        "max_trials": int(params["max_trials"]),
        "trials_per_round": int(params["trials_per_round"]),
        "retrain_cadence": params["retrain_cadence"],
        "load_test_seconds": int(params["load_test_seconds"]),
        "seed": int(params["seed"]),
    }


# -- the study ------------------------------------------------------------------------------------------


def study_name(dag_id: str, run_id: str) -> str:
    return f"{dag_id}/{run_id}"


def open_study(name: str, *, seed: int, startup_trials: int = 4, storage_url: str | None = None) -> Any:
    """The study of one sweep, created if absent (every task of the sweep opens the same one).

    ``seed`` seeds this process's sampler: each round passes its own (:func:`round_seed`), or a second
    round would draw the first round's random start again. ``startup_trials`` are sampled at random
    before TPE models the history (the first round's)."""
    import optuna

    url = storage_url or load_settings().sweep_study_storage
    if url.startswith("sqlite:///"):
        Path(url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    sampler = optuna.samplers.TPESampler(
        seed=seed,
        multivariate=True,
        constant_liar=True,
        n_startup_trials=startup_trials,
    )
    study = optuna.create_study(
        study_name=name, storage=url, directions=DIRECTIONS, sampler=sampler, load_if_exists=True
    )
    with warnings.catch_warnings():  # experimental since Optuna 3.2, and only names the dashboard's axes
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        study.set_metric_names(list(OBJECTIVES))
    return study


def round_seed(seed: int, round_index: int) -> int:
    """The sampler seed of one round: reproducible, and different in every round."""
    return seed * 1_000 + round_index


def start(*, dag_id: str, run_id: str, params: dict[str, Any], corpus_variable: str | None) -> dict[str, Any]:
    """Check the settings, validate the corpus once (the parent MLflow run), create the study."""
    import mlflow

    sweep = check_settings(params)
    validated = retraining.validate_dataset(
        dag_id=dag_id,
        run_id=run_id,
        # the training config starts from rnn_retraining's defaults (its seed too: every trial the same);
        # the sweep's "seed" seeds the sampler, not the training
        params={k: v for k, v in params.items() if k != "seed"},
        corpus_variable=corpus_variable,
        experiment=names.SWEEP_EXPERIMENT,
    )
    name = study_name(dag_id, run_id)
    study = open_study(name, seed=sweep["seed"])
    baseline = baseline_params(sweep["space"], {**TrainConfig().to_dict(), PRECISION_KEY: "fp32"})
    if (
        baseline and not study.trials
    ):  # the first trial: rnn_retraining's default model, as far as the space allows
        study.enqueue_trial(baseline, user_attrs={"baseline": True}, skip_if_exists=True)
    with tracking.task_run(validated["mlflow_run_id"]):
        mlflow.set_tags({names.TAG_SWEEP_ROLE: "parent", "sweep.study": name})
        mlflow.log_params(
            {
                "sweep.space": json.dumps(sweep["space"], sort_keys=True)[:6000],
                **tracking.flatten("sweep", {k: v for k, v in sweep.items() if k != "space"}),
            }
        )
    return {**validated, "sweep": {**sweep, "study": name}}


# -- rounds -----------------------------------------------------------------------------------------------


def _spent_usd(study: Any) -> float:
    return sum(float(t.user_attrs.get("training_usd", 0.0)) for t in study.get_trials(deepcopy=False))


def _trial_estimate_usd(validated: dict[str, Any], config: dict[str, Any]) -> tuple[float, str]:
    """The pre-flight estimate of one trial's training (``rnn_retraining``'s budget guard's arithmetic)."""
    estimate = estimate_training(validated, config)
    return float(estimate.usd), estimate.describe()


def plan_round(*, validated: dict[str, Any], round_index: int) -> list[dict[str, Any]]:
    """Ask the study for this round's trials, or none: trial limit reached, or the budget would be exceeded."""
    import mlflow

    sweep = validated["sweep"]
    study = open_study(
        sweep["study"], seed=round_seed(sweep["seed"], round_index), startup_trials=sweep["trials_per_round"]
    )
    _drop_unplanned(study)
    stopped = study.user_attrs.get("stopped")
    if stopped:
        log.info("round %d not started: %s", round_index + 1, stopped)
        return []
    asked = sum(1 for t in _asked_trials(study))
    n = min(sweep["trials_per_round"], sweep["max_trials"] - asked)
    if n <= 0:
        study.set_user_attr("stopped", f"trial limit {sweep['max_trials']} reached")
        log.info(
            "round %d not started: the trial limit (%d) is reached", round_index + 1, sweep["max_trials"]
        )
        return []
    trials = _ask_distinct(
        study, distributions(sweep["space"]), n, seed=round_seed(sweep["seed"], round_index)
    )
    if not trials:
        study.set_user_attr("stopped", "every configuration of the search space has been tried")
        log.info(
            "round %d not started: every configuration of the search space has been tried", round_index + 1
        )
        return []
    specs, estimate_usd, lines = [], 0.0, []
    for trial in trials:
        config = {**validated["config"], **split_params(trial.params)[0]}
        usd, how = _trial_estimate_usd(validated, config)
        estimate_usd += usd
        lines.append(f"trial {trial.number}: ${usd:.6f} ({how})")
        specs.append(
            {"trial": trial.number, "round": round_index + 1, "params": trial.params, "estimate_usd": usd}
        )
    spent = _spent_usd(study)
    budget = sweep["budget_usd"]
    log.info(
        "round %d: %d trials, pre-flight estimate $%.6f; spent so far $%.6f of $%g\n%s",
        round_index + 1,
        n,
        estimate_usd,
        spent,
        budget,
        "\n".join(lines),
    )
    if spent + estimate_usd > budget:
        import optuna

        reason = (
            f"round {round_index + 1} not started: its pre-flight estimate ${estimate_usd:.6f} on top of the "
            f"${spent:.6f} spent would exceed the budget ${budget:g}"
        )
        for trial in trials:
            trial.set_user_attr("not_run", reason)
            study.tell(trial, state=optuna.trial.TrialState.FAIL)
        study.set_user_attr("stopped", reason)
        with tracking.task_run(validated["mlflow_run_id"]):
            mlflow.set_tag("sweep.stopped", reason[:5000])
        log.warning("%s", reason)
        return []
    return specs


def _asked_trials(study: Any) -> list[Any]:
    """Trials the sweep handed out: not the enqueued baseline still waiting to be asked, not the ones told
    ``FAIL`` as not run (a repeat, a round over budget, a failed try's leftovers)."""
    return [
        t
        for t in study.get_trials(deepcopy=False)
        if t.state.name != "WAITING" and not t.user_attrs.get("not_run")
    ]


def _drop_unplanned(study: Any) -> None:
    """Trials an earlier try of this task asked but never handed out (it failed after asking): told ``FAIL``
    as not run, so they neither count against the trial limit nor sit as pending in the sampler. A round
    is planned only once the last one was told, so any trial still running here is such a leftover."""
    import optuna

    for trial in study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.RUNNING,)):
        reopened = optuna.trial.Trial(study, trial._trial_id)
        reopened.set_user_attr("not_run", "asked by a try of plan_round that failed before handing it out")
        study.tell(reopened, state=optuna.trial.TrialState.FAIL)


SAMPLER_REPEATS_BEFORE_RANDOM = 3  # repeats of the sampler before a random untried configuration is drawn
RANDOM_DRAWS = 2_000


def _ask_distinct(study: Any, space: dict[str, Any], n: int, *, seed: int) -> list[Any]:
    """Up to ``n`` new trials whose values no earlier trial had: training a configuration twice buys
    nothing. TPE on a small categorical space keeps proposing the configurations it likes; after a few
    repeats (each told ``FAIL`` as not run) an untried configuration drawn at random is enqueued instead.
    Fewer than ``n`` only when a finite space has no untried configuration left."""
    import optuna

    rng = random.Random(seed)
    seen = {tuple(sorted(t.params.items())) for t in _asked_trials(study)}
    trials: list[Any] = []
    while len(trials) < n:
        for _ in range(SAMPLER_REPEATS_BEFORE_RANDOM):
            trial = study.ask(space)
            key = tuple(sorted(trial.params.items()))
            if key not in seen:
                break
            trial.set_user_attr("not_run", "a repeat of an earlier trial's configuration")
            study.tell(trial, state=optuna.trial.TrialState.FAIL)
        else:
            untried = _untried(space, seen, rng)
            if untried is None:
                break  # a finite space, all of it tried
            study.enqueue_trial(untried, user_attrs={"drawn_at_random": True})
            trial = study.ask(space)
            key = tuple(sorted(trial.params.items()))
        seen.add(key)
        trials.append(trial)
    return trials


def _untried(space: dict[str, Any], seen: set[tuple], rng: random.Random) -> dict[str, Any] | None:
    """A configuration of ``space`` not in ``seen``, drawn at random; None when a finite space has none."""
    from optuna.distributions import CategoricalDistribution, IntDistribution

    finite = all(isinstance(d, CategoricalDistribution | IntDistribution) for d in space.values())
    if finite:
        sizes = [
            len(d.choices) if isinstance(d, CategoricalDistribution) else d.high - d.low + 1
            for d in space.values()
        ]
        if math.prod(sizes) <= len(seen):
            return None
    for _ in range(RANDOM_DRAWS):
        params = {name: _draw(d, rng) for name, d in space.items()}
        if tuple(sorted(params.items())) not in seen:
            return params
    return None


def _draw(distribution: Any, rng: random.Random) -> Any:
    from optuna.distributions import CategoricalDistribution, IntDistribution

    if isinstance(distribution, CategoricalDistribution):
        return rng.choice(distribution.choices)
    low, high = distribution.low, distribution.high
    if distribution.log:
        value = math.exp(rng.uniform(math.log(low), math.log(high)))
    else:
        value = rng.uniform(low, high)
    if isinstance(distribution, IntDistribution):
        return min(high, max(low, round(value)))
    return value


def _trial_dir(validated: dict[str, Any], trial: int) -> str:
    return storage.join(validated["run_dir"], "trials", f"{trial:03d}")


TRIAL_KEY = "sweep_trial"  # in a trial's ``validated``: its number (the spot operator's failure names it)


def run_trial(*, validated: dict[str, Any], spec: dict[str, Any], dag_id: str, run_id: str) -> dict[str, Any]:
    """One trial on this worker, end to end, with ``rnn_retraining``'s task bodies; its outcome lands in
    ``result.json`` (or ``failure.json``)."""
    with _failure_recorded(_trial_dir(validated, spec["trial"]), spec["trial"]):
        prepared = _prepare_trial(validated, spec, dag_id=dag_id, run_id=run_id)
        trained = retraining.train(validated=prepared)
        return _finish_trial(trained, spec, validated["sweep"])


def prepare_trial(
    *, validated: dict[str, Any], spec: dict[str, Any], dag_id: str, run_id: str
) -> dict[str, Any]:
    """The first task of a trial trained elsewhere (spot EC2): its child MLflow run and config, as the
    ``validated`` result its training starts from."""
    with _failure_recorded(_trial_dir(validated, spec["trial"]), spec["trial"]):
        return _prepare_trial(validated, spec, dag_id=dag_id, run_id=run_id)


def finish_trial(*, trained: dict[str, Any], spec: dict[str, Any]) -> dict[str, Any]:
    """The last task of a trial trained elsewhere: benchmark, load-test, log, cost and score its model."""
    with _failure_recorded(trained["run_dir"], spec["trial"]):
        return _finish_trial(trained, spec, trained["sweep"])


def on_training_failure(context: dict[str, Any]) -> None:
    """``on_failure_callback`` of a trial's training task (spot EC2): its ``failure.json``, from the
    ``validated`` of :func:`prepare_trial` the task was given, says why (e.g. spot gave up), for
    ``tell_round`` to record. A task that never rendered its arguments leaves none ("did not finish")."""
    trial_validated = getattr(context.get("task"), "validated", None)
    if not isinstance(trial_validated, dict) or TRIAL_KEY not in trial_validated:
        log.warning("the failed training task names no trial; tell_round records it as not finished")
        return
    error = context.get("exception")
    reason = f"{type(error).__name__}: {error}" if error is not None else "the training task failed"
    _write_failure(trial_validated["run_dir"], int(trial_validated[TRIAL_KEY]), reason)


def _write_failure(trial_dir: str, number: int, reason: str) -> None:
    storage.write_text_atomic(
        storage.join(trial_dir, "failure.json"), json.dumps({"trial": number, "reason": reason[:4000]})
    )


@contextmanager
def _failure_recorded(trial_dir: str, number: int) -> Iterator[None]:
    """An exception inside leaves ``failure.json`` with its reason in the trial's folder, and goes on."""
    try:
        yield
    except Exception as exc:
        _write_failure(trial_dir, number, f"{type(exc).__name__}: {exc}")
        raise


def _prepare_trial(
    validated: dict[str, Any], spec: dict[str, Any], *, dag_id: str, run_id: str
) -> dict[str, Any]:
    import mlflow

    number = spec["trial"]
    trial_dir = _trial_dir(validated, number)
    child = tracking.get_or_create_run(
        names.SWEEP_EXPERIMENT,
        dag_id,
        _trial_key(run_id, number),
        run_name=f"trial {number}",
        settings=load_settings(),
    )
    training_params, precision = split_params(spec["params"])
    config = {**validated["config"], **training_params}
    with tracking.task_run(child):
        mlflow.set_tags(
            {
                names.TAG_MLFLOW_PARENT_RUN_ID: validated["mlflow_run_id"],
                names.TAG_SWEEP_ROLE: "trial",
                names.TAG_SWEEP_TRIAL: str(number),
                "sweep.round": str(spec["round"]),
                "sweep.study": validated["sweep"]["study"],
                names.TAG_COMPUTE_BACKEND: validated["compute"]["backend"],
            }
        )
        mlflow.log_params(
            {**tracking.flatten("config", config), **tracking.flatten("compute", validated["compute"])}
        )
        mlflow.log_params({"dataset.sha256": validated["dataset_sha256"], "serve.precision": precision})
    storage.write_text_atomic(storage.join(trial_dir, "config.json"), json.dumps(config, indent=2))
    return {
        **validated,
        "mlflow_run_id": child,
        "run_dir": trial_dir,
        "config": config,
        TRIAL_KEY: number,
        "precision": precision,
    }


def _finish_trial(trained: dict[str, Any], spec: dict[str, Any], sweep: dict[str, Any]) -> dict[str, Any]:
    precision = trained["precision"]
    benchmarked = retraining.benchmark(trained=trained, precision=precision)
    served = retraining.load_test(
        benchmarked=benchmarked,
        seconds=sweep["load_test_seconds"],
        slo_ms=sweep["slo_ms"],
        precision=precision,
    )
    logged = retraining.log_to_mlflow(benchmarked=served)
    costed = retraining.cost(logged=logged)
    result = _score_trial(costed, spec, sweep)
    storage.write_text_atomic(
        storage.join(trained["run_dir"], "result.json"), json.dumps(result, indent=2, default=str)
    )
    return {k: result[k] for k in ("trial", "state", "usd_per_month", "val_bpc", "feasible", "reason")}


def _score_trial(costed: dict[str, Any], spec: dict[str, Any], sweep: dict[str, Any]) -> dict[str, Any]:
    """Price the trial's model at the target volume and decide feasibility; log both to its child run."""
    import mlflow

    metrics = json.loads(storage.read_bytes(costed["metrics_uri"]))
    monthly = price_at_volume(metrics, sweep, source=f"trial {spec['trial']}")
    val_bpc = bits_per_char(served_val_loss(metrics))
    serving = metrics.get("serving") or {}
    slo_met = float(serving.get("max_rps_at_slo") or 0) > 0 if sweep["load_test_seconds"] > 0 else True
    feasible, reason = feasibility(
        usd_per_month=monthly["usd_per_month"],
        val_bpc=val_bpc,
        slo_met=slo_met,
        max_val_bpc=sweep["max_val_bpc"],
        cost_reason=monthly["reason"],
    )
    training_usd = float(costed["cost"]["usd"])
    with tracking.task_run(costed["mlflow_run_id"]):
        values = {
            names.VAL_BPC: val_bpc,
            names.SWEEP_TRAINING_USD_PER_MONTH: monthly["training_usd_per_month"],
            "sweep.feasible": 1.0 if feasible else 0.0,
        }
        if monthly["usd_per_month"] is not None:
            values[names.SWEEP_USD_PER_MONTH] = monthly["usd_per_month"]
            values[names.SWEEP_SERVING_USD_PER_MONTH] = monthly["serving_usd_per_month"]
        mlflow.log_metrics(values)
        mlflow.set_tags(
            {
                names.TAG_SWEEP_FEASIBLE: "true" if feasible else "false",
                names.TAG_SWEEP_REASON: reason[:5000],
                names.TAG_SWEEP_OPTION: monthly["option_label"] or "",
            }
        )
    log.info(
        "trial %d: %s/month at %g requests/day, %.4f bits/char, %s",
        spec["trial"],
        "n/a" if monthly["usd_per_month"] is None else f"${monthly['usd_per_month']:,.4f}",
        sweep["requests_per_day"],
        val_bpc,
        reason,
    )
    return {
        "trial": spec["trial"],
        "round": spec["round"],
        "params": spec["params"],
        "state": "complete",
        "usd_per_month": monthly["usd_per_month"],
        "val_bpc": val_bpc,
        "feasible": feasible,
        "slo_met": slo_met,
        "reason": reason,
        "training_usd": training_usd,
        "monthly": monthly,
        "mlflow_run_id": costed["mlflow_run_id"],
        "costed": costed,
    }


def served_val_loss(metrics: dict[str, Any]) -> float:
    """The validation loss of the model as served: fp32's, plus the measured delta of a reduced precision."""
    inference = metrics["inference"]
    loss = float(metrics["training"]["final_val_loss"])
    if inference["precision"] == "fp32":
        return loss
    delta = next(
        r["val_loss_delta"]
        for r in inference["reduced_precision"]
        if r["precision"] == inference["precision"]
    )
    return loss + float(delta)


def price_at_volume(metrics: dict[str, Any], sweep: dict[str, Any], *, source: str) -> dict[str, Any]:
    """A model's monthly cost at the sweep's volume and SLO (:func:`costing.model.sweep.trial_monthly_cost`)."""

    profile = profile_from_metrics(metrics, source=source)
    sheet = build_price_sheet(newest_snapshot_dir(), sweep["region"])
    training = training_plan_for(profile, sheet, metrics=metrics)
    cost = trial_monthly_cost(
        profile,
        sheet,
        sweep["requests_per_day"],
        training=training,
        slo_ms=sweep["slo_ms"],
        retrain_cadence=sweep["retrain_cadence"],
    )
    return cost.to_json_dict()


def tell_round(
    *, validated: dict[str, Any], planned: list[dict[str, Any]] | None, dag_id: str, run_id: str
) -> list[dict[str, Any]]:
    """Tell the study what each planned trial did (runs whatever happened to the trials).

    ``planned`` is None when this round's plan_round failed (or an earlier task did): then nothing can be
    told, and this task fails so that the sweep stops here, failed, instead of going on without a round.
    """
    import optuna

    if validated is None or planned is None:
        raise _fail("this round was not planned (an earlier task of the sweep failed); the sweep stops here")
    sweep = validated["sweep"]
    study = open_study(sweep["study"], seed=sweep["seed"])
    told = []
    by_number = {t.number: t for t in study.get_trials(deepcopy=False)}
    for spec in planned or []:
        number = spec["trial"]
        frozen = by_number[number]
        if frozen.state.is_finished():  # a retried tell_round: told already
            told.append({"trial": number, "state": frozen.state.name.lower()})
            continue
        trial = optuna.trial.Trial(study, frozen._trial_id)  # reopen the trial asked in plan_round
        trial_dir = _trial_dir(validated, number)
        result_uri = storage.join(trial_dir, "result.json")
        result = json.loads(storage.read_bytes(result_uri)) if storage.exists(result_uri) else None
        if result is not None and not math.isfinite(result["val_bpc"]):
            storage.write_text_atomic(
                storage.join(trial_dir, "failure.json"),
                json.dumps({"trial": number, "reason": "its validation loss is not a finite number"}),
            )
            result = None
        if result is not None:
            cost = result["usd_per_month"]
            trial.set_user_attr("training_usd", result["training_usd"])
            trial.set_user_attr("feasible", result["feasible"])
            trial.set_user_attr("reason", result["reason"])
            trial.set_user_attr("mlflow_run_id", result["mlflow_run_id"])
            trial.set_user_attr("result_uri", result_uri)
            loss_bar = sweep["max_val_bpc"]
            # <= 0 is satisfied: the SLO kept at the volume, the quality target met
            trial.set_constraint("slo", 0.0 if result["slo_met"] and cost is not None else 1.0)
            trial.set_constraint("quality", 0.0 if loss_bar is None else result["val_bpc"] - loss_bar)
            # no option at the volume: the trial is infeasible; its cost objective is then unbounded
            study.tell(trial, [math.inf if cost is None else cost, result["val_bpc"]])
            told.append({"trial": number, "state": "complete", "feasible": result["feasible"]})
        else:
            failure_uri = storage.join(trial_dir, "failure.json")
            reason = (
                json.loads(storage.read_bytes(failure_uri))["reason"]
                if storage.exists(failure_uri)
                else "the trial task did not finish (killed, or never started)"
            )
            trial.set_user_attr("reason", f"failed: {reason}")
            # what it may have spent before it failed is not known: its pre-flight estimate is charged
            trial.set_user_attr("training_usd", float(spec.get("estimate_usd", 0.0)))
            trial.set_user_attr("training_usd_basis", "pre-flight estimate (the trial failed)")
            study.tell(trial, state=optuna.trial.TrialState.FAIL)
            _mark_trial_failed(dag_id, _trial_key(run_id, number), reason)
            told.append({"trial": number, "state": "fail", "reason": reason})
    log.info("told the study: %s", told)
    return told


def _trial_key(run_id: str, number: int) -> str:
    """The child run of a trial is found by the DAG run's id with this suffix (tags, as the parent's)."""
    return f"{run_id}/trial-{number:03d}"


def _mark_trial_failed(dag_id: str, trial_key: str, reason: str) -> None:
    from mlflow import MlflowClient

    settings = tracking.configure()
    run = tracking.find_run_id(names.SWEEP_EXPERIMENT, dag_id, trial_key, settings)
    if run is None:
        return
    client = MlflowClient()
    client.set_tag(run, names.TAG_SWEEP_FEASIBLE, "failed")
    client.set_tag(run, names.TAG_SWEEP_REASON, f"failed: {reason}"[:5000])
    client.set_terminated(run, status="FAILED")


# -- the front -------------------------------------------------------------------------------------------


def points_of(study: Any) -> list[SweepPoint]:
    """Every trial that ran, as the front sees it (trials a budget stop never started are left out)."""
    points = []
    for t in study.get_trials(deepcopy=False):
        if t.user_attrs.get("not_run") or not t.state.is_finished():
            continue
        complete = t.state.name == "COMPLETE"
        cost = t.values[0] if complete else None
        points.append(
            SweepPoint(
                trial=t.number,
                state="complete" if complete else "failed",
                usd_per_month=None if cost is None or math.isinf(cost) else float(cost),
                val_bpc=float(t.values[1]) if complete else None,
                feasible=bool(t.user_attrs.get("feasible", False)),
                reason=str(t.user_attrs.get("reason", "")),
                params=tuple(sorted(t.params.items())),
            )
        )
    return points


def summarize(*, validated: dict[str, Any]) -> dict[str, Any]:
    """Front, recommendation, spend and the saving against the champion, on the parent MLflow run."""
    import mlflow

    sweep = validated["sweep"]
    study = open_study(sweep["study"], seed=sweep["seed"])
    points = points_of(study)
    front = pareto_front(points)
    choice = recommend(points, max_val_bpc=sweep["max_val_bpc"], loss_tolerance=sweep["loss_tolerance"])
    spent = _spent_usd(study)
    champion = _champion_at_volume(sweep)
    recommended_uri = None
    if choice.point is not None:
        recommended_uri = next(
            t.user_attrs.get("result_uri")
            for t in study.get_trials(deepcopy=False)
            if t.number == choice.point.trial
        )
    saving = (
        None
        if choice.point is None or champion is None or champion["usd_per_month"] is None
        else champion["usd_per_month"] - choice.point.usd_per_month
    )
    baseline = _baseline_comparison(study, points, front, sweep["loss_tolerance"])
    document = {
        "schema": "rnn-sweep",
        "schema_version": 1,
        "study": sweep["study"],
        "target": {k: sweep[k] for k in ("requests_per_day", "region", "slo_ms", "retrain_cadence")},
        "quality": {"max_val_bpc": sweep["max_val_bpc"], "loss_tolerance": sweep["loss_tolerance"]},
        "budget_usd": sweep["budget_usd"],
        "spent_usd": spent,
        "stopped": study.user_attrs.get("stopped"),
        "trials": [p.to_json_dict() for p in points],
        "front": [p.trial for p in front],
        "recommendation": choice.to_json_dict(),
        "recommended_result_uri": recommended_uri,
        "champion": champion,
        "saving_usd_per_month": saving,
        "baseline": baseline,
    }
    storage.write_text_atomic(
        storage.join(validated["run_dir"], names.SWEEP_ARTIFACT), json.dumps(document, indent=2)
    )
    with tracking.task_run(validated["mlflow_run_id"]), tempfile.TemporaryDirectory() as tmp:
        write_pareto(points, front, choice, Path(tmp), target=document["target"])
        mlflow.log_artifacts(tmp, artifact_path=names.PARETO_ARTIFACT_DIR)
        mlflow.log_dict(document, names.SWEEP_ARTIFACT)
        metrics = {
            "sweep.trials": float(len(points)),
            "sweep.failed": float(sum(p.state != "complete" for p in points)),
            "sweep.infeasible": float(sum(p.state == "complete" and not p.feasible for p in points)),
            "sweep.front_size": float(len(front)),
            "sweep.spent_usd": spent,
        }
        for rank, p in enumerate(front):
            metrics[f"pareto.{rank}.usd_per_month"] = float(p.usd_per_month or 0.0)
            metrics[f"pareto.{rank}.val_bpc"] = float(p.val_bpc or 0.0)
        if choice.point is not None:
            metrics["recommended.trial"] = float(choice.point.trial)
            metrics["recommended.usd_per_month"] = float(choice.point.usd_per_month or 0.0)
            metrics["recommended.val_bpc"] = float(choice.point.val_bpc or 0.0)
        if saving is not None:
            metrics["recommended.saving_usd_per_month"] = saving
        mlflow.log_metrics(metrics)
        mlflow.set_tag("sweep.recommendation", choice.rule[:5000])
    log.info(
        "sweep %s: %d trials (%d on the front), spent $%.6f of $%g; %s",
        sweep["study"],
        len(points),
        len(front),
        spent,
        sweep["budget_usd"],
        choice.rule,
    )
    return document


def _baseline_comparison(
    study: Any, points: list[SweepPoint], front: list[SweepPoint], tolerance: float
) -> dict[str, Any] | None:
    """The baseline trial (rnn_retraining's default model) and the front's points cheaper than it at the
    target volume whose loss is within ``tolerance`` of its loss."""
    numbers = [t.number for t in study.get_trials(deepcopy=False) if t.user_attrs.get("baseline")]
    base = next((p for p in points if numbers and p.trial == numbers[0]), None)
    if base is None or base.state != "complete" or base.usd_per_month is None or base.val_bpc is None:
        return None if base is None else {"trial": base.trial, "point": base.to_json_dict(), "cheaper": []}
    bar = base.val_bpc * (1 + tolerance)
    cheaper = [
        p.to_json_dict()
        for p in front
        if p.trial != base.trial and p.usd_per_month < base.usd_per_month and p.val_bpc <= bar
    ]
    return {"trial": base.trial, "point": base.to_json_dict(), "loss_bar_bpc": bar, "cheaper": cheaper}


def _champion_at_volume(sweep: dict[str, Any]) -> dict[str, Any] | None:
    """The champion's monthly cost at the sweep's volume and SLO (None when nothing is registered)."""
    source = champion_model_source()
    if source is None:
        return None
    try:
        priced = price_at_volume(source.metrics, sweep, source=source.description)
    except ValueError as exc:
        log.warning("cannot price the champion at the target volume: %s", exc)
        return None
    return {"version": source.version, "description": source.description, **priced}


def promote(*, summary: dict[str, Any], eval_corpus_uri: str = "") -> dict[str, Any]:
    """The recommended trial through ``rnn_retraining``'s champion gate (never around it)."""
    uri = summary.get("recommended_result_uri")
    if not uri:
        return {"registered": False, "reason": "no recommendation to promote"}
    result = json.loads(storage.read_bytes(uri))
    precision = split_params(result["params"])[1]
    if precision != "fp32":
        return {
            "registered": False,
            "reason": f"the recommendation is served at {precision}; the registry's models are served and priced "
            f"at fp32 (rnn_retraining's gate compares fp32 losses), so it is not promoted: serve its model with "
            f"`rnn serve --precision {precision}` by hand, or sweep fp32 only",
        }
    decided = retraining.register(costed=result["costed"], eval_corpus_uri=eval_corpus_uri or None)
    return decided["registry"]
