"""What a trigger form or a command line offers, and what it starts with: the one home of each default.

- what a training run is billed as, and priced as unless the caller says otherwise (instance type,
  region, market), and which type the TCO prices retraining on (configured, or the best the resource
  mapping finds);
- what a price refresh fetches (regions, EC2 instance types, days of spot history): the
  ``pricing_refresh`` DAG's Params and ``python -m costing refresh`` both start from these;
- the serving pricing options, in display order;
- the requirement every serving option meets (exposure, availability) and its defaults;
- the horizon the costs are owned over (months) and whether a commitment outlasting it is used for its
  whole term.

Plain constants, no imports, so the DAG files can build their Params from them at parse time without
loading the pricing or cost-model packages. :mod:`costing.pricing`, :mod:`costing.pricing.fetch`,
:mod:`costing.model.results` and :mod:`pipeline.spot.layout` re-export them; this is their one definition.
It lives in ``costing`` (not ``toolkit``) because these are pricing facts: ``rnn`` has no use for them,
and everything that does (``costing``, ``pipeline``, ``dags``) may import ``costing``.
"""

from __future__ import annotations

# -- what a training run is billed as -------------------------------------------------------------------
MARKET_SPOT = "spot"
MARKET_ON_DEMAND = "on-demand"
MARKETS = (MARKET_SPOT, MARKET_ON_DEMAND)

# -- what a run is priced as (and launched on, for spot training), unless the caller says otherwise ------
DEFAULT_INSTANCE_TYPE = "r6i.xlarge"  # 4 vCPU / 32 GiB: fits the LSTM plus corpus comfortably
DEFAULT_REGION = "us-east-1"
DEFAULT_MARKET = MARKET_SPOT

# -- which instance type the TCO prices a retraining run on ----------------------------------------------
TRAINING_ON_CONFIGURED = (
    "configured"  # the type the run was configured with (metrics.json compute), else the default
)
TRAINING_ON_BEST = "best"  # the resource mapping's cheapest type that qualifies for a training run
TRAINING_INSTANCE_CHOICES = (TRAINING_ON_CONFIGURED, TRAINING_ON_BEST)

# -- what a price refresh fetches, and so the regions and types the analyses can compare ----------------
REFRESH_REGIONS: tuple[str, ...] = tuple(dict.fromkeys((DEFAULT_REGION, "eu-west-1")))
# Every EC2 type the shipped snapshot prices (the serving options and the resource mapping rank every
# type in the sheet, so a type left out here silently drops out of the next analysis), including the
# training default and the original hand analysis's picks (costing.model.resources.HAND_ANALYSIS).
REFRESH_INSTANCE_TYPES: tuple[str, ...] = tuple(
    dict.fromkeys(
        (
            DEFAULT_INSTANCE_TYPE,
            # burstable (t3.small is the cheapest EC2 fleet in the README's serving table)
            "t3.small",
            "t3.medium",
            "t3.large",
            "t3.xlarge",
            # general purpose
            "m5.large",
            "m5.xlarge",
            "m5.2xlarge",
            "m6i.large",
            "m6i.xlarge",
            "m6i.2xlarge",
            "m7i.large",
            "m7i.xlarge",
            "m7i.2xlarge",
            "m7g.large",
            "m7g.xlarge",
            # compute optimised
            "c5.large",
            "c5.xlarge",
            "c5.2xlarge",
            "c6i.large",
            "c6i.xlarge",
            "c6i.2xlarge",
            "c7i.large",
            "c7i.xlarge",
            "c7i.2xlarge",
            "c7g.large",
            "c7g.xlarge",
            # memory optimised (the training default's family)
            "r5.large",
            "r5.xlarge",
            "r6i.large",
            "r6i.xlarge",
            "r6i.2xlarge",
            "r7i.large",
            "r7i.xlarge",
            "r7i.2xlarge",
            # GPU
            "g4dn.xlarge",
        )
    )
)
REFRESH_SPOT_WINDOW_DAYS = 30  # days of spot price history a refresh fetches (with an AWS connection)

