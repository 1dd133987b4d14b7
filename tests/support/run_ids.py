"""Airflow run ids as long as Airflow allows, for the store keys built from them."""

# Airflow accepts a run id of up to 250 characters, such as one typed when triggering a DAG.
LONGEST_RUN_ID = "manual__" + "r" * 242
