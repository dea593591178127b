#!/bin/bash
# rnn-cost-pipeline: spot training of {{ dag_id }} / {{ run_id }}, attempt {{ attempt_label }} ({{ market }}).
# Rendered by pipeline.spot.userdata from include/spot/user_data.sh; cloud-init runs it once, as root.
#
#  1. install the training bundle (a wheel of rnn/) into a venv: torch from PyTorch's CPU index on CPU
#     instance types (PyPI's x86_64 wheel is the CUDA build: GBs of nvidia-* wheels), or only the
#     bundle when the AMI has the dependencies baked into $RNN_SPOT_HOME/venv (docs/spot-ec2.md)
#  2. run `python -m rnn train`: outputs and checkpoint on S3, resuming from the latest checkpoint
#  3. watch the spot interruption notice (IMDSv2 spot/instance-action): checkpoint at once
#     (SIGUSR1), then stop after a final checkpoint (SIGTERM, exit 75) before EC2 reclaims the instance
#  4. upload the log, then one outcome marker (DONE | INTERRUPTED | FAILED), then shut down:
#     InstanceInitiatedShutdownBehavior=terminate, so shutting down terminates and stops billing.
#
# Everything outside this instance can be pointed elsewhere from the environment; the tests run
# this very script against moto's S3 and a fake IMDS on 127.0.0.1.
set -uo pipefail

export AWS_DEFAULT_REGION={{ region | q }}
BUNDLE_URI={{ bundle_uri | q }}
CONFIG_URI={{ config_uri | q }}
LOG_URI={{ log_uri | q }}
MARKER_URI_PREFIX={{ marker_uri_prefix | q }}
MAX_RUNTIME_SECONDS={{ max_runtime_seconds | q }}
TORCH_INDEX_URL={{ torch_index_url | q }}   # empty: PyPI only (GPU instance types get the CUDA build)

: "${RNN_SPOT_HOME:=/opt/rnn-spot}"            # working directory on the instance
: "${RNN_SPOT_PYTHON:=}"                       # a python with the bundle installed; empty: install it
: "${RNN_SPOT_IMDS:=http://169.254.169.254}"   # instance metadata service (IMDSv2 only)
: "${RNN_SPOT_SHUTDOWN:=shutdown -h now}"
: "${RNN_SPOT_NOTICE_POLL_SECONDS:=5}"         # AWS: check the notice every 5 s
: "${RNN_SPOT_NOTICE_GRACE_SECONDS:=60}"       # train on for this long after the notice (2 min warning)

WORK="$RNN_SPOT_HOME/work"
LOG="$WORK/instance.log"
PY="${RNN_SPOT_PYTHON:-$RNN_SPOT_HOME/venv/bin/python}"

log() { echo "$(date -u +%Y-%m-%dT%H:%M:%SZ) rnn-spot: $*"; }

imds() {  # imds <path>: GET latest/<path> with an IMDSv2 session token (a timeout is retried, as the SDKs do)
  local token
  token=$(curl -sf -m 2 --retry 3 -X PUT "$RNN_SPOT_IMDS/latest/api/token" \
    -H "X-aws-ec2-metadata-token-ttl-seconds: 300") || return 1
  curl -sf -m 2 --retry 3 -H "X-aws-ec2-metadata-token: $token" "$RNN_SPOT_IMDS/latest/$1"
}

s3_put() {  # s3_put <local file> <s3 uri>
  "$PY" -c 'import sys, fsspec
with open(sys.argv[1], "rb") as src, fsspec.open(sys.argv[2], "wb") as dst:
    dst.write(src.read())' "$1" "$2"
}

s3_get() {  # s3_get <s3 uri> <local file>
  "$PY" -c 'import sys, fsspec
with fsspec.open(sys.argv[1], "rb") as src, open(sys.argv[2], "wb") as dst:
    dst.write(src.read())' "$1" "$2"
}