# -- what an ownership question may ask ------------------------------------------------------------------
# A TCO horizon shorter than a month prices a fraction of the month the bills are counted in: refused
# (costing.model.plausibility), and the forms and the command line start their bounds here.
MIN_HORIZON_MONTHS = 1.0
# how often the model is retrained: daily, weekly, monthly, or every N days ("10d")
DEFAULT_RETRAIN_CADENCE = "weekly"
RETRAIN_CADENCE_PATTERN = r"^(daily|weekly|monthly|[1-9][0-9]*d)$"

# -- the sweep (rnn_sweep): "good enough" is within this fraction of the best loss the sweep found --------
DEFAULT_LOSS_TOLERANCE = 0.05

# -- the serving alternatives, in display order ---------------------------------------------------------
EC2_ON_DEMAND = "ec2-on-demand"
EC2_SPOT = "ec2-spot"
EC2_RESERVED_1YR = "ec2-reserved-1yr"
EC2_RESERVED_3YR = "ec2-reserved-3yr"
EC2_COMPUTE_SP_1YR = "ec2-compute-sp-1yr"
EC2_COMPUTE_SP_3YR = "ec2-compute-sp-3yr"
EC2_INSTANCE_SP_1YR = "ec2-instance-sp-1yr"
EC2_INSTANCE_SP_3YR = "ec2-instance-sp-3yr"
LAMBDA = "lambda"
SAGEMAKER_REALTIME = "sagemaker-realtime"
SAGEMAKER_SERVERLESS = "sagemaker-serverless"
FARGATE = "fargate"
CLOUDFLARE_WORKERS = "cloudflare-workers"
OPTION_LABELS: dict[str, str] = {
    EC2_ON_DEMAND: "EC2 on-demand",
    EC2_SPOT: "EC2 spot",
    EC2_RESERVED_1YR: "EC2 reserved 1 yr",
    EC2_RESERVED_3YR: "EC2 reserved 3 yr",
    EC2_COMPUTE_SP_1YR: "EC2 Compute SP 1 yr",
    EC2_COMPUTE_SP_3YR: "EC2 Compute SP 3 yr",
    EC2_INSTANCE_SP_1YR: "EC2 Instance SP 1 yr",
    EC2_INSTANCE_SP_3YR: "EC2 Instance SP 3 yr",
    LAMBDA: "Lambda",
    SAGEMAKER_REALTIME: "SageMaker real-time",
    SAGEMAKER_SERVERLESS: "SageMaker serverless",
    FARGATE: "ECS Fargate",
    CLOUDFLARE_WORKERS: "Cloudflare Workers",
}
OPTIONS: tuple[str, ...] = tuple(OPTION_LABELS)
# EC2 pricing models bought as a 1- or 3-year commitment (reserved instances, Savings Plans)
COMMITTED_EC2_OPTIONS: tuple[str, ...] = (
    EC2_RESERVED_1YR,
    EC2_RESERVED_3YR,
    EC2_COMPUTE_SP_1YR,
    EC2_COMPUTE_SP_3YR,
    EC2_INSTANCE_SP_1YR,
    EC2_INSTANCE_SP_3YR,
)
EC2_OPTIONS: tuple[str, ...] = (EC2_ON_DEMAND, EC2_SPOT, *COMMITTED_EC2_OPTIONS)

# -- the requirement every serving option is designed to meet --------------------------------------------
# exposure: who calls the inference API
EXPOSURE_PUBLIC = "public"
EXPOSURE_INTERNAL = "internal"
EXPOSURE_DESCRIPTIONS: dict[str, str] = {
    EXPOSURE_PUBLIC: "an HTTPS API for clients on the internet",
    EXPOSURE_INTERNAL: "callers inside the VPC only; the service holds no public address",
}
EXPOSURES: tuple[str, ...] = tuple(EXPOSURE_DESCRIPTIONS)
DEFAULT_EXPOSURE = EXPOSURE_PUBLIC
# availability: what the service survives
AVAILABILITY_MULTI_AZ = "multi-az"
AVAILABILITY_SINGLE = "single"
AVAILABILITY_DESCRIPTIONS: dict[str, str] = {
    AVAILABILITY_MULTI_AZ: "survives the loss of one availability zone",
    AVAILABILITY_SINGLE: "one instance or task in one zone",
}
AVAILABILITIES: tuple[str, ...] = tuple(AVAILABILITY_DESCRIPTIONS)
DEFAULT_AVAILABILITY = AVAILABILITY_MULTI_AZ

