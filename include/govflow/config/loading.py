"""Loading config/ and checking that its four files agree with each other.

Seed 004 section 9 makes policy changes a reviewed act, and STYLE.md rule 4 asks that
errors name the file and the key: every problem found here, from a YAML syntax error to
a model owner missing from people.yaml, becomes one line ``<file>: <key.path>: <message>``
of a single ``ConfigError``, so one run of ``govflow config check`` lists them all.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, cast

import yaml
from pydantic import BaseModel, ValidationError

from govflow.config.deployment import DeploymentFile
from govflow.config.inventory import ModelsFile
from govflow.config.people import PeopleFile, distinct_representatives
from govflow.config.policy import RETAINED_DATA_TYPES, EscalationStep, PolicyFile
from govflow.config.vocabulary import Role, StrictModel

POLICY_FILE = "policy.yaml"
DEPLOYMENT_FILE = "deployment.yaml"
MODELS_FILE = "models.yaml"
PEOPLE_FILE = "people.yaml"
FILE_MODELS: dict[str, type[BaseModel]] = {
    POLICY_FILE: PolicyFile,
    DEPLOYMENT_FILE: DeploymentFile,
    MODELS_FILE: ModelsFile,
    PEOPLE_FILE: PeopleFile,
}

FILE_NOT_FOUND = "file not found in {directory}"
FILE_EMPTY = "file is empty"
YAML_SYNTAX = "line {line}, column {column}: invalid YAML: {problem}"
DUPLICATE_KEY = "duplicate key {key!r}"
LOOKS_LIKE_SECRET = "looks like a secret; keep it in an Airflow connection, not in config/"
UNKNOWN_USER = "user {user} is not in people.yaml"
OWNER_NOT_SYSTEM_OWNER = "owner {user} does not hold the system_owner role in people.yaml"
NO_CADENCE = "risk tier {tier} has no cadence in policy.yaml monitoring.cadence"
NO_APPROVAL_RULE = "risk tier {tier} has no rule in deployment.yaml approvals.required_by_tier"
ROLE_WITHOUT_HOLDER = "role {role} is held by nobody in people.yaml"
NO_INDEPENDENT_APPROVER = (
    "separation of duties: no holder of {role} other than {owner}, the owner of {model}"
)
NO_DISTINCT_APPROVERS = (
    "separation of duties: {model} needs a different person for each of {roles}, "
    "but people.yaml has too few holders besides the owner {owner}"
)
ROTATION_ROLE = "{user} does not hold {role}, which {path} pages through the {rotation} rotation"
DEPLOYMENT_RECORDS = "deployment_records"
NO_RETENTION_PERIOD = (
    "no period, and govflow purges {data_type} by it (give days, years or indefinite: true)"
)
DEPLOYMENT_RECORDS_TOO_SHORT = (
    "must keep deployment records at least {years} years (deployment.yaml records)"
)
MORE_PROBLEMS = " (and {more} more: govflow config check lists them)"
UNKNOWN_CHANNEL = "Slack channel {channel} is not in people.yaml slack_channels"

_SECRET = re.compile(r"hooks\.slack\.com|xox[abposr]-|://[^/\s:@]+:[^/\s@]+@", re.IGNORECASE)

# Keys whose values name roles (or lists of roles) in each file; a role somebody must play
# has to be held by at least one person, or an approval or an escalation would wait forever.
_ROLE_KEYS = {
    POLICY_FILE: {
        "role",
        "approver_role",
        "reset_requested_by",
        "escalate_to",
        "owners",
        "policy_change_approvers",
        "documented_by",
        "approved_by",
        "added_by",
        "released_by",
        "retired_by",
    },
    DEPLOYMENT_FILE: {
        "required_by_tier",
        "blocking_roles",
        "performed_by",
        "attested_by",
        "decided_by",
        "approver_role",
        "assessed_by",
        "owner",
    },
}


class ConfigError(Exception):
    """Everything wrong with config/, one ``<file>: <key.path>: <message>`` line each."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__("\n".join(problems))

    def one_line(self) -> str:
        """The first problem, and how many more: a log or a terminal shows one line."""
        more = len(self.problems) - 1
        return self.problems[0] + (MORE_PROBLEMS.format(more=more) if more else "")


