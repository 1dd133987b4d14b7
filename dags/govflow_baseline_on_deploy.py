"""
### govflow_baseline_on_deploy (seed 004 section 4.2, "New model deployed")

Runs whenever the deployment DAG publishes the Asset `govflow_model_deployed` with the extra
`{"model_id", "version", "deployment_ref"}`, and creates each deployed version's baseline
from its registered validation set. No approval: table 4.2 makes this trigger automatic.
The new baseline becomes the model's active one (the previous one archived) when the
version serves all traffic: the rollout (`govflow_rollout`) that the same authorisation
starts activates it when it reaches full, and until then the previous version, which
still serves most traffic, stays the reference of monitoring. A rollback before full
archives it unused; a rollback after full makes the restored version's baseline active
again.

The validation set goes through the data-quality gate of `govflow baseline create`: a set
it refuses (a CRITICAL finding, too few usable rows, no label or one label class) fails the
task, without a retry, with the one-line reason, and the model keeps its active baseline;
the rows it cuts for lesser findings are named in the task log and the baseline's details.

One baseline per deployment: a retried task, or the same event read twice, returns the
baseline already created for that deployment, while a later deployment of the same version
gets a baseline of its own. A manual trigger with the Param `deployments` does the same for
deployments made outside govflow, whose baselines are active at once. The new versions are
published as the Asset `govflow_baselines`.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from airflow.sdk import Asset, Param, dag, task

from govflow_airflow.outcomes import airflow_outcomes

MODEL_DEPLOYED = Asset(name="govflow_model_deployed")
BASELINES = Asset(name="govflow_baselines")
DEPLOYMENT_KEYS = ("model_id", "version", "deployment_ref")


@task
def collect_deployments(params=None, triggering_asset_events=None) -> list[dict]:
    """The deployments to give a baseline: the triggering Asset events, then the Param's;
    one lacking its model, version or reference fails once."""
    from govflow.flows.baselines import collect_deployments as collect

    announced = [event.extra for event in triggering_asset_events.get(MODEL_DEPLOYED, [])]
    with airflow_outcomes():
        return collect(announced, params["deployments"])


@task(map_index_template="{{ task.op_kwargs['deployment']['model_id'] }}")
def create_deployment_baseline(deployment: dict) -> dict:
    """Build the deployed version's baseline from its validation set (once per deployment)."""
    from govflow.flows.baselines import create_deployment_baseline as create

    with airflow_outcomes():
        return create(deployment)


@task(outlets=[BASELINES])
def publish_baselines(created: list, outlet_events=None) -> list:
    """Publish the new active baselines as one event of the Asset `govflow_baselines`."""
    baselines = list(created)
    outlet_events[BASELINES].extra = {"trigger": "new_model_deployed", "baselines": baselines}
    return baselines


@dag(
    dag_id="govflow_baseline_on_deploy",
    schedule=[MODEL_DEPLOYED],
    start_date=datetime(2025, 3, 1, tzinfo=UTC),
    catchup=False,
    default_args={"retries": 2, "retry_delay": timedelta(minutes=1)},
    doc_md=__doc__,
    description="A deployed version's baseline from its validation set (seed 004 4.2)",
    tags=["govflow", "baselines"],
    params={
        "deployments": Param(
            [],
            type="array",
            items={
                "type": "object",
                "required": list(DEPLOYMENT_KEYS),
                "properties": {key: {"type": "string"} for key in DEPLOYMENT_KEYS},
            },
            title="Deployments",
            description=(
                "For a manual run: deployments made outside govflow, each "
                '{"model_id", "version", "deployment_ref"}.'
            ),
        ),
    },
)
def govflow_baseline_on_deploy():
    created = create_deployment_baseline.expand(deployment=collect_deployments())
    publish_baselines(created)


govflow_baseline_on_deploy()
