"""docker-compose.yaml, Dockerfile, .env.example and docker/: the invariants the deployment
relies on, checked without a Docker daemon (none runs here).

The compose file is read with PyYAML (anchors and ``<<`` merge keys resolved as Compose does);
``${VAR...}`` references are left as written and checked as text, except where a test
interpolates them with the defaults of .env.example.
"""

import re
import subprocess
import sysconfig
import tomllib
from pathlib import Path

import pytest
import yaml

from govflow import settings
from govflow.alerts import messages as notifications
from govflow.config.access import ADMIN_PASSWORD_ENV, USERS_PASSWORD_ENV
from govflow.serving.consumers import connection_variable, token_file_variable, token_variable
from govflow.serving.limits import MAX_BODY_BYTES_ENV

REPO = Path(__file__).resolve().parents[2]
COMPOSE_TEXT = (REPO / "docker-compose.yaml").read_text()
COMPOSE = yaml.safe_load(COMPOSE_TEXT)
SERVICES = COMPOSE["services"]
DOCKERFILE = (REPO / "Dockerfile").read_text()
ENV_EXAMPLE = (REPO / ".env.example").read_text()
INIT_SQL = REPO / "docker" / "postgres" / "init-govflow.sql"
INIT_SCRIPT = REPO / "docker" / "airflow-init.sh"

AIRFLOW_SERVICES = (
    "airflow-apiserver",
    "airflow-scheduler",
    "airflow-dag-processor",
    "airflow-triggerer",
    "airflow-worker",
    "airflow-init",
    "flower",
)
LONG_RUNNING_AIRFLOW_SERVICES = tuple(s for s in AIRFLOW_SERVICES if s != "airflow-init")
COMMON_ENV = COMPOSE["x-airflow-common"]["environment"]
FAB_AUTH_MANAGER = "airflow.providers.fab.auth_manager.fab_auth_manager.FabAuthManager"
SECRET_VARIABLES = (
    "POSTGRES_PASSWORD",
    "GOVFLOW_DB_PASSWORD",
    "GOVFLOW_DB_OWNER_PASSWORD",
    "AIRFLOW_FERNET_KEY",
    "AIRFLOW_JWT_SECRET",
    "AIRFLOW_API_SECRET_KEY",
    ADMIN_PASSWORD_ENV,
)
# ${NAME}, ${NAME:-default}, ${NAME-default}, ${NAME:?message}, ${NAME?message}; "$$" escapes.
REFERENCE = re.compile(r"(?<!\$)\$\{([A-Za-z_][A-Za-z0-9_]*)(?:(:?[-?])([^}]*))?\}")
EXAMPLE_ASSIGNMENT = re.compile(r"^#?\s*([A-Z][A-Z0-9_]*)=(.*)$", re.MULTILINE)
SECRET_LOOKING = [
    re.compile(r"hooks\.slack\.com/services/T[A-Z0-9]+"),
    re.compile(r"xox[abposr]-[A-Za-z0-9-]{10,}"),
    re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----"),
    re.compile(r"(?i)(password|secret|fernet_key)[ \t]*[:=][ \t]*['\"]?(?!\$\{)[A-Za-z0-9+/]{8,}"),
    # A URL with user:password@ whose password is neither a ${...} reference nor a <placeholder>.
    re.compile(r"://[^:/@\s]+:(?!\$\{|<)[^@\s/]+@"),
]


def example_values() -> dict[str, str]:
    """Variables assigned (or shown commented out) in .env.example, with their values."""
    return {name: value for name, value in EXAMPLE_ASSIGNMENT.findall(ENV_EXAMPLE)}


def interpolate(text: str, environment: dict[str, str]) -> str:
    """Compose's interpolation of one value, enough for the forms this file uses."""

    def replace(match: re.Match[str]) -> str:
        name, operator, argument = match.group(1), match.group(2), match.group(3)
        value = environment.get(name)
        if operator in (":-", ":?") and value == "":
            value = None
        if value is not None:
            return value
        if operator and operator.endswith("?"):
            raise KeyError(argument)
        return argument or ""

    return REFERENCE.sub(replace, text).replace("$$", "$")