class GovflowConfig(StrictModel):
    """The validated policy: the four files of config/ and lookups that span them."""

    directory: Path
    policy: PolicyFile
    deployment: DeploymentFile
    models: ModelsFile
    people: PeopleFile

    def min_group_size(self, model_id: str) -> int:
        override = self.models.get(model_id).min_group_size
        return override if override is not None else self.policy.fairness.min_group_size

    def null_tolerance(self, model_id: str, feature: str) -> float:
        own = self.models.get(model_id).feature(feature).null_tolerance
        return own if own is not None else self.policy.data_quality.null_fraction_max

    def eligible_approvers(self, model_id: str, role: Role) -> list[str]:
        """Holders of ``role`` who may approve ``model_id``: never its owner (seed 003 SoD)."""
        owner = self.models.get(model_id).owner
        return [user for user in self.people.holders(role) if user != owner]

    def people_on_step(self, step: EscalationStep, at: datetime) -> list[str]:
        """Who an escalation step names at ``at``: this week's primary on call, the members
        of another rotation, else everyone holding the step's role (seed 004 section 3.2)."""
        if step.rotation == "primary":
            return [self.people.on_call_primary(at)]
        if step.rotation is not None:
            return self.people.on_call.members_of(step.rotation)
        return self.people.holders(step.role)

    def approvers_for(self, model_id: str) -> dict[Role, list[str]]:
        """Each approval role the model's risk tier requires, with who may give it."""
        tier = self.models.get(model_id).risk_tier
        return {
            role: self.eligible_approvers(model_id, role)
            for role in self.deployment.approval_roles(tier)
        }


def load_config(directory: Path) -> GovflowConfig:
    """Read and validate the four files in ``directory``; ``ConfigError`` lists every problem."""
    problems: list[str] = []
    files: dict[str, Any] = {}
    for name, model in FILE_MODELS.items():
        data = _read_yaml(directory, name, problems)
        if data is None:
            continue
        problems += [f"{name}: {path}: {LOOKS_LIKE_SECRET}" for path, _ in _secret_values(data)]
        try:
            files[name] = model.model_validate(data)
        except ValidationError as error:
            problems += _describe(name, error)
    if problems:
        raise ConfigError(problems)
    config = GovflowConfig(
        directory=directory,
        policy=files[POLICY_FILE],
        deployment=files[DEPLOYMENT_FILE],
        models=files[MODELS_FILE],
        people=files[PEOPLE_FILE],
    )
    problems = _cross_file_problems(config)
    if problems:
        raise ConfigError(problems)
    return config


def _unique_key_mapping(
    loader: yaml.constructor.SafeConstructor, node: yaml.MappingNode, deep: bool = False
) -> dict[Any, Any]:
    """PyYAML keeps the last of two equal keys; in a policy that hides an edit, so refuse it."""
    seen: set[Any] = set()
    for key_node, _ in node.value:
        key = loader.construct_object(key_node, deep=deep)
        if key in seen:
            raise yaml.constructor.ConstructorError(
                None, None, DUPLICATE_KEY.format(key=key), key_node.start_mark
            )
        seen.add(key)
    return yaml.constructor.SafeConstructor.construct_mapping(loader, node, deep=deep)


class _UniqueKeyLoader(yaml.SafeLoader):
    construct_mapping = _unique_key_mapping


