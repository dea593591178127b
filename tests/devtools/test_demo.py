"""The demo's flags become an rnn_retraining conf the DAG takes: your own text, a deliberate corpus change."""

from __future__ import annotations

from pathlib import Path

DAGS = Path(__file__).resolve().parents[2] / "dags"


def test_only_the_flags_given_go_into_the_conf() -> None:
    from devtools.demo import DEMO_LOAD_TEST_SECONDS, build_parser, retraining_conf

    assert retraining_conf(build_parser().parse_args([])) == {"load_test_seconds": DEMO_LOAD_TEST_SECONDS}
    args = build_parser().parse_args(
        [
            "--corpus",
            "/data/tickets.txt",
            "--replace-champion-reason",
            "move to the 2027 tickets",
            "--epochs",
            "1",
        ]
    )
    assert retraining_conf(args) == {
        "epochs": 1,
        "corpus_uri": "/data/tickets.txt",
        "replace_champion_reason": "move to the 2027 tickets",
        "load_test_seconds": DEMO_LOAD_TEST_SECONDS,
    }


def test_the_dag_takes_every_key_the_demo_can_send() -> None:
    from airflow.dag_processing.dagbag import DagBag

    from devtools.demo import build_parser, retraining_conf
    from pipeline.conf import conf_problems

    dag = DagBag(dag_folder=str(DAGS / "rnn_retraining.py")).dags["rnn_retraining"]
    flags = [
        "--corpus",
        "x.txt",
        "--replace-champion-reason",
        "why",
        "--epochs",
        "1",
        "--max-steps-per-epoch",
        "2",
    ]
    conf = retraining_conf(build_parser().parse_args(flags))
    assert conf_problems(conf, dag.params.keys()) == []
    assert dag.params.get_param("replace_champion_reason").schema["maxLength"] == 500