def test_the_compose_file_has_the_official_airflow_3_celery_services_and_flower() -> None:
    assert sorted(SERVICES) == sorted(("postgres", "redis", *AIRFLOW_SERVICES))
    assert SERVICES["flower"]["profiles"] == ["flower"]
    commands = {name: SERVICES[name]["command"] for name in LONG_RUNNING_AIRFLOW_SERVICES}
    assert commands == {
        "airflow-apiserver": "api-server",
        "airflow-scheduler": ["python", "-P", "-m", "govflow_airflow.preload", "scheduler"],
        "airflow-dag-processor": "dag-processor",
        "airflow-triggerer": "triggerer",
        "airflow-worker": ["python", "-P", "-m", "govflow_airflow.preload", "celery", "worker"],
        "flower": "celery flower",
    }


@pytest.mark.parametrize("service", ["postgres", "redis", *LONG_RUNNING_AIRFLOW_SERVICES])
def test_every_long_running_service_has_a_health_check_and_restarts(service: str) -> None:
    healthcheck = SERVICES[service]["healthcheck"]
    assert healthcheck["test"][0] in ("CMD", "CMD-SHELL")
    assert healthcheck["retries"] >= 5
    assert SERVICES[service]["restart"] == "always"


def test_airflow_init_runs_once_with_no_health_check_and_no_restart() -> None:
    init = SERVICES["airflow-init"]
    assert "healthcheck" not in init
    assert "restart" not in init
    assert init["command"] == ["bash", "/opt/govflow/airflow-init.sh"]


@pytest.mark.parametrize("service", LONG_RUNNING_AIRFLOW_SERVICES)
def test_airflow_services_start_after_healthy_databases_and_a_successful_init(
    service: str,
) -> None:
    conditions = {name: rule["condition"] for name, rule in SERVICES[service]["depends_on"].items()}
    expected = {
        "postgres": "service_healthy",
        "redis": "service_healthy",
        "airflow-init": "service_completed_successfully",
    }
    if service == "airflow-worker":
        # Tasks talk to the api-server's execution API from their first line.
        expected["airflow-apiserver"] = "service_healthy"
    assert conditions == expected


def test_airflow_init_waits_for_healthy_databases_only() -> None:
    conditions = {
        name: rule["condition"] for name, rule in SERVICES["airflow-init"]["depends_on"].items()
    }
    assert conditions == {"postgres": "service_healthy", "redis": "service_healthy"}


def test_every_airflow_service_uses_the_common_anchor() -> None:
    uses = re.findall(r"^  ([a-z-]+):\n    <<: \*airflow-common\n", COMPOSE_TEXT, re.MULTILINE)
    assert sorted(uses) == sorted(AIRFLOW_SERVICES)


@pytest.mark.parametrize("service", AIRFLOW_SERVICES)
def test_every_airflow_service_has_the_same_airflow_and_govflow_settings(service: str) -> None:
    environment = SERVICES[service]["environment"]
    shared = {k: v for k, v in environment.items() if k.startswith(("AIRFLOW_", "GOVFLOW_"))}
    own = {
        "airflow-init": {
            "AIRFLOW_UID",
            "GOVFLOW_DB_OWNER_URL",
            settings.DB_APP_ROLE_ENV,
            ADMIN_PASSWORD_ENV,
            USERS_PASSWORD_ENV,
        }
    }.get(service, set())
    assert {k: v for k, v in shared.items() if k not in own} == {
        k: v for k, v in COMMON_ENV.items() if k.startswith(("AIRFLOW_", "GOVFLOW_"))
    }


def test_the_governance_dags_are_not_paused_when_they_first_appear() -> None:
    # Monitoring starts govflow_incident_response runs; a paused DAG would leave them queued.
    assert COMMON_ENV["AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION"] == "false"


