"""The spot ledger: the overhead earlier spot runs measured, for every estimate of a run not yet billed."""

from __future__ import annotations


def test_the_ledger_of_earlier_spot_runs_measures_the_overhead() -> None:
    from pipeline.spot.ledger import run_overhead

    def document(day: int, boot: str, finished: str) -> dict:
        at = f"2026-01-{day:02d}T"
        return {
            "compute": {
                "attempts": [
                    {
                        "instance_type": "r6i.xlarge",
                        "launched_at": at + "10:00:00Z",
                        "training_started_at": at + boot + "Z",
                        "terminated_at": at + "10:30:00Z",
                    }
                ]
            },
            "training": {"segments": [{"started_at": at + boot + "Z", "finished_at": at + finished + "Z"}]},
        }

    # boots 130, 100, 180 s; uploads 25, 35, 30 s -> 130 + 30 = 160 s
    earlier = [
        document(5, "10:02:10", "10:29:35"),
        document(6, "10:01:40", "10:29:25"),
        document(7, "10:03:00", "10:29:30"),
    ]
    overhead = run_overhead("r6i.xlarge", earlier)
    assert (overhead.seconds, overhead.attempts) == (160.0, 3)
    assert overhead.source.startswith("measured on 3 earlier spot attempts on r6i.xlarge")
    assert run_overhead("r6i.xlarge", []).source.startswith("default 300 s, not measured on this account")
