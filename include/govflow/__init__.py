"""govflow: governance of deployed ML models (seeds 000-004), as a library Airflow calls.

This package never imports Airflow; the DAGs in ``dags/`` are thin wiring around it.
"""

__version__ = "0.1.0"
