"""Airflow plugin of the RNN cost pipeline: extra links and the "Cost reports" page."""

from __future__ import annotations

from airflow.plugins_manager import AirflowPlugin

from pipeline.ui.links import CostReportLink, MlflowRunLink
from pipeline.ui.reports_app import create_app


class RnnCostPlugin(AirflowPlugin):
    name = "rnn_cost"
    operator_extra_links = [MlflowRunLink(), CostReportLink()]
    # Reports hold cost data: only logged-in Airflow users may read them (the UI's session works).
    fastapi_apps = [
        {"app": create_app(login_required=True), "url_prefix": "/cost-reports", "name": "Cost reports"}
    ]
    external_views = [
        {
            "name": "Cost reports",
            "href": "/cost-reports/",
            "destination": "nav",
            "url_route": "cost-reports",
            "category": "browse",
        }
    ]
