"""Airflow-facing glue of the RNN cost pipeline.

The DAGs in ``dags/`` only wire tasks; the task bodies live here and compose ``rnn`` (training),
``costing`` (prices and cost) and MLflow. Nothing here runs at DAG parse time: every heavy import
happens inside the functions.
"""
