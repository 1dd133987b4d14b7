"""The ``govflow`` command line: the same code paths the DAG tasks call.

Every command honours ``GOVFLOW_DB_URL`` and ``GOVFLOW_DATA_DIR``. Heavy imports happen
inside commands so that ``govflow --help`` stays quick.

Bad input gets one line on stderr and an exit status, from one place (``_problem``): a
command raises govflow's own error and the root command turns it into the line and the
status, so no command catches errors of its own to print them.
"""

from __future__ import annotations

import getpass
import os
import traceback
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Annotated, Any

import typer
from typer.core import TyperGroup

from govflow.serving.limits import DEFAULT_MAX_BODY_BYTES, MAX_BODY_BYTES_ENV

# The exit status of every command (README "The command line").
EXIT_REFUSED = 1  # refused, not found, or found wanting (a CRITICAL finding, a broken chain)
EXIT_USAGE = 2  # the command line is wrong: a malformed value, a name config/ does not know
EXIT_FAILED = 3  # the command could not be carried out: config/, the store, the data
DEBUG_HINT = "(govflow --debug shows the traceback)"


def _problem(error: Exception) -> tuple[str, int]:
    """The line and the exit status that answer a command's error."""
    import sqlalchemy.exc
    from alembic.util import CommandError

    from govflow import settings, store
    from govflow.baselines.onboarding import BaselineSourceError, ResetRequired
    from govflow.baselines.profile import BaselineError
    from govflow.config import ConfigError, UnknownModel
    from govflow.demo.scenarios import DemoTooSmall
    from govflow.deployment.procedure import UnknownDeployment
    from govflow.flows import Refused
    from govflow.flows.monitoring import NotReady
    from govflow.incidents.lifecycle import IncidentError, UnknownIncidentStatus
    from govflow.incidents.risk_acceptances import RiskAcceptanceError
    from govflow.monitoring.analysis import UnknownCheck
    from govflow.registry import RegistryError
    from govflow.reports.executive import ReportError
    from govflow.retention.holds import HoldError
    from govflow.rollout.routing import RoutingError
    from govflow.serving.gateway import GatewayError
    from govflow.serving.kill_switches import KillSwitchError

    usage = (
        UnknownModel,
        UnknownCheck,
        UnknownIncidentStatus,
        GatewayError,
        CommandError,
        DemoTooSmall,
    )
    # Before ``failed``: ResetRequired is a BaselineError, but a refusal, not a failure.
    refused = (
        ResetRequired,
        Refused,
        KillSwitchError,
        RegistryError,
        IncidentError,
        UnknownDeployment,
        HoldError,
        RiskAcceptanceError,
        RoutingError,
    )
    failed = (BaselineError, BaselineSourceError, NotReady, ReportError)
    if isinstance(error, typer.TyperException):  # typer's own: a usage error, exit status 2
        context = getattr(error, "ctx", None)
        help_of = f" (see '{context.command_path} --help')" if context else ""
        return error.format_message() + help_of, error.exit_code
    if isinstance(error, usage):
        return str(error), EXIT_USAGE
    if isinstance(error, refused):
        return str(error), EXIT_REFUSED
    if isinstance(error, failed):
        return str(error), EXIT_FAILED
    if isinstance(error, ConfigError):
        return error.one_line(), EXIT_FAILED
    if isinstance(error, settings.BadUrl):  # a malformed URL, an unknown driver
        return str(error), EXIT_FAILED
    if isinstance(error, sqlalchemy.exc.DBAPIError):  # unreachable, credentials refused, ...
        return f"governance store {store.shown_url()}: {error.orig}", EXIT_FAILED
    if isinstance(error, OSError):
        return str(error), EXIT_FAILED
    return f"{type(error).__name__}: {error} {DEBUG_HINT}", EXIT_FAILED


REPEATED_OPTION = (
    "{option} is given more than once; it takes one value (the command would use the last "
    "and drop the others)"
)


def _repeated_option(root: Any, ctx: Any, args: list[str]) -> str | None:
    """The first option of the command ``args`` name that is given twice although it takes
    one value: the parser keeps the last, so `kill-switch activate --model a --model b`
    would stop b alone while its user believes a stopped too."""
    command = root
    while hasattr(command, "get_command") and args:
        found = command.get_command(ctx, args[0])
        if found is None:
            return None
        command, args = found, args[1:]
    options = {}
    for param in getattr(command, "params", []):
        for name in (*getattr(param, "opts", ()), *getattr(param, "secondary_opts", ())):
            if name.startswith("-"):
                options[name] = param
    seen: set[int] = set()
    position = 0
    while position < len(args) and args[position] != "--":
        name, _, inline = args[position].partition("=")
        param = options.get(name)
        position += 1
        if param is None:
            continue
        takes_value = not (getattr(param, "is_flag", False) or getattr(param, "count", False))
        if takes_value and not inline:
            position += 1  # its value, whatever it looks like
        if getattr(param, "multiple", False) or not takes_value:
            continue
        if id(param) in seen:
            return str(param.opts[0])
        seen.add(id(param))
    return None


class _OneLineErrors(TyperGroup):
    """The root command: whatever a command raises ends as ``_problem``'s line on stderr and
    its exit status; with ``--debug``, as its traceback and the same exit status."""

    # typer passes its own typer.Context, a subclass of the vendored click Context it declares.
    def invoke(self, ctx: typer.Context) -> Any:  # type: ignore[override]
        # The arguments left for the command named (typer keeps them as _protected_args + args).
        given = [*getattr(ctx, "_protected_args", []), *ctx.args]
        repeated = _repeated_option(self, ctx, given)
        if repeated is not None:
            typer.echo(REPEATED_OPTION.format(option=repeated), err=True)
            raise typer.Exit(EXIT_USAGE)
        try:
            return super().invoke(ctx)
        except (typer.Exit, typer.Abort):
            raise
        except Exception as error:
            # A group named without a command shows its help (typer tells it by name too).
            if type(error).__name__ == "NoArgsIsHelpError":
                raise
            line, status = _problem(error)
            if ctx.params.get("debug"):  # scripts still read the status the error has
                typer.echo(traceback.format_exc(), err=True, nl=False)
            else:
                typer.echo(" ".join(part.strip() for part in line.splitlines()), err=True)
            raise typer.Exit(status) from None


app = typer.Typer(
    cls=_OneLineErrors,
    help="govflow: governance of deployed ML models.",
    epilog=(
        "Exit status: 0 done, 1 refused or not found, 2 usage error, 3 could not be carried "
        "out (config/, the store, the data); an error is one line on stderr."
    ),
    no_args_is_help=True,
)


@app.callback()
def _options(
    debug: Annotated[
        bool, typer.Option("--debug", help="On an error, show its traceback, not one line.")
    ] = False,
) -> None:
    """The options every command takes (they come before the command's name)."""


config_app = typer.Typer(help="Validate the policy in config/.", no_args_is_help=True)
app.add_typer(config_app, name="config")
db_app = typer.Typer(help="Create and migrate the governance store.", no_args_is_help=True)
app.add_typer(db_app, name="db")
audit_app = typer.Typer(
    help="Verify and query the tamper-evident audit trail.", no_args_is_help=True
)
app.add_typer(audit_app, name="audit")
registry_app = typer.Typer(help="The model registry.", no_args_is_help=True)
app.add_typer(registry_app, name="registry")
demo_app = typer.Typer(help="The deterministic demo: models, prediction logs, scenarios.")
app.add_typer(demo_app, name="demo")
monitor_app = typer.Typer(help="Drift and fairness monitoring (seed 004).", no_args_is_help=True)
app.add_typer(monitor_app, name="monitor")

ConfigDirOption = Annotated[
    Path | None,
    typer.Option(
        "--config-dir", help="Policy directory (default: $GOVFLOW_CONFIG_DIR or ./config)."
    ),
]


def _config_dir(value: Path | None) -> Path:
    from govflow import settings

    return value if value is not None else settings.config_dir()


