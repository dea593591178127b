"""What a trigger form or a command line offers, and what it starts with: the one home of each default.

- what a training run is billed as, and priced as unless the caller says otherwise (instance type,
  region, market);
- what a price refresh fetches (regions, EC2 instance types, days of spot history): the
  ``pricing_refresh`` DAG's Params and ``python -m costing refresh`` both start from these;
- the serving pricing options, in display order.

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
