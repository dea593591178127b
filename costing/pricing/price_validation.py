"""Validate a normalized price table with Great Expectations before it becomes a snapshot.

What must hold (each is a GX expectation on a pandas table, run in an ephemeral context):

``prices`` (one row per price, the columns of ``prices.csv``)
    * ``usd_rate`` is never null;
    * ``usd_rate`` > 0 wherever a price is expected: every classified row (``price_key`` set) except
      tiers flagged ``free_tier`` (a zero-priced first tier that a paid tier follows);
    * ``price_key|unit`` is one of the published units of its key (:data:`~costing.pricing.parse.PRICE_KEY_UNITS`);
    * a rate with a plausible range (:data:`PLAUSIBLE_USD_RATES`: the platform's MWAA, RDS, ElastiCache and
      SES rates) is inside it: outside is a unit slip or a misread document;
    * every required ``region|price_key|instance_type|term`` is present (:func:`required_prices`);
    * no price is published twice with different rates (the same SKU, term and rate code, e.g. from
      overlapping queries or a damaged file): the documents disagree, and neither is picked.

``changes`` (only when a previous snapshot is given: one row per OnDemand/Reserved price present in both)
    * ``new_usd_rate / previous_usd_rate`` is within ``1 ± max_change`` (default ±50%). Spot prices
      move by design and are not compared.

A failed check never stops at "something is wrong": every :class:`ValidationFailure` names the row
(region, service, price key, instance type, SKU) and the value. Optional prices (SageMaker, spot
history) that are missing only produce warnings.

Great Expectations and pandas are imported inside the functions: importing this module is cheap.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

from costing.pricing.diff import price_identity
from costing.pricing.parse import (
    PRICE_KEY_UNITS,
    TERM_ON_DEMAND,
    TERM_RESERVED,
    TERM_SPOT,
    PriceRecord,
    SpotPricePoint,
)
from costing.pricing.savings_plans import TERM_SAVINGS_PLAN
from costing.pricing.snapshot import PricingSnapshot, price_frame
from toolkit.gx import validate_tables

if TYPE_CHECKING:
    import pandas as pd

    from costing.pricing.snapshot import PricingSnapshot

DEFAULT_MAX_CHANGE = 0.5  # flag a price that moved more than ±50% against the previous snapshot

# Prices the cost model cannot do without, per region: every service price of the PriceSheet except
# SageMaker's (EC2 instance prices are added per instance type by required_prices()).
REQUIRED_SERVICE_PRICE_KEYS: tuple[str, ...] = (
    "ebs.gp3.storage",
    "s3.standard.storage",
    "s3.requests.tier1",
    "s3.requests.tier2",
    "data_transfer.out.internet",
    "alb.hours",
    "alb.lcu_hours",
    "nat_gateway.hours",
    "vpc.public_ipv4",
    "nat_gateway.data_processed",
    "cloudwatch.metrics",
    "cloudwatch.logs.ingest",
    "cloudwatch.logs.storage",
    "lambda.requests.x86",
    "lambda.duration.x86",
    "lambda.duration.arm",
    "fargate.vcpu_hours.x86",
    "fargate.memory_gb_hours.x86",
    "fargate.vcpu_hours.arm",
    "fargate.memory_gb_hours.arm",
)
# Prices whose absence is worth a warning but not a rejected refresh.
OPTIONAL_PRICE_KEYS: tuple[str, ...] = (
    "ec2.savings_plan",
    "sagemaker.hosting.instance",
    "sagemaker.serverless.compute",
    "sagemaker.serverless.data",
    "vpc.endpoint.hours",  # interface endpoints: internal designs and private-subnet egress
    "vpc.endpoint.data_processed",
    # what a cold start's fix costs (costing.model.cold_starts): without them that fix is not offered
    "lambda.provisioned_concurrency.x86",
    "lambda.provisioned_duration.x86",
    "sagemaker.serverless.provisioned_concurrency",
    "sagemaker.serverless.provisioned_duration",
    "eventbridge.scheduler.invocations",
    # the platform that runs the pipeline: without them the MWAA or self-hosted Airflow design is left out
    "mwaa.environment",
    "mwaa.worker",
    "mwaa.scheduler",
    "mwaa.metadata_storage",
    "rds.postgres.instance",
    "rds.gp3.storage",
    "rds.backup",
    "elasticache.redis.node",
    "ses.emails",
)

# The range a published rate can plausibly take, in its price key's unit (USD per Hrs, GB-Mo, message), over
# every class and region AWS sells: a rate outside it is a unit slip (a monthly figure as hourly, a per-1,000
# price as per message) or a misread document, and is refused like a zero. Wide on purpose: a real price
# change must not trip it; the ±max_change comparison with the previous snapshot catches smaller moves.
PLAUSIBLE_USD_RATES: dict[str, tuple[float, float]] = {
    "mwaa.environment": (0.2, 10.0),  # mw1.micro about $0.26/h .. mw1.2xlarge about $4/h
    "mwaa.worker": (0.02, 2.0),  # mw1.small $0.055/h .. mw1.2xlarge about $0.9/h
    "mwaa.scheduler": (0.02, 2.0),
    "mwaa.metadata_storage": (0.05, 0.5),  # $0.10 per GB-month
    "rds.postgres.instance": (0.01, 50.0),  # db.t4g.micro $0.016/h .. the largest memory-optimised classes
    "rds.gp3.storage": (0.05, 0.5),  # $0.115 per GB-month in us-east-1
    "rds.backup": (0.05, 0.5),  # $0.095 per GB-month
    "elasticache.redis.node": (0.01, 50.0),  # cache.t4g.micro $0.016/h .. the largest nodes
    "ses.emails": (0.00005, 0.0005),  # $0.10 per 1,000 messages
}

_SUITE_PRICES = "pricing_prices"
_SUITE_CHANGES = "pricing_changes"


@dataclass(frozen=True)
class RequiredPrice:
    """A price that must be in the table: in a region, of a price key, for an instance type, on a term."""

    region: str
    price_key: str
    instance_type: str = ""
    term: str = TERM_ON_DEMAND

    @property
    def key(self) -> str:
        return f"{self.region}|{self.price_key}|{self.instance_type}|{self.term}"

    def __str__(self) -> str:
        what = f"{self.price_key} {self.instance_type}".strip()
        return f"{self.region} {what} ({self.term})"


def required_prices(
    regions: Iterable[str],
    *,
    instance_types: Iterable[str] = (),
    price_keys: Iterable[str] = REQUIRED_SERVICE_PRICE_KEYS,
) -> tuple[RequiredPrice, ...]:
    """Every service price in every region, plus an on-demand price per EC2 instance type."""
    unknown = sorted(set(price_keys) - set(PRICE_KEY_UNITS))
    if unknown:
        raise ValueError(f"unknown price keys {unknown}; use keys of costing.pricing.parse.PRICE_KEY_UNITS")
    types = list(dict.fromkeys(instance_types))
    required = []
    for region in regions:
        required += [RequiredPrice(region, key) for key in price_keys]
        required += [RequiredPrice(region, "ec2.instance", instance_type) for instance_type in types]
    return tuple(required)


@dataclass(frozen=True)
class ValidationFailure:
    """One thing wrong with the table, naming the row and the value."""

    check: (
        str  # "not_null" | "positive" | "unit" | "plausible" | "duplicate" | "required" | "change" | "gate"
    )
    message: str
    region: str = ""
    service: str = ""
    price_key: str = ""
    instance_type: str = ""
    sku: str = ""
    usd_rate: float | None = None
    previous_usd_rate: float | None = None

    def __str__(self) -> str:
        return self.message


@dataclass(frozen=True)
class PriceValidation:
    """The outcome of :func:`validate_prices`; ``success`` is False when any failure was found."""

    success: bool
    snapshot_id: str
    previous_snapshot_id: str | None
    rows: int
    failures: tuple[ValidationFailure, ...] = ()
    warnings: tuple[str, ...] = ()
    expectations: tuple[Mapping[str, Any], ...] = field(default=())  # one summary per GX expectation

    def to_dict(self) -> dict[str, Any]:
        return {
            "success": self.success,
            "snapshot_id": self.snapshot_id,
            "previous_snapshot_id": self.previous_snapshot_id,
            "rows": self.rows,
            "failures": [asdict(failure) for failure in self.failures],
            "warnings": list(self.warnings),
            "expectations": [dict(expectation) for expectation in self.expectations],
        }

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, default=_json_default)

    def summary(self) -> str:
        head = (
            f"price validation of {self.snapshot_id or 'the table'} ({self.rows} rows"
            + (f", against {self.previous_snapshot_id}" if self.previous_snapshot_id else "")
            + f"): {'passed' if self.success else f'FAILED with {len(self.failures)} problem(s)'}"
        )
        lines = [head, *(f"  - {failure.message}" for failure in self.failures)]
        lines += [f"  ! {warning}" for warning in self.warnings]
        return "\n".join(lines)


# -- the table -------------------------------------------------------------------------------------------


def _with_checks(frame: pd.DataFrame) -> pd.DataFrame:
    import pandas as pd

    frame = frame.copy()
    for column in ("region", "service", "price_key", "instance_type", "term", "unit", "sku", "usage_type"):
        if column not in frame:
            frame[column] = ""
        frame[column] = frame[column].fillna("").astype(str)
    frame["usd_rate"] = pd.to_numeric(frame["usd_rate"], errors="coerce")
    free = frame["free_tier"] if "free_tier" in frame else pd.Series(False, index=frame.index)
    frame["free_tier"] = free.map(lambda value: value is True or str(value).lower() == "true")
    frame["price_expected"] = frame["price_key"].ne("") & ~frame["free_tier"]
    frame["classified"] = frame["price_key"].ne("")
    bounds = frame["price_key"].map(PLAUSIBLE_USD_RATES)
    frame["plausible_min"] = bounds.map(lambda b: b[0] if isinstance(b, tuple) else math.nan)
    frame["plausible_max"] = bounds.map(lambda b: b[1] if isinstance(b, tuple) else math.nan)
    frame["bounded"] = frame["plausible_min"].notna() & frame["usd_rate"].notna() & ~frame["free_tier"]
    frame["plausible"] = frame["usd_rate"].between(frame["plausible_min"], frame["plausible_max"])
    frame["key_unit"] = frame["price_key"] + "|" + frame["unit"]
    frame["required_key"] = (
        frame["region"] + "|" + frame["price_key"] + "|" + frame["instance_type"] + "|" + frame["term"]
    )
    for column in ("offer_term_code", "rate_code", "begin_range", "purchase_option", "offering_class"):
        if column not in frame:
            frame[column] = ""
        frame[column] = frame[column].fillna("").astype(str)
    frame["rate_identity"] = (
        frame["region"]
        + "|"
        + frame["service"]
        + "|"
        + frame["sku"]
        + "|"
        + frame["term"]
        + "|"
        + frame["offer_term_code"]
        + "|"
        + frame["rate_code"]
        + "|"
        + frame["offering_class"]
        + "|"
        + frame["purchase_option"]
        + "|"
        + frame["begin_range"]
    )
    # the same price listed twice with the same rate is harmless; with different rates it is refused
    repeated = frame.duplicated(subset=["rate_identity", "usd_rate"], keep="first")
    frame["identity_checked"] = frame["term"].ne(TERM_SPOT) & frame["sku"].ne("") & ~repeated
    return frame


def change_frame(current: pd.DataFrame, previous: pd.DataFrame) -> pd.DataFrame:
    """OnDemand, Reserved and Savings Plans prices present in both tables, with old and new rate and their ratio."""
    import pandas as pd

    def priced(frame: pd.DataFrame) -> pd.DataFrame:
        frame = frame[frame["term"].isin([TERM_ON_DEMAND, TERM_RESERVED, TERM_SAVINGS_PLAN])].copy()
        frame["identity"] = price_identity(frame)
        frame["usd_rate"] = pd.to_numeric(frame["usd_rate"], errors="coerce")
        return frame.drop_duplicates("identity", keep="first")

    new, old = priced(current), priced(previous)
    merged = new.merge(
        old[["identity", "usd_rate"]].rename(columns={"usd_rate": "previous_usd_rate"}), on="identity"
    )
    merged = merged[(merged["previous_usd_rate"] > 0) & merged["usd_rate"].notna()].copy()
    merged["change_ratio"] = merged["usd_rate"] / merged["previous_usd_rate"]
    return merged.reset_index(drop=True)


# -- running the checks ----------------------------------------------------------------------------------


def validate_prices(
    table: pd.DataFrame | PricingSnapshot | Sequence[PriceRecord],
    *,
    required: Iterable[RequiredPrice] = (),
    optional_price_keys: Iterable[str] = OPTIONAL_PRICE_KEYS,
    previous: pd.DataFrame | PricingSnapshot | None = None,
    max_change: float = DEFAULT_MAX_CHANGE,
    snapshot_id: str = "",
    previous_snapshot_id: str | None = None,
    spot_points: Sequence[SpotPricePoint] = (),
) -> PriceValidation:
    """Run the price expectations on ``table`` (and, with ``previous``, the ±``max_change`` comparison)."""
    if not max_change > 0:
        raise ValueError(f"max_change={max_change!r}: give the allowed relative change, e.g. 0.5 for ±50%")
    if isinstance(table, PricingSnapshot):
        snapshot_id = snapshot_id or table.snapshot_id
    if isinstance(previous, PricingSnapshot):
        previous_snapshot_id = previous_snapshot_id or previous.snapshot_id
    frame = _with_checks(price_frame(table, spot_points))
    required = tuple(required)
    regions = sorted(set(frame["region"]) | {r.region for r in required})

    units = sorted(f"{key}|{unit}" for key, allowed in PRICE_KEY_UNITS.items() for unit in allowed)
    prices_suite = [
        (
            "not_null",
            {
                "type": "expect_column_values_to_not_be_null",
                "kwargs": {"column": "usd_rate"},
                "meta": {"description": "every price has a USD rate"},
            },
        ),
        (
            "positive",
            {
                "type": "expect_column_values_to_be_between",
                "kwargs": {
                    "column": "usd_rate",
                    "min_value": 0,
                    "strict_min": True,
                    "row_condition": "price_expected==True",
                    "condition_parser": "pandas",
                },
                "meta": {"description": "rates are > 0 wherever a price is expected (free tiers excepted)"},
            },
        ),
        (
            "unit",
            {
                "type": "expect_column_values_to_be_in_set",
                "kwargs": {
                    "column": "key_unit",
                    "value_set": units,
                    "row_condition": "classified==True",
                    "condition_parser": "pandas",
                },
                "meta": {"description": "each price is in a unit its price key is published in"},
            },
        ),
        (
            "plausible",
            {
                "type": "expect_column_values_to_be_in_set",
                "kwargs": {
                    "column": "plausible",
                    "value_set": [True],
                    "row_condition": "bounded==True",
                    "condition_parser": "pandas",
                },
                "meta": {"description": "rates with a plausible range (PLAUSIBLE_USD_RATES) are inside it"},
            },
        ),
        (
            "duplicate",
            {
                "type": "expect_column_values_to_be_unique",
                "kwargs": {
                    "column": "rate_identity",
                    "row_condition": "identity_checked==True",
                    "condition_parser": "pandas",
                },
                "meta": {"description": "no price is published twice with different rates"},
            },
        ),
    ]
    if required:
        prices_suite.append(
            (
                "required",
                {
                    "type": "expect_column_distinct_values_to_contain_set",
                    "kwargs": {"column": "required_key", "value_set": sorted({r.key for r in required})},
                    "meta": {"description": "every required price is present"},
                },
            )
        )
    tables: dict[str, tuple[pd.DataFrame, list[tuple[str, dict]]]] = {_SUITE_PRICES: (frame, prices_suite)}

    changes = None
    if previous is not None:
        changes = change_frame(frame, price_frame(previous))
        if len(changes):
            tables[_SUITE_CHANGES] = (
                changes,
                [
                    (
                        "change",
                        {
                            "type": "expect_column_values_to_be_between",
                            "kwargs": {
                                "column": "change_ratio",
                                "min_value": 1 - max_change,
                                "max_value": 1 + max_change,
                            },
                            "meta": {
                                "description": f"prices moved at most ±{max_change:.0%} since the previous snapshot"
                            },
                        },
                    )
                ],
            )

    results = _run_gx(tables)
    failures: list[ValidationFailure] = []
    summaries: list[dict[str, Any]] = []
    for suite, check, result in results:
        data, _ = tables[suite]
        summaries.append(_summary(suite, check, result))
        if result["success"]:
            continue
        failures += _failures(check, result, data, required, max_change)

    warnings = _warnings(frame, regions, optional_price_keys, required)
    return PriceValidation(
        success=not failures,
        snapshot_id=snapshot_id,
        previous_snapshot_id=previous_snapshot_id,
        rows=len(frame),
        failures=tuple(failures),
        warnings=tuple(warnings),
        expectations=tuple(summaries),
    )


def _failures(
    check: str,
    result: Mapping[str, Any],
    data: pd.DataFrame,
    required: Sequence[RequiredPrice],
    max_change: float,
) -> list[ValidationFailure]:
    details = result.get("result") or {}
    exception = (result.get("exception_info") or {}).get("exception_message")
    if exception:
        return [ValidationFailure(check=check, message=f"{check} check could not run: {exception}")]
    if check == "required":
        present = set(data["required_key"])
        missing = [r for r in required if r.key not in present]
        return [
            ValidationFailure(
                check="required",
                message=f"missing required price: {r} - not in the fetched documents; check the "
                f"get_products filters for {r.price_key} and whether AWS still publishes it",
                region=r.region,
                price_key=r.price_key,
                instance_type=r.instance_type,
            )
            for r in missing
        ]
    failures = []
    seen: set[str] = set()
    for index in details.get("unexpected_index_list") or []:
        row = data.loc[index]
        rate = _float(row.get("usd_rate"))
        name = _row_name(row)
        if check == "not_null":
            message = (
                f"{name}: usd_rate is null; a price the parser could not read must be skipped, not stored"
            )
        elif check == "positive":
            message = (
                f"{name}: usd_rate={_fmt(rate)} USD/{row.get('unit', '')} is not > 0 and the row is not a free tier; "
                "AWS does not publish zero or negative prices for it - the fetch or the document is wrong"
            )
        elif check == "unit":
            expected = PRICE_KEY_UNITS.get(str(row.get("price_key")), ())
            message = f"{name}: published in unit {row.get('unit')!r}, expected one of {list(expected)}"
        elif check == "plausible":
            low, high = PLAUSIBLE_USD_RATES[str(row.get("price_key"))]
            message = (
                f"{name}: usd_rate={_fmt(rate)} USD/{row.get('unit', '')} is outside the plausible range "
                f"{_fmt(low)}-{_fmt(high)} for {row.get('price_key')}; a unit slip or a misread document - "
                "confirm it on the AWS pricing page"
            )
        elif check == "duplicate":
            same = data[(data["rate_identity"] == row["rate_identity"]) & data["identity_checked"]]
            rates = sorted({_fmt(_float(value)) for value in same["usd_rate"]})
            message = (
                f"{name}: sku {row.get('sku')} rate code {row.get('rate_code') or '?'} is published "
                f"{len(same)} times with different usd_rate values ({', '.join(rates)}); the documents "
                "disagree, so none is picked - fetch again or report the Price List document"
            )
        else:  # change
            previous = _float(row.get("previous_usd_rate"))
            pct = (rate / previous - 1) * 100 if rate is not None and previous else float("nan")
            message = (
                f"{name}: usd_rate {_fmt(previous)} -> {_fmt(rate)} ({pct:+.1f}%) moved more than ±{max_change:.0%} "
                "since the previous snapshot; confirm it on the AWS pricing page before accepting it"
            )
        if message in seen:  # a duplicate names every copy of the row: one failure is enough
            continue
        seen.add(message)
        failures.append(
            ValidationFailure(
                check=check,
                message=message,
                region=str(row.get("region", "")),
                service=str(row.get("service", "")),
                price_key=str(row.get("price_key", "")),
                instance_type=str(row.get("instance_type", "")),
                sku=str(row.get("sku", "")),
                usd_rate=rate,
                previous_usd_rate=_float(row.get("previous_usd_rate")) if check == "change" else None,
            )
        )
    return failures


def _warnings(
    frame: pd.DataFrame,
    regions: Sequence[str],
    optional_price_keys: Iterable[str],
    required: Sequence[RequiredPrice],
) -> list[str]:
    warnings = []
    present = set(zip(frame["region"], frame["price_key"], strict=True))
    for region in regions:
        for key in optional_price_keys:
            if (region, key) not in present:
                warnings.append(f"{region}: no {key} price (optional; the cost model leaves that option out)")
    spot = frame[frame["term"] == TERM_SPOT]
    with_spot = set(zip(spot["region"], spot["instance_type"], strict=True))
    for r in required:
        if r.price_key == "ec2.instance" and (r.region, r.instance_type) not in with_spot:
            warnings.append(f"{r.region}: no spot price history for {r.instance_type}")
    zero_unclassified = frame[(frame["price_key"] == "") & (frame["usd_rate"] == 0)]
    if len(zero_unclassified):
        warnings.append(
            f"{len(zero_unclassified)} unclassified row(s) priced at 0 (kept; not used by the cost model)"
        )
    return warnings


def _run_gx(tables: Mapping[str, tuple[pd.DataFrame, list[tuple[str, dict]]]]) -> list[tuple[str, str, dict]]:
    results = validate_tables(
        "pricing",
        {
            suite_name: (frame, {"name": suite_name, "expectations": [config for _, config in expectations]})
            for suite_name, (frame, expectations) in tables.items()
        },
        result_format="COMPLETE",
    )
    out = []
    for (suite_name, (_, expectations)), result in zip(tables.items(), results, strict=True):
        for (check, _), outcome in zip(expectations, result["results"], strict=True):
            out.append((suite_name, check, outcome))
    return out


def _summary(suite: str, check: str, result: Mapping[str, Any]) -> dict[str, Any]:
    details = result.get("result") or {}
    config = result.get("expectation_config") or {}
    return {
        "suite": suite,
        "check": check,
        "expectation": config.get("type"),
        "description": (config.get("meta") or {}).get("description", ""),
        "success": bool(result.get("success")),
        "unexpected_count": details.get("unexpected_count", details.get("missing_count")),
        "element_count": details.get("element_count"),
    }


def _row_name(row: Any) -> str:
    parts = [
        str(row.get("region", "")),
        str(row.get("service", "")),
        str(row.get("price_key") or row.get("usage_type") or ""),
    ]
    if row.get("instance_type"):
        parts.append(str(row["instance_type"]))
    term = str(row.get("term", ""))
    if term == TERM_RESERVED:
        parts.append(
            f"{row.get('lease_contract_length')} {row.get('offering_class')} {row.get('purchase_option')}"
        )
    elif term and term != TERM_ON_DEMAND:
        parts.append(term)
    if row.get("availability_zone"):
        parts.append(str(row["availability_zone"]))
    if str(row.get("begin_range", "")) not in ("", "0"):
        parts.append(f"tier from {row['begin_range']}")
    sku = str(row.get("sku", ""))
    return " ".join(p for p in parts if p) + (f" (sku {sku})" if sku else "")


def _float(value: Any) -> float | None:
    try:
        result = float(value)
    except (TypeError, ValueError):
        return None
    return None if math.isnan(result) else result


def _fmt(value: float | None) -> str:
    return "null" if value is None else f"{value:.10g}"


def _json_default(value: Any) -> Any:
    if hasattr(value, "item"):
        return value.item()
    return str(value)
