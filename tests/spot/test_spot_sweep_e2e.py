"""rnn_sweep with compute=ec2_spot, end to end through dag.test(): each trial on its own instance.

AWS is moto on 127.0.0.1; each launched instance is the real user data run by bash (FakeInstances).
One trial trains on its instance; the other's instance is reclaimed with max_attempts=1, so spot gives
up on it: that trial is recorded failed with the operator's reason and the sweep goes on.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from helpers import TINY_RUN_CONF, load_dag

pytestmark = pytest.mark.e2e

SPACE = {
    "hidden_size": [16, 48],
    "epochs": [1],
    "max_steps_per_epoch": [4],
    **{k: [v] for k, v in TINY_RUN_CONF.items() if k not in ("hidden_size", "epochs", "max_steps_per_epoch")},
}
SPACE.pop("checkpoint_every_steps", None)


def launch_tags(request: dict) -> dict[str, str]:
    return {
        t["Key"]: t["Value"]
        for spec in request["TagSpecifications"]
        if spec["ResourceType"] == "instance"
        for t in spec["Tags"]
    }


def test_spot_trials_train_on_their_own_instances_and_a_lost_one_is_recorded(
    airflow_db, pipeline_home, tiny_corpus, testbed, fake_instances
) -> None:
    import optuna
    from mlflow import MlflowClient

    from pipeline import names, tracking
    from pipeline.settings import load_settings, safe_path_part

    with fake_instances(lambda n, _: "run" if n == 1 else "reclaim") as instances:
        run = load_dag("rnn_sweep").test(
            run_conf={
                **testbed.conf(max_attempts=1),
                "corpus_uri": str(tiny_corpus),
                "search_space": SPACE,
                "max_trials": 2,
                "trials_per_round": 2,
                "budget_usd": 5.0,
                "load_test_seconds": 0,
            }
        )
    tis = run.get_task_instances()
    states = {(ti.task_id, ti.map_index): ti.state for ti in tis}
    assert run.state == "success", (states, instances.console())
    group = "spot_trials_round_1"
    assert sorted(states[f"{group}.train_ec2_spot", i] for i in (0, 1)) == ["failed", "success"]
    # nothing trained on the workers: each round's worker trials skipped themselves
    assert {s for (task, _), s in states.items() if task.startswith("trials_round_")} == {"skipped"}
    assert states["sweep_stale_instances", -1] == "success"
    assert states["cleanup_ec2_instances", -1] == "success"
    assert states["tell_round_1", -1] == "success" and states["summarize", -1] == "success"

    # one launch per trial, each its own: a ClientToken, a map_index tag, an S3 prefix
    requests = testbed.launch_requests
    assert len(requests) == 2
    assert len({r["ClientToken"] for r in requests}) == 2
    assert sorted(launch_tags(r)["map_index"] for r in requests) == ["0", "1"]
    assert testbed.live_instances() == []  # the lost trial's instance ended, and cleanup found nothing left
    run_prefix = f"rnn_sweep/{safe_path_part(run.run_id)}"
    trained = next(i for i in (0, 1) if states[f"{group}.train_ec2_spot", i] == "success")
    trial_prefix = f"{run_prefix}/{group}.train_ec2_spot/{trained}"
    keys = set(testbed.s3_keys(run_prefix))
    assert {f"{trial_prefix}/train/model.pt", f"{trial_prefix}/attempts/1.1/DONE"} <= keys
    # the instance role may touch the sweep's prefix (both trials), and nothing else
    policy = testbed.iam.get_role_policy(RoleName="rnn-spot-training", PolicyName="rnn-spot-run-scope")
    resources = {json.dumps(s["Resource"]) for s in policy["PolicyDocument"]["Statement"]}
    assert json.dumps(f"arn:aws:s3:::{testbed.bucket}/{run_prefix}/*") in resources

    # the study: one trial told with its billed training cost, one failed with spot's own reason
    study = optuna.load_study(
        study_name=f"rnn_sweep/{run.run_id}", storage=load_settings().sweep_study_storage
    )
    by_state = {t.state.name: t for t in study.trials}
    assert set(by_state) == {"COMPLETE", "FAIL"}
    assert "spot training gave up" in by_state["FAIL"].user_attrs["reason"]
    tracking.configure()
    client = MlflowClient()
    child = client.get_run(by_state["COMPLETE"].user_attrs["mlflow_run_id"])
    assert child.data.tags[names.TAG_COMPUTE_BACKEND] == "ec2_spot"
    assert child.data.params["compute.backend"] == "ec2_spot"
    assert child.data.metrics[names.COST_TRAIN_USD] > 0
    assert by_state["COMPLETE"].user_attrs["training_usd"] == child.data.metrics[names.COST_TRAIN_USD]
    metrics = json.loads(Path(client.download_artifacts(child.info.run_id, "metrics.json")).read_text())
    [attempt] = metrics["compute"]["attempts"]  # billed from the instance's own attempt
    assert attempt["market"] == "spot" and attempt["outcome"] == "done"
    lost = client.search_runs(
        [child.info.experiment_id], filter_string=f"tags.`{names.TAG_SWEEP_FEASIBLE}` = 'failed'"
    )
    assert [r.info.status for r in lost] == ["FAILED"]  # no MLflow run left RUNNING