@config_app.command("check")
def config_check(config_dir: ConfigDirOption = None) -> None:
    """Validate policy.yaml, deployment.yaml, models.yaml and people.yaml."""
    from govflow.config import ConfigError, load_config

    directory = _config_dir(config_dir)
    try:
        loaded = load_config(directory)
    except ConfigError as error:
        typer.echo(str(error), err=True)
        raise typer.Exit(code=1) from None
    typer.echo(
        f"config OK: {directory} ({len(loaded.models.models)} models, "
        f"{len(loaded.people.users)} people)"
    )
    for model in loaded.models.models:
        source = model.prediction_log
        if source.kind != "parquet" and not os.environ.get(source.url_env):
            typer.echo(
                f"warning: {model.id}: prediction_log.url_env {source.url_env} is not set "
                "in this environment; its monitoring runs will fail until it is",
                err=True,
            )


@db_app.command("upgrade")
def db_upgrade(
    revision: str = typer.Argument("head"),
    app_role: Annotated[
        str | None,
        typer.Option(
            help="Postgres: the role govflow runs as, given INSERT and SELECT only on the "
            "audit trail (default: $GOVFLOW_DB_APP_ROLE). Run this command as the store's owner."
        ),
    ] = None,
) -> None:
    """Apply the migrations up to REVISION (default: the newest)."""
    from govflow import settings, store

    try:
        store.upgrade(revision=revision, app_role=app_role or settings.db_app_role())
    except store.RoleError as error:
        typer.echo(str(error), err=True)
        raise typer.Exit(code=1) from None
    # The URL may carry a password (Postgres); the log of a deployment must not.
    typer.echo(f"governance store at {store.current_revision()}: {store.shown_url()}")


@db_app.command("downgrade")
def db_downgrade(revision: str = typer.Argument(..., help="Target revision, or 'base'.")) -> None:
    """Undo the migrations down to REVISION."""
    from govflow import store

    store.downgrade(revision=revision)
    typer.echo(f"governance store at {store.current_revision() or 'base'}")


@db_app.command("current")
def db_current() -> None:
    """Print the store's schema revision."""
    from govflow import store

    typer.echo(store.current_revision() or "base")


def _parse_time(value: str | None, option: str) -> datetime | None:
    """An ISO date or time given to ``option``; UTC unless it names a zone."""
    if value is None:
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise typer.BadParameter(
            f"{value!r} is not a date (YYYY-MM-DD) or an ISO time", param_hint=option
        ) from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _end_of(value: str | None, option: str) -> datetime | None:
    """The exclusive end of a period given to ``option``: a date alone means up to the end
    of that UTC day (someone asking until 2026-03-31 wants the 31st), a time that moment."""
    end = _parse_time(value, option)
    if end is None or value is None:
        return end
    try:
        date.fromisoformat(value)  # a date alone, in any of the forms Python reads as one
    except ValueError:
        return end
    return end + timedelta(days=1)


def _ends_after_it_starts(
    first: datetime | None,
    last: datetime | None,
    *,
    start: tuple[str, str | None],
    end: tuple[str, str | None],
) -> None:
    """A period that ends before it starts holds nothing: a usage error naming the end's
    option, not an empty answer (``start`` and ``end`` are each an option and its value)."""
    if first is not None and last is not None and last <= first:
        (start_option, start_value), (end_option, end_value) = start, end
        raise typer.BadParameter(
            f"{end_value} is not after {start_option} {start_value}", param_hint=end_option
        )


NO_STORE_TO_VERIFY = (
    "FAILED: no governance store at {url}: nothing to verify (GOVFLOW_DB_URL, or "
    "GOVFLOW_DATA_DIR for the default SQLite store, names where it is)"
)


@audit_app.command("verify")
def audit_verify() -> None:
    """Exit 0 if the hash chain is intact and holds every event its latest signed checkpoint
    covers; otherwise name the first bad event, or the missing ones, and exit 1."""
    from govflow import store
    from govflow.audit import CheckpointError
    from govflow.flows.audit import AuditChainBroken, verify_audit_chain

    if not store.store_exists():
        typer.echo(NO_STORE_TO_VERIFY.format(url=store.shown_url()), err=True)
        raise typer.Exit(code=1)
    try:
        verify_audit_chain()
    except AuditChainBroken as broken:
        typer.echo(f"FAILED after {broken.events_checked} good events: {broken}", err=True)
        raise typer.Exit(code=1) from None
    except CheckpointError as error:
        typer.echo(f"FAILED: {error}", err=True)
        raise typer.Exit(code=1) from None


NO_AUDIT_EVENT = "no audit event matches"


@audit_app.command("query")
def audit_query(
    action: Annotated[str | None, typer.Option(help="Action, or prefix ending in '*'.")] = None,
    actor: Annotated[
        str | None, typer.Option(help="Who acted, exactly as recorded (e.g. a username).")
    ] = None,
    target: Annotated[str | None, typer.Option(help="Target, or prefix ending in '*'.")] = None,
    severity: Annotated[
        str | None, typer.Option(help="INFO, WARNING, HIGH or CRITICAL (that level only).")
    ] = None,
    since: Annotated[
        str | None, typer.Option(help="Date or ISO time, inclusive (UTC if no zone).")
    ] = None,
    until: Annotated[
        str | None,
        typer.Option(
            help="A date (YYYY-MM-DD): up to the end of that UTC day, included; "
            "an ISO time: up to that moment, excluded."
        ),
    ] = None,
    limit: Annotated[
        int | None, typer.Option(min=1, help="At most this many events, the oldest matching.")
    ] = None,
    as_json: Annotated[
        bool,
        typer.Option(
            "--json",
            help="One JSON object per line: the fields the hash covers, with prev_hash and "
            "hash (hash = sha256(prev_hash + the others' sorted compact JSON)).",
        ),
    ] = False,
) -> None:
    """List audit events matching every filter, oldest first."""
    import json

    from govflow import store
    from govflow.audit import (
        SEVERITIES,
        UNKNOWN_SEVERITY,
        canonical_time,
        event_fields,
        query_events,
    )

    # A filter no event can match would list nothing, read as "no such event happened".
    if severity is not None and severity not in SEVERITIES:
        raise typer.BadParameter(
            UNKNOWN_SEVERITY.format(severity=severity), param_hint="--severity"
        )
    first, last = _parse_time(since, "--since"), _end_of(until, "--until")
    _ends_after_it_starts(first, last, start=("--since", since), end=("--until", until))
    store.ensure_schema()
    with store.session_scope() as session:
        events = query_events(
            session,
            action=action,
            actor=actor,
            target=target,
            severity=severity,
            since=first,
            until=last,
            limit=limit,
        )
        if not events and not as_json:  # JSON lines of no event are no line at all
            typer.echo(NO_AUDIT_EVENT)
        for event in events:
            if as_json:
                # Everything an auditor needs to check each link offline.
                row = {**event_fields(event), "prev_hash": event.prev_hash, "hash": event.hash}
                typer.echo(json.dumps(row, sort_keys=True))
            else:
                typer.echo(
                    f"{event.seq:>6}  {canonical_time(event.occurred_at)}  {event.severity:<8} "
                    f"{event.actor:<12} {event.action:<32} {event.target}"
                )


@registry_app.command("lineage")
def registry_lineage(
    model_version: str = typer.Argument(..., help="MODEL:VERSION, e.g. credit_approval:1.0.0"),
) -> None:
    """Print the lineage of a model version as JSON."""
    import json

    from govflow import registry, store

    model_id, _, version = model_version.partition(":")
    if not model_id or not version:
        raise typer.BadParameter(
            f"{model_version!r} is not MODEL:VERSION", param_hint="MODEL_VERSION"
        )
    store.ensure_schema()
    with store.session_scope() as session:
        typer.echo(json.dumps(registry.lineage(session, model_id, version), indent=2))


model_app = typer.Typer(
    help="Your own model: register it from its models.yaml entry.", no_args_is_help=True
)
app.add_typer(model_app, name="model")
baseline_app = typer.Typer(
    help="Baselines (seed 004 section 4): build one from your validation data.",
    no_args_is_help=True,
)
app.add_typer(baseline_app, name="baseline")


