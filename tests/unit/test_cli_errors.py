"""Issue 13 item 5: every command answers bad input with one line on stderr and an exit
status (1 refused or not found, 2 usage error, 3 could not be carried out), never a
traceback unless ``--debug`` asks for one; and no command prints the store's password."""

from __future__ import annotations

import hashlib
import json
import shutil
from datetime import UTC, datetime
from pathlib import Path

import joblib
import numpy as np
import pandas as pd
import pytest
from sklearn.compose import ColumnTransformer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OneHotEncoder
from sqlalchemy import select
from sqlalchemy.engine import make_url
from typer.testing import CliRunner, Result

from govflow import registry, store
from govflow.baselines.profile import load_registered_model
from govflow.cli import NOT_A_DAY, REPEATED_OPTION, app
from govflow.config import ConfigError, UnknownModel, load_config
from govflow.demo.logs import MINIMUM_ROWS_PER_DAY, TOO_FEW_ROWS
from govflow.demo.scenarios import MINIMUM_DAYS, TOO_FEW_DAYS
from govflow.demo.seeding import NOT_IN_INVENTORY
from govflow.monitoring.analysis import CHECK_TYPES, NO_CHECK, UNKNOWN_CHECK, UnknownCheck
from govflow.store.schema import AuditEvent, Baseline, ModelVersion
from tests.support.own_models import TENANCY_ENTRY, tenancy_rows

CONFIG_DIR = Path(__file__).resolve().parents[2] / "config"
PASSWORD = "s3cret-for-the-test"
# Nothing listens on port 1: the store is unreachable.
UNREACHABLE = f"postgresql://govflow:{PASSWORD}@127.0.0.1:1/govflow"
MODELS = "credit_approval, marketing_propensity, product_recommendation, customer_lifetime_value"
RUN = ["monitor", "run", "--model", "credit_approval"]
BACKFILL = ["monitor", "backfill", "--model", "credit_approval"]
FEEDBACK = ["rollout", "feedback", "--model", "credit_approval"]
KILL_SWITCH = ["kill-switch", "activate", "--scope", "region", "--target", "north"]
REASON_AND_ACTOR = ["--reason", "r", "--actor", "eve"]


def govflow(*args: str) -> Result:
    return CliRunner().invoke(app, list(args), prog_name="govflow")


def assert_one_line(result: Result, status: int, line: str) -> None:
    """``line`` alone on stderr, nothing on stdout, exit ``status``."""
    assert (result.exit_code, result.stdout, result.stderr) == (status, "", line + "\n")


def invalid(option: str, value: str, command: str) -> str:
    return (
        f"Invalid value for {option}: {value!r} is not a date (YYYY-MM-DD) or an ISO time "
        f"(see 'govflow {command} --help')"
    )


@pytest.mark.parametrize(
    ("args", "line"),
    [
        ([*RUN, "--start", "2025-13-12"], invalid("--start", "2025-13-12", "monitor run")),
        (
            [*RUN, "--start", "2025-03-12", "--end", "12/03/2025"],
            invalid("--end", "12/03/2025", "monitor run"),
        ),
        (
            ["audit", "query", "--since", "yesterday"],
            invalid("--since", "yesterday", "audit query"),
        ),
        (
            ["audit", "query", "--until", "2025-03-32"],
            invalid("--until", "2025-03-32", "audit query"),
        ),
        (["demo", "seed", "--start", "2025-02-30"], invalid("--start", "2025-02-30", "demo seed")),
    ],
)
def test_a_malformed_date_is_a_usage_error_naming_the_option(fresh_store_env, args, line):
    assert_one_line(govflow(*args), 2, line)


@pytest.mark.parametrize(
    ("start", "end"),
    [("2025-03-12", "2025-03-10"), ("2025-03-12T10:00", "2025-03-12T10:00")],
)
def test_a_window_that_ends_before_it_starts_is_a_usage_error(fresh_store_env, start, end):
    result = govflow(*RUN, "--start", start, "--end", end)
    assert_one_line(
        result,
        2,
        f"Invalid value for --end: {end} is not after --start {start} "
        "(see 'govflow monitor run --help')",
    )


@pytest.mark.parametrize(
    ("args", "line"),
    [
        (
            ["--since", "2025-03-02", "--until", "2025-03-01"],
            "Invalid value for --until: 2025-03-01 is not after --since 2025-03-02",
        ),
        (
            ["--since", "2025-03-01T12:00", "--until", "2025-03-01T12:00"],
            "Invalid value for --until: 2025-03-01T12:00 is not after --since 2025-03-01T12:00",
        ),
        (
            ["--severity", "critical"],
            "Invalid value for --severity: unknown audit severity 'critical'; expected one of "
            "INFO, WARNING, HIGH, CRITICAL",
        ),
        (
            ["--limit", "0"],
            "Invalid value for '--limit': Input should be greater than or equal to 1",
        ),
        (
            ["--limit", "-1"],
            "Invalid value for '--limit': Input should be greater than or equal to 1",
        ),
    ],
)
def test_an_audit_query_no_event_could_match_is_a_usage_error_not_an_empty_list(
    fresh_store_env, args, line
):
    govflow(*KILL_SWITCH, *REASON_AND_ACTOR)  # an event to be listed, or hidden

    result = govflow("audit", "query", *args)

    assert_one_line(result, 2, f"{line} (see 'govflow audit query --help')")


@pytest.mark.parametrize(
    ("command", "window"),
    [
        ("run", ["--start", "2025-03-12"]),
        ("backfill", ["--start", "2025-03-12", "--end", "2025-03-13"]),
    ],
)
def test_a_repeated_model_is_a_usage_error_not_a_model_dropped(
    fresh_store_env, tmp_path, command, window
):
    result = govflow(
        "monitor", command, "--model", "credit_approval", "--model", "marketing_propensity", *window
    )
    assert_one_line(
        result,
        2,
        "Invalid value for --model: given 2 times (credit_approval, marketing_propensity); "
        f"monitor {command} analyses one model: run it once per model "
        f"(see 'govflow monitor {command} --help')",
    )
    assert not (tmp_path / "govflow.db").exists()  # nothing analysed, nothing stored


