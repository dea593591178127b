"""devtools.platform_footprint's arithmetic: literal samples, answers worked out by hand."""

from __future__ import annotations

import json
import os
from pathlib import Path
from types import SimpleNamespace

import pytest

from devtools import platform_footprint as fp
from devtools.platform_footprint import (
    MIB,
    ProcessSample,
    RequestLineCounter,
    Sample,
    StoredObject,
    Tick,
)


def proc(
    pid: int,
    *,
    rss_mib: float = 0,
    cpu: float = 0.0,
    created: float = -100.0,
    pss_mib: float | None = None,
    reaped: float = 0.0,
) -> ProcessSample:
    return ProcessSample(
        pid=pid,
        create_time=created,
        rss_bytes=int(rss_mib * MIB),
        cpu_seconds=cpu,
        pss_bytes=None if pss_mib is None else int(pss_mib * MIB),
        reaped_cpu_seconds=reaped,
    )


def test_rss_of_a_component_is_its_process_and_all_descendants_summed() -> None:
    samples = [
        Sample(0.0, (proc(1, rss_mib=100), proc(2, rss_mib=50))),  # 150
        Sample(1.0, (proc(1, rss_mib=100), proc(2, rss_mib=50), proc(3, rss_mib=150, created=0.5))),  # 300
        Sample(2.0, (proc(1, rss_mib=150),)),  # 150
    ]
    footprint = fp.summarize(samples)
    assert footprint.peak_rss_mib == 300
    assert footprint.mean_rss_mib == 200  # (150 + 300 + 150) / 3
    assert footprint.max_processes == 3
    assert footprint.samples == 3
    assert footprint.seconds == 2.0


def test_cpu_seconds_come_from_per_process_deltas() -> None:
    samples = [
        Sample(0.0, (proc(1, cpu=10.0), proc(2, cpu=2.0))),
        # 1 +0.5, 2 +0.25, 3 created since t=0: all its 0.3
        Sample(1.0, (proc(1, cpu=10.5), proc(2, cpu=2.25), proc(3, cpu=0.3, created=0.4))),
        # 1 +0.5; 3 exited after 0.05 more and 1 reaped it (+0.35 reaped) : 0.35 - 0.3 taken back;
        # 4 is old (created long before t=1), new to the tree: adds nothing
        Sample(
            2.0,
            (
                proc(1, cpu=11.0, reaped=0.35),
                proc(2, cpu=2.25),
                proc(4, cpu=5.0, created=-20.0),
            ),
        ),
        # pid 3 again, but a new process (created at 2.5): all its 0.1; 4 +1.0;
        # 5 lived and exited within the interval, reaped by 2: all its 0.2 through 2's reaped CPU
        Sample(
            3.0,
            (
                proc(1, cpu=11.0, reaped=0.35),
                proc(2, cpu=2.25, reaped=0.2),
                proc(3, cpu=0.1, created=2.5),
                proc(4, cpu=6.0, created=-20.0),
            ),
        ),
    ]
    assert fp.cpu_deltas(samples) == pytest.approx([1.05, 0.55, 1.3])
    assert fp.summarize(samples).cpu_seconds == pytest.approx(2.9)


def test_a_child_that_exits_moves_its_whole_life_into_its_parent_once() -> None:
    # 2 ran 100 s before the measurement, then 1 more; when 1 reaps it, 1's reaped CPU grows by 101
    samples = [
        Sample(0.0, (proc(1, cpu=5.0), proc(2, cpu=100.0))),
        Sample(1.0, (proc(1, cpu=5.0), proc(2, cpu=100.5))),
        Sample(2.0, (proc(1, cpu=5.0, reaped=101.0),)),
    ]
    assert fp.cpu_deltas(samples) == pytest.approx([0.5, 0.5])


def test_a_child_gone_before_its_parent_reaps_it_is_made_up_in_the_next_interval() -> None:
    samples = [
        Sample(0.0, (proc(1, cpu=1.0), proc(2, cpu=3.0))),
        Sample(1.0, (proc(1, cpu=1.0),)),  # 2 gone, not yet reaped
        Sample(2.0, (proc(1, cpu=1.0, reaped=3.0),)),
    ]
    assert fp.cpu_deltas(samples) == pytest.approx([-3.0, 3.0])
    assert fp.summarize(samples).cpu_seconds == 0.0


def test_peak_cores_is_the_busiest_five_second_window() -> None:
    times = [float(t) for t in range(11)]
    deltas = [1.0] * 5 + [2.0] * 5  # one core for 5 s, then two
    assert fp.peak_cores(times, deltas) == 2.0