def _login_name() -> str:
    """Who runs the command, as the operating system knows them: named in the audit trail
    when no --actor is given, so that an auditor can tell who registered or drew what."""
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no login name and no LOGNAME/USER: a bare container
        return "govflow-cli"


LOGIN_NAME = _login_name()
RecordedByOption = Annotated[
    str,
    typer.Option(
        "--actor",
        help="Who does it (kept in the audit trail).",
    ),
]


# A version registered to be deployed later: the deployment procedure's checklist refuses it
# at step 5 (version_tagged) when it is not a semantic version tag, after the registry's
# approval and the baseline are done; said as it is registered, when it can still be chosen.
UNTAGGED_VERSION = (
    "note: {version!r} is not a semantic version tag, which the deployment procedure's "
    "checklist (version_tagged) requires: to deploy this model through "
    "govflow_model_deployment, register the version as e.g. --version {tag}"
)


def _untagged_version_note(version: str) -> str | None:
    """The note for a version the deployment procedure will not deploy, else None."""
    from govflow.deployment.checks import SEMANTIC_VERSION

    if SEMANTIC_VERSION.match(version):
        return None
    tag = f"{version}.0.0" if version.isdigit() else "1.0.0"
    return UNTAGGED_VERSION.format(version=version, tag=tag)


@model_app.command("register")
def model_register(
    model_id: Annotated[str, typer.Argument(help="The model's id in models.yaml.")],
    version: Annotated[
        str,
        typer.Option(
            help="The version to register; one to deploy through govflow_model_deployment "
            "needs a semantic version tag (1.0.0)."
        ),
    ] = "1",
    artifact: Annotated[
        Path | None,
        typer.Option(
            help="The fitted model (joblib) for SHAP attributions; without one the model is "
            "a black box, monitored on its logs alone."
        ),
    ] = None,
    training_snapshot: Annotated[
        str,
        typer.Option(
            help="The training data's snapshot id (lineage; a deployment of the version needs it)."
        ),
    ] = "not recorded",  # registry.NOT_RECORDED, not imported: the CLI starts without it
    feature_version: Annotated[
        str, typer.Option(help="The feature set's version (lineage; a deployment needs it).")
    ] = "not recorded",
    validation: Annotated[
        str | None,
        typer.Option(
            help="The version's validation set, logged like a day (features, protected "
            "attributes, score, prediction, label): a .parquet or .csv file or a directory "
            "of them, or with --url-env a table (schema.table) or a SELECT query. The "
            "deployment procedure's checks and baseline read it."
        ),
    ] = None,
    url_env: Annotated[
        str | None,
        typer.Option(help="The environment variable holding the database URL for --validation."),
    ] = None,
    in_production: Annotated[
        bool,
        typer.Option(
            "--in-production",
            help="The version already serves production (it got there before govflow governed "
            "the model): record it, once, as the version in production that a major, minor "
            "or patch deployment replaces. Refused for a deprecated model, one with a version "
            "in production or a deployment, and a version other than the model's first.",
        ),
    ] = False,
    actor: RecordedByOption = LOGIN_NAME,
    config_dir: ConfigDirOption = None,
) -> None:
    """Register a model as models.yaml describes it (owner, purpose, risk tier) and one of its
    versions; again with the same values it changes nothing. Next: govflow baseline create."""
    from govflow import registry, settings, store
    from govflow.baselines.onboarding import (
        gate_validation_set,
        read_baseline_data,
        register_from_config,
    )
    from govflow.baselines.profile import active_baseline
    from govflow.config import load_config

    if not version.strip():
        raise typer.BadParameter("the version is empty", param_hint="--version")
    if url_env is not None and validation is None:
        raise typer.BadParameter(
            "it reads --validation, which is not given", param_hint="--url-env"
        )
    config = load_config(_config_dir(config_dir))
    entry = config.models.get(model_id)
    validation_set = (
        None
        if validation is None
        else gate_validation_set(
            config, entry, read_baseline_data(validation, url_env=url_env), source=validation
        )
    )
    store.ensure_schema()
    with store.session_scope() as session:
        if in_production:  # refused before the version or its validation set is stored
            registry.check_production_declaration(
                session, model_id=model_id, version=version, actor=actor, owner=entry.owner
            )
        _, registered = register_from_config(
            session,
            entry,
            version=version,
            actor=actor,
            artifact=artifact,
            training_snapshot=training_snapshot,
            feature_version=feature_version,
            validation=validation_set,
            data_dir=settings.data_dir(),
        )
        declared = False
        if in_production:
            _, declared = registry.declare_in_production(
                session, model_id=model_id, version=version, actor=actor
            )
        if validation_set is not None:
            for line in validation_set.notes:
                typer.echo(line, err=True)
        kind = "black box" if not registered.artifact_uri else f"artefact {registered.artifact_uri}"
        active = active_baseline(session, model_id)
        # Another version's traffic is judged against the active baseline: this one's
        # becomes active once it is deployed (baseline create would refuse it).
        following = (
            f"govflow baseline create --model {model_id} --from <validation data>"
            if active is None or active.model_version == version
            else f"deploy it through govflow_model_deployment (its baseline becomes active "
            f"once it serves all traffic; {active.model_version}'s stays until then)"
        )
        typer.echo(
            f"{model_id} {version} registered ({registered.status}, {kind}); next: {following}"
        )
        if declared:
            typer.echo(
                f"{model_id} {version} declared in production (it served before govflow "
                "governed the model); later versions replace it through "
                "govflow_model_deployment"
            )
        elif in_production:
            typer.echo(f"{model_id} {version} was declared in production already; nothing changed")
        if registered.validation_uri is not None:
            typer.echo(
                f"validation set {registered.validation_uri}: "
                f"{registered.validation_metrics['rows']} labelled rows, "
                f"{_validation_shown(registered.validation_metrics)}"
            )
        # A version in production (declared so) is not deployed again: its tag does not matter.
        serving = in_production or registry.production_version(session, model_id) == version
        untagged = None if serving else _untagged_version_note(version)
        if untagged is not None:
            typer.echo(untagged)


def _validation_shown(metrics: dict[str, Any]) -> str:
    """A version's validation metrics as the deployment procedure judges them."""
    if "mae" in metrics:
        return f"MAE {metrics['mae']:,.0f}, RMSE {metrics['rmse']:,.0f}"
    return f"accuracy {metrics['accuracy']:.3f}, AUC {metrics['roc_auc']:.3f}"


@baseline_app.command("create")
def baseline_create(
    model_id: Annotated[str, typer.Option("--model", help="The model's id in models.yaml.")],
    source: Annotated[
        str,
        typer.Option(
            "--from",
            help="Validation data with the model's features, protected attributes, score, "
            "prediction and label: a .parquet or .csv file or a directory of them, or with "
            "--url-env a table (schema.table) or a SELECT query.",
        ),
    ],
    url_env: Annotated[
        str | None,
        typer.Option(help="The environment variable holding the database URL for --from."),
    ] = None,
    name: Annotated[
        str | None,
        typer.Option(help="The baseline's version (default: the data's last day, -vN)."),
    ] = None,
    model_version: Annotated[
        str | None, typer.Option(help="The registered version (default: the newest).")
    ] = None,
    actor: RecordedByOption = LOGIN_NAME,
    config_dir: ConfigDirOption = None,
) -> None:
    """Build a model's baseline from its own validation data and make it the active one
    (the same data again returns the same baseline). A version's active baseline is not
    replaced here, nor taken over by a version that does not serve all traffic: that is a
    reset, approved in govflow_baseline_reset, or a deployment. Next: govflow monitor run."""
    from govflow import settings, store
    from govflow.baselines.onboarding import (
        attributions_note,
        create_baseline_from_data,
        read_baseline_data,
    )
    from govflow.config import load_config

    config = load_config(_config_dir(config_dir))
    entry = config.models.get(model_id)
    data = read_baseline_data(source, url_env=url_env)
    store.ensure_schema()
    with store.session_scope() as session:
        baseline = create_baseline_from_data(
            session,
            data_dir=settings.data_dir(),
            config=config,
            model=entry,
            data=data,
            source=source,
            created_by=actor,
            model_version=model_version,
            name=name,
        )
        # What the data-quality gate noted but did not refuse: one line each, never hidden.
        for line in baseline.details.get("data_quality_notes", []):
            typer.echo(line, err=True)
        rows = baseline.details.get("profiled_rows", len(data))
        typer.echo(
            f"{model_id}: baseline {baseline.version} active ({rows} rows from {source}, "
            f"model version {baseline.model_version}); next: govflow monitor run --model "
            f"{model_id} --start <day> --end <day>"
        )
        note = attributions_note(entry, baseline)
        if note is not None:
            typer.echo(note)


