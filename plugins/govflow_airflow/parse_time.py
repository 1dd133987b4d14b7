"""What DAG files need from config/ when they are parsed, read without importing govflow.

Parsing a DAG file must stay cheap and touch no store, so these functions read the YAML
files of config/ with PyYAML and take only the few values a DAG's shape depends on: the
cron of each scheduled monitoring run, the model ids offered in a form, the rollout's
stages. Nothing is validated here; ``govflow config check`` and every task (which loads
the whole policy through govflow's pydantic models) do that, so a broken policy fails the
first task with the file and key named.

The directory is found as govflow finds it: ``$GOVFLOW_CONFIG_DIR``, else ``config/`` of
the checkout that holds this plugin, else ``config/`` under the working directory.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import yaml

CONFIG_DIR_ENV = "GOVFLOW_CONFIG_DIR"
# libyaml's loader reads policy.yaml about ten times faster than the pure-Python one.
LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_CHECKOUT = Path(__file__).resolve().parents[2]


def config_dir() -> Path:
    """``$GOVFLOW_CONFIG_DIR``, else the checkout's ``config/``, else ``./config``."""
    explicit = os.environ.get(CONFIG_DIR_ENV)
    if explicit:
        return Path(explicit).resolve()
    beside_plugins = _CHECKOUT / "config"
    return beside_plugins if beside_plugins.is_dir() else Path("config").resolve()


def config_file(name: str) -> Any:
    """One file of config/ as plain data (``policy.yaml``, ``models.yaml``, ...), read anew
    each time: the dag-processor re-parses files after the policy changes."""
    return yaml.load((config_dir() / name).read_text(), Loader=LOADER)


def scheduled_run(run: str) -> dict[str, str]:
    """``{"cron", "description"}`` of a run of policy.yaml ``monitoring.scheduled_runs``."""
    spec = config_file("policy.yaml")["monitoring"]["scheduled_runs"][run]
    return {"cron": spec["cron"], "description": spec["description"]}


def model_ids() -> list[str]:
    """The ids of models.yaml, in its order."""
    return [model["id"] for model in config_file("models.yaml")["models"]]


def deployment_choices() -> dict[str, list[str]]:
    """The deployment types and target environments of deployment.yaml."""
    deployment = config_file("deployment.yaml")
    return {
        "types": list(deployment["deployment_types"]),
        "environments": list(deployment["environments"]),
    }


def rollout_stages() -> list[dict[str, Any]]:
    """deployment.yaml ``rollout.stages``: name, coverage, seconds (None for the ongoing last
    stage: seed 000 "Full ... Ongoing") and the interval between checks."""
    rollout = config_file("deployment.yaml")["rollout"]
    return [
        {
            "name": stage["name"],
            "coverage": stage["coverage"],
            "seconds": None
            if stage["duration_days_min"] is None
            else stage["duration_days_min"] * rollout["day_seconds"],
            "poke_interval": rollout["check_interval_seconds"],
        }
        for stage in rollout["stages"]
    ]