def test_peak_cores_with_uneven_sample_times() -> None:
    # windows end at 6 s (from 0: 10 CPU s / 6 s = 1.667) and 7 s (from 2: 9 / 5 = 1.8);
    # ending at 2 and 4 s they would be shorter than 5 s, so they do not count
    assert fp.peak_cores([0.0, 2.0, 4.0, 6.0, 7.0], [2.0, 2.0, 6.0, 1.0]) == pytest.approx(1.8)


def test_peak_cores_over_a_span_shorter_than_a_window_is_the_span_average() -> None:
    assert fp.peak_cores([0.0, 1.0, 2.0], [1.0, 0.5]) == pytest.approx(0.75)
    assert fp.peak_cores([0.0], []) == 0.0


def test_peak_cores_refuses_mismatched_lengths() -> None:
    with pytest.raises(ValueError, match="3 sample times need 2 CPU deltas, got 1"):
        fp.peak_cores([0.0, 1.0, 2.0], [1.0])


def test_summarize_gives_cpu_and_peak_cores_together() -> None:
    samples = [Sample(float(t), (proc(1, rss_mib=10, cpu=0.5 * t),)) for t in range(11)]
    footprint = fp.summarize(samples)
    assert footprint.cpu_seconds == pytest.approx(5.0)
    assert footprint.peak_cpu_cores == pytest.approx(0.5)


def test_pss_peak_only_over_samples_that_read_it_for_every_process() -> None:
    samples = [
        Sample(0.0, (proc(1, rss_mib=100, pss_mib=60), proc(2, rss_mib=100, pss_mib=40))),  # 100
        Sample(1.0, (proc(1, rss_mib=100, pss_mib=90), proc(2, rss_mib=100))),  # not every process: skipped
        Sample(2.0, (proc(1, rss_mib=100, pss_mib=70), proc(2, rss_mib=100, pss_mib=50))),  # 120
    ]
    assert fp.summarize(samples).peak_pss_mib == 120
    assert fp.summarize(samples[1:2]).peak_pss_mib is None


def test_summarize_refuses_no_samples() -> None:
    with pytest.raises(ValueError, match="no samples"):
        fp.summarize([])


def test_the_total_is_the_simultaneous_sum_not_the_sum_of_peaks() -> None:
    ticks = [
        Tick(0.0, {"worker": (proc(1, rss_mib=300),), "scheduler": (proc(2, rss_mib=100),)}),  # 400
        Tick(1.0, {"worker": (proc(1, rss_mib=100),), "scheduler": (proc(2, rss_mib=200),)}),  # 300
        Tick(2.0, {"worker": (), "scheduler": (proc(2, rss_mib=200),)}),  # worker not running: 200
    ]
    result = fp.summarize_ticks(ticks, ["worker", "scheduler"])
    assert result["worker"].peak_rss_mib == 300
    assert result["worker"].mean_rss_mib == pytest.approx(400 / 3)
    assert result["scheduler"].peak_rss_mib == 200
    assert result["total"].peak_rss_mib == 400
    assert set(result) == {"worker", "scheduler", "total"}


def test_rounded_keeps_the_fields_the_json_names() -> None:
    footprint = fp.summarize([Sample(0.0, (proc(1, rss_mib=1.23456),)), Sample(1.0, (proc(1, rss_mib=1.0),))])
    assert footprint.rounded() == {
        "peak_rss_mib": 1.2,
        "mean_rss_mib": 1.1,
        "cpu_seconds": 0.0,
        "peak_cpu_cores": 0.0,
        "peak_pss_mib": None,
        "max_processes": 1,
        "samples": 2,
        "seconds": 1.0,
    }


@pytest.mark.parametrize(
    ("key", "group"),
    [
        ("data/rnn_retraining/run_1/train/metrics.json", "s3://b/data/rnn_retraining/"),
        ("data/reports/weekly_cost_report/2026-12-07/report.json", "s3://b/data/reports/"),
        ("mlflow/1/abc/artifacts/model.pt", "s3://b/mlflow/"),
        ("data/top.json", "s3://b/data/"),
        ("top.json", "s3://b/"),
    ],
)
def test_prefix_groups(key: str, group: str) -> None:
    assert fp.prefix_group("b", key) == group


