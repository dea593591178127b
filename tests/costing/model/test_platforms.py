"""The platform registry: every choice offered is priced by exactly one registered platform, in the
choices' order, and each platform plans only its own options."""

from __future__ import annotations

from model_literals import PROFILE, SHEET

from costing.choices import LAMBDA, OPTIONS, SAGEMAKER_SERVERLESS
from costing.model.assumptions import ServingAssumptions
from costing.model.platforms import PLATFORMS, PlanRequest, ServerlessPlan
from costing.model.platforms.lambda_ import PLATFORM as LAMBDA_PLATFORM
from costing.model.platforms.sagemaker import SERVERLESS as SAGEMAKER_SERVERLESS_PLATFORM


def test_every_choice_has_one_platform_in_display_order():
    assert tuple(option for platform in PLATFORMS for option in platform.options) == OPTIONS


def test_each_platform_plans_only_its_own_options():
    request = PlanRequest(PROFILE, SHEET, ServingAssumptions(), 10_000.0)
    for platform in PLATFORMS:
        planned = platform.plan(request)
        assert planned, platform.options
        assert {p.option for p in planned} <= set(platform.options)


def test_lambda_and_sagemaker_serverless_share_one_planner():
    request = PlanRequest(PROFILE, SHEET, ServingAssumptions(), 10_000.0)
    by_option = {p.option: p for platform in PLATFORMS for p in platform.plan(request)}
    for option, platform in (
        (LAMBDA, LAMBDA_PLATFORM),
        (SAGEMAKER_SERVERLESS, SAGEMAKER_SERVERLESS_PLATFORM),
    ):
        plan = by_option[option]
        assert isinstance(plan, ServerlessPlan) and plan.service == platform.service
    # what differs is data: Lambda bills requests and writes its own log lines, SageMaker bills data processed
    assert by_option[LAMBDA].usd_per_million_requests == 0.20 and by_option[LAMBDA].platform_log_bytes == 260
    assert by_option[SAGEMAKER_SERVERLESS].usd_per_million_requests == 0.0
    assert by_option[SAGEMAKER_SERVERLESS].data_processed_usd_per_gb == 0.016