if hasattr(yaml, "CSafeLoader"):

    class _FastUniqueKeyLoader(yaml.CSafeLoader):
        """The same on libyaml's parser, about ten times faster than PyYAML's own: reading a
        200-model models.yaml cost every analysis task 0.7 CPU-s with the pure-Python one."""

        construct_mapping = _unique_key_mapping

    def _load(text: str) -> Any:
        try:
            return yaml.load(text, Loader=_FastUniqueKeyLoader)
        except yaml.YAMLError:
            # A broken file is described by PyYAML's own parser, whose messages say more
            # ("expected <block end>, but found '<block mapping start>'").
            return yaml.load(text, Loader=_UniqueKeyLoader)

else:  # PyYAML built without libyaml

    def _load(text: str) -> Any:
        return yaml.load(text, Loader=_UniqueKeyLoader)


def _read_yaml(directory: Path, name: str, problems: list[str]) -> Any:
    path = directory / name
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        problems.append(f"{name}: {FILE_NOT_FOUND.format(directory=directory)}")
        return None
    except OSError as error:
        problems.append(f"{name}: {error.strerror}")
        return None
    try:
        data = _load(text)
    except yaml.MarkedYAMLError as error:
        mark = error.problem_mark
        line, column = (mark.line + 1, mark.column + 1) if mark is not None else (0, 0)
        problem = YAML_SYNTAX.format(line=line, column=column, problem=error.problem)
        problems.append(f"{name}: {problem}")
        return None
    if data is None:
        problems.append(f"{name}: {FILE_EMPTY}")
    return data


def _describe(name: str, error: ValidationError) -> list[str]:
    lines = []
    for detail in error.errors(include_url=False):
        path = ".".join(str(part) for part in detail["loc"])
        lines.append(f"{name}: {path}: {detail['msg']}" if path else f"{name}: {detail['msg']}")
    return lines


def _walk(data: Any, path: str = "") -> Iterator[tuple[str, Any]]:
    """Every (dotted path, value) pair in a tree of dicts and lists, leaves and branches."""
    yield path, data
    children = (
        data.items()
        if isinstance(data, dict)
        else enumerate(data)
        if isinstance(data, list)
        else ()
    )
    for key, child in children:
        yield from _walk(child, f"{path}.{key}" if path else str(key))


def _secret_values(data: Any) -> list[tuple[str, str]]:
    return [
        (path, value)
        for path, value in _walk(data)
        if isinstance(value, str) and _SECRET.search(value)
    ]


def _role_references(file: str, model: BaseModel) -> Iterator[tuple[str, str]]:
    """(path, role) for every value of a role-naming key in ``file``."""
    role_keys = _ROLE_KEYS[file]
    for path, value in _walk(model.model_dump()):
        if not path or path.rsplit(".", 1)[-1] not in role_keys:
            continue
        if isinstance(value, str):
            yield path, value
        elif isinstance(value, list):
            yield from ((f"{path}.{index}", role) for index, role in enumerate(value))
        elif isinstance(value, dict):
            for key, roles in value.items():
                yield from ((f"{path}.{key}.{index}", role) for index, role in enumerate(roles))


def _cross_file_problems(config: GovflowConfig) -> list[str]:
    people = config.people
    user_ids = {user.id for user in people.users}
    problems: list[str] = []

    for file, model in ((POLICY_FILE, config.policy), (DEPLOYMENT_FILE, config.deployment)):
        for path, role in _role_references(file, model):
            if not people.holders(cast(Role, role)):
                problems.append(f"{file}: {path}: {ROLE_WITHOUT_HOLDER.format(role=role)}")

    for index, entry in enumerate(config.models.models):
        where = f"{MODELS_FILE}: models.{index}"
        if entry.owner not in user_ids:
            problems.append(f"{where}.owner: {UNKNOWN_USER.format(user=entry.owner)}")
        elif "system_owner" not in people.user(entry.owner).roles:
            problems.append(f"{where}.owner: {OWNER_NOT_SYSTEM_OWNER.format(user=entry.owner)}")
        if entry.risk_tier not in config.policy.monitoring.cadence:
            problems.append(f"{where}.risk_tier: {NO_CADENCE.format(tier=entry.risk_tier)}")
        if entry.risk_tier not in config.deployment.approvals.required_by_tier:
            problems.append(f"{where}.risk_tier: {NO_APPROVAL_RULE.format(tier=entry.risk_tier)}")
        else:
            problems += _separation_of_duties_problems(config, entry.id)

    problems += _rotation_problems(config)
    problems += _channel_problems(config)
    problems += _missing_retention_problems(config)
    problems += _deployment_retention_problems(config)
    return problems


