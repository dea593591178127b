"""The names a trigger form offers: the training markets and the serving pricing options.

Plain constants, no imports, so the DAG files can build their Params from them at parse time without
loading the pricing or cost-model packages. :mod:`costing.pricing` and :mod:`costing.model.results`
re-export them; this is their one definition.
"""

from __future__ import annotations

# -- what a training run is billed as -------------------------------------------------------------------
MARKET_SPOT = "spot"
MARKET_ON_DEMAND = "on-demand"
MARKETS = (MARKET_SPOT, MARKET_ON_DEMAND)

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
