"""Airflow-side pieces of govflow shared by the DAG files: connections and operators.

DAG files may import this package at top level; it imports only Airflow's SDK and
operators there, never govflow's domain library (that happens inside task callables).
"""