DEPRECATES = "deprecate a model"
ALREADY_DEPRECATED = (
    "{model.id} was already deprecated on {when:%Y-%m-%d %H:%M} UTC: "
    "{model.deprecation_reason}; nothing changed"
)


@registry_app.command("deprecate")
def registry_deprecate(
    model_id: Annotated[str, typer.Argument(help="The model to retire, e.g. credit_approval.")],
    actor: Annotated[str, typer.Option(help="Who deprecates it (kept in the audit trail).")],
    reason: Annotated[str, typer.Option(help="Why; required, kept with the model.")] = "",
) -> None:
    """Deprecate a model (seed 003): no deployment of it starts any more."""
    from govflow import registry, settings, store
    from govflow.config import load_config
    from govflow.flows import known_person

    config = load_config(settings.config_dir())
    person = known_person(config, actor, may=DEPRECATES)
    store.ensure_schema()
    with store.session_scope() as session:
        model, changed = registry.deprecate_model(
            session,
            model_id=model_id,
            actor=actor,
            reason=reason,
            actor_roles=person.roles,
            retired_by=config.policy.model_retirement.retired_by,
        )
        if not changed:
            typer.echo(ALREADY_DEPRECATED.format(model=model, when=model.deprecated_at))
            return
    typer.echo(f"{model_id} deprecated: {reason}")


DaysOption = Annotated[int, typer.Option(help="Days of prediction logs (at least 35).")]
SeedOption = Annotated[int, typer.Option(help="Random seed; the same seed writes the same bytes.")]
StartOption = Annotated[str, typer.Option(help="First day of the logs (YYYY-MM-DD).")]
RowsOption = Annotated[int, typer.Option(help="Predictions per model and day.")]


def _seed(days: int, seed: int, start: str, rows_per_day: int) -> None:
    from govflow import settings, store
    from govflow.config import load_config
    from govflow.demo.seeding import seed_demo

    first = _parse_time(start, "--start")
    assert first is not None
    summary = seed_demo(
        settings.data_dir(),
        load_config(settings.config_dir()),
        days=days,
        seed=seed,
        start=first.date(),
        rows_per_day=rows_per_day,
    )
    typer.echo(f"demo written to {settings.data_dir()} (manifest {summary.manifest.path})")
    typer.echo(f"governance store: {store.shown_url()}")
    typer.echo("")
    typer.echo(f"{'model':<24} {'tier':<7} {'owner':<7} {'version':<8} validation")
    for row in summary.models:
        shown = _validation_shown(row["validation_metrics"])
        typer.echo(
            f"{row['id']:<24} {row['risk_tier']:<7} {row['owner']:<7} {row['version']:<8} {shown}"
        )
    typer.echo("")
    for name, days_of in summary.manifest.content["scenarios"].items():
        shown = ", ".join(days_of[:3]) + (
            f", ... ({len(days_of)} days)" if len(days_of) > 3 else ""
        )
        typer.echo(f"  {name:<15} {shown}")
    typer.echo("")
    typer.echo(f"audit chain intact: {summary.audit_events} events, head {summary.audit_head}")


@demo_app.command("seed")
def demo_seed(
    days: DaysOption = 42,
    seed: SeedOption = 7,
    start: StartOption = "2025-03-01",
    rows_per_day: RowsOption = 2000,
) -> None:
    """Train the demo models, write their prediction logs and register them."""
    _seed(days, seed, start, rows_per_day)


@demo_app.command("run-time")
def demo_run_time(
    scenario: str = typer.Argument(..., help="stable, data_drift, fairness_drift, ..."),
) -> None:
    """Print when the daily DAG analyses the scenario's first day (the next day at 02:00)."""
    from datetime import time, timedelta

    from govflow import settings
    from govflow.demo import DemoManifest

    days = DemoManifest.load(settings.data_dir()).scenarios.get(scenario)
    if not days:
        typer.echo(f"the demo has no {scenario!r} days", err=True)
        raise typer.Exit(code=2)
    run_time = datetime.combine(days[0] + timedelta(days=1), time(2), tzinfo=UTC)
    typer.echo(run_time.isoformat())


@demo_app.command("summary")
def demo_summary(
    dag_id: Annotated[str, typer.Option(help="The DAG whose newest run to show.")] = (
        "govflow_monitoring_daily"
    ),
) -> None:
    """Show what the newest run of a monitoring DAG recorded: severity, composite, reports."""
    from govflow import settings, store
    from govflow.flows.monitoring import latest_dag_run_records, outbox_of_dag_run, print_findings
    from govflow.incidents.lifecycle import list_incidents

    records = latest_dag_run_records(dag_id)
    if not records:
        typer.echo(f"no monitoring records of {dag_id} yet", err=True)
        raise typer.Exit(code=1)
    first = records[0]
    typer.echo(
        f"{dag_id} run {first.dag_run_id}: window "
        f"[{first.interval_start:%Y-%m-%d %H:%M}, {first.interval_end:%Y-%m-%d %H:%M}) UTC\n"
    )
    typer.echo(f"{'model':<24} {'checks':<44} {'status':<10} {'severity':<9} {'composite':>9}")
    for record in records:
        score = "-" if record.composite_score is None else f"{record.composite_score:.3f}"
        typer.echo(
            f"{record.model_id:<24} {','.join(record.checks):<44} {record.status:<10} "
            f"{record.severity:<9} {score:>9}"
        )
    for record in records:
        typer.echo(f"\n{record.model_id}: findings above INFO")
        print_findings(record.id, typer.echo, include_info=False)
        if record.report_path:
            typer.echo(f"  drift report: {settings.data_dir() / record.report_path}")
    with store.session_scope() as session:
        opened = list_incidents(session)
        opened = [i for i in opened if i.source_run_id in {r.id for r in records}]
        typer.echo(f"\nincidents opened: {len(opened)}")
        for incident in opened:
            typer.echo(
                f"  {incident.ref} {incident.priority} {incident.severity:<8} "
                f"{incident.model_id} {incident.metric}: assigned to {incident.assigned_to}"
            )
    outbox = outbox_of_dag_run(dag_id, str(first.dag_run_id))
    typer.echo(f"\nalert outbox: {len(outbox)} alerts")
    for status, channel, destination, text in outbox:
        typer.echo(f"  [{status}] {channel} {destination}: {text[:110]}")
    if any(status == "pending" for status, *_ in outbox):
        typer.echo(
            "  pending alerts wait for the connections slack_default / smtp_default / "
            "pagerduty_events_default; with them configured, govflow_alert_delivery sends them "
            "(nothing is dropped meanwhile)"
        )


NOT_ENDED = "{period} has not ended yet (it ends {end:%Y-%m-%d %H:%M} UTC)"


# A list, so that a repeated --model is seen: typer keeps only the last value of an option
# given twice, and the model dropped in silence would be a result lost.
ModelOption = Annotated[
    list[str],
    typer.Option("--model", metavar="MODEL", help="Model id from models.yaml (one model)."),
]


def _one_model(models: list[str], command: str) -> str:
    if len(models) > 1:
        raise typer.BadParameter(
            f"given {len(models)} times ({', '.join(models)}); {command} analyses one model: "
            "run it once per model",
            param_hint="--model",
        )
    return models[0]


