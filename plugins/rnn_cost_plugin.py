"""Airflow plugin of the RNN cost pipeline: extra links and the "Cost reports" page."""

from __future__ import annotations

from airflow.plugins_manager import AirflowPlugin

from pipeline.ui.links import CostReportLink, MlflowRunLink
from pipeline.ui.reports_app import create_app


class RnnCostPlugin(AirflowPlugin):
    name = "rnn_cost"
    operator_extra_links = [MlflowRunLink(), CostReportLink()]
    fastapi_apps = [{"app": create_app(), "url_prefix": "/cost-reports", "name": "Cost reports"}]
    external_views = [
        {
            "name": "Cost reports",
            "href": "/cost-reports/",
            "destination": "nav",
            "url_route": "cost-reports",
            "category": "browse",
        }
    ]
