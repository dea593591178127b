"""The deployable design of an option: the cheapest one that meets the requirement.

The requirement (:class:`~costing.model.assumptions.ServingAssumptions` ``exposure`` x ``availability``,
offered by :mod:`costing.choices`) is the same for every option; each option builds its own design from
named, priced parts, and every cost line says which part it pays for (:data:`ROLES`):

**front door** - how callers reach the model:

* EC2, Fargate (a fleet in our VPC): *multi-AZ*: an Application Load Balancer enabled in both zones,
  internet-facing for a public service (hours + LCU-hours + one public IPv4 address per zone) or internal
  (hours + LCU-hours). *Single*: none while one instance or task serves - public clients reach its own
  public IPv4 address (TLS on the instance), internal callers its private address - and an ALB again once
  the peak needs more than one.
* SageMaker real-time and serverless: *internal*: InvokeEndpoint through an interface endpoint
  (``runtime.sagemaker``) with a network interface in each zone (AZ-hours + GB). *Public*: an endpoint has
  no public URL, so a 128 MB Lambda function behind its free function URL signs the InvokeEndpoint call and
  waits for the answer (requests + GB-seconds). An API Gateway would cost more for the same thing: an HTTP
  API has no SageMaker integration and would need the same function behind it ($1.00 per 1M requests more),
  a REST API's AWS integration is $3.50 per 1M requests.
* Lambda: *public*: its function URL (free); *internal*: Invoke through an interface endpoint (``lambda``)
  in each zone.
* Cloudflare Workers: *public*: its route (included in the plan); *internal* cannot be met (a Worker runs
  on Cloudflare's network, not in the VPC).

**egress** - image pulls at each deploy, log delivery and metrics from a fleet in our VPC (EC2, Fargate;
the managed platforms need none): the cheapest of a public IPv4 address per instance or task (public
designs only: an internal service holds no public address), a NAT gateway (hours + GB + its public IPv4;
left out with ``use_nat_gateway=False``) and interface endpoints for ECR, CloudWatch Logs and CloudWatch in
each zone (:data:`~costing.model.assumptions.FLEET_EGRESS_INTERFACE_ENDPOINTS`; AZ-hours + GB).

**compute** - instances or tasks: at least one per zone (2 for multi-AZ, 1 for single;
``min_instances`` overrides), more when the peak needs them. Lambda and SageMaker serverless are
AWS-managed across the region's zones whichever availability is asked for.

**commitment owed** - a reserved or Savings Plans term that outlasts the horizon and may be left there:
what it still owes at the horizon, spread over the horizon's months (:mod:`costing.model.commitments`).

**logs and metrics** (CloudWatch), **data transfer out** (public designs only: an internal service's
answers stay in the VPC; the cross-AZ transfer between callers and a multi-AZ service, $0.01 per GB each
way, is left out and said so) and **model storage** (S3) complete every design.

A choice that depends on the volume (the egress, an ALB for a single-zone fleet that outgrows one
instance) is made per evaluation, so the Monte Carlo's samples each get their cheapest design, and the
scalar and vectorised models agree.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from costing.model import billing
from costing.model import capacity as inference
from costing.model.assumptions import (
    FLEET_EGRESS_INTERFACE_ENDPOINTS,
    LAMBDA_BILLING_GRANULARITY_MS,
    LAMBDA_PLATFORM_LOG_BYTES_PER_REQUEST,
    PROXY_FUNCTION_MEMORY_MB,
    ServingAssumptions,
)
from costing.model.capacity import Number
from costing.model.commitments import COMMITMENT_OWED
from costing.model.drivers import Drivers, Line, MissingRate, sheet_rate, sheet_tiers
from costing.pricing.sheet import PriceSheet, PriceTier
from costing.units import BYTES_PER_GB, HOURS_PER_MONTH


class OptionPlan(Protocol):
    """What a design part needs of the plan it prices (:class:`costing.model.platforms.base.OptionPlan`)."""

    def _price(self, usd: float, drivers: Drivers) -> Number: ...

    def _requests_per_month(self, drivers: Drivers) -> Number: ...

    def _tiered_lines(
        self,
        drivers: Drivers,
        name: str,
        service: str,
        unit: str,
        quantity: Number,
        tiers: Sequence[PriceTier],
        *,
        role: str = ...,
        choice: str = ...,
    ) -> list[Line]: ...


FRONT_DOOR = "front door"
COMPUTE = "compute"
EGRESS = "egress"
OBSERVABILITY = "logs and metrics"
TRANSFER = "data transfer out"
STORAGE = "model storage"
# a reserved or Savings Plans term that outlasts the horizon: what it still owes there (costing.model.commitments)
COMMITMENT = COMMITMENT_OWED
ROLES: tuple[str, ...] = (FRONT_DOOR, COMPUTE, COMMITMENT, EGRESS, OBSERVABILITY, TRANSFER, STORAGE)

INTERNAL_TRANSFER = (
    "none to the internet: answers stay in the VPC (cross-AZ transfer between callers and the service, "
    "$0.01 per GB each way, left out)"
)


def _is_array(value: Number) -> bool:
    import numpy as np

    return isinstance(value, np.ndarray)


def when(condition: Number, lines: list[Line]) -> list[Line]:
    """``lines`` where ``condition`` holds: all or nothing for a scalar; for an array, each sample's
    quantities are kept or zeroed (and a line that is zero at the nominal inputs is left out)."""
    if not _is_array(condition):
        return lines if bool(condition) else []
    import numpy as np

    keep = np.asarray(condition, dtype=float)
    return [line._replace(quantity=line.quantity * keep, optional=True) for line in lines]


def cheapest(candidates: Sequence[list[Line]]) -> list[Line]:
    """The lines of the cheapest candidate (the first on a tie); per sample when the costs are arrays."""
    totals = [sum((line.usd_per_month for line in lines), 0.0) for lines in candidates]
    if not any(_is_array(total) for total in totals):
        best = min(range(len(candidates)), key=lambda index: float(totals[index]))
        return list(candidates[best])
    import numpy as np

    best = np.argmin(np.stack(np.broadcast_arrays(*totals)), axis=0)
    return [line for index, lines in enumerate(candidates) for line in when(best == index, lines)]


def _hourly(
    plan: OptionPlan,
    drivers: Drivers,
    name: str,
    service: str,
    count: float,
    usd: float,
    role: str,
    choice: str,
    unit: str = "hours",
) -> Line:
    return Line(
        name, service, unit, count * HOURS_PER_MONTH, plan._price(usd, drivers), role=role, choice=choice
    )


# -- front doors -------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class FrontDoor:
    """How callers reach the model; ``fallback`` names the part when it has no cost line."""

    fallback: str
    log_bytes_per_request: float = 0.0  # log lines the front door itself writes per request

    def lines(self, plan: OptionPlan, drivers: Drivers, *, units: Number, seconds: Number) -> list[Line]:
        """Its cost lines for ``units`` instances answering in ``seconds`` (mean) per request."""
        return []


@dataclass(frozen=True)
class LoadBalancer(FrontDoor):
    """An Application Load Balancer: always for a multi-AZ fleet, for a single-zone one only when it
    runs more than one instance (``shared_only``)."""

    internet_facing: bool = True
    usd_per_hour: float = 0.0
    usd_per_lcu_hour: float = 0.0
    public_ipv4_usd_per_hour: float = 0.0
    zones: int = (
        2  # an ALB is enabled in at least two zones, each holding a public address if internet-facing
    )
    shared_only: bool = False
    request_bytes: float = 0.0  # in + out per request (LCU)

    @property
    def choice(self) -> str:
        return "internet-facing ALB" if self.internet_facing else "internal ALB"

    def lines(self, plan: OptionPlan, drivers: Drivers, *, units: Number, seconds: Number) -> list[Line]:
        mean_rps = inference.mean_requests_per_second(drivers.requests_per_day)
        lcu = inference.alb_lcu_per_hour(mean_rps, seconds, self.request_bytes)
        lines = [
            _hourly(
                plan,
                drivers,
                "Application Load Balancer",
                "AWSELB",
                1.0,
                self.usd_per_hour,
                FRONT_DOOR,
                self.choice,
            ),
            Line(
                "ALB capacity units",
                "AWSELB",
                "LCU-hours",
                lcu * HOURS_PER_MONTH,
                plan._price(self.usd_per_lcu_hour, drivers),
                role=FRONT_DOOR,
                choice=self.choice,
            ),
        ]
        if self.internet_facing:
            lines.append(
                _hourly(
                    plan,
                    drivers,
                    f"Public IPv4 addresses of the ALB (one per zone, x{self.zones})",
                    "AmazonVPC",
                    float(self.zones),
                    self.public_ipv4_usd_per_hour,
                    FRONT_DOOR,
                    self.choice,
                    unit="address-hours",
                )
            )
        return when(units > 1, lines) if self.shared_only else lines


def load_balancer(sheet: PriceSheet, a: ServingAssumptions) -> LoadBalancer:
    """The ALB a fleet in our VPC needs (raises :class:`MissingRate`)."""
    fallback = (
        "none: clients reach the instance's own public IPv4 address (TLS on the instance)"
        if a.public
        else "none: callers reach the instance's private address"
    )
    return LoadBalancer(
        fallback=fallback,
        internet_facing=a.public,
        usd_per_hour=sheet_rate(sheet, "alb_usd_per_hour"),
        usd_per_lcu_hour=sheet_rate(sheet, "alb_usd_per_lcu_hour"),
        public_ipv4_usd_per_hour=sheet_rate(sheet, "public_ipv4_usd_per_hour") if a.public else 0.0,
        zones=a.alb_availability_zones,
        shared_only=not a.multi_az,
        request_bytes=a.request_bytes + a.response_bytes,
    )


@dataclass(frozen=True)
class FunctionUrl(FrontDoor):
    """A Lambda function URL: a public HTTPS endpoint at no charge (a $0 line, so the design shows it)."""

    def lines(self, plan: OptionPlan, drivers: Drivers, *, units: Number, seconds: Number) -> list[Line]:
        requests = plan._requests_per_month(drivers) / 1e6
        return [
            Line(
                "Lambda function URL (no charge)",
                "AWSLambda",
                "1M requests",
                requests,
                0.0,
                role=FRONT_DOOR,
                choice="Lambda function URL",
            )
        ]


@dataclass(frozen=True)
class ProxyFunction(FrontDoor):
    """A small Lambda function behind its (free) function URL that signs the InvokeEndpoint call and
    waits for the endpoint's answer: requests + GB-seconds of its memory for the endpoint's latency."""

    usd_per_million_requests: float = 0.0
    gb_second_tiers: tuple[PriceTier, ...] = ()
    memory_mb: float = PROXY_FUNCTION_MEMORY_MB
    choice: str = "Lambda function URL + proxy function"

    def lines(self, plan: OptionPlan, drivers: Drivers, *, units: Number, seconds: Number) -> list[Line]:
        requests = plan._requests_per_month(drivers)
        billed_ms = billing.expected_billed_ms(seconds * 1000.0, LAMBDA_BILLING_GRANULARITY_MS)
        return [
            Line(
                "Proxy function requests",
                "AWSLambda",
                "1M requests",
                requests / 1e6,
                plan._price(self.usd_per_million_requests, drivers),
                role=FRONT_DOOR,
                choice=self.choice,
            ),
            *plan._tiered_lines(
                drivers,
                f"Proxy function compute ({self.memory_mb:,.0f} MB x the endpoint's latency)",
                "AWSLambda",
                "GB-seconds",
                inference.gb_seconds(requests, billed_ms, self.memory_mb),
                self.gb_second_tiers,
                role=FRONT_DOOR,
                choice=self.choice,
            ),
        ]


def proxy_function(sheet: PriceSheet) -> ProxyFunction:
    """The public front door of a SageMaker endpoint (raises :class:`MissingRate`)."""
    return ProxyFunction(
        fallback="",
        log_bytes_per_request=LAMBDA_PLATFORM_LOG_BYTES_PER_REQUEST,
        usd_per_million_requests=sheet_rate(sheet, "lambda_usd_per_million_requests"),
        gb_second_tiers=sheet_tiers(sheet, "lambda_x86_gb_seconds"),
    )


@dataclass(frozen=True)
class InterfaceEndpoint(FrontDoor):
    """An interface endpoint (AWS PrivateLink) to an AWS API, with a network interface in each zone:
    AZ-hours + GB processed (requests in, answers out)."""

    service: str = ""  # "runtime.sagemaker", "lambda"
    zones: int = 1
    usd_per_hour: float = 0.0
    data_tiers: tuple[PriceTier, ...] = ()
    request_bytes: float = 0.0  # in + out per request

    @property
    def choice(self) -> str:
        return f"interface endpoint ({self.service}) in {self.zones} zone{'s' if self.zones > 1 else ''}"

    def lines(self, plan: OptionPlan, drivers: Drivers, *, units: Number, seconds: Number) -> list[Line]:
        gb = plan._requests_per_month(drivers) * self.request_bytes / BYTES_PER_GB
        return [
            _hourly(
                plan,
                drivers,
                f"Interface endpoint {self.service} (x{self.zones} zones)",
                "AmazonVPC",
                float(self.zones),
                self.usd_per_hour,
                FRONT_DOOR,
                self.choice,
                unit="endpoint-hours",
            ),
            *plan._tiered_lines(
                drivers,
                f"Interface endpoint {self.service}: data processed",
                "AmazonVPC",
                "GB",
                gb,
                self.data_tiers,
                role=FRONT_DOOR,
                choice=self.choice,
            ),
        ]


def interface_endpoint(sheet: PriceSheet, a: ServingAssumptions, service: str) -> InterfaceEndpoint:
    """The private way in to an AWS API for callers inside the VPC (raises :class:`MissingRate`)."""
    return InterfaceEndpoint(
        fallback="",
        service=service,
        zones=a.availability_zones,
        usd_per_hour=sheet_rate(sheet, "vpc_endpoint_usd_per_hour"),
        data_tiers=sheet_tiers(sheet, "vpc_endpoint_data"),
        request_bytes=a.request_bytes + a.response_bytes,
    )


# -- egress of a fleet in our VPC --------------------------------------------------------------------------

PUBLIC_ADDRESSES = "a public IPv4 address per instance or task"
NAT_GATEWAY = "NAT gateway"
ENDPOINTS = "interface endpoints (ECR, CloudWatch Logs, CloudWatch)"


@dataclass(frozen=True)
class FleetEgress:
    """The candidates for a fleet's egress and their rates; ``None`` leaves a candidate out."""

    public_ipv4_usd_per_hour: float | None  # public designs only
    nat_usd_per_hour: float | None
    nat_usd_per_gb: float = 0.0
    nat_gateways: int = 1
    nat_public_ipv4_usd_per_hour: float = 0.0
    endpoint_usd_per_hour: float | None = None
    endpoint_data_tiers: tuple[PriceTier, ...] = ()
    endpoints: tuple[str, ...] = FLEET_EGRESS_INTERFACE_ENDPOINTS
    zones: int = 1
    left_out: tuple[str, ...] = ()  # candidates left out, and why

    def lines(self, plan: OptionPlan, drivers: Drivers, *, units: Number, gb: Number) -> list[Line]:
        """The cheapest candidate's lines for ``units`` instances moving ``gb`` a month."""
        candidates = []
        if self.public_ipv4_usd_per_hour is not None:
            candidates.append(
                [
                    Line(
                        "Public IPv4 addresses (one per instance or task)",
                        "AmazonVPC",
                        "address-hours",
                        units * HOURS_PER_MONTH,
                        plan._price(self.public_ipv4_usd_per_hour, drivers),
                        role=EGRESS,
                        choice=PUBLIC_ADDRESSES,
                    )
                ]
            )
        if self.nat_usd_per_hour is not None:
            candidates.append(
                [
                    _hourly(
                        plan,
                        drivers,
                        "NAT gateway",
                        "AmazonVPC",
                        float(self.nat_gateways),
                        self.nat_usd_per_hour,
                        EGRESS,
                        NAT_GATEWAY,
                    ),
                    Line(
                        "NAT gateway data processed (image pulls, logs)",
                        "AmazonVPC",
                        "GB",
                        gb,
                        plan._price(self.nat_usd_per_gb, drivers),
                        role=EGRESS,
                        choice=NAT_GATEWAY,
                    ),
                    _hourly(
                        plan,
                        drivers,
                        f"Public IPv4 address of the NAT gateway (x{self.nat_gateways})",
                        "AmazonVPC",
                        float(self.nat_gateways),
                        self.nat_public_ipv4_usd_per_hour,
                        EGRESS,
                        NAT_GATEWAY,
                        unit="address-hours",
                    ),
                ]
            )
        if self.endpoint_usd_per_hour is not None:
            count = len(self.endpoints) * self.zones
            candidates.append(
                [
                    _hourly(
                        plan,
                        drivers,
                        f"Interface endpoints {', '.join(self.endpoints)} (x{self.zones} zones)",
                        "AmazonVPC",
                        float(count),
                        self.endpoint_usd_per_hour,
                        EGRESS,
                        ENDPOINTS,
                        unit="endpoint-hours",
                    ),
                    *plan._tiered_lines(
                        drivers,
                        "Interface endpoints: data processed (image pulls, logs)",
                        "AmazonVPC",
                        "GB",
                        gb,
                        self.endpoint_data_tiers,
                        role=EGRESS,
                        choice=ENDPOINTS,
                    ),
                ]
            )
        return cheapest(candidates)


