"""Training on AWS spot EC2: the ``compute=ec2_spot`` backend of ``rnn_retraining``.

Built the way the amazon provider builds its own integrations, in its own split:

* :mod:`~pipeline.spot.hooks` - :class:`SpotTrainingHook`, the only code that talks to boto3 /
  aiobotocore (EC2, S3 through ``S3Hook``, SSM through ``SsmHook``, IAM), through an ``aws_default``
  style Airflow connection.
* :mod:`~pipeline.spot.operators` - :class:`SpotTrainingOperator`, thin: uploads the bundle,
  launches an attempt, defers, and on each trigger event carries out what the policy decided: done,
  relaunch (resume from the checkpoint), fall back to on-demand, or fail. Terminates what it
  launched on every exit path.
* :mod:`~pipeline.spot.triggers` - :class:`SpotTrainingTrigger`, a serializable async poller of the
  attempt's DONE marker and instance state; the wait holds no worker slot.

Pure pieces, no AWS calls, tested on literal values:

* :mod:`~pipeline.spot.layout` - names: tags, the run's S3 prefix and its keys, defaults.
* :mod:`~pipeline.spot.launch` - the ``run_instances`` request (spot options, IMDSv2, no public IP...).
* :mod:`~pipeline.spot.userdata` - the instance's script, rendered from ``include/spot/user_data.sh``.
* :mod:`~pipeline.spot.bundle` - the training bundle: a wheel of ``rnn/`` built without build tools.
* :mod:`~pipeline.spot.iam` - the instance role's policy, rendered from ``include/spot/``.
* :mod:`~pipeline.spot.attempts` - one instance attempt as recorded in metrics.json.
* :mod:`~pipeline.spot.policy` - the decisions: how and when an attempt ended, relaunch on which
  market or give up, within budget or not (frozen dataclasses in, a decision out; no clock).
* :mod:`~pipeline.spot.billing` - the billed cost of a run from its attempts and spot price history.
* :mod:`~pipeline.spot.budget` - the pre-flight estimate that refuses to launch over budget.
* :mod:`~pipeline.spot.ledger` - what earlier spot runs recorded about their attempts (MLflow), for
  the boot and upload overhead every estimate adds.

The cost rules these apply (billed seconds, checkpoint writes, storage, overhead, the pre-flight
estimate) are :mod:`costing.model.training`'s; nothing here restates them.
* :mod:`~pipeline.spot.cleanup` - terminate a run's instances; sweep instances of finished runs.

Nothing here is imported when the DAG file is parsed except :mod:`~pipeline.spot.operators`,
which imports boto3 and the provider only when it runs.
"""
