"""Cost anomalies: robust outlier tests on each new cost against its recent history, and the evidence.

**Method** (:func:`robust_score`): the modified z-score of Iglewicz and Hoaglin,
``(x - median) / (1.4826 x MAD)``, where MAD is the median absolute deviation of the history: the median
and MAD ignore the outliers of the history themselves (a mean and standard deviation would be dragged by
the very spikes they look for), and 1.4826 x MAD estimates the standard deviation of normal data. Costs
are scored on a log scale (:func:`log_score`): they are positive and vary by factors (a price, a run
length), so three times and a third of the usual are equally far. A cost is anomalous when its score is
beyond :data:`Z_THRESHOLD` (3.5, their recommendation) **and** it is at least :data:`MIN_RATIO` times
(or at most 1/:data:`MIN_RATIO` of) the median: a history of near-identical costs has a MAD near 0, so a
cent's difference would score high without meaning anything. Fewer than :data:`MIN_HISTORY` earlier
values: no verdict (said so), never a guess.

Detectors (each returns :class:`Anomaly` rows with their evidence):

* :func:`run_cost_anomalies` - a training run's cost, and its cost per million tokens, against the
  runs before it (cost per token separates "the run was longer" from "the run was dearer per unit");
* :func:`price_jump_anomalies` - a pricing refresh whose prices moved beyond :data:`PRICE_JUMP_PCT`;
* :func:`reconciliation_anomalies` - an estimate-vs-bill error outside its usual band (robust score
  against the earlier errors);
* :func:`leaked_instance_anomaly` - an instance of this pipeline still running with no active DAG run:
  what it cost from launch until it was terminated.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

Z_THRESHOLD = 3.5
MAD_TO_SIGMA = 1.4826
MIN_HISTORY = 5
MIN_RATIO = 1.75  # a cost is at least this many times the median (or at most its inverse)
MIN_ERROR_POINTS = 5.0  # a reconciliation error this many points from its usual, at least
PRICE_JUMP_PCT = 20.0  # a refreshed price this far (either way) from the previous snapshot's

KIND_RUN_COST = "run-cost"
KIND_COST_PER_TOKEN = "cost-per-token"
KIND_PRICE_JUMP = "price-jump"
KIND_RECONCILIATION = "reconciliation-error"
KIND_LEAKED_INSTANCE = "leaked-instance"
KINDS = (KIND_RUN_COST, KIND_COST_PER_TOKEN, KIND_PRICE_JUMP, KIND_RECONCILIATION, KIND_LEAKED_INSTANCE)


@dataclass(frozen=True)
class Score:
    value: float
    median: float
    mad: float
    z: float | None  # None: too little history
    history: int

    def anomalous(self, threshold: float = Z_THRESHOLD, min_change: float = 0.0) -> bool:
        """Beyond the threshold, and at least ``min_change`` from the median (in the score's units)."""
        return self.z is not None and abs(self.z) > threshold and abs(self.value - self.median) >= min_change

    def describe(self) -> str:
        if self.z is None:
            return f"{self.history} earlier values: too few to judge (at least {MIN_HISTORY})"
        return (
            f"{self.value:.6g} against a median of {self.median:.6g} over {self.history} earlier values "
            f"(MAD {self.mad:.3g}; robust z {self.z:+.1f}, threshold {Z_THRESHOLD})"
        )


def robust_score(value: float, history: Sequence[float]) -> Score:
    """The modified z-score of ``value`` against ``history`` (see the module docstring)."""
    values = [float(v) for v in history]
    if len(values) < MIN_HISTORY:
        median = statistics.median(values) if values else value
        return Score(value, median, 0.0, None, len(values))
    median = statistics.median(values)
    mad = statistics.median(abs(v - median) for v in values)
    scale = MAD_TO_SIGMA * mad
    if scale == 0:
        z = 0.0 if value == median else float("inf") if value > median else float("-inf")
    else:
        z = (value - median) / scale
    return Score(value, median, mad, z, len(values))


def log_score(value: float, history: Sequence[float]) -> Score:
    """:func:`robust_score` of log(value) against log(history) (positive values only; others are skipped)."""
    return robust_score(
        math.log(value) if value > 0 else float("-inf"), [math.log(v) for v in history if v > 0]
    )


def cost_anomalous(score: Score) -> bool:
    """A log-scale score beyond the threshold and at least :data:`MIN_RATIO` from the median."""
    return score.anomalous(min_change=math.log(MIN_RATIO))


@dataclass(frozen=True)
class Anomaly:
    key: str  # unique: the alert is raised once ("run-cost/<mlflow run id>")
    kind: str
    subject: str  # what it is, in one line (the alert's subject, the table's first column)
    evidence: str  # the figures, and how they were judged
    detected_by: str  # the task that found it: "rnn_retraining.detect_cost_anomalies"
    detected_at: str  # ISO 8601 UTC
    event_at: str | None  # when what it reports happened, when known (ISO 8601 UTC)
    usd: float | None = None  # the money at stake, when known
    details: dict[str, Any] = field(default_factory=dict)

    @property
    def minutes_to_detect(self) -> float | None:
        if not self.event_at:
            return None
        return (
            datetime.fromisoformat(self.detected_at) - datetime.fromisoformat(self.event_at)
        ).total_seconds() / 60

    def to_dict(self) -> dict[str, Any]:
        return {**self.__dict__, "minutes_to_detect": self.minutes_to_detect}

    @staticmethod
    def from_dict(data: Mapping[str, Any]) -> Anomaly:
        return Anomaly(**{k: v for k, v in data.items() if k != "minutes_to_detect"})


def run_cost_anomalies(
    *,
    run_id: str,
    run_name: str,
    usd: float,
    usd_per_mtok: float | None,
    history_usd: Sequence[float],
    history_usd_per_mtok: Sequence[float],
    detected_by: str,
    detected_at: str,
    event_at: str | None,
) -> list[Anomaly]:
    """The run's cost and its cost per million tokens, each against the runs before it."""
    found = []
    checks = [(KIND_RUN_COST, "cost", usd, history_usd, "$")]
    if usd_per_mtok is not None:
        checks.append(
            (KIND_COST_PER_TOKEN, "cost per million tokens", usd_per_mtok, history_usd_per_mtok, "$")
        )
    for kind, what, value, history, unit in checks:
        score = log_score(value, history)
        if not cost_anomalous(score):
            continue
        median = math.exp(score.median)
        found.append(
            Anomaly(
                key=f"{kind}/{run_id}",
                kind=kind,
                subject=(
                    f"training run {run_name}: {what} {unit}{value:,.6g} is {value / median:.2f}x the recent "
                    f"median {unit}{median:,.6g}"
                ),
                evidence=(
                    f"{unit}{value:,.6g} against a median of {unit}{median:,.6g} over {score.history} earlier "
                    f"runs; on a log scale robust z {score.z:+.1f} (threshold {Z_THRESHOLD}, and at least "
                    f"{MIN_RATIO:g}x either way)"
                ),
                detected_by=detected_by,
                detected_at=detected_at,
                event_at=event_at,
                usd=usd,
                details={"mlflow_run_id": run_id, "median": median, "z": score.z},
            )
        )
    return found


def price_jump_anomalies(
    diff: Mapping[str, Any], *, detected_by: str, detected_at: str, threshold_pct: float = PRICE_JUMP_PCT
) -> list[Anomaly]:
    """Prices of a refresh (``SnapshotDiff.to_dict()``) that moved beyond ``threshold_pct`` either way:
    one anomaly per refresh, listing the largest moves."""
    moves = [
        c
        for c in [*diff.get("changed", []), *diff.get("spot_changed", [])]
        if c.get("change_pct") is not None and abs(float(c["change_pct"])) > threshold_pct
    ]
    if not moves:
        return []
    moves.sort(key=lambda c: -abs(float(c["change_pct"])))
    lines = [
        f"{c.get('region', '')} {c.get('instance_type') or c.get('usage_type', '')} {c.get('term', '')}"
        f"{' ' + c['availability_zone'] if c.get('availability_zone') else ''}: "
        f"{c['previous_usd_rate']:.6g} -> {c['current_usd_rate']:.6g} ({float(c['change_pct']):+.1f}%)"
        for c in moves[:10]
    ]
    current = diff.get("current_snapshot_id", "")
    return [
        Anomaly(
            key=f"{KIND_PRICE_JUMP}/{current}",
            kind=KIND_PRICE_JUMP,
            subject=(
                f"pricing refresh {current}: {len(moves)} price(s) moved more than {threshold_pct:g}% "
                f"(largest {float(moves[0]['change_pct']):+.1f}%)"
            ),
            evidence=f"against snapshot {diff.get('previous_snapshot_id')}:\n" + "\n".join(lines),
            detected_by=detected_by,
            detected_at=detected_at,
            event_at=None,
            details={"moves": len(moves)},
        )
    ]


def reconciliation_anomalies(
    *,
    run_id: str,
    run_name: str,
    error_pct: float,
    history_error_pct: Sequence[float],
    billed_usd: float,
    detected_by: str,
    detected_at: str,
) -> list[Anomaly]:
    """A reconciled run whose estimate-vs-bill error is outside the band of the earlier errors."""
    score = robust_score(error_pct, history_error_pct)
    # errors hover around 0: judged in percentage points, not on a log scale
    if not score.anomalous(min_change=MIN_ERROR_POINTS):
        return []
    return [
        Anomaly(
            key=f"{KIND_RECONCILIATION}/{run_id}",
            kind=KIND_RECONCILIATION,
            subject=(
                f"training run {run_name}: the estimate was {error_pct:+.1f}% off the bill "
                f"(usually {score.median:+.1f}%)"
            ),
            evidence=score.describe() + f"; billed ${billed_usd:,.6f}",
            detected_by=detected_by,
            detected_at=detected_at,
            event_at=None,
            usd=billed_usd,
            details={"mlflow_run_id": run_id, "median": score.median, "z": score.z},
        )
    ]


def leaked_instance_anomaly(
    *,
    instance_id: str,
    instance_type: str,
    launched_at: datetime,
    terminated_at: datetime,
    usd_per_hour: float,
    dag_id: str,
    run_id: str,
    dag_run_state: str | None,
    detected_by: str,
) -> Anomaly:
    """An instance of this pipeline that ran with no active DAG run, and what it cost until terminated."""
    hours = max((terminated_at - launched_at).total_seconds(), 0.0) / 3600
    usd = hours * usd_per_hour
    return Anomaly(
        key=f"{KIND_LEAKED_INSTANCE}/{instance_id}",
        kind=KIND_LEAKED_INSTANCE,
        subject=(
            f"instance {instance_id} ({instance_type}) of {dag_id}/{run_id} ran {hours:.1f} h with no active "
            f"DAG run: about ${usd:,.2f}; terminated"
        ),
        evidence=(
            f"launched {launched_at.isoformat()}, terminated {terminated_at.isoformat()}; its DAG run is "
            f"{dag_run_state or 'unknown to Airflow'}; {hours:.2f} h x ${usd_per_hour:.4f}/h"
        ),
        detected_by=detected_by,
        detected_at=terminated_at.isoformat(),
        event_at=launched_at.isoformat(),
        usd=usd,
        details={"instance_id": instance_id, "dag_id": dag_id, "run_id": run_id},
    )