def _window(start: str | None, end: str | None) -> tuple[datetime, datetime]:
    """Dates as in demo/manifest.json: a day alone means that whole UTC day."""
    if start is None:
        raise typer.BadParameter("--start is required", param_hint="--start")
    first = _parse_time(start, "--start")
    assert first is not None
    last = _end_of(end, "--end") or first + timedelta(days=1)
    _ends_after_it_starts(first, last, start=("--start", start), end=("--end", end))
    # The logs of a window still under way are not all written: its record would judge a
    # part (or nothing, "no rows") as the whole.
    if last > datetime.now(UTC):
        period = f"the window from {first:%Y-%m-%d %H:%M} UTC"
        raise typer.BadParameter(
            NOT_ENDED.format(period=period, end=last), param_hint="--end" if end else "--start"
        )
    return first, last


@monitor_app.command("run")
def monitor_run(
    models: ModelOption,
    start: Annotated[str | None, typer.Option(help="Window start: YYYY-MM-DD or ISO time.")] = None,
    end: Annotated[str | None, typer.Option(help="Window end (a date includes that day).")] = None,
    checks: Annotated[
        list[str] | None,
        typer.Option("--checks", help="data_drift, fairness_drift, model_drift, explanation_drift"),
    ] = None,
    run_key: Annotated[str | None, typer.Option(help="Natural key of the record.")] = None,
    no_report: Annotated[bool, typer.Option("--no-report", help="Skip the HTML report.")] = False,
) -> None:
    """Analyse one model over a window and print check, metric, value, threshold, severity.

    It records the analysis only: incidents and alerts are opened by the monitoring DAGs
    (Analyze Now for a window of your choice).

    Exit status: 0 analysed, no CRITICAL finding; 1 analysed, a CRITICAL finding; 2 usage
    error (a malformed date, --start after --end, a window not ended yet, an unknown check or
    model); 3 the analysis failed (its record says why) or could not run (config/, the store).
    """
    from govflow import settings
    from govflow.config import load_config
    from govflow.flows.monitoring import run_monitoring
    from govflow.monitoring.analysis import CHECK_TYPES

    model = _one_model(models, "monitor run")
    first, last = _window(start, end)
    config = load_config(settings.config_dir())
    wanted = [c for item in (checks or list(CHECK_TYPES)) for c in item.split(",") if c]
    key = run_key or f"cli/{first.isoformat()}/{last.isoformat()}/{','.join(sorted(wanted))}"
    summary = run_monitoring(
        model,
        start=first,
        end=last,
        checks=wanted,
        cadence="on_demand",
        run_key=key,
        config=config,
        data_dir=settings.data_dir(),
        write_report=not no_report,
    )
    from govflow.alerts.messages import VERSIONS_LABEL, mixed_versions_line, versions_text
    from govflow.flows.monitoring import print_findings

    print_findings(summary.run_id, typer.echo)
    typer.echo(
        f"\n{model}: {summary.status}, {summary.headline}, composite {summary.composite_text}, "
        f"baseline {summary.baseline_version}, report {summary.report_path or '-'}"
    )
    if summary.model_versions:
        typer.echo(
            mixed_versions_line(summary.model_versions)
            or f"{VERSIONS_LABEL}: {versions_text(summary.model_versions)}"
        )
    if summary.status == "failed":
        raise typer.Exit(EXIT_FAILED)
    if summary.severity == "CRITICAL":
        raise typer.Exit(EXIT_REFUSED)


NOT_A_DAY = "{value!r} is not a date (YYYY-MM-DD): a backfill analyses whole UTC days"


def _whole_days(**options: str) -> None:
    """A backfill records each day under that day's key: from a time every window would be
    shifted off its day, and would rewrite the record of the day it is named after."""
    for option, value in options.items():
        try:
            date.fromisoformat(value)
        except ValueError:
            raise typer.BadParameter(
                NOT_A_DAY.format(value=value), param_hint=f"--{option}"
            ) from None


@monitor_app.command("backfill")
def monitor_backfill(
    models: ModelOption,
    start: Annotated[str, typer.Option(help="First day analysed: YYYY-MM-DD.")],
    end: Annotated[str, typer.Option(help="Last day analysed (included): YYYY-MM-DD.")],
    checks: Annotated[
        list[str] | None,
        typer.Option("--checks", help="data_drift, fairness_drift, model_drift, explanation_drift"),
    ] = None,
) -> None:
    """Analyse a model's past logs day by day as history: each day gets its record (left out
    of the executive and compliance reports, which tell what happened in their period) but
    pages no one and opens no incident. Running it again rewrites the same records. Labels
    count as they were observed by each day's end.

    Exit status: 0 every day analysed; 3 a day's analysis failed (its line and record say why).
    """
    from datetime import timedelta

    from govflow import settings
    from govflow.config import load_config
    from govflow.flows.monitoring import QUALITY_FAILURE, run_monitoring
    from govflow.monitoring.analysis import CHECK_TYPES

    model = _one_model(models, "monitor backfill")
    _whole_days(start=start, end=end)
    first, last = _window(start, end)
    config = load_config(settings.config_dir())
    config.models.get(model)
    wanted = [c for item in (checks or list(CHECK_TYPES)) for c in item.split(",") if c]
    severities: dict[str, int] = {}
    failed = 0
    day = first
    while day < last:
        summary = run_monitoring(
            model,
            start=day,
            end=day + timedelta(days=1),
            checks=wanted,
            cadence="on_demand",
            run_key=f"history/{day.date().isoformat()}/{','.join(sorted(wanted))}",
            config=config,
            data_dir=settings.data_dir(),
            write_report=False,
            historical=True,
        )
        line = f"{day.date()}  {summary.status:<10} {summary.severity}"
        if summary.reason:  # the record says why; so does the line, in one line
            line += "  " + " ".join(part.strip() for part in summary.reason.splitlines())
        elif summary.quality_failure:  # a day without rows is no drift day
            line += f"  ({QUALITY_FAILURE.format(reason=summary.quality_failure)})"
        typer.echo(line)
        severities[summary.severity] = severities.get(summary.severity, 0) + 1
        failed += summary.status == "failed"
        day += timedelta(days=1)
    counts = ", ".join(f"{level} {count}" for level, count in sorted(severities.items()))
    typer.echo(f"\n{model}: {sum(severities.values())} days recorded as history ({counts})")
    if failed:
        raise typer.Exit(EXIT_FAILED)


@app.command("airflow-users")
def airflow_users_command(
    config_dir: ConfigDirOption = None,
    run: Annotated[
        bool,
        typer.Option(
            "--run", help="Create the users Airflow lacks instead of printing the commands."
        ),
    ] = False,
    simple: Annotated[
        bool,
        typer.Option(
            "--simple",
            help="Print AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS for everyone instead "
            "(Airflow's SimpleAuthManager, as `make airflow` runs it).",
        ),
    ] = False,
) -> None:
    """`airflow users create` for everyone in people.yaml (FAB roles per seed 004 section 6)."""
    import os
    import subprocess

    from govflow.config import load_config
    from govflow.config.access import (
        airflow_users,
        simple_auth_manager_users,
        usernames_listed,
        users_create_command,
        users_create_shell_line,
        users_to_create,
    )

    users = airflow_users(load_config(_config_dir(config_dir)).people)
    if simple:
        typer.echo(simple_auth_manager_users(users))
        return
    if not run:
        for user in users:
            typer.echo(users_create_shell_line(user))
        return
    listed = subprocess.run(
        ["airflow", "users", "list", "-o", "json"], check=True, capture_output=True, text=True
    )
    missing = users_to_create(users, usernames_listed(listed.stdout))
    for user in missing:
        # Airflow prints `User "<name>" created with role "<role>"` itself.
        subprocess.run(users_create_command(user, os.environ), check=True)
    typer.echo(f"{len(users) - len(missing)} of {len(users)} people.yaml users already existed")