def test_the_executor_is_celery_with_a_redis_broker_and_a_postgres_result_backend() -> None:
    assert COMMON_ENV["AIRFLOW__CORE__EXECUTOR"] == "CeleryExecutor"
    assert COMMON_ENV["AIRFLOW__CELERY__BROKER_URL"] == "redis://redis:6379/0"
    assert COMMON_ENV["AIRFLOW__CELERY__RESULT_BACKEND"].startswith("db+postgresql://airflow:")
    assert COMMON_ENV["AIRFLOW__CELERY__RESULT_BACKEND"].endswith("@postgres:5432/airflow")
    assert COMMON_ENV["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"].startswith(
        "postgresql+psycopg2://airflow:"
    )
    assert COMMON_ENV["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"].endswith("@postgres:5432/airflow")
    assert COMMON_ENV["AIRFLOW__CORE__EXECUTION_API_SERVER_URL"] == (
        "http://airflow-apiserver:8080/execution/"
    )


def test_the_governance_store_is_its_own_postgres_database_and_role() -> None:
    url = COMMON_ENV[settings.DB_URL_ENV]
    assert url.startswith("postgresql+psycopg://govflow:${GOVFLOW_DB_PASSWORD:?")
    assert url.endswith("@postgres:5432/govflow")
    init = SERVICES["airflow-init"]["environment"]
    assert init["GOVFLOW_DB_OWNER_URL"].startswith(
        "postgresql+psycopg://govflow_owner:${GOVFLOW_DB_OWNER_PASSWORD:?"
    )
    assert init[settings.DB_APP_ROLE_ENV] == "govflow"
    assert SERVICES["postgres"]["environment"]["POSTGRES_DB"] == "airflow"
    assert (
        "./docker/postgres/init-govflow.sql:/docker-entrypoint-initdb.d/10-init-govflow.sql:ro"
        in SERVICES["postgres"]["volumes"]
    )


def test_airflow_uses_the_fab_auth_manager_of_the_locked_provider() -> None:
    assert COMMON_ENV["AIRFLOW__CORE__AUTH_MANAGER"] == FAB_AUTH_MANAGER
    module = Path(sysconfig.get_paths()["purelib"]) / (
        FAB_AUTH_MANAGER.rsplit(".", 1)[0].replace(".", "/") + ".py"
    )
    assert f"class {FAB_AUTH_MANAGER.rsplit('.', 1)[1]}(" in module.read_text()


def test_the_alert_connections_come_from_the_environment_and_may_be_empty() -> None:
    assert COMMON_ENV["AIRFLOW_CONN_SLACK_DEFAULT"] == "${AIRFLOW_CONN_SLACK_DEFAULT:-}"
    assert COMMON_ENV["AIRFLOW_CONN_SMTP_DEFAULT"] == "${AIRFLOW_CONN_SMTP_DEFAULT:-}"


def test_dags_plugins_config_data_and_logs_are_mounted_where_the_settings_point() -> None:
    volumes = COMPOSE["x-airflow-common"]["volumes"]
    assert volumes == [
        "./dags:/opt/airflow/dags:ro",
        "./plugins:/opt/airflow/plugins:ro",
        f"./config:{COMMON_ENV[settings.CONFIG_DIR_ENV]}:ro",
        f"${{GOVFLOW_DATA_DIR:-./data}}:{COMMON_ENV[settings.DATA_DIR_ENV]}",
        "airflow-logs:/opt/airflow/logs",
    ]
    assert sorted(COMPOSE["volumes"]) == ["airflow-logs", "postgres-db-volume"]


