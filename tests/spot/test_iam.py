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


def test_a_sweeps_trials_share_the_policy_of_their_dag_run() -> None:
    """Each trial keeps its files under its own scope; the role's one inline policy grants the DAG run's
    prefix, so trials launched together never take each other's access away."""
    from pipeline.spot.iam import instance_policy
    from pipeline.spot.layout import RunLayout, mapped_scope

    trials = [
        RunLayout("rnn-spot-test", "rnn_sweep", "manual__1", scope=mapped_scope("t.train", i)) for i in (0, 1)
    ]
    assert [t.prefix for t in trials] == ["rnn_sweep/manual__1/t.train/0", "rnn_sweep/manual__1/t.train/1"]
    assert trials[0].checkpoint_uri != trials[1].checkpoint_uri
    assert (
        instance_policy(trials[0])
        == instance_policy(trials[1])
        == instance_policy(trials[0].__class__("rnn-spot-test", "rnn_sweep", "manual__1"))
    )
    assert mapped_scope("train_ec2_spot", -1) == ""  # not mapped: the run's own prefix