@app.command("serve")
def serve(
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8780,
    models: Annotated[
        str | None, typer.Option(help="Comma-separated model ids (default: all of models.yaml).")
    ] = None,
    refresh_seconds: Annotated[
        float, typer.Option(help="How often routes and kill switches are re-read.")
    ] = 1.0,
    flush_seconds: Annotated[
        float, typer.Option(help="How often counters and prediction logs are written.")
    ] = 5.0,
    instance: Annotated[
        str | None, typer.Option(help="Gateway instance name (default: <host>-<pid>).")
    ] = None,
    max_body_bytes: Annotated[
        int,
        typer.Option(
            envvar=MAX_BODY_BYTES_ENV,
            help="Largest request body in bytes; a larger one is refused with 413.",
        ),
    ] = DEFAULT_MAX_BODY_BYTES,
    log_level: Annotated[str, typer.Option(help="uvicorn log level.")] = "warning",
) -> None:
    """Run the serving gateway: routing table, kill switches, safeguards, prediction logs."""
    import logging

    import uvicorn

    from govflow import settings
    from govflow.config import load_config
    from govflow.serving.gateway import create_app

    app_ = create_app(
        config=load_config(settings.config_dir()),
        model_ids=[m for m in models.split(",") if m] if models else None,
        instance=instance,
        refresh_seconds=refresh_seconds,
        flush_seconds=flush_seconds,
        max_body_bytes=max_body_bytes,
    )
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    uvicorn.run(app_, host=host, port=port, log_level=log_level, access_log=False)


retention_app = typer.Typer(
    help="Retention per data type (policy.yaml retention), with legal holds.",
    no_args_is_help=True,
)
app.add_typer(retention_app, name="retention")
hold_app = typer.Typer(help="Legal holds: what no purge may delete.", no_args_is_help=True)
app.add_typer(hold_app, name="hold")


FUTURE_AS_OF = (
    "{as_of} is in the future: ages judged from it would purge records younger than their "
    "retention period (--dry-run previews that day)"
)


@retention_app.command("run")
def retention_run(
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="List what would be purged; delete nothing.")
    ] = False,
    as_of: Annotated[
        str | None,
        typer.Option(help="Judge ages as on this day (YYYY-MM-DD; default: now)."),
    ] = None,
) -> None:
    """Purge every data type past its retention period, except what a legal hold or an
    incident not yet closed keeps; each purged batch is an audit event."""
    from govflow import settings
    from govflow.config import load_config
    from govflow.retention.purge import run_retention

    now = _parse_time(as_of, "--as-of") if as_of else None
    # Ages judged from a day to come make records younger than their period look expired:
    # a dry run may preview that day, a purge may not.
    if now is not None and now > datetime.now(UTC) and not dry_run:
        raise typer.BadParameter(FUTURE_AS_OF.format(as_of=as_of), param_hint="--as-of")
    results = run_retention(
        load_config(settings.config_dir()), data_dir=settings.data_dir(), now=now, dry_run=dry_run
    )
    for result in results:
        typer.echo(result.line())


@hold_app.command("add")
def hold_add(
    reason: Annotated[str, typer.Option(help="Why (kept with the hold).")],
    actor: Annotated[str, typer.Option(help="Who puts the hold (kept in the audit trail).")],
    model: Annotated[str | None, typer.Option(help="Hold every record of this model.")] = None,
    incident: Annotated[
        str | None, typer.Option(help="Hold an incident and its evidence (INC-...).")
    ] = None,
    deployment: Annotated[str | None, typer.Option(help="Hold a deployment's records.")] = None,
    start: Annotated[
        str | None, typer.Option("--from", help="Hold every record from this day...")
    ] = None,
    end: Annotated[str | None, typer.Option("--to", help="...to this day (included).")] = None,
) -> None:
    """Put a legal hold on a model, an incident, a deployment or a time range."""
    from govflow import settings, store
    from govflow.config import load_config
    from govflow.flows.retention import check_hold_authority
    from govflow.retention.holds import ALREADY_HELD, add_hold, held_subject, range_end

    named = {"model": model, "incident": incident, "deployment": deployment}
    chosen = [scope for scope, value in named.items() if value]
    if start or end:
        chosen.append("range")
    if len(chosen) != 1:
        raise typer.BadParameter(
            "name exactly one of --model, --incident, --deployment or --from/--to",
            param_hint="--model",
        )
    scope = chosen[0]
    if scope == "range" and not (start and end):
        raise typer.BadParameter(
            "a range hold needs both --from and --to", param_hint="--to" if start else "--from"
        )
    first = _parse_time(start, "--from") if start else None
    last = _parse_time(end, "--to")
    if last is not None and end is not None:
        last = range_end(last, end)
    _ends_after_it_starts(first, last, start=("--from", start), end=("--to", end))
    check_hold_authority(load_config(settings.config_dir()), actor, "add")
    store.ensure_schema()
    with store.session_scope() as session:
        hold, added = add_hold(
            session,
            scope=scope,  # type: ignore[arg-type]
            target=named.get(scope),
            starts_at=first,
            ends_at=last,
            reason=reason,
            actor=actor,
        )
        if not added:
            typer.echo(ALREADY_HELD.format(hold=hold, held=held_subject(hold)))
            return
        typer.echo(f"legal hold {hold.id} on {held_subject(hold)}: {reason}")


@hold_app.command("release")
def hold_release(
    hold_id: Annotated[int, typer.Argument(help="The hold's number (govflow hold list).")],
    reason: Annotated[str, typer.Option(help="Why it is released (kept on record).")],
    actor: Annotated[str, typer.Option(help="Who releases it (kept in the audit trail).")],
) -> None:
    """Release a legal hold; it stays on record, released."""
    from govflow import settings, store
    from govflow.config import load_config
    from govflow.flows.retention import check_hold_authority
    from govflow.retention.holds import RELEASED_BEFORE, held_subject, release_hold

    check_hold_authority(load_config(settings.config_dir()), actor, "release")
    with store.session_scope() as session:
        hold, released = release_hold(session, hold_id, actor=actor, reason=reason)
        if not released:
            typer.echo(RELEASED_BEFORE.format(hold=hold, held=held_subject(hold)))
            return
        typer.echo(f"legal hold {hold.id} on {held_subject(hold)} released: {reason}")


@hold_app.command("list")
def hold_list(
    released: Annotated[bool, typer.Option("--all", help="Released holds too.")] = False,
) -> None:
    """The legal holds in force (with --all, the released ones too)."""
    from govflow import store
    from govflow.retention.holds import held_subject, list_holds

    store.ensure_schema()
    with store.session_scope() as session:
        holds = list_holds(session, include_released=released)
        if not holds:
            typer.echo("no legal hold")
        for hold in holds:
            state = (
                ""
                if hold.released_at is None
                else f" (released {hold.released_at:%Y-%m-%d} by {hold.released_by}: "
                f"{hold.release_reason})"
            )
            typer.echo(
                f"{hold.id:>4}  {held_subject(hold):<44} {hold.created_by:<10} "
                f"{hold.created_at:%Y-%m-%d}  {hold.reason}{state}"
            )


incident_app = typer.Typer(
    help="Incidents and their timelines (seed 004 section 3).", no_args_is_help=True
)
app.add_typer(incident_app, name="incident")


@incident_app.command("list")
def incident_list(
    status: Annotated[str | None, typer.Option(help="open, acknowledged, ..., closed.")] = None,
    model: Annotated[str | None, typer.Option(help="Model id from models.yaml.")] = None,
) -> None:
    """List incidents, newest first."""
    from govflow import settings, store
    from govflow.config import load_config
    from govflow.incidents.lifecycle import list_incidents

    if model is not None:
        load_config(settings.config_dir()).models.get(model)
    store.ensure_schema()
    with store.session_scope() as session:
        found = list_incidents(session, status=status, model_id=model)
        typer.echo(
            f"{'ref':<14} {'status':<14} {'severity':<9} {'class':<5} {'model':<24} "
            f"{'metric':<32} {'assigned':<8} opened"
        )
        for incident in found:
            typer.echo(
                f"{incident.ref:<14} {incident.status:<14} {incident.severity:<9} "
                f"{incident.priority:<5} {incident.model_id or '-':<24} "
                f"{incident.metric or '-':<32} {incident.assigned_to or '-':<8} "
                f"{incident.opened_at:%Y-%m-%d %H:%M}"
            )