def test_written_counts_new_and_changed_objects_by_prefix() -> None:
    before = {
        ("b", "mlflow/1/r/a.txt"): StoredObject(10, '"e1"'),
        ("b", "data/spot/x.json"): StoredObject(20, '"e2"'),
        ("b", "data/spot/gone.json"): StoredObject(99, '"e3"'),
    }
    after = {
        ("b", "mlflow/1/r/a.txt"): StoredObject(10, '"e1"'),  # unchanged
        ("b", "data/spot/x.json"): StoredObject(25, '"e4"'),  # rewritten: 25
        ("b", "mlflow/1/r/model.pt"): StoredObject(1000, '"e5"'),  # new: 1000
        ("b", "mlflow/1/r/MLmodel"): StoredObject(300, '"e6"'),  # new: 300
        ("other", "data/focus/rows.csv"): StoredObject(7, '"e7"'),  # another bucket: 7
    }  # data/spot/gone.json deleted: nothing written
    writes = fp.written(before, after)
    assert writes.bytes_by_prefix == {
        "s3://b/data/spot/": 25,
        "s3://b/mlflow/": 1300,
        "s3://other/data/focus/": 7,
    }
    assert writes.objects_by_prefix == {
        "s3://b/data/spot/": 1,
        "s3://b/mlflow/": 2,
        "s3://other/data/focus/": 1,
    }
    assert (writes.bytes_total, writes.objects_total) == (1332, 4)


def test_request_lines_are_counted_by_method_across_chunk_boundaries() -> None:
    stream = (
        b"PUT /rnn-pipeline/data/a.json HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\n{}"
        b"GET /rnn-pipeline?list-type=2&prefix=data%2F HTTP/1.1\r\nHost: x\r\n\r\n"
        b"PUT /rnn-pipeline/mlflow/1/r/artifacts/model.pt HTTP/1.1\r\nContent-Length: 3\r\n\r\nabc"
        b"POST /rnn-pipeline/big?uploads HTTP/1.1\r\n\r\n"
    )
    for size in (1, 7, 64, len(stream)):
        counter = RequestLineCounter()
        for start in range(0, len(stream), size):
            counter.feed(stream[start : start + size])
        assert counter.counts == {"PUT": 2, "GET": 1, "POST": 1}, size


def test_request_counts_between_two_snapshots() -> None:
    assert fp.counts_between({"PUT": 3, "GET": 10}, {"PUT": 8, "GET": 10, "HEAD": 2}) == {"HEAD": 2, "PUT": 5}


def test_a_tree_is_the_root_and_all_its_descendants() -> None:
    parents = {1: 0, 10: 1, 11: 10, 12: 10, 13: 11, 20: 1, 30: 99}
    assert fp.tree_pids(10, parents) == [10, 11, 13, 12]
    assert fp.tree_pids(30, parents) == [30]
    assert fp.tree_pids(1, parents) == [1, 10, 11, 13, 12, 20]
    assert fp.tree_pids(42, parents) == []  # gone


def test_the_sampler_reads_this_process_and_a_missing_component_as_empty() -> None:
    sampler = fp.Sampler(lambda: {"me": os.getpid(), "stopped": None}, interval_seconds=0.1)
    tick = sampler.tick()
    assert tick.components["me"][0].pid == os.getpid()
    assert tick.components["me"][0].rss_bytes > 0
    assert tick.components["me"][0].pss_bytes is not None  # the first tick reads PSS
    assert tick.components["stopped"] == ()
    second = sampler.tick()
    assert second.components["me"][0].pss_bytes is None  # not again within 5 s
    assert sampler.latest() is second
    assert sampler.ticks(start=second.t) == [second]


def test_the_sampler_refuses_a_zero_interval() -> None:
    with pytest.raises(ValueError, match="interval_seconds must be > 0"):
        fp.Sampler(dict, interval_seconds=0)


def test_help_describes_the_measurement(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        fp.main(["--help"])
    assert exit_info.value.code == 0
    assert "include/platform_footprint.json" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--interval-seconds", "0"], "--interval-seconds: must be a finite number > 0, got 0"),
        (["--timeout-minutes", "soon"], "--timeout-minutes: must be a number, got 'soon'"),
    ],
)
def test_bad_arguments_exit_2_with_one_message(
    argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exit_info:
        fp.main(argv)
    assert exit_info.value.code == 2
    assert message in capsys.readouterr().err


def test_a_used_state_dir_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "topology.json").write_text("{}")
    with pytest.raises(SystemExit) as exit_info:
        fp.main(["--state-dir", str(tmp_path)])
    assert exit_info.value.code == 2
    assert "is not empty" in capsys.readouterr().err


class _FakeTopology:
    secrets_backend = "env"  # pragma: allowlist secret (where the connections come from, not a secret)
    scheduled_runs = False

    def components(self) -> list[SimpleNamespace]:
        return [SimpleNamespace(name=n) for n in ("mlflow", "airflow-worker-1", "airflow-worker-2")]

    def airflow_env(self, service: str) -> dict[str, str]:
        return {"AIRFLOW__CELERY__WORKER_CONCURRENCY": "2"}


