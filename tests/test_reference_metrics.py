"""The shipped reference (include/reference_metrics.json) was measured by today's decoder, in today's schema.

``python -m costing scenarios`` answers from it when no model is registered: a reference measured by an
older decoder prices a model that no longer exists (149 ms per completion before the fast decoder, about
14 ms after). The decoder's identity and the schema version are imported from the code that writes them,
so changing either fails this test until ``make reference-metrics`` re-measures the file.
"""

from __future__ import annotations

import json

from costing.model.profile import METRICS_SCHEMA_VERSIONS, REFERENCE_METRICS_PATH, profile_from_metrics
from rnn.metrics import SCHEMA, SCHEMA_VERSION
from rnn.serving.decoder import DECODER_NAME, DECODER_VERSION

REMEDY = "re-measure it: make reference-metrics"


def shipped() -> dict:
    return json.loads(REFERENCE_METRICS_PATH.read_text())


def test_the_reference_was_produced_by_the_current_decoder_and_schema():
    metrics = shipped()
    assert (metrics["schema"], metrics["schema_version"]) == (SCHEMA, SCHEMA_VERSION), REMEDY
    inference = metrics["inference"]
    assert (inference.get("generator"), inference.get("generator_version")) == (
        DECODER_NAME,
        DECODER_VERSION,
    ), (
        f"include/reference_metrics.json was measured by {inference.get('generator')!r} "
        f"v{inference.get('generator_version')}, the code's decoder is {DECODER_NAME!r} v{DECODER_VERSION}; {REMEDY}"
    )
    made = metrics["reference"]
    assert (made["decoder"], made["decoder_version"]) == (DECODER_NAME, DECODER_VERSION), REMEDY
    assert (made["schema"], made["schema_version"]) == (SCHEMA, SCHEMA_VERSION), REMEDY


def test_the_reference_says_what_produced_it_and_carries_a_load_test():
    metrics = shipped()
    made = metrics["reference"]
    assert made["made_by"].startswith("make reference-metrics")
    assert made["git_commit"] and made["generated_at"] and made["cpu_count"] >= 1
    assert "fused" in made["decoder_step"], "measured without the fused step: run `make kernel` first"
    serving = metrics["serving"]
    assert serving is not None and serving["max_rps_at_slo"] > 0, "the reference carries no load test"
    assert serving["rss_bytes"] > 0
    cold_start = metrics["cold_start"]  # what Lambda and SageMaker serverless are priced with
    assert cold_start is not None and cold_start["handler"]["added_seconds"] > 0, "no cold start measured"


def test_the_cost_model_reads_the_reference_and_finds_it_plausible():
    assert SCHEMA_VERSION in METRICS_SCHEMA_VERSIONS  # the reader knows the writer's newest schema
    profile = profile_from_metrics(shipped(), source="include/reference_metrics.json")
    assert profile.serving is not None and profile.serving_memory_basis.startswith("the server's peak RSS")
    assert not profile.training_capped  # the DAG's defaults, not a 20-step smoke run
    assert profile.cold_start is not None  # measured, not the default a cold start is assumed to add