def test_published_ports_bind_to_loopback_by_default() -> None:
    published = {name: service.get("ports", []) for name, service in SERVICES.items()}
    defaults = {name: value for name, value in example_values().items() if "PASSWORD" not in name}
    resolved = {
        name: [interpolate(port, {}) for port in ports]
        for name, ports in published.items()
        if ports
    }
    with_example = {
        name: [interpolate(port, defaults) for port in ports]
        for name, ports in published.items()
        if ports
    }

    assert resolved == {
        "airflow-apiserver": ["127.0.0.1:8080:8080"],
        "flower": ["127.0.0.1:5555:5555"],
    }
    assert with_example == resolved


def test_the_worker_can_be_scaled_it_has_no_fixed_name_and_no_published_port() -> None:
    worker = SERVICES["airflow-worker"]
    assert "ports" not in worker
    assert not any("container_name" in service for service in SERVICES.values())
    assert worker["environment"]["DUMB_INIT_SETSID"] == "0"


def test_every_variable_the_compose_file_reads_is_documented_in_env_example() -> None:
    used = {match.group(1) for match in REFERENCE.finditer(COMPOSE_TEXT)}
    assert sorted(used - set(example_values())) == []


def test_every_variable_in_env_example_is_read_by_compose_or_by_govflow() -> None:
    read_by_govflow = {
        settings.DATA_DIR_ENV,
        settings.DB_URL_ENV,
        settings.CONFIG_DIR_ENV,
        settings.DB_APP_ROLE_ENV,
        settings.AUDIT_CHECKPOINTS_ENV,
        notifications.AIRFLOW_BASE_URL_ENV,
        notifications.REPORT_BASE_URL_ENV,
        notifications.RUNBOOK_BASE_URL_ENV,
        MAX_BODY_BYTES_ENV,
        token_variable("loan_portal"),
        token_file_variable("mobile_app"),
        connection_variable("branch_app"),
    }
    used = {match.group(1) for match in REFERENCE.finditer(COMPOSE_TEXT)}
    assert sorted(set(example_values()) - used - read_by_govflow) == []


@pytest.mark.parametrize("variable", SECRET_VARIABLES)
def test_secrets_have_no_default_compose_refuses_to_start_without_them(variable: str) -> None:
    forms = {
        match.group(2) for match in REFERENCE.finditer(COMPOSE_TEXT) if match.group(1) == variable
    }
    assert forms == {":?"}
    assert example_values()[variable] == ""
    with pytest.raises(KeyError) as raised:
        interpolate(f"${{{variable}:?set {variable} in .env}}", {variable: ""})
    assert raised.value.args == (f"set {variable} in .env",)


@pytest.mark.parametrize(
    "path",
    [
        "docker-compose.yaml",
        "Dockerfile",
        ".env.example",
        "docker/postgres/init-govflow.sql",
        "docker/airflow-init.sh",
    ],
)
def test_no_secret_is_written_in_the_deployment_files(path: str) -> None:
    text = (REPO / path).read_text()
    found = [match.group(0) for pattern in SECRET_LOOKING for match in pattern.finditer(text)]
    assert found == []


def test_the_secret_patterns_catch_a_literal_password_and_a_webhook() -> None:
    leaked = (
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN: postgresql://airflow:hunter2@postgres/airflow\n"
        "POSTGRES_PASSWORD: correcthorsebattery\n"
        "https://hooks.slack.com/services/T0123ABCD/B0123/xyz\n"
    )
    assert sum(len(pattern.findall(leaked)) for pattern in SECRET_LOOKING) == 3


def test_the_image_is_the_airflow_version_and_python_of_the_lock() -> None:
    lock = tomllib.loads((REPO / "uv.lock").read_text())
    airflow = next(p["version"] for p in lock["package"] if p["name"] == "apache-airflow")
    python = re.fullmatch(r"==(3\.\d+)\.\*", lock["requires-python"]).group(1)

    assert re.findall(r"^FROM apache/airflow:(\S+)$", DOCKERFILE, re.MULTILINE) == [
        f"{airflow}-python{python}"
    ]
    assert (
        COMPOSE["x-airflow-common"]["image"]
        == f"${{GOVFLOW_IMAGE_NAME:-govflow-airflow:{airflow}}}"
    )
    assert example_values()["GOVFLOW_IMAGE_NAME"] == f"govflow-airflow:{airflow}"


