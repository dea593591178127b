"""Every assumption the cost model makes that is not a price, in one place.

Two kinds of constants live here:

* **Platform facts** (module-level constants): limits and billing rules published by AWS or
  Cloudflare, with the page they come from. They change rarely; when they do, change them here.
* **Modelling choices** (:class:`ServingAssumptions`, :class:`TrainingAssumptions`): numbers a user
  may reasonably want to change (traffic shape, SLO, layout of the network). Both are frozen
  dataclasses with a default and one comment per field; the CLI and the DAGs override fields with
  :func:`dataclasses.replace`.

Prices are never here: they come from the :class:`~costing.pricing.sheet.PriceSheet`.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from costing.choices import (
    AVAILABILITIES,
    AVAILABILITY_MULTI_AZ,
    COMMITMENT_USE_FULL_TERM,
    COMMITMENT_USES,
    DEFAULT_AVAILABILITY,
    DEFAULT_COMMITMENT_USE,
    DEFAULT_EXPOSURE,
    DEFAULT_HORIZON_MONTHS,
    EXPOSURE_PUBLIC,
    EXPOSURES,
    MAX_HORIZON_MONTHS,
    MIN_HORIZON_MONTHS,
)
from costing.choices import DEFAULT_RETRAIN_CADENCE as DEFAULT_RETRAIN_CADENCE  # re-exported
from costing.units import DAYS_PER_YEAR, WEEKS_PER_YEAR

DEFAULT_SCENARIOS_REQUESTS_PER_DAY: tuple[float, ...] = (100.0, 10_000.0, 1_000_000.0)
# Bounds of the questions the model answers: beyond them the arithmetic overflows or the answer means
# nothing (10 billion requests a day is ~116,000 requests/s on average). The horizon's bounds
# (MIN_HORIZON_MONTHS, MAX_HORIZON_MONTHS) and default are costing.choices' (the trigger forms offer them).
MAX_REQUESTS_PER_DAY = 1e10
SCENARIO_NAMES = {100.0: "low", 10_000.0: "medium", 1_000_000.0: "high"}

# -- retraining cadence ----------------------------------------------------------------------------------
RETRAIN_CADENCES_RUNS_PER_MONTH = {
    "daily": DAYS_PER_YEAR / 12.0,  # 30.42
    "weekly": WEEKS_PER_YEAR / 12.0,  # 4.333
    "monthly": 1.0,
}

# -- AWS Lambda (docs.aws.amazon.com/lambda/latest/dg/configuration-memory.html) --------------------------
LAMBDA_MIN_MEMORY_MB = 128
LAMBDA_MAX_MEMORY_MB = 10_240
LAMBDA_MB_PER_VCPU = 1_769.0  # "at 1,769 MB, a function has the equivalent of one vCPU"
LAMBDA_BILLING_GRANULARITY_MS = 1.0  # duration is rounded up to the nearest millisecond
# Our floor, not AWS's: a Python + torch runtime with the model loaded needs well over 512 MB.
LAMBDA_MEMORY_FLOOR_MB = 1_024
# START/END/REPORT lines Lambda writes to CloudWatch Logs for every invocation (~260 bytes together).
LAMBDA_PLATFORM_LOG_BYTES_PER_REQUEST = 260.0
LAMBDA_DEFAULT_CONCURRENCY_LIMIT = 1_000  # per account and region, raisable

# -- SageMaker serverless inference (docs.aws.amazon.com/sagemaker/latest/dg/serverless-endpoints.html) ---
SAGEMAKER_SERVERLESS_MEMORY_MB: tuple[int, ...] = (1024, 2048, 3072, 4096, 5120, 6144)
SAGEMAKER_SERVERLESS_MAX_CONCURRENCY = 200  # per endpoint
# AWS does not publish the vCPU share of a serverless endpoint; we assume Lambda's (1,769 MB per vCPU).
SAGEMAKER_SERVERLESS_MB_PER_VCPU = LAMBDA_MB_PER_VCPU

# -- cold starts of the per-request platforms (costing.model.cold_starts) ----------------------------------


@dataclass(frozen=True)
class KeepWarm:
    """What a per-request platform does with a started execution environment. AWS publishes none of it:
    each number is a public measurement or an estimate, with its source and the date it was checked."""

    idle_seconds: float  # an environment idle this long is reclaimed: the next request starts cold
    platform_init_seconds: float  # the platform's own start before our handler runs (micro-VM, image, model)
    init_billed: bool  # the cold start's init (our handler's import and load) is billed as duration
    source: str
    as_of: str  # ISO date the assumption was last checked


LAMBDA_KEEP_WARM = KeepWarm(
    idle_seconds=600.0,
    platform_init_seconds=1.0,
    init_billed=True,
    source=(
        "idle 10 min: 'every instance lives for precisely 10 minutes after the last request' (M. Shilkov, "
        "mikhail.io/2019/08/aws-lambda-cold-starts-after-10-minutes, measured July-August 2019); 45-60 min "
        "in June 2017 (Y. Cui, theburningmonk.com); practitioners quote 5-15 min (2026); AWS publishes none. "
        "Platform init 1 s for a ~1 GB container image with torch, before our process starts (container "
        "images add 0.1-0.3 s with cached layers, 1-3 s on a first pull: practitioners' figures, 2026). Init "
        "billed: a container image's INIT phase always was, and every function's is since 1 August 2025 "
        "(AWS Compute Blog, 'AWS Lambda standardizes billing for INIT phase', April 2025)"
    ),
    as_of="2026-12-07",
)
SAGEMAKER_SERVERLESS_KEEP_WARM = KeepWarm(
    idle_seconds=600.0,
    platform_init_seconds=2.0,
    init_billed=False,
    source=(
        "idle 10 min: AWS publishes none; serverless endpoints run on Lambda's infrastructure ('Serverless "
        "Inference integrates with AWS Lambda', SageMaker developer guide), so Lambda's is assumed. Platform "
        "init 2 s: the endpoint provisions compute, pulls the container image and downloads the model from S3 "
        "before our server starts (AWS's provisioned-concurrency launch post, May 2023, measured about 6 s "
        "on demand for a larger Hugging Face model). Not billed: serverless inference bills the compute used "
        "to process requests, by the millisecond (SageMaker pricing page)"
    ),
    as_of="2026-12-07",
)
# The keep-warm ping: a schedule invokes the function every this many minutes, half the idle time above
# (the usual choice; serverless-plugin-warmup's default is 5 min); its handler answers without the model.
KEEP_WARM_PING_MINUTES = 5.0
KEEP_WARM_PING_BILLED_MS = 10.0  # billed duration of one ping (a few ms of Python, rounded up generously)
# The small function that pings a SageMaker serverless endpoint (InvokeEndpoint) from the schedule.
KEEP_WARM_PINGER_MEMORY_MB = 128
# What a cold start adds to our handler when metrics.json has no cold_start section (runs before schema v3,
# the reference metrics): one place for the default, labelled wherever it is used.
DEFAULT_COLD_START_ADDED_SECONDS = 1.4
DEFAULT_COLD_START_SOURCE = (
    "a fresh process importing torch and loading this repo's default model, measured on a 2-core x86 VM in "
    "December 2026 (issue 19: server ready in 1.6 s, 1.4 s of it import and load); `python -m rnn coldstart` "
    "measures it for a model"
)

# -- ECS on Fargate (docs.aws.amazon.com/AmazonECS/latest/developerguide/fargate-tasks-services.html) -----
# Allowed task sizes: vCPU -> memory choices in GB.
FARGATE_TASK_SIZES: dict[float, tuple[float, ...]] = {
    0.25: (0.5, 1.0, 2.0),
    0.5: (1.0, 2.0, 3.0, 4.0),
    1.0: tuple(float(gb) for gb in range(2, 9)),
    2.0: tuple(float(gb) for gb in range(4, 17)),
    4.0: tuple(float(gb) for gb in range(8, 31)),
    8.0: tuple(float(gb) for gb in range(16, 61, 4)),
    16.0: tuple(float(gb) for gb in range(32, 121, 8)),
}

# -- Application Load Balancer LCU (aws.amazon.com/elasticloadbalancing/pricing/) -------------------------
# One LCU per hour buys, whichever dimension is highest: 25 new connections/s, 3,000 active connections
# per minute, 1 GB processed per hour (EC2/IP targets), 1,000 rule evaluations/s (first 10 rules free).
ALB_NEW_CONNECTIONS_PER_S_PER_LCU = 25.0
ALB_ACTIVE_CONNECTIONS_PER_MIN_PER_LCU = 3_000.0
ALB_GB_PER_HOUR_PER_LCU = 1.0

# -- EC2 burstable instances (docs.aws.amazon.com/AWSEC2/latest/UserGuide/burstable-credits-baseline-concepts.html)
# Baseline CPU utilisation per vCPU; a fleet whose *average* load per instance exceeds it pays for
# surplus credits (unlimited mode) or is throttled (standard mode). The model sizes so it does not.
BURSTABLE_BASELINE_UTILISATION: dict[str, float] = {
    "t2.nano": 0.05,
    "t2.micro": 0.10,
    "t2.small": 0.20,
    "t2.medium": 0.20,
    "t2.large": 0.30,
    "t2.xlarge": 0.225,
    "t2.2xlarge": 0.17,
    "ml.t2.medium": 0.20,
    "ml.t2.large": 0.30,
    "ml.t2.xlarge": 0.225,
    "ml.t2.2xlarge": 0.17,
    "t3.nano": 0.05,
    "t3.micro": 0.10,
    "t3.small": 0.20,
    "t3.medium": 0.20,
    "t3.large": 0.30,
    "t3.xlarge": 0.40,
    "t3.2xlarge": 0.40,
    "t3a.nano": 0.05,
    "t3a.micro": 0.10,
    "t3a.small": 0.20,
    "t3a.medium": 0.20,
    "t3a.large": 0.30,
    "t3a.xlarge": 0.40,
    "t3a.2xlarge": 0.40,
    "t4g.nano": 0.05,
    "t4g.micro": 0.10,
    "t4g.small": 0.20,
    "t4g.medium": 0.20,
    "t4g.large": 0.30,
    "t4g.xlarge": 0.40,
    "t4g.2xlarge": 0.40,
}

# -- the deployable design (costing.model.platforms.design) ------------------------------------------------
# A multi-AZ service runs in two availability zones: at least one instance or task in each, an ALB enabled
# in both, interface endpoints with a network interface in both.
MULTI_AZ_ZONES = 2
# Interface endpoints (AWS PrivateLink) a fleet in private subnets needs when it has no NAT gateway: image
# pulls (ECR API and Docker registry; the layers come from S3 through its free gateway endpoint), log
# delivery (CloudWatch Logs) and custom metrics (CloudWatch). Each is billed per AZ-hour and per GB.
FLEET_EGRESS_INTERFACE_ENDPOINTS: tuple[str, ...] = ("ecr.api", "ecr.dkr", "logs", "monitoring")
# A SageMaker endpoint has no public HTTPS URL of its own: a public design puts a small Lambda function
# (behind its free function URL) in front that signs the InvokeEndpoint call and waits for the answer.
PROXY_FUNCTION_MEMORY_MB = 128  # Lambda's smallest size; it only forwards the request

# -- memory of the serving process ----------------------------------------------------------------------
# Memory the OS, the container runtime and agents keep on an instance or task before our process.
OS_RESERVED_MB = 512.0
# Cloudflare Workers would hold the weights once as float32 plus a working copy while loading them.
WORKERS_MEMORY_PER_MODEL_BYTE = 2.0

# -- reserved instances and Savings Plans -----------------------------------------------------------------
RESERVED_TERM_KEYS = {"reserved-1yr": 1, "reserved-3yr": 3}
# The share of a term's commitment paid at purchase, by AWS's payment option (reserved instances and
# Savings Plans alike): all of it, half of it, none of it. The shipped snapshot's reserved offers agree
# (upfront fee / (effective $/h x hours in the term): 1.0, 0.49999-0.50001 and 0; a test checks it).
UPFRONT_SHARE_BY_PURCHASE_OPTION = {"All Upfront": 1.0, "Partial Upfront": 0.5, "No Upfront": 0.0}
# option suffix -> (Savings Plan type, term in years); the purchase option is ServingAssumptions'
SAVINGS_PLAN_TERMS = {
    "compute-sp-1yr": ("Compute", 1),
    "compute-sp-3yr": ("Compute", 3),
    "instance-sp-1yr": ("EC2Instance", 1),
    "instance-sp-3yr": ("EC2Instance", 3),
}

# -- minimum billing increments (aws.amazon.com/ec2/pricing/on-demand/, aws.amazon.com/fargate/pricing/,
# aws.amazon.com/sagemaker/pricing/) ------------------------------------------------------------------------
# EC2 Linux: per second, 60 s minimum per instance start (costing.pricing.defaults.MINIMUM_BILLED_SECONDS);
# Fargate: per second, 1 minute minimum per task; SageMaker hosting: per second, no minimum published;
# Lambda and SageMaker serverless: each request's duration rounded up to 1 ms (LAMBDA_BILLING_GRANULARITY_MS).
FARGATE_MINIMUM_BILLED_SECONDS = 60.0
SAGEMAKER_HOSTING_MINIMUM_BILLED_SECONDS = 0.0


def check_horizon(horizon_months: float) -> float:
    """``horizon_months`` as a float; ``ValueError`` naming the field and its bounds when it is out of them."""
    if isinstance(horizon_months, bool) or not isinstance(horizon_months, int | float):
        raise ValueError(f"horizon_months={horizon_months!r} must be a number of months")
    if not MIN_HORIZON_MONTHS <= horizon_months <= MAX_HORIZON_MONTHS:  # nan fails both
        raise ValueError(
            f"horizon_months={horizon_months!r} must be at least {MIN_HORIZON_MONTHS} month and at most "
            f"{MAX_HORIZON_MONTHS} months"
        )
    return float(horizon_months)


@dataclass(frozen=True)
class ServingAssumptions:
    """How the model is served and how traffic behaves. Defaults are documented choices, not facts."""

    # traffic
    tokens_per_request: int = 200  # characters generated per request; latency scales linearly from the bench
    peak_factor: float = 3.0  # peak hour rate / daily mean rate (diurnal traffic)
    target_utilisation: float = 0.6  # of an instance's measured capacity at peak; the rest absorbs queueing
    latency_slo_ms: float = 1_000.0  # p95 latency of one completion, excluding the network
    min_instances: int | None = None  # per always-on option; None: what the availability needs (2 or 1)
    request_bytes: float = 300.0  # prompt + headers in
    response_overhead_bytes: float = 300.0  # HTTP headers + JSON around the generated text (1 byte/char)
    # observability
    log_bytes_per_request: float = 200.0  # one access-log line per request in CloudWatch Logs
    log_retention_months: float = 1.0  # logs kept, so stored GB = monthly ingest x this
    custom_metrics_per_service: int = 5  # requests, errors, latency p50/p95, tokens
    custom_metrics_per_instance: int = 2  # CloudWatch agent memory + disk, EC2 only
    # the requirement every option's design meets (costing.choices): who calls it, what it survives
    exposure: str = DEFAULT_EXPOSURE
    availability: str = DEFAULT_AVAILABILITY
    # network layout of a fleet in our VPC (EC2, Fargate): its image pulls and log delivery leave through
    # the cheapest of public IPv4 addresses (public designs only), a NAT gateway, or interface endpoints.
    # S3 is reached through a gateway endpoint (free).
    use_nat_gateway: bool = True  # False: never a NAT gateway (public addresses or interface endpoints)
    nat_gateways: int = 1  # one shared NAT gateway (a per-AZ pair doubles the hourly part)
    container_image_gb: float = 1.0  # Python + torch CPU image, pulled by every instance/task at each deploy
    deploys_per_month: float = WEEKS_PER_YEAR / 12.0  # a weekly retrain ships a new model
    ebs_root_gb: float = 20.0  # gp3 root volume per EC2 instance
    # a deploy starts a new instance/task per running one; it boots, pulls the image and loads the model
    # while the old one still serves, so both are billed for this long (at least the platform's minimum)
    deploy_overlap_seconds: float = 120.0
    # public IPv4 ($/address-hour since Feb 2024): an internet-facing ALB holds one address per AZ it is
    # enabled in (at least two); a NAT gateway one; without a NAT gateway every instance/task needs its own
    alb_availability_zones: int = 2
    # free tiers (Lambda's monthly grant, 100 GB out, CloudWatch's free metrics) belong to an account, not a
    # workload: off unless asked, and every output says which
    apply_free_tiers: bool = False
    # a per-request option whose cold starts miss the SLO may be fixed by a keep-warm ping (False: only by
    # provisioned concurrency; costing.model.cold_starts)
    allow_keep_warm_ping: bool = True
    # spot serving
    spot_buffer_fraction: float = 0.10  # extra spot capacity so an interruption does not breach the SLO
    spot_min_buffer_instances: int = 1
    spot_replacement_warmup_hours: float = 5.0 / 60.0  # a replacement boots and loads before serving
    default_interruption_rate_per_month: float = 0.10  # used when the sheet has no Spot Advisor bucket
    # reserved
    reserved_offering_class: str = "standard"
    reserved_purchase_option: str = "No Upfront"
    savings_plan_purchase_option: str = "No Upfront"
    # the months the costs are owned over (the TCO's, and what a commitment's term is measured against), and
    # whether a commitment that outlasts them is used for its whole term (costing.choices); if not, what it
    # still owes at the horizon is part of its cost, spread over the horizon's months
    horizon_months: float = DEFAULT_HORIZON_MONTHS
    commitment_use: str = DEFAULT_COMMITMENT_USE

    def __post_init__(self) -> None:
        positive = (
            "tokens_per_request",
            "peak_factor",
            "target_utilisation",
            "latency_slo_ms",
            "alb_availability_zones",
            "container_image_gb",
            "spot_replacement_warmup_hours",
        )
        for name in positive:
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int | float) or not value > 0:
                raise ValueError(f"ServingAssumptions.{name}={value!r} must be a number > 0")
        if self.exposure not in EXPOSURES:
            raise ValueError(f"exposure={self.exposure!r} must be one of {', '.join(EXPOSURES)}")
        if self.availability not in AVAILABILITIES:
            raise ValueError(f"availability={self.availability!r} must be one of {', '.join(AVAILABILITIES)}")
        check_horizon(self.horizon_months)
        if self.commitment_use not in COMMITMENT_USES:
            raise ValueError(
                f"commitment_use={self.commitment_use!r} must be one of {', '.join(COMMITMENT_USES)}"
            )
        if self.min_instances is not None:
            if isinstance(self.min_instances, bool) or not isinstance(self.min_instances, int):
                raise ValueError(
                    f"ServingAssumptions.min_instances={self.min_instances!r} must be an integer"
                )
            floor = MULTI_AZ_ZONES if self.multi_az else 1
            if self.min_instances < floor:
                raise ValueError(
                    f"min_instances={self.min_instances} is too few for availability={self.availability!r}: "
                    f"it needs at least {floor}"
                    + (
                        " (one per zone); choose availability 'single' for one instance"
                        if self.multi_az
                        else ""
                    )
                )
        if self.target_utilisation > 1:
            raise ValueError(f"target_utilisation={self.target_utilisation!r} must be in (0, 1]")
        if self.peak_factor < 1:
            raise ValueError(f"peak_factor={self.peak_factor!r} must be >= 1 (peak rate / mean rate)")
        for name in (
            "request_bytes",
            "response_overhead_bytes",
            "log_bytes_per_request",
            "log_retention_months",
            "ebs_root_gb",
            "deploys_per_month",
            "spot_buffer_fraction",
            "default_interruption_rate_per_month",
            "deploy_overlap_seconds",
        ):
            if getattr(self, name) < 0:
                raise ValueError(f"ServingAssumptions.{name}={getattr(self, name)!r} must be >= 0")

    @property
    def public(self) -> bool:
        """Clients on the internet call the service (else only callers inside the VPC)."""
        return self.exposure == EXPOSURE_PUBLIC

    @property
    def multi_az(self) -> bool:
        return self.availability == AVAILABILITY_MULTI_AZ

    @property
    def commitments_used_for_full_term(self) -> bool:
        """A commitment outlasting the horizon is used for its whole term (else it may be left at the horizon)."""
        return self.commitment_use == COMMITMENT_USE_FULL_TERM

    @property
    def availability_zones(self) -> int:
        """Zones the service runs in: two for multi-AZ, one for a single-zone service."""
        return MULTI_AZ_ZONES if self.multi_az else 1

    @property
    def instance_floor(self) -> int:
        """Fewest instances or tasks an always-on option runs: ``min_instances``, else one per zone."""
        return self.min_instances if self.min_instances is not None else self.availability_zones

    @property
    def response_bytes(self) -> float:
        """Bytes sent back per request: the generated characters (ASCII, 1 byte each) plus overhead."""
        return float(self.tokens_per_request) + self.response_overhead_bytes

    def savings_plan_key(self, plan_type: str, lease_years: int) -> str:
        """The :attr:`InstanceRates.savings_plan_usd_per_hour` key, e.g. "Compute/1yr/No Upfront"."""
        return f"{plan_type}/{lease_years}yr/{self.savings_plan_purchase_option}"

    def reserved_key(self, lease_years: int) -> str:
        """The :attr:`InstanceRates.reserved_usd_per_hour` key for a term, e.g. "1yr/standard/No Upfront"."""
        return f"{lease_years}yr/{self.reserved_offering_class}/{self.reserved_purchase_option}"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class TrainingAssumptions:
    """How a training run uses storage and recovers from spot interruptions."""

    # checkpoint = weights + AdamW's two moment buffers, so about 3x the model file
    checkpoint_bytes_per_model_byte: float = 3.0
    checkpoint_write_mb_per_s: float = 100.0  # to S3 or gp3 (gp3 baseline is 125 MB/s)
    checkpoint_write_seconds: float | None = None  # measured value, overrides the estimate above
    # after an interruption: replacement launch + boot + reading the checkpoint, not billed on the old instance
    restart_overhead_seconds: float = 180.0
    ebs_gb: float = 20.0  # gp3 root + scratch volume of the training instance, billed while it runs
    retained_model_versions: int = 10  # model files kept in S3 (older ones expire by lifecycle rule)
    default_interruption_rate_per_month: float = 0.10  # when the sheet has no Spot Advisor bucket

    def __post_init__(self) -> None:
        for name in ("checkpoint_bytes_per_model_byte", "checkpoint_write_mb_per_s"):
            if not getattr(self, name) > 0:
                raise ValueError(f"TrainingAssumptions.{name}={getattr(self, name)!r} must be > 0")
        for name in ("restart_overhead_seconds", "ebs_gb", "default_interruption_rate_per_month"):
            if getattr(self, name) < 0:
                raise ValueError(f"TrainingAssumptions.{name}={getattr(self, name)!r} must be >= 0")
        if self.checkpoint_write_seconds is not None and self.checkpoint_write_seconds < 0:
            raise ValueError(f"checkpoint_write_seconds={self.checkpoint_write_seconds!r} must be >= 0")
        if self.retained_model_versions < 1:
            raise ValueError(f"retained_model_versions={self.retained_model_versions!r} must be >= 1")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)
