"""The instance's user data: rendered under EC2's size limit as valid bash that runs the shared training
command; and its interruption watcher, on its own: the rendered script is sourced (which only defines its
functions), ``watch_spot_notice`` watches a fake trainer, and IMDS is the ``imds`` fixture on 127.0.0.1."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

# -- rendering ------------------------------------------------------------------------------------------------


def render(tmp_path: Path, **overrides) -> Path:
    from pipeline.spot.layout import RunLayout
    from pipeline.spot.userdata import UserDataInputs, render_user_data

    inputs = {
        "layout": RunLayout("rnn-spot-test", "rnn_retraining", "manual__2026-03-02T10:00:00+00:00"),
        "region": "us-east-1",
        "attempt_label": "1.2",
        "market": "spot",
        "wheel_filename": "rnn_trainer-0.1.0-py3-none-any.whl",
        "mlflow_run_id": "f" * 32,
        "max_runtime_seconds": 3600,
        "dataset_sha256": "a" * 64,
        **overrides,
    }
    path = tmp_path / "user_data.sh"
    path.write_text(render_user_data(UserDataInputs(**inputs)))
    return path


def test_user_data_is_valid_bash_under_the_ec2_limit_and_runs_the_shared_training_command(
    tmp_path: Path,
) -> None:
    from pipeline.spot.layout import RunLayout
    from pipeline.spot.userdata import USER_DATA_LIMIT_BYTES, training_arguments

    script = render(tmp_path)
    text = script.read_text()
    assert len(text.encode()) < USER_DATA_LIMIT_BYTES
    assert subprocess.run(["bash", "-n", str(script)], capture_output=True).returncode == 0
    # the array the script runs, as bash itself parses it
    line = next(line for line in text.splitlines() if line.strip().startswith("TRAIN_ARGS=("))
    parsed = (
        subprocess.run(
            ["bash", "-c", f'WORK=/work; {line}; printf "%s\\0" "${{TRAIN_ARGS[@]}}"'],
            capture_output=True,
            check=True,
        )
        .stdout.decode()
        .split("\0")[:-1]
    )
    layout = RunLayout("rnn-spot-test", "rnn_retraining", "manual__2026-03-02T10:00:00+00:00")
    assert parsed == training_arguments(
        layout, mlflow_run_id="f" * 32, config_path="/work/config.json", dataset_sha256="a" * 64
    )
    assert parsed[:3] == ["-m", "rnn", "train"] and "--resume" in parsed
    # validated on the worker; the instance trains on exactly those bytes
    assert parsed[-3:] == ["--skip-validation", "--expect-sha256", "a" * 64]
    assert (
        parsed[parsed.index("--out-dir") + 1]
        == "s3://rnn-spot-test/rnn_retraining/manual__2026-03-02T10_00_00_00_00/train"
    )
    assert "s3://rnn-spot-test/rnn_retraining/manual__2026-03-02T10_00_00_00_00/attempts/1.2" in text
    assert "X-aws-ec2-metadata-token" in text and "spot/instance-action" in text


# -- the interruption watcher ----------------------------------------------------------------------------------

# A stand-in for `python -m rnn train`: records the signals it gets, exits 75 on SIGTERM like rnn does.
FAKE_TRAINER = """
import signal, sys, time
log = open(sys.argv[1], "a", buffering=1)
def on(signum, frame):
    log.write(f"{signal.Signals(signum).name} {time.monotonic():.3f}\\n")
    if signum == signal.SIGTERM:
        sys.exit(75)
signal.signal(signal.SIGUSR1, on)
signal.signal(signal.SIGTERM, on)
log.write("ready\\n")
while True:
    time.sleep(0.02)