def test_the_image_installs_the_locked_runtime_dependencies_with_the_makefiles_uv() -> None:
    uv_version = re.search(r"^UV_VERSION := (\S+)$", (REPO / "Makefile").read_text(), re.M)
    python = re.search(r"FROM apache/airflow:\S+-(python\S+)$", DOCKERFILE, re.M).group(1)

    assert f"FROM ghcr.io/astral-sh/uv:{uv_version.group(1)}-{python}-bookworm-slim AS build" in (
        DOCKERFILE
    )
    assert "uv export --frozen --no-dev --no-emit-project" in DOCKERFILE
    assert "--require-hashes" in DOCKERFILE
    assert "--no-deps /tmp/govflow-dist/govflow-*.whl" in DOCKERFILE


def test_the_init_script_the_compose_file_runs_is_copied_into_the_image() -> None:
    assert "COPY --chmod=0755 docker/airflow-init.sh /opt/govflow/airflow-init.sh" in DOCKERFILE
    assert subprocess.run(["bash", "-n", str(INIT_SCRIPT)], check=False).returncode == 0
    steps = [
        line
        for line in INIT_SCRIPT.read_text().splitlines()
        if line and not line.startswith(("#", " ", "set "))
    ]
    assert steps == [
        "airflow db migrate",
        'GOVFLOW_DB_URL="${GOVFLOW_DB_OWNER_URL}" govflow db upgrade --app-role '
        '"${GOVFLOW_DB_APP_ROLE}" >/dev/null',
        'echo "governance store at revision $(govflow db current)"',
        "govflow config check",
        "govflow airflow-users --run",
        'mkdir -p /opt/airflow/logs "${GOVFLOW_DATA_DIR}"',
        'chown -R "${AIRFLOW_UID}:0" /opt/airflow/logs "${GOVFLOW_DATA_DIR}"',
    ]