@pytest.mark.parametrize(
    ("option", "window"),
    [
        ("--start", ["--start", "2025-03-12T12:00", "--end", "2025-03-13"]),
        ("--end", ["--start", "2025-03-12", "--end", "2025-03-13T06:00"]),
        ("--start", ["--start", "2025-13-01", "--end", "2025-03-13"]),
    ],
)
def test_a_backfill_given_a_time_is_a_usage_error_not_days_shifted_off_their_dates(
    fresh_store_env, tmp_path, option, window
):
    """Noon to noon recorded as the 12th's history would rewrite the 12th's own record."""
    value = window[window.index(option) + 1]
    assert_one_line(
        govflow(*BACKFILL, *window),
        2,
        f"Invalid value for {option}: {NOT_A_DAY.format(value=value)} "
        "(see 'govflow monitor backfill --help')",
    )
    assert not (tmp_path / "govflow.db").exists()  # nothing analysed, nothing stored


@pytest.mark.parametrize(
    ("args", "line"),
    [
        (
            [*RUN, "--start", "2999-01-01"],
            "Invalid value for --start: the window from 2999-01-01 00:00 UTC has not ended yet "
            "(it ends 2999-01-02 00:00 UTC) (see 'govflow monitor run --help')",
        ),
        (
            [*RUN, "--start", "2025-03-12", "--end", "2999-01-01T06:00"],
            "Invalid value for --end: the window from 2025-03-12 00:00 UTC has not ended yet "
            "(it ends 2999-01-01 06:00 UTC) (see 'govflow monitor run --help')",
        ),
        (
            [*BACKFILL, "--start", "2999-01-01", "--end", "2999-01-02"],
            "Invalid value for --end: the window from 2999-01-01 00:00 UTC has not ended yet "
            "(it ends 2999-01-03 00:00 UTC) (see 'govflow monitor backfill --help')",
        ),
    ],
)
def test_a_window_that_has_not_ended_is_a_usage_error_and_stores_nothing(
    fresh_store_env, tmp_path, args, line
):
    assert_one_line(govflow(*args), 2, line)
    assert not (tmp_path / "govflow.db").exists()


def test_an_unknown_check_is_a_usage_error_listing_the_checks(fresh_store_env):
    result = govflow(*RUN, "--start", "2025-03-12", "--checks", "data_drift,fairnes_drift")
    message = UNKNOWN_CHECK.format(check="fairnes_drift", expected=", ".join(CHECK_TYPES))
    assert_one_line(result, 2, message)


@pytest.mark.parametrize("command", [RUN, [*BACKFILL, "--end", "2025-03-12"]])
@pytest.mark.parametrize("given", ["", ","])
def test_no_check_at_all_is_a_usage_error_not_a_day_recorded_with_no_finding(
    fresh_store_env, tmp_path, command, given
):
    """``--checks "$CHECKS"`` with the variable unset: a record of nothing would read as
    a day analysed and found fine."""
    result = govflow(*command, "--start", "2025-03-12", "--checks", given)

    assert_one_line(result, 2, NO_CHECK.format(expected=", ".join(CHECK_TYPES)))
    assert not (tmp_path / "govflow.db").exists()


@pytest.mark.parametrize(
    ("args", "status", "line"),
    [
        (
            ["monitor", "run", "--model", "credit_aproval", "--start", "2025-03-12"],
            2,
            f"unknown model 'credit_aproval'; models.yaml has {MODELS}",
        ),
        (
            ["incident", "list", "--model", "credit_aproval"],
            2,
            f"unknown model 'credit_aproval'; models.yaml has {MODELS}",
        ),
        (
            ["registry", "lineage", "credit_aproval:1.0.0"],
            1,
            "model 'credit_aproval' has no version '1.0.0'",
        ),
        (
            ["registry", "deprecate", "credit_aproval", "--actor", "mike", "--reason", "old"],
            1,
            "model 'credit_aproval' is not registered",
        ),
        (
            [*KILL_SWITCH[:3], "model_type", "--target", "credit_aproval", *REASON_AND_ACTOR],
            1,
            "no model_type 'credit_aproval' to block; the model_type targets are none",
        ),
    ],
)
def test_an_unknown_model_is_named_in_one_line_by_every_command(
    fresh_store_env, args, status, line
):
    assert_one_line(govflow(*args), status, line)


@pytest.mark.parametrize("given", ["credit_approval", "credit_approval:", ":1.0.0"])
def test_registry_lineage_of_no_model_version_is_a_usage_error(fresh_store_env, given):
    assert_one_line(
        govflow("registry", "lineage", given),
        2,
        f"Invalid value for MODEL_VERSION: {given!r} is not MODEL:VERSION "
        "(see 'govflow registry lineage --help')",
    )


def test_an_unknown_model_when_models_yaml_lists_none_says_so(
    fresh_store_env, tmp_path, monkeypatch
):
    copy = tmp_path / "config"
    shutil.copytree(CONFIG_DIR, copy)
    (copy / "models.yaml").write_text("models: []\n", encoding="utf-8")
    monkeypatch.setenv("GOVFLOW_CONFIG_DIR", str(copy))

    result = govflow("incident", "list", "--model", "credit_approval")

    assert_one_line(result, 2, "unknown model 'credit_approval'; models.yaml lists no model")


def test_incident_list_of_a_known_model_without_incidents_lists_none(fresh_store_env):
    result = govflow("incident", "list", "--model", "credit_approval")
    assert result.exit_code == 0, result.output
    assert len(result.stdout.splitlines()) == 1  # the header alone


@pytest.fixture
def broken_config(tmp_path, monkeypatch) -> Path:
    """A copy of config/ in which models.yaml names an owner people.yaml does not know,
    as GOVFLOW_CONFIG_DIR."""
    copy = tmp_path / "config"
    shutil.copytree(CONFIG_DIR, copy)
    models = copy / "models.yaml"
    text = models.read_text(encoding="utf-8")
    # marketing_propensity's owner line (sam owns customer_lifetime_value too)
    marketing_owner = "owner: sam\n    business_purpose: Rank customers"
    assert text.count(marketing_owner) == 1
    models.write_text(
        text.replace(marketing_owner, marketing_owner.replace("sam", "zed")), encoding="utf-8"
    )
    monkeypatch.setenv("GOVFLOW_CONFIG_DIR", str(copy))
    return copy


