"""The serving platforms: one module per platform, and a registry (:data:`PLATFORMS`) of what the grid
prices. Each module plans its options (the discrete choices and the rates they need) into an
:class:`OptionPlan` that :meth:`OptionPlan.evaluate` turns into cost lines; :mod:`costing.model.grid`
plans every registered platform at each request volume.

Modules: :mod:`.ec2`, :mod:`.sagemaker` (real-time and serverless), :mod:`.fargate`, :mod:`.lambda_`,
:mod:`.cloudflare_workers`; shared pieces in :mod:`.base` (supporting lines), :mod:`.fleet` (always-on
instances or tasks), :mod:`.serverless` (memory x duration platforms) and :mod:`.design` (the front door,
egress and instance count each option's design needs to meet the requirement, and the rules that choose
them).

What each alternative includes besides its design's front door and egress (every assumption is a field of
:class:`~costing.model.assumptions.ServingAssumptions` or a constant in :mod:`costing.model.assumptions`):

* **EC2 on-demand / spot / reserved 1 yr / 3 yr / Compute and EC2 Instance Savings Plans 1 yr / 3 yr**:
  instances (sized by :mod:`costing.model.capacity`, 24/7, at least one per zone) plus the
  instance-hours of starts (each deploy starts a new instance per running one, overlapping for
  ``deploy_overlap_seconds``; billed at least 60 s each), a gp3 root volume each, CloudWatch custom
  metrics (+ 2 agent metrics per instance) and logs, data transfer out (public designs), the model file
  in S3. Spot adds a capacity buffer and the warm-up hours of replacements at the interruption rate;
  reserved and Savings Plans use the term's amortised effective hourly rate for the same instance type.
* **Lambda**: requests + GB-seconds (memory from :func:`~costing.model.capacity.lambda_memory_mb`,
  the *mean* duration at its CPU share, each request rounded up to 1 ms; plus each cold start's billed
  init), CloudWatch logs incl. Lambda's own lines, data transfer out, the model in S3.
* **SageMaker real-time**: the cheapest ``ml.*`` type that fits, at least one instance per zone,
  CloudWatch, data transfer out, S3. **SageMaker serverless**: GB-seconds of the configured memory
  at the mean duration + data processed (in + out), CloudWatch logs, data transfer out, S3.
* **Cold starts** of Lambda and SageMaker serverless (:mod:`costing.model.cold_starts`): the share of
  requests that start cold at the volume, in the p95 the SLO is checked against; when that misses the
  SLO, the cheapest fix that meets it (a keep-warm ping, or provisioned concurrency) is in the design and
  its cost lines, or the option is infeasible and says why.
* **ECS Fargate**: the cheapest allowed task size that fits memory and meets the SLO, tasks like
  EC2 instances (vCPU-hours + GB-hours, x86; starts billed at least 1 minute), CloudWatch, data
  transfer, S3.
* **Cloudflare Workers**: subscription + requests and CPU-ms (at the mean) beyond the included
  amounts. Marked *not drop-in*: torch does not run in Workers, the model would need a port to JS/WASM.

Volume tiers (data transfer out, Lambda GB-seconds, S3, CloudWatch metrics) are applied at the volume
reached, one cost line per tier reached (:mod:`costing.model.billing`). Free tiers (100 GB out,
Lambda's monthly grant, CloudWatch's free metrics and logs) are applied only with
``ServingAssumptions.apply_free_tiers``, and every option says whether they were.
"""

from costing.model.platforms.base import (
    FREE_TIER_NOT_APPLIED,
    Evaluation,
    OptionPlan,
    SupportRates,
    free_tier_caveat,
)
from costing.model.platforms.fleet import FleetPlan
from costing.model.platforms.registry import PLATFORMS, Planned, PlanRequest, Platform, plan_platforms
from costing.model.platforms.serverless import ServerlessPlan, ServerlessPlatform

__all__ = [
    "FREE_TIER_NOT_APPLIED",
    "PLATFORMS",
    "Evaluation",
    "FleetPlan",
    "OptionPlan",
    "PlanRequest",
    "Planned",
    "Platform",
    "ServerlessPlan",
    "ServerlessPlatform",
    "SupportRates",
    "free_tier_caveat",
    "plan_platforms",
]