def _fake_measurement() -> SimpleNamespace:
    ticks = [
        Tick(
            float(t),
            {
                "mlflow": (proc(1, rss_mib=800 + 10 * t, cpu=0.1 * t),),
                "airflow-worker-1": (proc(2, rss_mib=1000, cpu=0.0),),
                "airflow-worker-2": (proc(3, rss_mib=1500 if t >= 40 else 1000, cpu=0.9 * t),),
            },
        )
        for t in range(0, 101)
    ]
    sampler = SimpleNamespace(
        interval_seconds=1.0,
        ticks=lambda start=None, end=None: [t for t in ticks if start <= t.t <= end],
    )
    return SimpleNamespace(topology=_FakeTopology(), sampler=sampler, dag_count=6, import_errors=0)


def _run(dag_id: str, start: float, end: float, written: dict[str, int]) -> fp.RunMeasurement:
    return fp.RunMeasurement(
        dag_id=dag_id,
        run_id=f"api__{dag_id}",
        state="success",
        started_at=start,
        ended_at=end,
        writes=fp.Writes(written, {prefix: 2 for prefix in written}),
        requests_by_method={"PUT": 5},
        database_growth_bytes={"airflow": 8192, "mlflow": 0},
        host_busy_cpu_seconds=70.0,
        conf={"epochs": 2},
    )


def test_the_document_describes_the_retraining_run_and_keeps_the_rest_beside_it() -> None:
    retraining = _run(
        "rnn_retraining", 30.0, 80.0, {"s3://b/mlflow/": 3000, "s3://b/data/rnn_retraining/": 1000}
    )
    recompute = _run("cost_recompute", 85.0, 100.0, {"s3://b/data/cost_recompute/": 10})
    document = fp.build_document(_fake_measurement(), (0.0, 29.0), [retraining, recompute])

    assert document["schema_version"] == 1
    assert (document["dags"], document["worker_concurrency"], document["celery_workers"]) == (6, 2, 2)
    assert list(document["components"]) == ["mlflow", "airflow-worker-1", "airflow-worker-2"]
    # over the retraining run, 30..80 s: mlflow grows 10 MiB/s at 0.1 cores; worker 2 uses 0.9 cores and
    # holds 1500 MiB from 40 s
    assert document["components"]["mlflow"]["peak_rss_mib"] == 1600
    assert document["components"]["mlflow"]["cpu_seconds"] == 5.0
    assert document["components"]["airflow-worker-2"]["peak_rss_mib"] == 1500
    assert document["components"]["airflow-worker-2"]["cpu_seconds"] == 45.0
    assert document["components"]["airflow-worker-2"]["peak_cpu_cores"] == 0.9
    assert document["total"]["peak_rss_mib"] == 1600 + 1000 + 1500
    assert document["total"]["cpu_seconds"] == 50.0
    assert document["idle"]["components"]["airflow-worker-2"]["peak_rss_mib"] == 1000
    assert document["idle"]["seconds"] == 29.0

    run = document["run"]
    assert (run["dag_id"], run["wall_seconds"], run["objects_written"]) == ("rnn_retraining", 50.0, 4)
    assert run["bytes_written"] == {"s3://b/mlflow/": 3000, "s3://b/data/rnn_retraining/": 1000}
    assert run["bytes_written_total"] == 4000
    assert run["s3_requests_by_method"] == {"PUT": 5}
    assert "components" not in run
    assert [r["dag_id"] for r in document["other_runs"]] == ["cost_recompute"]
    assert document["other_runs"][0]["components"]["mlflow"]["peak_rss_mib"] == 1800  # at 100 s
    json.dumps(document)  # all of it is JSON


def test_the_cost_model_reads_the_document() -> None:
    from costing.model.pipeline_platform import PlatformFootprint

    retraining = _run(
        "rnn_retraining", 30.0, 80.0, {"s3://b/mlflow/": 3000, "s3://b/data/rnn_retraining/": 1000}
    )
    document = fp.build_document(_fake_measurement(), (0.0, 29.0), [retraining])
    footprint = PlatformFootprint.from_json_dict(document, source="test")
    assert footprint.dags == 6
    assert footprint.worker_concurrency == 2
    assert footprint.run_wall_seconds == 50.0
    assert footprint.bytes_per_run == 4000
    assert set(footprint.components) == {"mlflow", "airflow-worker-1", "airflow-worker-2"}