BAD_OWNER = "models.yaml: models.1.owner: user zed is not in people.yaml"
READS_CONFIG = [
    [*RUN, "--start", "2025-03-12"],
    ["incident", "list", "--model", "credit_approval"],
    [*KILL_SWITCH, *REASON_AND_ACTOR],
    ["kill-switch", "deactivate", *KILL_SWITCH[2:], "--notes", "n", "--actor", "eve"],
    ["demo", "seed"],
    ["airflow-users"],
    ["serve"],
    [*FEEDBACK, "--kind", "bug", "--severity", "minor", "--details", "slow"],
]


@pytest.mark.parametrize("args", READS_CONFIG, ids=lambda args: " ".join(args[:2]))
def test_a_bad_config_is_one_line_naming_file_and_key_under_every_command(
    fresh_store_env, broken_config, args
):
    assert_one_line(govflow(*args), 3, BAD_OWNER)


@pytest.mark.parametrize(
    ("args", "line"),
    [
        (["--days", "34"], TOO_FEW_DAYS.format(minimum=MINIMUM_DAYS, days=34)),
        (
            ["--rows-per-day", "199"],
            TOO_FEW_ROWS.format(minimum=MINIMUM_ROWS_PER_DAY, rows=199),
        ),
    ],
)
def test_a_demo_too_small_for_its_scenarios_is_a_usage_error_in_one_line(
    fresh_store_env, tmp_path, args, line
):
    result = govflow("demo", "seed", *args)

    assert_one_line(result, 2, line)
    assert not (tmp_path / "prediction_logs").exists()


def test_demo_seed_without_a_demo_model_in_models_yaml_is_one_line_and_writes_nothing(
    fresh_store_env, tmp_path, monkeypatch
):
    copy = tmp_path / "config"
    shutil.copytree(CONFIG_DIR, copy)
    models = copy / "models.yaml"
    text = models.read_text(encoding="utf-8")
    start = text.index("  - id: product_recommendation")
    end = text.index("  - id:", start + 1)
    models.write_text(text[:start] + text[end:], encoding="utf-8")
    monkeypatch.setenv("GOVFLOW_CONFIG_DIR", str(copy))
    before = sorted(tmp_path.rglob("*"))

    assert_one_line(
        govflow("demo", "seed"),
        3,
        NOT_IN_INVENTORY.format(
            model_id="product_recommendation",
            demo_models="credit_approval, marketing_propensity, product_recommendation, "
            "customer_lifetime_value",
        ),
    )
    assert sorted(tmp_path.rglob("*")) == before  # no demo file, no store


def test_a_config_with_several_problems_names_the_first_and_counts_the_rest(
    fresh_store_env, broken_config
):
    for name in ("people.yaml", "policy.yaml"):
        path = broken_config / name
        path.write_text(path.read_text(encoding="utf-8") + "\nunexpected_key: 1\n")
    with pytest.raises(ConfigError) as raised:
        load_config(broken_config)
    problems = raised.value.problems
    assert len(problems) > 1
    result = govflow(*RUN, "--start", "2025-03-12")
    more = f" (and {len(problems) - 1} more: govflow config check lists them)"
    assert_one_line(result, 3, problems[0] + more)


TOUCHES_THE_STORE = [
    ["db", "upgrade"],
    ["db", "current"],
    ["audit", "verify"],
    ["audit", "query"],
    ["registry", "lineage", "credit_approval:1.0.0"],
    ["incident", "list"],
    ["incident", "show", "INC-2025-0001"],
    ["kill-switch", "list"],
    [*KILL_SWITCH, *REASON_AND_ACTOR],
    [*RUN, "--start", "2025-03-12"],
]


@pytest.mark.parametrize("args", TOUCHES_THE_STORE, ids=lambda args: " ".join(args[:2]))
def test_an_unreachable_store_is_one_line_naming_it_without_its_password(
    monkeypatch, tmp_path, args
):
    monkeypatch.setenv("GOVFLOW_DB_URL", UNREACHABLE)
    monkeypatch.setenv("GOVFLOW_DATA_DIR", str(tmp_path))
    result = govflow(*args)
    shown = make_url(UNREACHABLE).render_as_string(hide_password=True)
    (line,) = result.stderr.splitlines()
    assert (result.exit_code, result.stdout) == (3, "")
    assert line.startswith(f"governance store {shown}: connection failed: "), line
    assert "Connection refused" in line
    assert PASSWORD not in result.output


@pytest.mark.postgres
def test_a_store_refusing_the_credentials_is_one_line_without_the_password(
    postgres_url, monkeypatch, tmp_path
):
    # The test cluster trusts its own role whatever the password; a role it lacks is refused.
    url = make_url(postgres_url).set(username="intruder", password=PASSWORD)
    monkeypatch.setenv("GOVFLOW_DB_URL", url.render_as_string(hide_password=False))
    monkeypatch.setenv("GOVFLOW_DATA_DIR", str(tmp_path))
    result = govflow("kill-switch", "list")
    (line,) = result.stderr.splitlines()
    assert (result.exit_code, result.stdout) == (3, "")
    assert line.startswith(f"governance store {url.render_as_string(hide_password=True)}: ")
    assert line.endswith('role "intruder" does not exist')
    assert PASSWORD not in result.output


@pytest.mark.parametrize(
    ("url", "line"),
    [
        ("not a url", "GOVFLOW_DB_URL: Could not parse SQLAlchemy URL from given URL string"),
        (
            "nosuchdb://host/store",
            "GOVFLOW_DB_URL: Can't load plugin: sqlalchemy.dialects:nosuchdb",
        ),
        (
            f"postgresql://govflow:{PASSWORD}@host:x/store",
            "GOVFLOW_DB_URL: the port 'x' is not a number",
        ),
    ],
)
@pytest.mark.parametrize("command", [["kill-switch", "list"], ["incident", "list"]])
def test_a_malformed_store_url_is_one_line_without_its_password(monkeypatch, url, line, command):
    monkeypatch.setenv("GOVFLOW_DB_URL", url)
    assert_one_line(govflow(*command), 3, line)


