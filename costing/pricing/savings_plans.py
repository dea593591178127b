"""Savings Plans rates: AWS's successor to reserved instances, from the Price List's Savings Plans offer files.

AWS publishes them as the Price List service ``AWSComputeSavingsPlan`` (bulk files under
``/savingsPlan/v1.0/aws/AWSComputeSavingsPlan/``), one document per region::

    {"version": ..., "publicationDate": ..., "regionCode": "us-east-1",
     "products": [{"sku": ..., "productFamily": "ComputeSavingsPlans" | "EC2InstanceSavingsPlans",
                   "usageType": "ComputeSP:1yrNoUpfront", "attributes": {"purchaseTerm": "1yr",
                   "purchaseOption": "No Upfront", "instanceType": "m5" (EC2 Instance plans), ...}}],
     "terms": {"savingsPlan": [{"sku": ..., "effectiveDate": ..., "leaseContractLength":
               {"duration": 1, "unit": "year"}, "rates": [{"discountedServiceCode": "AmazonEC2",
               "discountedUsageType": "BoxUsage:m5.large", "discountedOperation": "RunInstances",
               "rateCode": ..., "unit": "Hrs", "discountedRate": {"price": "0.062", "currency": "USD"}}]}]}}

Each rate is what one hour of the discounted usage costs under the plan, the plan's upfront part
already spread over its term (the amortised effective rate). :func:`parse_savings_plans` keeps the
Linux shared-tenancy EC2 instance rates (``RunInstances`` on ``BoxUsage:<type>``) as
:class:`~costing.pricing.parse.PriceRecord` rows of term ``SavingsPlan`` (``offering_class`` is the
plan type), so they travel in ``prices.csv`` like every other price. Nothing here talks to AWS.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from typing import Any

from costing.pricing.defaults import (
    EC2_CAPACITY_STATUS,
    EC2_OPERATING_SYSTEM,
    EC2_PRE_INSTALLED_SW,
    EC2_SERVICE_CODE,
    EC2_TENANCY,
)
from costing.pricing.parse import ParseIssue, PriceRecord, usage_type_without_region

SAVINGS_PLANS_SERVICE_CODE = "AWSComputeSavingsPlan"
TERM_SAVINGS_PLAN = "SavingsPlan"
SAVINGS_PLAN_TYPES = {"ComputeSavingsPlans": "Compute", "EC2InstanceSavingsPlans": "EC2Instance"}
PLAN_TYPES = tuple(SAVINGS_PLAN_TYPES.values())
LINUX_OPERATION = "RunInstances"  # RunInstances:0002 is Windows, :0010 RHEL, ...


def savings_plan_key(plan_type: str, lease: str, purchase_option: str) -> str:
    """The key of :attr:`InstanceRates.savings_plan_usd_per_hour`: ``"Compute/1yr/No Upfront"``."""
    return f"{plan_type}/{lease}/{purchase_option}"


def parse_savings_plans(
    document: Mapping[str, Any],
    *,
    region: str,
    instance_types: Iterable[str] | None = None,
    issues: list[ParseIssue] | None = None,
) -> list[PriceRecord]:
    """Linux shared-tenancy EC2 instance rates of every Savings Plan in one region's offer document."""
    collected: list[ParseIssue] = []
    wanted = set(instance_types) if instance_types is not None else None
    document_region = document.get("regionCode")
    if document_region and document_region != region:
        raise ValueError(
            f"Savings Plans document for region {region!r} is for {document_region!r}; "
            "read each region's offer file on its own"
        )
    products = {str(p.get("sku", "")): p for p in document.get("products") or [] if isinstance(p, Mapping)}
    terms = (document.get("terms") or {}).get("savingsPlan") or []
    records: list[PriceRecord] = []
    for term in terms:
        sku = str(term.get("sku", ""))
        product = products.get(sku)
        if product is None:
            collected.append(ParseIssue(region, sku, "Savings Plans term without a product; skipped"))
            continue
        plan_type = SAVINGS_PLAN_TYPES.get(str(product.get("productFamily", "")))
        if plan_type is None:
            continue  # e.g. SageMaker Savings Plans
        attributes = product.get("attributes") or {}
        lease = _lease(term, attributes)
        option = str(attributes.get("purchaseOption", ""))
        if lease is None or not option:
            collected.append(
                ParseIssue(
                    region,
                    sku,
                    f"Savings Plan without a 1yr/3yr term or purchase option ({lease}, {option!r})",
                )
            )
            continue
        for rate in term.get("rates") or []:
            record = _rate_record(
                rate,
                sku=sku,
                region=region,
                plan=(plan_type, lease, option),
                term=term,
                product=product,
                issues=collected,
            )
            if record is not None and (wanted is None or record.instance_type in wanted):
                records.append(record)
    if issues is not None:
        issues.extend(collected)
    return records