def _optional_rate(sheet: PriceSheet, name: str, left_out: list[str], what: str) -> float | None:
    try:
        return sheet_rate(sheet, name)
    except MissingRate as exc:
        left_out.append(f"{what} not considered: {exc}")
        return None


def fleet_egress(sheet: PriceSheet, a: ServingAssumptions) -> FleetEgress:
    """A fleet's egress candidates under the requirement (raises :class:`MissingRate` when none is left)."""
    left_out: list[str] = []
    ipv4 = sheet_rate(sheet, "public_ipv4_usd_per_hour") if a.public else None
    nat = nat_gb = None
    if a.use_nat_gateway:
        nat = _optional_rate(sheet, "nat_gateway_usd_per_hour", left_out, "a NAT gateway")
        nat_gb = _optional_rate(sheet, "nat_gateway_usd_per_gb", left_out, "a NAT gateway") if nat else None
        nat_ipv4 = (
            _optional_rate(sheet, "public_ipv4_usd_per_hour", left_out, "a NAT gateway") if nat_gb else None
        )
        if nat_ipv4 is None:
            nat = None
    endpoint = _optional_rate(sheet, "vpc_endpoint_usd_per_hour", left_out, "interface endpoints")
    tiers = sheet.tiers("vpc_endpoint_data") if endpoint is not None else ()
    if endpoint is not None and not tiers:
        left_out.append(
            f"interface endpoints not considered: price sheet {sheet.snapshot_id} has no "
            "vpc_endpoint_usd_per_gb"
        )
        endpoint = None
    if ipv4 is None and nat is None and endpoint is None:
        raise MissingRate(
            f"no way out of the VPC for image pulls and logs in price sheet {sheet.snapshot_id} ({sheet.region}): "
            + "; ".join(
                left_out or ["an internal design holds no public address and no NAT gateway is allowed"]
            )
        )
    return FleetEgress(
        public_ipv4_usd_per_hour=ipv4,
        nat_usd_per_hour=nat,
        nat_usd_per_gb=nat_gb or 0.0,
        nat_gateways=a.nat_gateways,
        nat_public_ipv4_usd_per_hour=float(sheet.public_ipv4_usd_per_hour or 0.0),
        endpoint_usd_per_hour=endpoint,
        endpoint_data_tiers=tiers,
        zones=a.availability_zones,
        left_out=tuple(left_out),
    )


def placement(a: ServingAssumptions) -> str:
    """Where a fleet's instances or tasks run under the requirement."""
    return f"across {a.availability_zones} zones" if a.multi_az else "in one zone"


def vpc_fleet_design(sheet: PriceSheet, a: ServingAssumptions) -> tuple[LoadBalancer, FleetEgress]:
    """The front door and the egress candidates of a fleet in our VPC (raises :class:`MissingRate`)."""
    return load_balancer(sheet, a), fleet_egress(sheet, a)
