"""The spot EC2 testbed, as fixtures: ``testbed`` (moto server + the AWS resources the README lists),
``fake_instances`` (plays each launched instance by running its user data) and ``imds`` (a fake IMDSv2).

Tests use the fixtures, never the classes: ``with fake_instances(lambda n, instance_id: "run") as played:``.
"""

from __future__ import annotations

import pytest
from helpers import free_port

# -- Spot EC2 testbed: moto in server mode, a fake IMDS, and "instances" that run the real user data ---------
#
# Everything listens on 127.0.0.1. moto runs in this process (ThreadedMotoServer), so the tests reach its
# backends directly: to set an instance's state reason to Server.SpotInstanceTermination, and to answer
# describe_spot_price_history with realistic records (moto's own answer is a placeholder price).
# Each launched instance is played by a `bash <its user data>` subprocess: the script the launch request
# carried, with only the outside world redirected (moto's S3 via AWS_ENDPOINT_URL, the fake IMDS, this
# venv's python as the installed bundle, `true` as shutdown).

ACCOUNT_ID = "123456789012"
SPOT_REGION = "us-east-1"
SPOT_BUCKET = "rnn-spot-test"
# Realistic r6i.xlarge Linux spot prices (USD/h) per AZ, in force from an hour before the test.
SPOT_PRICES = {"us-east-1a": 0.0826, "us-east-1b": 0.0791, "us-east-1c": 0.0853, "us-east-1d": 0.0804}


class FakeImds:
    """IMDSv2 on 127.0.0.1, one path prefix per instance: http://127.0.0.1:<port>/<instance-id>/latest/...

    GETs without the session token from PUT /latest/api/token get 401, as with HttpTokens=required.
    ``spot/instance-action`` is 404 until :meth:`notice` schedules an interruption for the instance.
    """

    def __init__(self) -> None:
        import http.server
        import threading

        self.notices: dict[str, str] = {}
        self.requests: list[tuple[str, str, bool]] = []  # (method, path, had a valid token)
        imds = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *args) -> None:
                pass

            def _reply(self, code: int, body: str = "") -> None:
                data = body.encode()
                self.send_response(code)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_PUT(self) -> None:
                instance_id, _, path = self.path.lstrip("/").partition("/")
                imds.requests.append(("PUT", path, False))
                if path != "latest/api/token" or not self.headers.get("X-aws-ec2-metadata-token-ttl-seconds"):
                    return self._reply(400)
                self._reply(200, f"token-{instance_id}")

            def do_GET(self) -> None:
                instance_id, _, path = self.path.lstrip("/").partition("/")
                valid = self.headers.get("X-aws-ec2-metadata-token") == f"token-{instance_id}"
                imds.requests.append(("GET", path, valid))
                if not valid:
                    return self._reply(401)
                if path == "latest/meta-data/instance-id":
                    return self._reply(200, instance_id)
                if path == "latest/meta-data/spot/instance-action" and instance_id in imds.notices:
                    return self._reply(200, imds.notices[instance_id])
                self._reply(404)

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def url_for(self, instance_id: str) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/{instance_id}"

    def notice(self, instance_id: str) -> None:
        import json
        from datetime import UTC, datetime, timedelta

        when = (datetime.now(UTC) + timedelta(minutes=2)).strftime("%Y-%m-%dT%H:%M:%SZ")
        self.notices[instance_id] = json.dumps({"action": "terminate", "time": when})

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


