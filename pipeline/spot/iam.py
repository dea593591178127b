"""The training instance's S3 permissions: ``include/spot/instance_policy.json`` for one run's prefix.

The template grants Get/Put (and aborting its own multipart uploads) on ``<bucket>/<run prefix>/*``
and ListBucket restricted to that prefix; nothing else. The operator writes the rendered policy
onto the instance profile's role (inline policy :data:`RUN_SCOPE_POLICY_NAME`) before each launch,
so an instance can read and write its own run and no other (``rnn_retraining`` runs one DAG run at
a time: ``max_active_runs=1``). The grant is the DAG run's prefix, not a trial's: the parallel trials
of one sweep write the same document, so none takes another's access away. See the README for the role and the permissions Airflow needs.
"""

from __future__ import annotations

import json
from typing import Any

from pipeline.spot.layout import INSTANCE_POLICY_TEMPLATE, RunLayout

RUN_SCOPE_POLICY_NAME = "rnn-spot-run-scope"


def instance_policy(layout: RunLayout) -> dict[str, Any]:
    """The policy document for ``layout``'s DAG run prefix (parsed, so it is valid JSON by construction)."""
    text = INSTANCE_POLICY_TEMPLATE.read_text()
    rendered = text.replace("{{bucket}}", layout.bucket).replace("{{run_prefix}}", layout.run_prefix)
    if "{{" in rendered:
        raise ValueError(
            f"{INSTANCE_POLICY_TEMPLATE} has a placeholder other than {{{{bucket}}}} / {{{{run_prefix}}}}"
        )
    return json.loads(rendered)