@pytest.mark.postgres
def test_the_init_sql_creates_the_governance_database_for_its_own_roles_only(
    tmp_path, monkeypatch
) -> None:
    """And, migrated as airflow-init migrates it, the role govflow runs as can neither
    truncate the audit trail nor disable its triggers."""
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import DBAPIError

    from govflow import store
    from tests.support.postgres import running_postgres

    monkeypatch.setenv(settings.AUDIT_CHECKPOINTS_ENV, str(tmp_path / "checkpoints.jsonl"))

    psql = sorted(Path("/usr/lib/postgresql").glob("*/bin/psql"))[-1]
    with running_postgres() as url:
        # Rebuild what the postgres image has when it runs /docker-entrypoint-initdb.d:
        # superuser `airflow` and its database `airflow`, nothing named govflow.
        bootstrap = create_engine(
            make_url(url).set(database="postgres"), isolation_level="AUTOCOMMIT"
        )
        with bootstrap.connect() as connection:
            connection.execute(text("CREATE ROLE airflow SUPERUSER LOGIN"))
            connection.execute(text("CREATE DATABASE airflow OWNER airflow"))
            connection.execute(text("CREATE ROLE someone_else LOGIN"))
        bootstrap.dispose()
        airflow_url = make_url(url).set(username="airflow", database="airflow")
        superuser = create_engine(airflow_url, isolation_level="AUTOCOMMIT")
        with superuser.connect() as connection:
            connection.execute(text("ALTER DATABASE govflow RENAME TO bootstrap"))
            connection.execute(text("ALTER ROLE govflow RENAME TO bootstrap"))

        applied = subprocess.run(
            [
                *(str(psql), "--no-psqlrc", "-h", airflow_url.host, "-p", str(airflow_url.port)),
                *("-U", "airflow", "-d", "airflow", "-f", str(INIT_SQL)),
            ],
            env={
                "PATH": "/usr/bin:/bin",
                "GOVFLOW_DB_PASSWORD": "from-the-env",
                "GOVFLOW_DB_OWNER_PASSWORD": "from-the-env-too",
                "POSTGRES_DB": "airflow",
            },
            capture_output=True,
            text=True,
            check=False,
        )

        owner_url = make_url(url).set(username="govflow_owner", database="govflow")
        app_url = make_url(url).set(username="govflow", database="govflow")
        if applied.returncode == 0:
            owner_url_text = owner_url.render_as_string(hide_password=False)
            store.upgrade(owner_url_text, app_role="govflow")
            store.engine_for(owner_url_text).dispose()
        refusals = []
        app = create_engine(app_url)
        for statement in (
            "TRUNCATE audit_events",
            "ALTER TABLE audit_events DISABLE TRIGGER ALL",
            "DELETE FROM audit_events",
        ):
            try:
                with app.begin() as connection:
                    connection.execute(text(statement))
            except DBAPIError as refused:
                refusals.append(str(refused.orig).splitlines()[0])
        app.dispose()

        with superuser.connect() as connection:
            role = tuple(
                connection.execute(
                    text(
                        "SELECT rolname, rolcanlogin, rolsuper, "
                        "rolpassword LIKE 'SCRAM-SHA-256$%' FROM pg_authid "
                        "WHERE rolname IN ('govflow', 'govflow_owner') ORDER BY rolname"
                    )
                ).all()
            )
            owners = dict(
                connection.execute(
                    text(
                        "SELECT datname, pg_get_userbyid(datdba) FROM pg_database "
                        "WHERE datname IN ('govflow', 'airflow')"
                    )
                ).all()
            )
            may_connect = connection.execute(
                text(
                    "SELECT has_database_privilege('govflow', 'govflow', 'CONNECT'), "
                    "has_database_privilege('govflow', 'airflow', 'CONNECT'), "
                    "has_database_privilege('govflow_owner', 'govflow', 'CONNECT'), "
                    "has_database_privilege('govflow_owner', 'airflow', 'CONNECT'), "
                    "has_database_privilege('someone_else', 'govflow', 'CONNECT'), "
                    "has_database_privilege('someone_else', 'airflow', 'CONNECT')"
                )
            ).one()
        superuser.dispose()

    assert applied.returncode == 0, applied.stderr
    assert role == (("govflow", True, False, True), ("govflow_owner", True, False, True))
    assert owners == {"govflow": "govflow_owner", "airflow": "airflow"}
    assert tuple(may_connect) == (True, False, True, False, False, False)
    assert refusals == [
        "permission denied for table audit_events",
        "must be owner of table audit_events",
        "permission denied for table audit_events",
    ]


def test_the_build_context_holds_exactly_what_the_dockerfile_copies() -> None:
    ignore = (REPO / ".dockerignore").read_text().splitlines()
    allowed = {line[1:].rstrip("/") for line in ignore if line.startswith("!")}
    copied = set()
    for line in DOCKERFILE.splitlines():
        if line.startswith("COPY ") and "--from=" not in line:
            sources = [word for word in line.split()[1:-1] if not word.startswith("--")]
            copied |= {source.rstrip("/") for source in sources}

    assert "*" in ignore
    assert copied == allowed


def test_the_readmes_compose_demo_pauses_what_make_airflow_pauses_on_the_demo():
    """Compose starts its DAGs unpaused: without the pauses, the first retention run purges
    the demo's 2025 logs (older than 90 days), as make airflow would (it pauses them)."""
    from govflow_airflow.local_airflow import PAUSED_ON_DEMO

    readme = (REPO / "README.md").read_text()
    seed = readme.index('docker compose run --rm airflow-worker bash -c "govflow demo seed')
    command = readme[seed : readme.index("```", seed)]
    assert "airflow dags pause \\$dag" in command
    listed = command.split(" in ", 1)[1].split(";", 1)[0].replace("\\", " ").split()
    assert listed == list(PAUSED_ON_DEMO)