class SpotTestbed:
    """moto server + AWS resources of the README (bucket, private subnet, closed security group, instance
    profile) + the Airflow connection pointing at it + launch-request capture + spot price history."""

    def __init__(self, tmp_path, monkeypatch) -> None:
        import copy
        import json
        import logging
        import os
        from datetime import UTC, datetime, timedelta

        import boto3
        from moto.ec2.responses.instances import InstanceResponse
        from moto.ec2.responses.spot_instances import SpotInstances
        from moto.server import ThreadedMotoServer

        logging.getLogger("werkzeug").setLevel(logging.ERROR)
        self.tmp_path = tmp_path
        self.region = SPOT_REGION
        self.bucket = SPOT_BUCKET
        self.spot_prices = dict(SPOT_PRICES)  # USD/h per AZ, what describe_spot_price_history returns
        self.server = ThreadedMotoServer(ip_address="127.0.0.1", port=free_port(), verbose=False)
        self.server.start()
        host, port = self.server.get_host_and_port()
        self.url = f"http://{host}:{port}"
        self.reset()  # moto's backends live in this process, shared by every server: start empty
        monkeypatch.setenv(
            "AIRFLOW_CONN_AWS_DEFAULT",
            json.dumps({"conn_type": "aws", "extra": {"endpoint_url": self.url, "region_name": self.region}}),
        )
        monkeypatch.setenv("RNN_SPOT_POLL_SECONDS", "0.2")
        self.imds = FakeImds()

        # The launch request as moto's server parsed it off the wire.
        self.launch_requests: list[dict] = []
        original_run_instances = InstanceResponse.run_instances
        testbed = self

        def recording_run_instances(response_self):
            testbed.launch_requests.append(copy.deepcopy(dict(response_self.params)))
            return original_run_instances(response_self)

        monkeypatch.setattr(InstanceResponse, "run_instances", recording_run_instances)

        # Spot price history: moto's is a placeholder; serve realistic records (shared fake, tests/aws_fakes.py),
        # and note what each request asked for.
        from aws_fakes import inject_spot_history, spot_record

        an_hour_ago = (datetime.now(UTC) - timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
        inject_spot_history(
            monkeypatch,
            {
                self.region: [
                    spot_record(az, "r6i.xlarge", f"{price:.6f}", an_hour_ago)
                    for az, price in SPOT_PRICES.items()
                ]
            },
        )
        self.spot_history_requests: list[dict] = []
        serve_injected = SpotInstances.describe_spot_price_history

        def recording_spot_price_history(response_self):
            testbed.spot_history_requests.append(dict(response_self.params))
            return serve_injected(response_self)

        monkeypatch.setattr(SpotInstances, "describe_spot_price_history", recording_spot_price_history)

        session = boto3.session.Session(
            aws_access_key_id="testing", aws_secret_access_key="testing", region_name=self.region
        )
        self.ec2 = session.client("ec2", endpoint_url=self.url)
        self.s3 = session.client("s3", endpoint_url=self.url)
        self.iam = session.client("iam", endpoint_url=self.url)
        self.s3.create_bucket(Bucket=self.bucket)
        vpc = self.ec2.create_vpc(CidrBlock="10.20.0.0/16")["Vpc"]["VpcId"]
        self.subnet_id = self.ec2.create_subnet(
            VpcId=vpc, CidrBlock="10.20.1.0/24", AvailabilityZone="us-east-1b"
        )["Subnet"]["SubnetId"]
        self.security_group_id = self.ec2.create_security_group(
            GroupName="rnn-spot-training", Description="no inbound rules", VpcId=vpc
        )["GroupId"]
        self.iam.create_role(
            RoleName="rnn-spot-training",
            AssumeRolePolicyDocument=json.dumps(
                {
                    "Version": "2012-10-17",
                    "Statement": [
                        {
                            "Effect": "Allow",
                            "Principal": {"Service": "ec2.amazonaws.com"},
                            "Action": "sts:AssumeRole",
                        }
                    ],
                }
            ),
        )
        self.iam.create_instance_profile(InstanceProfileName="rnn-spot-training")
        self.iam.add_role_to_instance_profile(
            InstanceProfileName="rnn-spot-training", RoleName="rnn-spot-training"
        )
        self.instance_profile = "rnn-spot-training"
        self.instance_env = {
            **{k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW_CONN_", "AWS_"))},
            "AWS_ENDPOINT_URL": self.url,
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_DEFAULT_REGION": self.region,
        }

    def reset(self) -> None:
        import urllib.request

        urllib.request.urlopen(
            urllib.request.Request(f"{self.url}/moto-api/reset", method="POST"), timeout=10
        ).read()

    def close(self) -> None:
        self.imds.close()
        self.reset()
        self.server.stop()

    # -- what the DAG / operator needs -------------------------------------------------------------------------

    def conf(self, **extra) -> dict:
        return {
            "compute": "ec2_spot",
            "s3_bucket": self.bucket,
            "subnet_id": self.subnet_id,
            "security_group_id": self.security_group_id,
            "instance_profile": self.instance_profile,
            "region": self.region,
            **extra,
        }

    # -- inspecting and driving moto -------------------------------------------------------------------------

    def ec2_backend(self):
        from moto.ec2.models import ec2_backends

        return ec2_backends[ACCOUNT_ID][self.region]

    def instances(self) -> list[dict]:
        pages = self.ec2.get_paginator("describe_instances").paginate()
        return [i for page in pages for r in page["Reservations"] for i in r["Instances"]]

    def live_instances(self) -> list[str]:
        """Ids of the instances not terminated or shutting down."""
        return [
            i["InstanceId"]
            for i in self.instances()
            if i["State"]["Name"] not in ("terminated", "shutting-down")
        ]

    def state(self, instance_id: str) -> str:
        return self.ec2_backend().get_instance(instance_id).state

    def end(self, instance_id: str, code: str, message: str) -> None:
        """Terminate in moto with EC2's state reason for how it ended."""
        from moto.ec2.models.instances import StateReason

        instance = self.ec2_backend().get_instance(instance_id)
        if instance.state != "terminated":
            instance.terminate()
        instance.state_reason = StateReason(f"{code}: {message}", code)
        instance._reason = ""

    def reclaim(self, instance_id: str) -> None:
        """What EC2 does at the end of a spot interruption notice."""
        self.end(instance_id, "Server.SpotInstanceTermination", "Spot instance termination")

    def shut_down(self, instance_id: str) -> None:
        """The script's `shutdown -h now` with InstanceInitiatedShutdownBehavior=terminate."""
        self.end(instance_id, "Client.InstanceInitiatedShutdown", "Instance initiated shutdown")

    def s3_keys(self, prefix: str = "") -> list[str]:
        pages = self.s3.get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=prefix)
        return [item["Key"] for page in pages for item in page.get("Contents", [])]

    def read(self, key: str) -> bytes:
        return self.s3.get_object(Bucket=self.bucket, Key=key)["Body"].read()

    def stale_instance(self, run_id: str, dag_id: str = "rnn_retraining", ran_hours: float = 0.0) -> str:
        """An instance left behind by another (finished or deleted) DAG run, launched ``ran_hours`` ago."""
        response = self.ec2.run_instances(
            ImageId="ami-12c6146b",
            InstanceType="r6i.xlarge",
            MinCount=1,
            MaxCount=1,
            TagSpecifications=[
                {
                    "ResourceType": "instance",
                    "Tags": [
                        {"Key": "project", "Value": "rnn-cost-pipeline"},
                        {"Key": "dag_id", "Value": dag_id},
                        {"Key": "run_id", "Value": run_id},
                    ],
                }
            ],
        )
        self.launch_requests.pop()  # not a launch by the code under test
        instance_id = response["Instances"][0]["InstanceId"]
        if ran_hours:
            from datetime import timedelta

            instance = self.ec2_backend().get_instance(instance_id)
            instance.launch_time = instance.launch_time - timedelta(hours=ran_hours)
        return instance_id


class FakeInstances:
    """Plays every launched training instance: runs its user data with bash, like cloud-init would.

    ``behaviour(launch_number, instance_id)`` says what happens to the n-th launch (1-based):
    ``"run"`` - run the script; when it exits, the instance shuts itself down;
    ``"reclaim"`` - EC2 reclaims the spot instance before the script gets anywhere;
    ``"interrupt"`` - run the script; once a checkpoint is in S3, IMDS announces an interruption; the
    script checkpoints and stops; then EC2 reclaims the instance (Server.SpotInstanceTermination);
    ``"hang"`` - nothing runs (the instance just stays up until someone terminates it).
    A script whose instance gets terminated is killed, as it would be.
    """

    def __init__(self, testbed: SpotTestbed, behaviour) -> None:
        self.testbed = testbed
        self.behaviour = behaviour
        self.seen: list[str] = []
        self.exit_codes: dict[str, int | None] = {}
        self.logs: dict[str, object] = {}
        self._stop = False
        self._threads: list = []

    def __enter__(self) -> FakeInstances:
        import threading

        self._watcher = threading.Thread(target=self._watch, daemon=True)
        self._watcher.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop = True
        self._watcher.join(timeout=10)
        for thread in self._threads:
            thread.join(timeout=60)

    def _watch(self) -> None:
        import threading
        import time

        while not self._stop:
            for instance in list(self.testbed.ec2_backend().all_instances()):
                tags = {tag["key"]: tag["value"] for tag in instance.get_tags()}
                if instance.id in self.seen or "attempt" not in tags or instance.state != "running":
                    continue
                self.seen.append(instance.id)
                thread = threading.Thread(target=self._play, args=(len(self.seen), instance), daemon=True)
                thread.start()
                self._threads.append(thread)
            time.sleep(0.1)

    def _play(self, number: int, instance) -> None:
        import base64
        import os
        import signal
        import subprocess
        import sys
        import time

        what = self.behaviour(number, instance.id)
        if what == "reclaim":
            self.testbed.reclaim(instance.id)
            return
        if what == "hang":
            return
        home = self.testbed.tmp_path / "instances" / instance.id
        home.mkdir(parents=True)
        script = home / "user_data.sh"
        script.write_bytes(base64.b64decode(str(instance.user_data)))
        log_path = home / "console.log"
        self.logs[instance.id] = log_path
        env = {
            **self.testbed.instance_env,
            "RNN_SPOT_PYTHON": sys.executable,
            "RNN_SPOT_HOME": str(home),
            "RNN_SPOT_IMDS": self.testbed.imds.url_for(instance.id),
            "RNN_SPOT_SHUTDOWN": "true",
            "RNN_SPOT_NOTICE_POLL_SECONDS": "0.2",
            "RNN_SPOT_NOTICE_GRACE_SECONDS": "0.3",
        }
        with open(log_path, "wb") as log:
            proc = subprocess.Popen(
                ["bash", str(script)], env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
            )
            noticed = False
            while proc.poll() is None:
                if self.testbed.state(instance.id) != "running":  # terminated under it: the machine is gone
                    os.killpg(proc.pid, signal.SIGKILL)
                    break
                if (
                    what == "interrupt"
                    and not noticed
                    and any(key.endswith("/train/checkpoint.pt") for key in self.testbed.s3_keys())
                ):
                    self.testbed.imds.notice(instance.id)
                    noticed = True
                time.sleep(0.05)
            self.exit_codes[instance.id] = proc.wait()
        if self.testbed.state(instance.id) == "running":
            if what == "interrupt":
                self.testbed.reclaim(instance.id)
            else:
                self.testbed.shut_down(instance.id)

    def console(self) -> str:
        return "\n".join(
            f"==== {iid}\n{path.read_text(errors='replace')[-4000:]}" for iid, path in self.logs.items()
        )


@pytest.fixture
def imds():
    """A FakeImds of its own (the testbed starts another one for the instances it plays)."""
    server = FakeImds()
    yield server
    server.close()


@pytest.fixture
def testbed(tmp_path, monkeypatch):
    bed = SpotTestbed(tmp_path, monkeypatch)
    yield bed
    bed.close()


@pytest.fixture
def fake_instances(testbed):
    """``fake_instances(behaviour)``: a context manager that plays every instance launched while it is open.

    ``behaviour(launch_number, instance_id)`` returns "run", "reclaim", "interrupt" or "hang" (FakeInstances).
    """

    def play(behaviour) -> FakeInstances:
        return FakeInstances(testbed, behaviour)

    return play
