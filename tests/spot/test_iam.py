"""The instance role's policy: the run's own S3 prefix and nothing else."""

from __future__ import annotations

import json


def test_instance_policy_allows_only_the_runs_prefix() -> None:
    from pipeline.spot.iam import instance_policy
    from pipeline.spot.layout import RunLayout

    layout = RunLayout("rnn-spot-test", "rnn_retraining", "manual__1")
    policy = instance_policy(layout)
    statements = policy["Statement"]
    assert all(s["Effect"] == "Allow" for s in statements)
    objects = next(s for s in statements if s["Action"] != "s3:ListBucket")
    assert objects["Resource"] == "arn:aws:s3:::rnn-spot-test/rnn_retraining/manual__1/*"
    assert set(objects["Action"]) == {"s3:GetObject", "s3:PutObject", "s3:AbortMultipartUpload"}
    listing = next(s for s in statements if s["Action"] == "s3:ListBucket")
    assert listing["Resource"] == "arn:aws:s3:::rnn-spot-test"
    assert listing["Condition"] == {"StringLike": {"s3:prefix": ["rnn_retraining/manual__1/*"]}}
    assert "*" not in json.dumps(policy).replace("manual__1/*", "")  # no wildcard anywhere else