def _missing_retention_problems(config: GovflowConfig) -> list[str]:
    """A data type without a period would fail the purge half-way, every day: refuse it here."""
    return [
        f"{POLICY_FILE}: retention.{data_type}: {NO_RETENTION_PERIOD.format(data_type=data_type)}"
        for data_type in RETAINED_DATA_TYPES
        if data_type not in config.policy.retention
    ]


def _deployment_retention_problems(config: GovflowConfig) -> list[str]:
    """The purge of deployment records keeps them at least as long as deployment.yaml's
    longest record retention (seed 001 section 8.1)."""
    period = config.policy.retention.get(DEPLOYMENT_RECORDS)
    if period is None:  # a missing period is _missing_retention_problems' line
        return []
    years = max((record.retention_years for record in config.deployment.records), default=0)
    probe = datetime(2000, 1, 1, tzinfo=UTC)
    cutoff = period.cutoff(probe)
    if cutoff is None or cutoff <= probe.replace(year=2000 - years):
        return []
    return [
        f"{POLICY_FILE}: retention.{DEPLOYMENT_RECORDS}: "
        + DEPLOYMENT_RECORDS_TOO_SHORT.format(years=years)
    ]


def _separation_of_duties_problems(config: GovflowConfig, model_id: str) -> list[str]:
    entry = config.models.get(model_id)
    tier_path = f"approvals.required_by_tier.{entry.risk_tier}"
    candidates = config.approvers_for(model_id)
    problems = [
        f"{DEPLOYMENT_FILE}: {tier_path}.{index}: "
        + NO_INDEPENDENT_APPROVER.format(role=role, owner=entry.owner, model=model_id)
        for index, (role, holders) in enumerate(candidates.items())
        if not holders
    ]
    if (
        not problems
        and config.deployment.approvals.distinct_approvers
        and distinct_representatives(list(candidates.values())) is None
    ):
        roles = ", ".join(candidates)
        message = NO_DISTINCT_APPROVERS.format(model=model_id, roles=roles, owner=entry.owner)
        problems.append(f"{DEPLOYMENT_FILE}: {tier_path}: {message}")
    return problems


def _rotation_problems(config: GovflowConfig) -> list[str]:
    problems = []
    for name, path in config.policy.escalation.paths.items():
        for step_index, step in enumerate(path.steps):
            if step.rotation is None:
                continue
            step_path = f"escalation.paths.{name}.steps.{step_index}"
            for index, member in enumerate(config.people.on_call.members_of(step.rotation)):
                if step.role not in config.people.user(member).roles:
                    message = ROTATION_ROLE.format(
                        user=member, role=step.role, path=step_path, rotation=step.rotation
                    )
                    problems.append(
                        f"{PEOPLE_FILE}: on_call.{step.rotation}.members.{index}: {message}"
                    )
    return problems


def _channel_problems(config: GovflowConfig) -> list[str]:
    references = [
        (f"severity_levels.{severity}.slack_channel", level.slack_channel)
        for severity, level in config.policy.severity_levels.items()
    ]
    references.append(
        (
            "performance_slas.monitor_the_monitor.slack_channel",
            config.policy.performance_slas.monitor_the_monitor.slack_channel,
        )
    )
    references += [
        (f"external_reporting.{index}.slack_channel", report.slack_channel)
        for index, report in enumerate(config.policy.external_reporting)
    ]
    return [
        f"{POLICY_FILE}: {path}: {UNKNOWN_CHANNEL.format(channel=channel)}"
        for path, channel in references
        if channel is not None and channel not in config.people.slack_channels
    ]
