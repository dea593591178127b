"""The hostname a task instance records, when several Celery workers share one machine.

``make prod-up`` runs docker-compose's workers as processes on one machine, so they share its name and a
task instance's hostname would not say which worker ran it. Each is given its name in
:data:`WORKER_NAME_ENV` and ``[core] hostname_callable`` = :data:`HOSTNAME_CALLABLE`
(``devtools/production.py``); docker-compose's workers are containers with names of their own and keep
Airflow's default.
"""

from __future__ import annotations

import os
import socket

WORKER_NAME_ENV = "RNN_PIPELINE_WORKER_NAME"
HOSTNAME_CALLABLE = "pipeline.hostname.task_hostname"  # [core] hostname_callable of those workers


def task_hostname() -> str:
    """The hostname a task instance records: ``<worker name>.<machine>`` when the worker was named."""
    machine = socket.getfqdn()
    name = os.environ.get(WORKER_NAME_ENV, "").strip()
    return f"{name}.{machine}" if name else machine