@pytest.mark.parametrize(
    ("url", "line"),
    [
        ("not a url", "VALIDATION_DB: Could not parse SQLAlchemy URL from given URL string"),
        (f"postgresql://u:{PASSWORD}@host:x/db", "VALIDATION_DB: the port 'x' is not a number"),
        ("nosuchdb://host/db", "VALIDATION_DB: Can't load plugin: sqlalchemy.dialects:nosuchdb"),
    ],
)
def test_a_malformed_url_of_baseline_data_names_its_own_variable(
    fresh_store_env, monkeypatch, url, line
):
    monkeypatch.setenv("VALIDATION_DB", url)
    result = govflow(
        *("baseline", "create", "--model", "credit_approval"),
        *("--from", "validation", "--url-env", "VALIDATION_DB"),
    )
    assert_one_line(result, 3, line)


@pytest.mark.parametrize(
    ("args", "error"),
    [
        ([*RUN, "--start", "2025-03-12", "--checks", "bogus"], UnknownCheck),
        (["incident", "list", "--model", "credit_aproval"], UnknownModel),
    ],
)
def test_debug_shows_the_traceback_and_keeps_the_exit_status(fresh_store_env, args, error):
    result = govflow("--debug", *args)
    assert result.exit_code == 2
    assert result.stderr.startswith("Traceback (most recent call last):\n")
    assert f"{error.__module__}.{error.__qualname__}: " in result.stderr


def test_debug_against_an_unreachable_store_exits_3_as_without_it(monkeypatch, tmp_path):
    monkeypatch.setenv("GOVFLOW_DB_URL", UNREACHABLE)
    monkeypatch.setenv("GOVFLOW_DATA_DIR", str(tmp_path))
    result = govflow("--debug", "db", "current")
    assert result.exit_code == 3
    assert result.stderr.startswith("Traceback (most recent call last):\n")
    assert "Connection refused" in result.stderr
    assert PASSWORD not in result.output


def test_monitor_run_documents_its_exit_status_in_its_help():
    result = govflow("monitor", "run", "--help")
    assert result.exit_code == 0
    help_text = " ".join(result.stdout.replace("│", " ").split())
    assert (
        "Exit status: 0 analysed, no CRITICAL finding; 1 analysed, a CRITICAL finding; 2 usage "
        "error (a malformed date, --start after --end, a window not ended yet, an unknown check "
        "or model); 3 the analysis failed (its record says why) or could not run (config/, the "
        "store)."
    ) in help_text


@pytest.mark.postgres
def test_demo_seed_names_the_store_without_its_password(postgres_url, monkeypatch, tmp_path):
    url = make_url(postgres_url).set(password=PASSWORD)
    monkeypatch.setenv("GOVFLOW_DB_URL", url.render_as_string(hide_password=False))
    monkeypatch.setenv("GOVFLOW_DATA_DIR", str(tmp_path))
    result = govflow("demo", "seed", "--days", "35", "--rows-per-day", "200")
    assert result.exit_code == 0, result.output
    assert PASSWORD not in result.output
    assert f"governance store: {url.render_as_string(hide_password=True)}" in result.stdout


# --- baseline create and model register on a model of one's own -------------------------