# -- the horizon the costs are owned over, and the commitments that outlast it -----------------------------
# The TCO's months, and what a reserved instance's or Savings Plan's term is measured against. A month is the
# shortest horizon: AWS bills by the month, and every figure the model prices is a monthly one.
DEFAULT_HORIZON_MONTHS = 12
MIN_HORIZON_MONTHS = 1
MAX_HORIZON_MONTHS = 120  # outlasts every term (3 years)
# whether a commitment whose term outlasts the horizon is used for the rest of its term
COMMITMENT_USE_HORIZON = "horizon"
COMMITMENT_USE_FULL_TERM = "full-term"
COMMITMENT_USE_DESCRIPTIONS: dict[str, str] = {
    COMMITMENT_USE_HORIZON: "the service may stop at the end of the horizon: a reserved or Savings Plans term "
    "that outlasts it is ranked with what it still owes then",
    COMMITMENT_USE_FULL_TERM: "every commitment is used for its whole term: ranked on its monthly cost alone "
    "(what it would owe at the horizon is still shown)",
}
COMMITMENT_USES: tuple[str, ...] = tuple(COMMITMENT_USE_DESCRIPTIONS)
DEFAULT_COMMITMENT_USE = COMMITMENT_USE_HORIZON

# -- the platform that runs the pipeline (costing.model.pipeline_platform) ----------------------------------
PLATFORM_SELF_HOSTED = "self-hosted"
PLATFORM_MWAA = "mwaa"
PLATFORM_NONE = "none"
PLATFORM_DESCRIPTIONS: dict[str, str] = {
    PLATFORM_SELF_HOSTED: "the docker-compose topology on EC2, sized from its measured footprint, with RDS "
    "PostgreSQL, S3 and SES",
    PLATFORM_MWAA: "Amazon MWAA (the smallest environment class that fits) plus the MLflow server on EC2 and "
    "RDS, S3 and SES, which MWAA does not provide",
    PLATFORM_NONE: "leave the platform out (the figures before the platform was priced)",
}
PLATFORM_DESIGNS: tuple[str, ...] = tuple(PLATFORM_DESCRIPTIONS)
DEFAULT_PLATFORM_DESIGN = PLATFORM_SELF_HOSTED  # what docker-compose.yaml and `make prod-up` run
DEFAULT_PLATFORM_SHARE = 1.0  # the platform serves only this pipeline
DEFAULT_PLATFORM_WORKERS = 1
REDIS_CO_LOCATED = "co-located"
REDIS_ELASTICACHE = "elasticache"
REDIS_PLACEMENTS: tuple[str, ...] = (REDIS_CO_LOCATED, REDIS_ELASTICACHE)
DEFAULT_REDIS_PLACEMENT = REDIS_CO_LOCATED  # as docker-compose.yaml runs it
DEFAULT_DB_INSTANCE_CLASS = "db.t4g.micro"  # RDS PostgreSQL for the Airflow and MLflow databases
# Amazon MWAA's environment classes, smallest first (their capacities: costing.model.pipeline_platform)
MWAA_ENVIRONMENT_CLASSES: tuple[str, ...] = (
    "mw1.micro",
    "mw1.small",
    "mw1.medium",
    "mw1.large",
    "mw1.xlarge",
    "mw1.2xlarge",
)
MWAA_CLASS_AUTO = "auto"  # the smallest class the snapshot prices that fits