install_bundle() {
  if [[ -n "$RNN_SPOT_PYTHON" ]]; then
    log "using $RNN_SPOT_PYTHON (bundle preinstalled)"
    return 0
  fi
  local venv="$RNN_SPOT_HOME/venv" wheel
  wheel="$WORK/$(basename "$BUNDLE_URI")"
  if [[ -x "$venv/bin/python" ]] && "$venv/bin/python" -c 'import torch, fsspec, s3fs, tqdm' 2>/dev/null; then
    log "dependencies baked into the AMI ($venv); installing only the bundle $BUNDLE_URI"
    aws s3 cp --only-show-errors "$BUNDLE_URI" "$WORK/" || return 1
    "$venv/bin/pip" install -q --no-deps --force-reinstall "$wheel" || return 1
    return 0
  fi
  log "installing python3.11 and the bundle $BUNDLE_URI${TORCH_INDEX_URL:+ (torch from $TORCH_INDEX_URL)}"
  dnf install -y -q python3.11 python3.11-pip || return 1
  python3.11 -m venv "$venv" || return 1
  aws s3 cp --only-show-errors "$BUNDLE_URI" "$WORK/" || return 1
  "$venv/bin/pip" install -q ${TORCH_INDEX_URL:+--extra-index-url "$TORCH_INDEX_URL"} "$wheel" || return 1
}

watch_spot_notice() {  # watch_spot_notice <trainer pid>: also enforces MAX_RUNTIME_SECONDS
  local trainer=$1 started=$SECONDS notice
  while kill -0 "$trainer" 2>/dev/null; do
    if notice=$(imds meta-data/spot/instance-action); then
      log "spot interruption notice: $notice; checkpointing now"
      echo "$notice" > "$WORK/notice"
      kill -USR1 "$trainer" 2>/dev/null
      sleep "$RNN_SPOT_NOTICE_GRACE_SECONDS"
      log "stopping the trainer (final checkpoint) before EC2 reclaims the instance"
      kill -TERM "$trainer" 2>/dev/null
      return 0
    fi
    if (( SECONDS - started > MAX_RUNTIME_SECONDS )); then
      log "training exceeded ${MAX_RUNTIME_SECONDS} s; stopping it"
      echo "training exceeded max runtime of ${MAX_RUNTIME_SECONDS} s" > "$WORK/timed_out"
      kill -TERM "$trainer" 2>/dev/null
      return 0
    fi
    sleep "$RNN_SPOT_NOTICE_POLL_SECONDS"
  done
}

write_outcome() {  # write_outcome <DONE|INTERRUPTED|FAILED> <exit code> <reason>
  local instance_id
  instance_id=$(imds meta-data/instance-id) || instance_id=unknown
  printf '{"outcome": "%s", "exit_code": %s, "instance_id": "%s", "reason": "%s", "at": "%s", "training_started_at": "%s"}\n' \
    "$1" "$2" "$instance_id" "$3" "$(date -u +%Y-%m-%dT%H:%M:%SZ)" "${TRAINING_STARTED_AT:-}" > "$WORK/$1"
  s3_put "$LOG" "$LOG_URI" || log "could not upload the log"
  s3_put "$WORK/$1" "$MARKER_URI_PREFIX/$1" || log "could not write the $1 marker"
}

finish() {
  log "shutting down"
  $RNN_SPOT_SHUTDOWN
}

main() {
  mkdir -p "$WORK"
  exec > >(tee -a "$LOG") 2>&1
  trap finish EXIT
  if ! install_bundle; then
    log "installing the bundle failed"
    write_outcome FAILED 1 "installing the bundle failed"
    return 1
  fi
  s3_get "$CONFIG_URI" "$WORK/config.json" || { write_outcome FAILED 1 "cannot read $CONFIG_URI"; return 1; }

  # --- training command (rendered from pipeline.spot.userdata.training_arguments) ---
  TRAIN_ARGS=({{ train_args }})
  # --- end training command ---
  log "running $PY ${TRAIN_ARGS[*]}"
  TRAINING_STARTED_AT=$(date -u +%Y-%m-%dT%H:%M:%SZ)  # launch to here: the boot + install overhead
  "$PY" "${TRAIN_ARGS[@]}" &
  local trainer=$!
  watch_spot_notice "$trainer" &
  local watcher=$!
  wait "$trainer"
  local code=$?
  kill "$watcher" 2>/dev/null
  wait "$watcher" 2>/dev/null
  log "trainer exited with $code"

  if [[ -f "$WORK/timed_out" ]]; then
    write_outcome FAILED "$code" "$(cat "$WORK/timed_out")"
  elif [[ $code -eq 0 ]]; then
    write_outcome DONE 0 "training finished"
  elif [[ $code -eq 75 || -f "$WORK/notice" ]]; then
    write_outcome INTERRUPTED "$code" "stopped on a spot interruption notice (exit 75: after a checkpoint)"
  else
    write_outcome FAILED "$code" "python -m rnn train exited with $code; see the log"
  fi
}

# Run when executed (cloud-init); only define the functions when sourced (tests).
if [[ "${BASH_SOURCE[0]}" == "$0" ]]; then
  main "$@"
fi