"""


def start_trainer(tmp_path: Path) -> tuple[subprocess.Popen, Path]:
    signals = tmp_path / "signals.log"
    trainer = subprocess.Popen([sys.executable, "-c", FAKE_TRAINER, str(signals)])
    deadline = time.monotonic() + 30
    while not (signals.exists() and "ready" in signals.read_text()):
        assert time.monotonic() < deadline, "fake trainer did not start"
        time.sleep(0.02)
    return trainer, signals


def watch(script: Path, trainer_pid: int, home: Path, imds_url: str, grace: str = "0.5") -> subprocess.Popen:
    (home / "work").mkdir(parents=True, exist_ok=True)
    env = {
        **os.environ,
        "RNN_SPOT_HOME": str(home),
        "RNN_SPOT_IMDS": imds_url,
        "RNN_SPOT_NOTICE_POLL_SECONDS": "0.1",
        "RNN_SPOT_NOTICE_GRACE_SECONDS": grace,
    }
    return subprocess.Popen(
        ["bash", "-c", 'source "$0"; watch_spot_notice "$1"', str(script), str(trainer_pid)], env=env
    )


@pytest.mark.integration
def test_notice_checkpoints_at_once_then_stops_the_trainer(tmp_path: Path, imds) -> None:
    trainer, signals = start_trainer(tmp_path)
    watcher = watch(render(tmp_path), trainer.pid, tmp_path, imds.url_for("i-0abc"))
    try:
        time.sleep(0.6)  # several polls without a notice: nothing happens
        assert signals.read_text() == "ready\n"
        imds.notice("i-0abc")
        assert trainer.wait(timeout=30) == 75
        assert watcher.wait(timeout=30) == 0
    finally:
        for proc in (trainer, watcher):
            if proc.poll() is None:
                proc.kill()

    usr1, term = signals.read_text().splitlines()[1:]
    assert usr1.startswith("SIGUSR1") and term.startswith("SIGTERM")
    assert float(term.split()[1]) - float(usr1.split()[1]) >= 0.45  # trained on through the grace period
    assert '"action": "terminate"' in (tmp_path / "work" / "notice").read_text()
    # IMDSv2 only: every metadata GET carried a session token from a PUT
    assert imds.requests and all(valid for method, _, valid in imds.requests if method == "GET")
    assert ("PUT", "latest/api/token", False) in imds.requests


@pytest.mark.integration
def test_max_runtime_stops_the_trainer_and_says_why(tmp_path: Path, imds) -> None:
    trainer, signals = start_trainer(tmp_path)
    watcher = watch(render(tmp_path, max_runtime_seconds=1), trainer.pid, tmp_path, imds.url_for("i-0abc"))
    try:
        assert trainer.wait(timeout=30) == 75
        watcher.wait(timeout=30)
    finally:
        for proc in (trainer, watcher):
            if proc.poll() is None:
                proc.kill()
    assert [line.split()[0] for line in signals.read_text().splitlines()[1:]] == ["SIGTERM"]
    assert "exceeded max runtime of 1 s" in (tmp_path / "work" / "timed_out").read_text()


# -- where torch comes from -------------------------------------------------------------------------------------


def test_cpu_instance_types_get_torch_from_the_pytorch_cpu_index() -> None:
    from pipeline.spot.userdata import PYTORCH_CPU_INDEX, torch_index_url

    for cpu in ("r6i.xlarge", "t3.small", "c7g.large", "m7i-flex.large"):
        assert torch_index_url(cpu) == PYTORCH_CPU_INDEX, cpu
    for accelerated in ("g5.xlarge", "p4d.24xlarge", "g4dn.xlarge", "inf2.xlarge", "trn1.2xlarge"):
        assert torch_index_url(accelerated) == "", accelerated
    assert torch_index_url("r6i.xlarge", "pypi") == ""
    assert (
        torch_index_url("r6i.xlarge", "https://mirror.example/torch-cpu")
        == "https://mirror.example/torch-cpu"
    )


def test_a_torch_index_setting_that_is_no_url_is_refused() -> None:
    import pytest

    from pipeline.spot.userdata import torch_index_url

    with pytest.raises(ValueError, match="RNN_SPOT_TORCH_INDEX_URL='cpu'"):
        torch_index_url("r6i.xlarge", "cpu")


def _install(tmp_path: Path, *, index: str, baked: bool) -> list[str]:
    """Run the script's install_bundle with dnf, aws, python3.11 and the venv faked; what pip was asked."""
    script = render(tmp_path, torch_index_url=index)
    fakes, home = tmp_path / "bin", tmp_path / "spot-home"
    fakes.mkdir()
    calls = tmp_path / "calls.txt"
    venv_bin = home / "venv" / "bin"
    pip = f'#!/bin/bash\necho "pip $*" >> {calls}\n'
    python = "#!/bin/bash\n" + ("exit 0\n" if baked else "exit 1\n")  # `import torch, ...` works if baked
    (tmp_path / "fake-pip").write_text(pip)
    make_venv = f"#!/bin/bash\nmkdir -p {venv_bin}\ncp {tmp_path / 'fake-pip'} {venv_bin}/pip\nchmod +x {venv_bin}/pip\n"
    for name, body in (
        ("dnf", f'#!/bin/bash\necho "dnf $*" >> {calls}\n'),
        ("aws", f'#!/bin/bash\necho "aws $*" >> {calls}\n'),
        ("python3.11", make_venv),
    ):
        (fakes / name).write_text(body)
        (fakes / name).chmod(0o755)
    if baked:
        venv_bin.mkdir(parents=True)
        for name, body in (("python", python), ("pip", pip)):
            (venv_bin / name).write_text(body)
            (venv_bin / name).chmod(0o755)
    env = {**os.environ, "PATH": f"{fakes}:{os.environ['PATH']}", "RNN_SPOT_HOME": str(home)}
    result = subprocess.run(
        ["bash", "-c", f'source {script}; mkdir -p "$WORK"; install_bundle'],
        env=env,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return calls.read_text().splitlines()


def test_install_takes_torch_from_the_cpu_index_and_the_rest_from_pypi(tmp_path: Path) -> None:
    from pipeline.spot.userdata import PYTORCH_CPU_INDEX

    calls = _install(tmp_path, index=PYTORCH_CPU_INDEX, baked=False)
    assert calls[0].startswith("dnf install -y -q python3.11")
    [pip] = [c for c in calls if c.startswith("pip ")]
    assert pip.startswith(f"pip install -q --extra-index-url {PYTORCH_CPU_INDEX} ")
    assert pip.endswith("/rnn_trainer-0.1.0-py3-none-any.whl")


def test_install_on_a_gpu_type_uses_pypi_alone(tmp_path: Path) -> None:
    calls = _install(tmp_path, index="", baked=False)
    [pip] = [c for c in calls if c.startswith("pip ")]
    assert "--extra-index-url" not in pip


def test_an_ami_with_the_dependencies_baked_in_installs_only_the_bundle(tmp_path: Path) -> None:
    from pipeline.spot.userdata import PYTORCH_CPU_INDEX

    calls = _install(tmp_path, index=PYTORCH_CPU_INDEX, baked=True)
    assert not [c for c in calls if c.startswith("dnf ")]
    [pip] = [c for c in calls if c.startswith("pip ")]
    assert pip.startswith("pip install -q --no-deps --force-reinstall ")
