"""The instance's user data: ``include/spot/user_data.sh`` rendered for one attempt.

:func:`training_arguments` is the one definition of the training command; the script runs exactly
``$PY <training_arguments...>`` (the tests run the rendered script itself as the "instance").
EC2 limits user data to 16 KB before base64; :func:`render_user_data` refuses anything larger.

Where the instance gets torch (:func:`torch_index_url`): on x86_64 ``pip install torch==2.13.0``
from PyPI is the CUDA build (several GB of nvidia-* wheels: minutes of install on every attempt and
a bigger root volume), so CPU instance types install it from PyTorch's CPU index; GPU types (p*, g*,
and the accelerator families) keep PyPI's. ``RNN_SPOT_TORCH_INDEX_URL`` overrides it: ``pypi``, or
the URL of a mirror for custom AMIs. An AMI with the dependencies baked in installs nothing but
the bundle (docs/spot-ec2.md).
"""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass

from pipeline.settings import TORCH_INDEX_AUTO
from pipeline.spot.layout import USER_DATA_TEMPLATE, RunLayout

USER_DATA_LIMIT_BYTES = 16 * 1024
PYTORCH_CPU_INDEX = "https://download.pytorch.org/whl/cpu"
PYPI_ONLY = "pypi"
# Instance families with GPUs or other accelerators: PyPI's (CUDA) torch is the one they want.
ACCELERATED_FAMILY = re.compile(r"^(p|g|dl|inf|trn|vt|f)\d")
# The config file the script downloads from the bundle; a shell expression, expanded on the instance.
CONFIG_PATH_ON_INSTANCE = "$WORK/config.json"


@dataclass(frozen=True)
class UserDataInputs:
    layout: RunLayout
    region: str
    attempt_label: str  # "<task try>.<attempt>"
    market: str
    wheel_filename: str
    mlflow_run_id: str
    max_runtime_seconds: int
    torch_index_url: str = ""  # extra pip index for torch; empty: PyPI only
    dataset_sha256: str = ""  # of the validated corpus: the instance trains on exactly those bytes


def torch_index_url(instance_type: str, setting: str = TORCH_INDEX_AUTO) -> str:
    """The extra index the instance installs torch from: "" (PyPI only) or a URL."""
    if setting == PYPI_ONLY:
        return ""
    if setting != TORCH_INDEX_AUTO:
        if not setting.startswith(("https://", "http://")):
            raise ValueError(
                f"RNN_SPOT_TORCH_INDEX_URL={setting!r}: use {TORCH_INDEX_AUTO!r}, {PYPI_ONLY!r} or an index URL"
            )
        return setting
    return "" if ACCELERATED_FAMILY.match(instance_type) else PYTORCH_CPU_INDEX


def training_arguments(
    layout: RunLayout,
    *,
    mlflow_run_id: str,
    config_path: str = CONFIG_PATH_ON_INSTANCE,
    dataset_sha256: str = "",
) -> list[str]:
    """Arguments after the interpreter: train with outputs and checkpoint on S3, resuming if one exists.

    The corpus was validated on the worker (``validate_dataset``) and the instance has no Great
    Expectations: it skips the suite and refuses any bytes but the validated ones (``--expect-sha256``).
    """
    checked = ["--expect-sha256", dataset_sha256] if dataset_sha256 else []
    return [
        "-m",
        "rnn",
        "train",
        "--out-dir",
        layout.train_uri,
        "--checkpoint",
        layout.checkpoint_uri,
        "--config",
        config_path,
        "--resume",
        "--no-progress",
        "--run-id",
        mlflow_run_id,
        "--skip-validation",
        *checked,
    ]


def _shell_word(argument: str) -> str:
    if argument == CONFIG_PATH_ON_INSTANCE:
        return f'"{argument}"'  # expanded by the shell on the instance
    return shlex.quote(argument)


def render_user_data(inputs: UserDataInputs) -> str:
    import jinja2

    layout = inputs.layout
    env = jinja2.Environment(undefined=jinja2.StrictUndefined, autoescape=False, keep_trailing_newline=True)
    env.filters["q"] = lambda value: shlex.quote(str(value))
    template = env.from_string(USER_DATA_TEMPLATE.read_text())
    arguments = training_arguments(
        layout, mlflow_run_id=inputs.mlflow_run_id, dataset_sha256=inputs.dataset_sha256
    )
    script = template.render(
        dag_id=layout.dag_id,
        run_id=layout.run_id,
        attempt_label=inputs.attempt_label,
        market=inputs.market,
        region=inputs.region,
        bundle_uri=layout.uri("bundle", inputs.wheel_filename),
        config_uri=f"s3://{layout.bucket}/{layout.config_key}",
        log_uri=f"s3://{layout.bucket}/{layout.log_key(inputs.attempt_label)}",
        marker_uri_prefix=layout.uri("attempts", inputs.attempt_label),
        max_runtime_seconds=int(inputs.max_runtime_seconds),
        torch_index_url=inputs.torch_index_url,
        train_args=" ".join(_shell_word(argument) for argument in arguments),
    )
    size = len(script.encode("utf-8"))
    if size > USER_DATA_LIMIT_BYTES:
        raise ValueError(
            f"rendered user data is {size} bytes; EC2 accepts at most {USER_DATA_LIMIT_BYTES} "
            f"(shorten {USER_DATA_TEMPLATE})"
        )
    return script