@incident_app.command("show")
def incident_show(ref: str = typer.Argument(..., help="INC-YYYY-NNNN or the id.")) -> None:
    """Show an incident and its timeline of events with actors."""
    from govflow import store
    from govflow.incidents.lifecycle import format_timeline, get_incident

    store.ensure_schema()
    with store.session_scope() as session:
        incident = get_incident(session, ref)
        for line in format_timeline(session, incident):
            typer.echo(line)


risk_app = typer.Typer(
    help="Accepted-risk exceptions (seed 004 section 12): requested and decided through "
    "govflow_risk_acceptance, listed here.",
    no_args_is_help=True,
)
app.add_typer(risk_app, name="risk-acceptance")


@risk_app.command("list")
def risk_acceptance_list(
    status: Annotated[
        str | None, typer.Option(help="requested, approved, rejected, expired, refused or revoked.")
    ] = None,
    model: Annotated[str | None, typer.Option(help="Model id from models.yaml.")] = None,
) -> None:
    """List risk acceptances, newest request first: whose alerts are suppressed, until when."""
    from govflow import settings, store
    from govflow.config import load_config
    from govflow.incidents.risk_acceptances import STATUSES, list_acceptances

    if status is not None and status not in STATUSES:
        raise typer.BadParameter(
            f"{status!r} is not one of {', '.join(STATUSES)}", param_hint="--status"
        )
    if model is not None:
        load_config(settings.config_dir()).models.get(model)
    store.ensure_schema()
    with store.session_scope() as session:
        found = list_acceptances(session, model_id=model, status=status)
        if not found:
            typer.echo("no risk acceptance")
            return
        typer.echo(
            f"{'id':>4}  {'status':<9} {'model':<24} {'metric':<32} {'severity':<8} "
            f"{'incident':<14} {'requested':<10} {'decided':<10} suppressed until"
        )
        for acceptance, incident_ref in found:
            until = acceptance.suppression_until
            typer.echo(
                f"{acceptance.id:>4}  {acceptance.status:<9} {acceptance.model_id:<24} "
                f"{acceptance.metric:<32} {acceptance.severity or '-':<8} "
                f"{incident_ref or '-':<14} "
                f"{acceptance.requested_by:<10} {acceptance.approved_by or '-':<10} "
                f"{f'{until:%Y-%m-%d %H:%M} UTC' if until else '-'}"
            )


@risk_app.command("show")
def risk_acceptance_show(
    acceptance_id: Annotated[int, typer.Argument(help="The id `risk-acceptance list` shows.")],
) -> None:
    """Show one risk acceptance: what is accepted, why, by whom, until when."""
    from govflow import store
    from govflow.incidents.risk_acceptances import acceptance_summary, get_acceptance

    store.ensure_schema()
    with store.session_scope() as session:
        acceptance = get_acceptance(session, acceptance_id)
        summary = acceptance_summary(session, acceptance)
        details = acceptance.details
    for key, value in summary.items():
        typer.echo(f"{key + ':':<18} {'-' if value is None else value}")
    if details.get("refused"):
        typer.echo(f"{'refused:':<18} {details['refused']}")
    if details.get("revoked_because"):
        typer.echo(
            f"{'revoked:':<18} {details['revoked_because']} at {details['revoked_at']}"
            f" (granted until {details['granted_until']})"
        )


report_app = typer.Typer(help="Reports rendered from the records.", no_args_is_help=True)
app.add_typer(report_app, name="report")


@report_app.command("readiness")
def report_readiness(
    deployment_id: str = typer.Argument(..., help="DEP-YYYYMMDD-XXXXXX, the id or the run id."),
    html: Annotated[bool, typer.Option("--html", help="Print HTML instead of Markdown.")] = False,
) -> None:
    """Print the Deployment Readiness Report (seed 000) of a deployment, from its records."""
    from govflow import settings, store
    from govflow.config import load_config
    from govflow.deployment.procedure import find_deployment
    from govflow.deployment.readiness import build_report, render_html, render_markdown

    store.ensure_schema()
    with store.session_scope() as session:
        deployment = find_deployment(session, deployment_id)
        report = build_report(session, load_config(settings.config_dir()), deployment)
    typer.echo(render_html(report) if html else render_markdown(report), nl=False)


@report_app.command("incident")
def report_incident(
    ref: Annotated[str, typer.Argument(help="The incident, INC-YYYY-NNNN.")],
    gravity: Annotated[
        str,
        typer.Option(
            help="standard (15 days), death (10 days: a death may be involved) or widespread "
            "(2 days: widespread infringement or critical-infrastructure disruption)."
        ),
    ] = "standard",
    as_of: Annotated[
        str | None, typer.Option(help="Draw it as of this time (default: now).")
    ] = None,
    actor: RecordedByOption = LOGIN_NAME,
) -> None:
    """The serious-incident report to the authority (EU AI Act Art. 73) of an incident, from
    its records as they stood at --as-of: initial while then unresolved, final once resolved;
    written as Markdown, HTML and PDF under the data directory, paths and hashes audited,
    printed, and its summary queued for Slack."""
    from govflow.flows.reports import BAD_GRAVITY, incident_report
    from govflow.incidents.regulator_report import DEADLINE_DAYS
    from govflow.store.types import utcnow

    if gravity not in DEADLINE_DAYS:
        raise typer.BadParameter(BAD_GRAVITY.format(gravity=gravity), param_hint="--gravity")
    moment = _parse_time(as_of, "--as-of") if as_of else utcnow()
    assert moment is not None
    with _bad_report_option("--as-of"):
        _written(incident_report(ref, as_of=moment, gravity=gravity, actor=actor))


@contextmanager
def _bad_report_option(option: str) -> Iterator[None]:
    """A report's period that is not one (a month, a quarter), or one to come, and a moment
    before the incident a report is of was opened, are usage errors naming ``option``; the
    report refuses them before anything is written."""
    from govflow.reports.executive import ReportError

    try:
        yield
    except ReportError as error:
        raise typer.BadParameter(str(error), param_hint=option) from None


def _written(result: dict[str, Any]) -> None:
    from govflow import settings

    paths = ", ".join(str(settings.data_dir() / name) for name in result["files"])
    typer.echo(f"\n(written to {paths})")


@report_app.command("executive")
def report_executive(
    month: Annotated[str, typer.Option(help="The month, YYYY-MM.")],
    actor: RecordedByOption = LOGIN_NAME,
) -> None:
    """The monthly executive summary (seed 004 section 11: drift summary and incidents), from
    the month's records: printed as Markdown, written as Markdown, HTML (with each model's
    composite trend as a chart) and PDF under the data directory, paths and hashes audited,
    its summary queued for Slack."""
    from govflow.flows.reports import executive_report

    with _bad_report_option("--month"):
        _written(executive_report(month, actor=actor))


@report_app.command("compliance")
def report_compliance(
    quarter: Annotated[str, typer.Option(help="The quarter, e.g. 2025Q1.")],
    actor: RecordedByOption = LOGIN_NAME,
) -> None:
    """The quarterly compliance report (seed 004 sections 5 and 11) along the EU AI Act
    articles, from the records: printed, written as Markdown, HTML and PDF, paths and hashes
    audited, its summary queued for Slack."""
    from govflow.flows.reports import compliance_report

    with _bad_report_option("--quarter"):
        _written(compliance_report(quarter, actor=actor))


UNKNOWN_FEEDBACK_AUTHOR = "{actor!r} is not in people.yaml: feedback is filed by a named person"

rollout_app = typer.Typer(
    help="The phased rollout (seed 000): feedback its stage gates and rollback criteria read.",
    no_args_is_help=True,
)
app.add_typer(rollout_app, name="rollout")