@pytest.fixture
def tenancy(tmp_path, monkeypatch) -> Path:
    """The README guide's tenancy_screening beside the demo's models, a store in
    ``tmp_path`` (the working directory) and 400 clean validation rows in validation.csv."""
    config = tmp_path / "config"
    shutil.copytree(CONFIG_DIR, config)
    models = config / "models.yaml"
    models.write_text(models.read_text() + TENANCY_ENTRY)
    rows = tenancy_rows(np.random.default_rng(7), 400, datetime(2024, 5, 1, tzinfo=UTC))
    rows.to_csv(tmp_path / "validation.csv", index=False)
    monkeypatch.setenv("GOVFLOW_DB_URL", f"sqlite:///{tmp_path / 'govflow.db'}")
    monkeypatch.setenv("GOVFLOW_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("GOVFLOW_CONFIG_DIR", str(config))
    monkeypatch.chdir(tmp_path)
    return tmp_path


def baselines_of(directory: Path) -> list[str]:
    with store.session_scope(f"sqlite:///{directory / 'govflow.db'}") as session:
        return list(session.scalars(select(Baseline.version)))


def broken(column: str, value: object) -> pd.DataFrame:
    frame = pd.read_csv("validation.csv")
    frame[column] = value
    return frame


@pytest.mark.parametrize(
    ("frame", "line"),
    [
        (
            lambda: broken("monthly_rent", np.inf),
            "baseline data broken.parquet refused by the data-quality gate: monthly_rent: "
            "400 of 400 above 20000",
        ),
        (
            lambda: broken("nationality", None),
            "baseline data broken.parquet refused by the data-quality gate: nationality: "
            "400 of 400 values null, more than 0% allowed",
        ),
        (
            lambda: broken("label", np.nan),
            "baseline data broken.parquet: label: none of the 400 usable rows has a label; a "
            "baseline needs observed outcomes",
        ),
        (
            lambda: broken("label", 1),
            "baseline data broken.parquet: label: all 400 labelled rows are 1; a baseline "
            "needs both outcomes (its accuracy and each group's error rates compare them)",
        ),
        (
            lambda: broken("scored_at", "garbage"),
            "baseline data broken.parquet: none of its 400 scored_at values is a timestamp, "
            "so the baseline cannot be named after the data's last day; name it with --name",
        ),
    ],
)
def test_baseline_create_refuses_bad_validation_data_in_one_line_and_stores_nothing(
    tenancy, frame, line
):
    frame().to_parquet("broken.parquet", index=False)
    assert govflow("model", "register", "tenancy_screening").exit_code == 0

    result = govflow(
        "baseline", "create", "--model", "tenancy_screening", "--from", "broken.parquet"
    )

    assert_one_line(result, 3, line)
    assert baselines_of(tenancy) == []


def test_baseline_create_names_each_lesser_problem_on_stderr_and_profiles_the_rest(tenancy):
    frame = pd.read_csv("validation.csv")
    frame.loc[:9, "tenancy_kind"] = "castle"
    frame.to_csv("castles.csv", index=False)
    assert govflow("model", "register", "tenancy_screening").exit_code == 0

    result = govflow("baseline", "create", "--model", "tenancy_screening", "--from", "castles.csv")

    assert result.exit_code == 0, result.output
    assert result.stdout.startswith(
        "tenancy_screening: baseline 2024-05-01-v1 active (390 rows from castles.csv"
    )
    assert result.stderr == (
        "baseline data castles.csv: tenancy_kind: 10 of 400 not in allowed set ('castle')\n"
        "baseline data castles.csv: 390 of 400 rows profiled; the gate left out the rest\n"
    )
    with store.session_scope(f"sqlite:///{tenancy / 'govflow.db'}") as session:
        (baseline,) = session.scalars(select(Baseline))
        kinds = baseline.profile["categorical"]["tenancy_kind"]
    assert "castle" not in json.dumps(kinds)


def test_a_baseline_named_with_name_needs_no_dates(tenancy):
    keyless = pd.read_csv("validation.csv").drop(columns=["scored_at", "prediction_id"])
    keyless.to_csv("undated.csv", index=False)
    assert govflow("model", "register", "tenancy_screening").exit_code == 0

    result = govflow(
        "baseline",
        "create",
        "--model",
        "tenancy_screening",
        "--from",
        "undated.csv",
        "--name",
        "validation-2024-05",
    )

    assert result.exit_code == 0, result.output
    assert (result.stderr, baselines_of(tenancy)) == ("", ["validation-2024-05"])
    # Validation data need not carry the log's keys: their absence is no failure on record.
    with store.session_scope(f"sqlite:///{tenancy / 'govflow.db'}") as session:
        (baseline,) = session.scalars(select(Baseline))
        assert baseline.details["data_quality"] == f"data quality passed: {len(keyless)} rows"


def other_validation_data() -> None:
    """other.csv: 400 other applications of the same day (a different draw)."""
    rows = tenancy_rows(np.random.default_rng(8), 400, datetime(2024, 5, 1, tzinfo=UTC))
    rows.to_csv("other.csv", index=False)


def audit_trail(directory: Path) -> list[tuple[int, str, str, str]]:
    with store.session_scope(f"sqlite:///{directory / 'govflow.db'}") as session:
        return [
            (event.seq, event.action, event.target, event.severity)
            for event in session.scalars(select(AuditEvent).order_by(AuditEvent.seq))
        ]


def test_baseline_create_refuses_to_replace_a_versions_active_baseline_and_stores_nothing(
    tenancy,
):
    """Seed 004 section 4.2: a version's active baseline changes by an approved reset, not
    by a baseline of whatever data anybody names (the walkthrough's 'hush' by 'nobody')."""
    other_validation_data()
    assert govflow("model", "register", "tenancy_screening").exit_code == 0
    created = govflow(
        "baseline", "create", "--model", "tenancy_screening", "--from", "validation.csv"
    )
    assert created.exit_code == 0, created.output
    trail = audit_trail(tenancy)

    result = govflow(
        *("baseline", "create", "--model", "tenancy_screening", "--from", "other.csv"),
        *("--name", "hush", "--actor", "nobody"),
    )

    assert_one_line(
        result,
        1,
        "tenancy_screening 1 already has the active baseline 2024-05-01-v1, made from other "
        "data: replacing it is a baseline reset, which needs approval; trigger the "
        "govflow_baseline_reset DAG (Params model, kind, reason, window_end)",
    )
    assert baselines_of(tenancy) == ["2024-05-01-v1"]
    assert audit_trail(tenancy) == trail
    assert not (tenancy / "baselines" / "tenancy_screening" / "hush").exists()


@pytest.mark.parametrize("name", [[], ["--name", "validation-2024-05"]])
def test_baseline_create_of_the_same_data_again_returns_the_active_baseline(tenancy, name):
    assert govflow("model", "register", "tenancy_screening").exit_code == 0
    create = ["baseline", "create", "--model", "tenancy_screening", "--from", "validation.csv"]
    created = govflow(*create, *name)
    trail = audit_trail(tenancy)

    again = govflow(*create, *name)

    assert (created.exit_code, again.exit_code) == (0, 0), again.output
    assert again.stdout == created.stdout
    assert len(baselines_of(tenancy)) == 1
    assert audit_trail(tenancy) == trail


def log_in_production(directory: Path, version: str) -> None:
    """Record that tenancy_screening ``version`` serves all traffic, as the registry records
    a version deployed to production."""
    with store.session_scope(f"sqlite:///{directory / 'govflow.db'}") as session:
        registry.log_stage(
            session,
            model_id="tenancy_screening",
            version=version,
            stage="production",
            deployed_by="mike",
        )


def test_a_deployed_new_version_takes_a_baseline_of_its_own_data(tenancy):
    """Seed 004 section 4.2 "new model deployed": another version that serves all traffic is
    no reset of the active baseline, which is archived and kept."""
    other_validation_data()
    assert govflow("model", "register", "tenancy_screening").exit_code == 0
    create = ["baseline", "create", "--model", "tenancy_screening", "--from"]
    assert govflow(*create, "validation.csv").exit_code == 0
    assert govflow("model", "register", "tenancy_screening", "--version", "2").exit_code == 0
    log_in_production(tenancy, "2")

    result = govflow(*create, "other.csv")

    assert (result.exit_code, result.stderr) == (0, ""), result.output
    assert result.stdout.startswith(
        "tenancy_screening: baseline 2024-05-01-v2 active (400 rows from other.csv, model "
        "version 2)"
    )
    with store.session_scope(f"sqlite:///{tenancy / 'govflow.db'}") as session:
        stored = session.scalars(select(Baseline).order_by(Baseline.id)).all()
        assert [(b.version, b.model_version, b.is_active) for b in stored] == [
            ("2024-05-01-v1", "1", False),
            ("2024-05-01-v2", "2", True),
        ]
    created = [
        (action, target, severity)
        for _, action, target, severity in audit_trail(tenancy)
        if action == "baseline.created"
    ]
    assert created == [
        ("baseline.created", "baseline:tenancy_screening:2024-05-01-v1", "INFO"),
        ("baseline.created", "baseline:tenancy_screening:2024-05-01-v2", "WARNING"),
    ]


@pytest.mark.parametrize(
    ("in_production", "serving"), [([], "no version serves all of it"), (["1"], "1 does")]
)
def test_a_draft_version_does_not_take_over_the_baseline_of_the_version_that_serves(
    tenancy, in_production, serving
):
    """Monitoring judges the serving version's traffic against the active baseline: a newly
    registered version's baseline becomes active once it is deployed, or by a reset."""
    other_validation_data()
    create = ["baseline", "create", "--model", "tenancy_screening", "--from"]
    assert govflow("model", "register", "tenancy_screening").exit_code == 0
    assert govflow(*create, "validation.csv").exit_code == 0
    for version in in_production:
        log_in_production(tenancy, version)
    registered = govflow("model", "register", "tenancy_screening", "--version", "2")
    assert registered.exit_code == 0, registered.output
    # What to do next is the deployment, not the baseline create refused below.
    assert registered.stdout.splitlines()[0].endswith(
        "; next: deploy it through govflow_model_deployment (its baseline becomes active once "
        "it serves all traffic; 1's stays until then)"
    )
    trail = audit_trail(tenancy)

    result = govflow(*create, "other.csv")

    assert_one_line(
        result,
        1,
        f"tenancy_screening 2 does not serve the model's traffic ({serving}): its baseline "
        "would replace the active baseline 2024-05-01-v1 of 1, against which that traffic is "
        "judged; deploy 2 through govflow_model_deployment (its baseline becomes active once "
        "it serves all traffic) or replace the baseline by a reset (govflow_baseline_reset), "
        "both approved",
    )
    assert baselines_of(tenancy) == ["2024-05-01-v1"]
    assert audit_trail(tenancy) == trail
    assert not (tenancy / "baselines" / "tenancy_screening" / "2024-05-01-v2").exists()


def test_baseline_create_for_a_version_never_registered_says_so(tenancy):
    """Not "not its newest registered version", which sent the user to a rollback."""
    other_validation_data()
    create = ["baseline", "create", "--model", "tenancy_screening", "--from"]
    assert govflow("model", "register", "tenancy_screening").exit_code == 0
    assert govflow(*create, "validation.csv").exit_code == 0
    trail = audit_trail(tenancy)

    result = govflow(*create, "other.csv", "--model-version", "3.0.0")

    assert_one_line(result, 1, "model 'tenancy_screening' has no version '3.0.0'")
    assert audit_trail(tenancy) == trail


def test_baseline_create_refuses_to_go_back_to_an_older_version_over_the_active_baseline(tenancy):
    """Version 2's baseline is active: a baseline of version 1 (other data) would replace
    the serving version's reference without approval, a rollback or a reset."""
    other_validation_data()
    create = ["baseline", "create", "--model", "tenancy_screening", "--from"]
    assert govflow("model", "register", "tenancy_screening").exit_code == 0
    assert govflow("model", "register", "tenancy_screening", "--version", "2").exit_code == 0
    assert govflow(*create, "validation.csv").exit_code == 0
    trail = audit_trail(tenancy)

    result = govflow(*create, "other.csv", "--model-version", "1")

    assert_one_line(
        result,
        1,
        "tenancy_screening 1 is not its newest registered version (2): its baseline would "
        "replace the active baseline 2024-05-01-v1 of 2 without approval; going back to an "
        "older version is a rollback (govflow_rollback) or a baseline reset "
        "(govflow_baseline_reset), both approved",
    )
    assert baselines_of(tenancy) == ["2024-05-01-v1"]
    assert audit_trail(tenancy) == trail


@pytest.mark.parametrize(
    ("write", "line"),
    [
        (
            lambda path: path.write_text("not a pickle at all\n"),
            "artefact {path}: joblib cannot load it as a model (",
        ),
        (
            lambda path: joblib.dump({"weights": [1, 2]}, path),
            "artefact {path} holds a dict, not a fitted model with predict_proba() (models.yaml "
            "makes tenancy_screening a binary_classifier)",
        ),
    ],
)
def test_model_register_refuses_an_artefact_that_is_not_a_model_naming_it(tenancy, write, line):
    path = tenancy / "model.joblib"
    write(path)

    result = govflow("model", "register", "tenancy_screening", "--artifact", str(path))

    assert (result.exit_code, result.stdout) == (3, "")
    assert result.stderr.startswith(line.format(path=path))
    assert result.stderr.count("\n") == 1
    assert "Error" not in result.stderr
    with store.session_scope(f"sqlite:///{tenancy / 'govflow.db'}") as session:
        assert list(session.scalars(select(ModelVersion))) == []


TENANCY_FEATURES = ["monthly_rent", "prior_tenancies", "tenancy_kind"]


def fitted_on(columns: list[str]) -> LogisticRegression:
    """A classifier fitted on a frame of ``columns`` (random numbers): sklearn keeps their
    names as ``feature_names_in_``."""
    frame = pd.DataFrame(np.random.default_rng(3).random((40, len(columns))), columns=columns)
    return LogisticRegression().fit(frame, np.arange(40) % 2)


@pytest.mark.parametrize(
    ("columns", "difference"),
    [
        (
            ["monthly_rent", "prior_tenancies", "age"],
            "was not fitted on the features models.yaml lists for tenancy_screening: missing "
            "tenancy_kind; extra age",
        ),
        (
            ["monthly_rent", "prior_tenancies"],
            "was not fitted on the features models.yaml lists for tenancy_screening: missing "
            "tenancy_kind",
        ),
        (
            [*TENANCY_FEATURES, "sex"],
            "was not fitted on the features models.yaml lists for tenancy_screening: extra sex",
        ),
        # sklearn refuses a frame whose columns come in another order than at fit.
        (
            ["tenancy_kind", "monthly_rent", "prior_tenancies"],
            "was fitted on the features models.yaml lists for tenancy_screening in another "
            "order (tenancy_kind, monthly_rent, prior_tenancies); govflow passes them in "
            "models.yaml's (monthly_rent, prior_tenancies, tenancy_kind)",
        ),
    ],
)
def test_model_register_refuses_an_artefact_fitted_on_other_features_naming_them(
    tenancy, columns, difference
):
    path = tenancy / "model.joblib"
    joblib.dump(fitted_on(columns), path)

    result = govflow("model", "register", "tenancy_screening", "--artifact", str(path))

    assert_one_line(result, 3, f"artefact {path} {difference}")
    with store.session_scope(f"sqlite:///{tenancy / 'govflow.db'}") as session:
        assert list(session.scalars(select(ModelVersion))) == []


def test_model_register_accepts_an_artefact_fitted_on_the_configured_features(tenancy):
    validation = pd.read_csv("validation.csv")
    encode = ColumnTransformer(
        [("kind", OneHotEncoder(), ["tenancy_kind"])], remainder="passthrough"
    )
    model = make_pipeline(encode, LogisticRegression(max_iter=1000))
    joblib.dump(model.fit(validation[TENANCY_FEATURES], validation["label"]), "model.joblib")

    result = govflow("model", "register", "tenancy_screening", "--artifact", "model.joblib")

    assert (result.exit_code, result.stderr) == (0, ""), result.output
    assert result.stdout.startswith(
        "tenancy_screening 1 registered (draft, artefact models/tenancy_screening/1/model.joblib)"
    )


def test_model_register_keeps_a_copy_of_the_artefact_in_the_data_directory(tenancy):
    """The registry records the copy's path, relative to the data directory, as it does the
    validation set's: the file the owner named may move and the version still serves."""
    named = tenancy / "elsewhere" / "screening.pkl"
    named.parent.mkdir()
    joblib.dump(fitted_on(TENANCY_FEATURES), named)
    content = named.read_bytes()
    register = ("model", "register", "tenancy_screening", "--version", "1.0.0")

    first = govflow(*register, "--artifact", str(named))
    named.rename(tenancy / "moved.pkl")
    again = govflow(*register, "--artifact", str(tenancy / "moved.pkl"))

    copy = "models/tenancy_screening/1.0.0/model.pkl"
    assert (first.exit_code, again.exit_code) == (0, 0), first.output + again.output
    assert first.stdout == again.stdout
    assert f"(draft, artefact {copy})" in first.stdout
    assert (tenancy / copy).read_bytes() == content
    with store.session_scope(f"sqlite:///{tenancy / 'govflow.db'}") as session:
        version = registry.get_version(session, "tenancy_screening", "1.0.0")
        assert (version.artifact_uri, version.artifact_sha256) == (
            copy,
            hashlib.sha256(content).hexdigest(),
        )
        events = session.scalars(
            select(AuditEvent.action).where(AuditEvent.action == "registry.version_registered")
        ).all()
    assert events == ["registry.version_registered"]
    with store.session_scope(f"sqlite:///{tenancy / 'govflow.db'}") as session:
        loaded = load_registered_model(
            session, data_dir=tenancy, model_id="tenancy_screening", model_version="1.0.0"
        )
    assert list(loaded.feature_names_in_) == TENANCY_FEATURES


def test_model_register_refuses_another_artefact_for_a_registered_version_keeping_the_copy(
    tenancy,
):
    joblib.dump(fitted_on(TENANCY_FEATURES), "model.joblib")
    assert (
        govflow("model", "register", "tenancy_screening", "--artifact", "model.joblib").exit_code
        == 0
    )
    kept = (tenancy / "models/tenancy_screening/1/model.joblib").read_bytes()
    other = LogisticRegression(C=0.5).fit(
        pd.DataFrame(np.random.default_rng(5).random((40, 3)), columns=TENANCY_FEATURES),
        np.arange(40) % 2,
    )
    joblib.dump(other, "model.joblib")

    result = govflow("model", "register", "tenancy_screening", "--artifact", "model.joblib")

    assert result.exit_code == 1
    assert result.stderr.count("\n") == 1
    assert (tenancy / "models/tenancy_screening/1/model.joblib").read_bytes() == kept


def test_model_register_accepts_an_artefact_without_feature_names(tenancy):
    """Fitted on an array, an estimator keeps no names to compare: it is taken as given."""
    unnamed = LogisticRegression().fit(np.random.default_rng(3).random((40, 3)), np.arange(40) % 2)
    assert not hasattr(unnamed, "feature_names_in_")
    joblib.dump(unnamed, "model.joblib")

    result = govflow("model", "register", "tenancy_screening", "--artifact", "model.joblib")

    assert (result.exit_code, result.stderr) == (0, ""), result.output


@pytest.mark.parametrize("version", ["", "  "])
def test_model_register_refuses_an_empty_version(tenancy, version):
    result = govflow("model", "register", "tenancy_screening", "--version", version)

    assert_one_line(
        result,
        2,
        "Invalid value for --version: the version is empty (see 'govflow model register --help')",
    )


VALIDATION_SET = "models/tenancy_screening/2/validation.parquet"
REGISTER_WITH_VALIDATION = ["model", "register", "tenancy_screening", "--version", "2"]


def registered_versions(directory: Path) -> list[tuple[str, str | None, dict]]:
    url = f"sqlite:///{directory / 'govflow.db'}"
    store.ensure_schema(url)
    with store.session_scope(url) as session:
        return [
            (v.version, v.validation_uri, v.validation_metrics)
            for v in session.scalars(select(ModelVersion))
        ]


def test_model_register_stores_the_validation_set_and_records_its_metrics(tenancy):
    """The deployment procedure reads both: its performance item the metrics, its fairness
    item and the deployment's baseline the stored rows (a black box's own scores)."""
    result = govflow(*REGISTER_WITH_VALIDATION, "--validation", "validation.csv")

    assert (result.exit_code, result.stderr) == (0, ""), result.output
    assert result.stdout.splitlines()[1] == (
        f"validation set {VALIDATION_SET}: 400 labelled rows, accuracy 0.720, AUC 0.676"
    )
    assert registered_versions(tenancy) == [
        (
            "2",
            VALIDATION_SET,
            {
                "rows": 400,
                "accuracy": 0.72,
                "roc_auc": 0.675736,
                "positive_rate": 0.88,
                "base_rate": 0.73,
            },
        )
    ]
    stored = pd.read_parquet(tenancy / VALIDATION_SET)
    # The gate's labels are numbers that may be blank (it blanks a label other than 0 or 1).
    assert stored["label"].dtype == "float64"
    pd.testing.assert_frame_equal(
        stored, pd.read_csv("validation.csv").astype({"label": "float64"})
    )


def test_model_register_stores_only_the_validation_rows_the_gate_keeps_naming_the_rest(tenancy):
    frame = pd.read_csv("validation.csv")
    frame.loc[:9, "tenancy_kind"] = "castle"
    frame.to_csv("castles.csv", index=False)

    result = govflow(*REGISTER_WITH_VALIDATION, "--validation", "castles.csv")

    assert result.exit_code == 0, result.output
    assert result.stderr == (
        "baseline data castles.csv: tenancy_kind: 10 of 400 not in allowed set ('castle')\n"
        "baseline data castles.csv: 390 of 400 rows profiled; the gate left out the rest\n"
    )
    assert "390 labelled rows" in result.stdout
    assert "castle" not in set(pd.read_parquet(tenancy / VALIDATION_SET)["tenancy_kind"])


@pytest.mark.parametrize(
    ("frame", "line"),
    [
        (
            lambda: broken("monthly_rent", np.inf),
            "baseline data broken.parquet refused by the data-quality gate: monthly_rent: "
            "400 of 400 above 20000",
        ),
        (
            lambda: broken("label", 1),
            "baseline data broken.parquet: label: all 400 labelled rows are 1; a baseline "
            "needs both outcomes (its accuracy and each group's error rates compare them)",
        ),
        (
            lambda: broken("score", None),
            "baseline data broken.parquet refused by the data-quality gate: score: "
            "400 of 400 values null, more than 0% allowed",
        ),
    ],
)
def test_model_register_refuses_a_validation_set_the_gate_refuses_and_registers_nothing(
    tenancy, frame, line
):
    frame().to_parquet("broken.parquet", index=False)

    result = govflow(*REGISTER_WITH_VALIDATION, "--validation", "broken.parquet")

    assert_one_line(result, 3, line)
    assert registered_versions(tenancy) == []
    assert not (tenancy / "models").exists()


def test_model_register_with_the_same_validation_set_again_changes_nothing(tenancy):
    """Read from the CSV again (its dates text, its labels integers), compared as stored."""
    first = govflow(*REGISTER_WITH_VALIDATION, "--validation", "validation.csv")
    stored = (tenancy / VALIDATION_SET).stat().st_mtime_ns

    again = govflow(*REGISTER_WITH_VALIDATION, "--validation", "validation.csv")

    assert (again.exit_code, again.output) == (0, first.output)
    assert len(registered_versions(tenancy)) == 1
    assert (tenancy / VALIDATION_SET).stat().st_mtime_ns == stored


@pytest.mark.parametrize(
    ("first", "held"),
    [
        (["--validation", "validation.csv"], f"with another validation set ({VALIDATION_SET})"),
        ([], "without a validation set"),
    ],
)
def test_model_register_refuses_another_validation_set_for_a_registered_version(
    tenancy, first, held
):
    broken("monthly_rent", 900.0).to_csv("other.csv", index=False)
    assert govflow(*REGISTER_WITH_VALIDATION, *first).exit_code == 0
    before = registered_versions(tenancy)

    result = govflow(*REGISTER_WITH_VALIDATION, "--validation", "other.csv")

    assert_one_line(
        result,
        1,
        f"tenancy_screening 2 is already registered {held}; a registered version does not "
        "change: register this validation set with a new --version",
    )
    assert registered_versions(tenancy) == before


@pytest.mark.parametrize(
    ("args", "option"),
    [
        # The switch would block b alone while its user believes a blocked too.
        (
            [
                "kill-switch",
                "activate",
                "--scope",
                "model_type",
                "--target",
                "a",
                "--target",
                "b",
                "--reason",
                "r",
                "--actor",
                "eve",
            ],
            "--target",
        ),
        (
            [
                "monitor",
                "run",
                "--model",
                "credit_approval",
                "--start",
                "2025-03-01",
                "--start=2025-03-02",
            ],
            "--start",
        ),
        (["report", "executive", "--month", "2025-01", "--month", "2025-02"], "--month"),
    ],
    ids=["kill-switch target", "monitor start, = form", "report month"],
)
def test_an_option_of_one_value_given_twice_is_a_usage_error_before_anything_runs(
    fresh_store_env, args, option
):
    assert_one_line(govflow(*args), 2, REPEATED_OPTION.format(option=option))


def test_an_options_value_that_looks_like_an_option_is_not_counted_as_one(fresh_store_env):
    result = govflow(
        "kill-switch",
        "activate",
        "--scope",
        "model_type",
        "--target",
        "--target",
        "--reason",
        "r",
        "--actor",
        "eve",
    )
    assert REPEATED_OPTION.format(option="--target") not in result.output


def test_verifying_the_audit_trail_where_no_store_is_fails_in_one_line_and_creates_none(
    monkeypatch, tmp_path
):
    missing = tmp_path / "no-such-dir"
    monkeypatch.delenv("GOVFLOW_DB_URL", raising=False)
    monkeypatch.setenv("GOVFLOW_DATA_DIR", str(missing))

    result = govflow("audit", "verify")

    assert_one_line(
        result,
        1,
        f"FAILED: no governance store at sqlite:///{missing / 'govflow.db'}: nothing to verify "
        "(GOVFLOW_DB_URL, or GOVFLOW_DATA_DIR for the default SQLite store, names where it is)",
    )
    assert not missing.exists()