def _lease(term: Mapping[str, Any], attributes: Mapping[str, Any]) -> str | None:
    length = term.get("leaseContractLength") or {}
    duration, unit = length.get("duration"), str(length.get("unit", "")).lower()
    if duration is not None and unit.startswith("year"):
        lease = f"{int(duration)}yr"
    else:
        lease = str(attributes.get("purchaseTerm", ""))
    return lease if lease in ("1yr", "3yr") else None


def _rate_record(
    rate: Mapping[str, Any],
    *,
    sku: str,
    region: str,
    plan: tuple[str, str, str],
    term: Mapping[str, Any],
    product: Mapping[str, Any],
    issues: list[ParseIssue],
) -> PriceRecord | None:
    if (
        rate.get("discountedServiceCode") != EC2_SERVICE_CODE
        or rate.get("discountedOperation") != LINUX_OPERATION
    ):
        return None
    usage_type = str(rate.get("discountedUsageType", ""))
    bare = usage_type_without_region(usage_type)
    if not bare.startswith("BoxUsage:"):
        return None  # dedicated hosts and instances, unused reservations
    instance_type = bare.split(":", 1)[1]
    price = rate.get("discountedRate") or {}
    currency = str(price.get("currency", ""))
    if currency != "USD":
        issues.append(
            ParseIssue(
                region,
                sku,
                f"Savings Plan rate {rate.get('rateCode', '?')} for {instance_type} is priced in "
                f"{currency or 'no currency'} ({price.get('price')!r}), not USD: this project prices in USD; skipped",
                blocking=True,
            )
        )
        return None
    try:
        usd = float(price.get("price"))
    except (TypeError, ValueError):
        usd = math.nan
    if not math.isfinite(usd) or usd < 0:
        issues.append(
            ParseIssue(
                region,
                sku,
                f"Savings Plan rate for {instance_type} has price {price.get('price')!r}; skipped",
            )
        )
        return None
    plan_type, lease, option = plan
    return PriceRecord(
        service=SAVINGS_PLANS_SERVICE_CODE,
        sku=sku,
        region=region,
        instance_type=instance_type,
        usage_type=usage_type,
        operating_system=EC2_OPERATING_SYSTEM,
        tenancy=EC2_TENANCY,
        pre_installed_sw=EC2_PRE_INSTALLED_SW,
        capacity_status=EC2_CAPACITY_STATUS,
        availability_zone="",
        term=TERM_SAVINGS_PLAN,
        unit=str(rate.get("unit", "")),
        usd_rate=usd,
        recurring_usd_rate=usd,
        upfront_usd=0.0,
        lease_contract_length=lease,
        offering_class=plan_type,
        purchase_option=option,
        offer_term_code=str(product.get("usageType", "")),
        rate_code=str(rate.get("rateCode", "")),
        effective_date=str(term.get("effectiveDate", "")),
        zero_price=usd == 0,
        product_family=str(product.get("productFamily", "")),
        price_key="ec2.savings_plan",
    )