@rollout_app.command("feedback")
def rollout_feedback(
    model_id: Annotated[str, typer.Option("--model", help="The model's id in models.yaml.")],
    kind: Annotated[
        str,
        typer.Option(
            help="bug, complaint, override, security_vulnerability or regulatory_concern."
        ),
    ],
    severity: Annotated[str, typer.Option(help="critical, major or minor.")],
    details: Annotated[str, typer.Option(help="What was seen; required, kept with it.")],
    version: Annotated[
        str | None,
        typer.Option(
            help="The registered version it is about; without one, the model as a whole (every "
            "version's rollout reads it)."
        ),
    ] = None,
    prediction_id: Annotated[
        str | None, typer.Option(help="The prediction it is about, if one.")
    ] = None,
    actor: RecordedByOption = LOGIN_NAME,
    config_dir: ConfigDirOption = None,
) -> None:
    """Record a bug, complaint, override, security vulnerability or regulatory concern against
    a model's version: the rollout's stage gates and rollback criteria read it (an audit
    event, as feedback a serving consumer files through the gateway)."""
    from govflow import store
    from govflow.config import load_config
    from govflow.rollout import routing

    if kind not in routing.FEEDBACK_KINDS:
        kinds = ", ".join(routing.FEEDBACK_KINDS)
        raise typer.BadParameter(
            routing.UNKNOWN_FEEDBACK_KIND.format(kind=kind, kinds=kinds), param_hint="--kind"
        )
    if severity not in routing.FEEDBACK_SEVERITIES:
        severities = ", ".join(routing.FEEDBACK_SEVERITIES)
        raise typer.BadParameter(
            routing.UNKNOWN_FEEDBACK_SEVERITY.format(severity=severity, severities=severities),
            param_hint="--severity",
        )
    if not details.strip():
        raise typer.BadParameter(routing.DETAILS_REQUIRED, param_hint="--details")
    config = load_config(_config_dir(config_dir))
    config.models.get(model_id)
    if actor not in {user.id for user in config.people.users}:
        # As through the gateway: feedback is filed by a consumer or a person of people.yaml.
        raise typer.BadParameter(UNKNOWN_FEEDBACK_AUTHOR.format(actor=actor), param_hint="--actor")
    store.ensure_schema()
    with store.session_scope() as session:
        recorded = routing.record_feedback(
            session,
            model_id=model_id,
            version=version,
            kind=kind,
            severity=severity,
            details=details,
            prediction_id=prediction_id,
            recorded_by=actor,
        )
        typer.echo(
            f"{kind} ({severity}) recorded against {model_id} {version or '(every version)'} "
            f"as feedback {recorded.id} by {actor}"
        )


kill_switch_app = typer.Typer(
    help="Seed 003 kill switches: stop serving a model, segment, region, ... without a redeploy.",
    no_args_is_help=True,
)
app.add_typer(kill_switch_app, name="kill-switch")

ScopeOption = Annotated[
    str,
    typer.Option(
        help="model_version, model_type, inference_endpoint, customer_segment, region or "
        "downstream_consumer."
    ),
]
TargetOption = Annotated[
    str,
    typer.Option(help="What to block in the scope, e.g. high_value or credit_approval:1.1.0."),
]
ActorOption = Annotated[
    str,
    typer.Option(help="Who asks: a people.yaml id allowed by policy.yaml kill_switches."),
]


def _context_pairs(pairs: list[str]) -> dict[str, str]:
    context = {}
    for pair in pairs:
        key, equals, value = pair.partition("=")
        if not equals or not key:
            raise typer.BadParameter(f"{pair!r} is not key=value", param_hint="--context")
        if key in context:
            # The second would replace the first: incident=A incident=B would contain B only.
            raise typer.BadParameter(
                f"{key!r} is given more than once; it takes one value", param_hint="--context"
            )
        context[key] = value
    return context


@kill_switch_app.command("activate")
def kill_switch_activate(
    scope: ScopeOption,
    target: TargetOption,
    actor: ActorOption,
    reason: Annotated[str, typer.Option(help="Why; required, kept with the switch.")] = "",
    context: Annotated[
        list[str] | None,
        typer.Option(help="key=value added to the audit event (repeatable), e.g. incident=INC-1."),
    ] = None,
    config_dir: ConfigDirOption = None,
) -> None:
    """Block TARGET in SCOPE: serving gateways answer its requests with their fallback."""
    _change_kill_switch(
        config_dir,
        action="activate",
        scope=scope,
        target=target,
        actor=actor,
        reason=reason,
        context=_context_pairs(context or []),
    )


def _change_kill_switch(config_dir: Path | None, **change: Any) -> None:
    """Carry out an activation or deactivation (a refusal is ``Refused``: exit 1)."""
    from govflow.config import load_config
    from govflow.flows.kill_switches import change_kill_switch

    change_kill_switch(config=load_config(_config_dir(config_dir)), **change)


@kill_switch_app.command("deactivate")
def kill_switch_deactivate(
    scope: ScopeOption,
    target: TargetOption,
    actor: ActorOption,
    notes: Annotated[str, typer.Option(help="Recovery notes: what was fixed; required.")] = "",
    config_dir: ConfigDirOption = None,
) -> None:
    """Lift the active switch of TARGET in SCOPE, with the notes of the recovery."""
    _change_kill_switch(
        config_dir,
        action="deactivate",
        scope=scope,
        target=target,
        actor=actor,
        recovery_notes=notes,
    )


@kill_switch_app.command("list")
def kill_switch_list(
    show_all: Annotated[
        bool,
        typer.Option("--all", help="Also the lifted switches: by whom, when, recovery notes."),
    ] = False,
) -> None:
    """The active kill switches, oldest first; with --all every switch ever activated."""
    from govflow import store
    from govflow.serving.kill_switches import active_switches, switch_history

    store.ensure_schema()
    with store.session_scope() as session:
        switches = switch_history(session) if show_all else active_switches(session)
        lines = []
        for switch in switches:
            state = "active" if switch.active_key is not None else "lifted"
            lines.append(
                f"{switch.id:>4}  {state:<7} {switch.scope:<20} {switch.target:<32} "
                f"{switch.activated_at:%Y-%m-%d %H:%M:%S}  {switch.activated_by:<10} "
                f"{switch.reason}"
            )
            if switch.deactivated_at is not None:
                lines.append(
                    f"{'':>6}lifted {switch.deactivated_at:%Y-%m-%d %H:%M:%S} by "
                    f"{switch.deactivated_by}: {switch.recovery_notes}"
                )
    if not lines:
        typer.echo("no kill switches yet" if show_all else "no active kill switches")
        return
    typer.echo(
        f"{'id':>4}  {'state':<7} {'scope':<20} {'target':<32} {'activated (UTC)':<19}  "
        f"{'by':<10} reason"
    )
    for line in lines:
        typer.echo(line)


alerts_app = typer.Typer(
    help="The alert outbox: resend a given-up alert, or give up on one (seed 004 sections 8, 11).",
    no_args_is_help=True,
)
app.add_typer(alerts_app, name="alerts")
AlertActorOption = Annotated[
    str, typer.Option("--actor", help="Who decides: a people.yaml id, named in the audit event.")
]


@alerts_app.command("resend")
def alerts_resend(
    alert_ids: Annotated[
        list[int] | None, typer.Argument(help="Alert ids (govflow_alert_delivery logs them).")
    ] = None,
    actor: AlertActorOption = "",
    all_failed: Annotated[
        bool, typer.Option("--all-failed", help="Every alert that ran out of attempts.")
    ] = False,
) -> None:
    """Put failed or abandoned alerts back in the outbox, due at the next delivery run."""
    from govflow.flows.alerts import resend_alerts

    resend_alerts(actor=actor, alert_ids=alert_ids or [], all_failed=all_failed)


@alerts_app.command("abandon")
def alerts_abandon(
    alert_id: Annotated[int, typer.Argument(help="The alert id.")],
    reason: Annotated[str, typer.Option(help="Why nobody needs it sent; required, audited.")] = "",
    actor: AlertActorOption = "",
) -> None:
    """Give up on an alert still waiting to be sent: it is never sent again (nor escalated)."""
    from govflow.flows.alerts import abandon_alerts

    abandon_alerts(actor=actor, alert_ids=[alert_id], reason=reason)


def main() -> None:
    app()
