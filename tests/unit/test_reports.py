"""Issue 15 item 3: every report as PDF beside its Markdown (and HTML), reproducible, kept
and audited under the data directory, and announced once on Slack through the outbox."""

from __future__ import annotations

import shutil
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import event, select
from typer.testing import CliRunner, Result

from govflow import settings, store
from govflow.audit import latest_checkpoint
from govflow.audit.checkpoints import EVENT_MISSING
from govflow.cli import app
from govflow.config import load_config
from govflow.flows.reports import (
    compliance_report,
    executive_report,
    incident_report,
    previous_month,
    previous_quarter,
)
from govflow.reports import executive, incidents_in_period
from govflow.reports.compliance import build_report as build_compliance_report
from govflow.reports.pdf import markdown_pdf
from govflow.store.schema import (
    Alert,
    AuditEvent,
    Incident,
    KillSwitch,
    MetricResult,
    MonitoringRun,
    RiskAcceptance,
)
from tests.support.own_models import CONFIG_DIR, REGRESSOR, REGRESSOR_ENTRY
from tests.support.registry import register_models
from tests.support.report_records import (
    INCIDENT_REF,
    add_report_records,
    daily_record,
    pdf_pages,
    pdf_text,
)

AS_OF = datetime(2025, 3, 9, 9, 30, tzinfo=UTC)

# Without GOVFLOW_REPORT_BASE_URL a summary links the report as the governance dashboard
# serves it on the api-server (at GOVFLOW_AIRFLOW_BASE_URL's default).
DASHBOARD_REPORTS = "http://localhost:8080/govflow/reports/"


def govflow(*args: str) -> Result:
    return CliRunner().invoke(app, list(args), prog_name="govflow")


@pytest.fixture
def records(fresh_store_env, tmp_path) -> Path:
    add_report_records(fresh_store_env)
    return tmp_path


def outbox(url: str) -> list[Alert]:
    with store.session_scope(url) as session:
        alerts = session.scalars(select(Alert).order_by(Alert.id)).all()
        session.expunge_all()
        return list(alerts)


def report_events(url: str) -> list[tuple[str, str]]:
    with store.session_scope(url) as session:
        return [
            (event.action, event.target)
            for event in session.scalars(
                select(AuditEvent)
                .where(AuditEvent.action.startswith("report."))
                .order_by(AuditEvent.seq)
            )
        ]


def test_the_same_markdown_and_moment_give_the_same_pdf_bytes_and_its_text_reads_back():
    markdown = (
        "# Monthly drift summary, 2025-03\n\nA paragraph \u2265 0.8 \u2013 fine.\n\n"
        "| model | verdicts |\n| --- | --- |\n| credit_approval | CRITICAL 1 |\n\n"
        "- INC-2025-0001 (P0)\n```\nINCIDENT ALERT - CRITICAL\n```\n"
    )
    moment = datetime(2025, 4, 1, tzinfo=UTC)

    first = markdown_pdf(markdown, title="t", created=moment, charts={"credit_approval": [1, 2]})
    again = markdown_pdf(markdown, title="t", created=moment, charts={"credit_approval": [1, 2]})
    later = markdown_pdf(markdown, title="t", created=datetime(2025, 4, 2, tzinfo=UTC))

    assert first == again != later
    assert first.startswith(b"%PDF-") and first.rstrip().endswith(b"%%EOF")
    assert pdf_pages(first) == 1
    assert b"/CreationDate (D:20250401000000Z)" in first
    assert pdf_text(first).splitlines() == [
        "Monthly drift summary, 2025-03",
        "A paragraph >= 0.8 - fine.",
        "model",
        "verdicts",
        "credit_approval",
        "CRITICAL 1",
        "- INC-2025-0001 (P0)",
        "INCIDENT ALERT - CRITICAL",
        "credit_approval",
    ]


def test_a_long_report_runs_over_as_many_pages_as_it_needs():
    markdown = "# Long\n" + "\n".join(f"- line {n}" for n in range(200))

    pdf = markdown_pdf(markdown, title="Long", created=datetime(2025, 4, 1, tzinfo=UTC))

    assert pdf_pages(pdf) == 4
    assert "- line 199" in pdf_text(pdf)


@pytest.mark.parametrize(
    ("moment", "month", "quarter"),
    [
        (datetime(2025, 4, 1, 6, tzinfo=UTC), "2025-03", "2025Q1"),
        (datetime(2025, 1, 1, 6, tzinfo=UTC), "2024-12", "2024Q4"),
        (datetime(2025, 12, 31, tzinfo=UTC), "2025-11", "2025Q3"),
    ],
)
def test_a_scheduled_run_reports_the_month_and_quarter_before_it(moment, month, quarter):
    assert (previous_month(moment), previous_quarter(moment)) == (month, quarter)


def test_the_executive_summary_is_kept_as_markdown_html_and_pdf_audited_and_announced_once(
    records, fresh_store_env, capsys, monkeypatch
):
    monkeypatch.delenv("GOVFLOW_AIRFLOW_BASE_URL", raising=False)
    first = executive_report("2025-03")
    again = executive_report("2025-03")

    names = ["reports/executive/2025-03.md", "reports/executive/2025-03.html"]
    names.append("reports/executive/2025-03.pdf")
    assert first == again
    assert first["files"] == names
    pdf = (records / names[2]).read_bytes()
    assert "Monthly drift summary, 2025-03" in pdf_text(pdf)
    assert "1 of 4 models monitored in 2025-03; CRITICAL findings on credit_approval;" in pdf_text(
        pdf
    )
    assert report_events(fresh_store_env) == [
        ("report.executive_generated", f"report:executive:{Path(name).name}") for name in names
    ]
    [alert] = outbox(fresh_store_env)
    assert (alert.channel, alert.destination, alert.status) == (
        "slack",
        "#ml-monitoring",
        "pending",
    )
    assert alert.payload["text"] == (
        "Monthly drift summary, 2025-03: 1 of 4 models monitored in 2025-03; CRITICAL findings "
        "on credit_approval; 1 incident opened, 1 still open at the month's end. "
        f"Report: {DASHBOARD_REPORTS}reports/executive/2025-03.pdf"
    )
    assert str(records) not in str(alert.payload)
    assert capsys.readouterr().out.startswith("# Monthly drift summary, 2025-03")


def test_the_slack_summary_links_the_report_where_a_base_url_serves_reports(
    records, fresh_store_env, monkeypatch
):
    monkeypatch.setenv("GOVFLOW_REPORT_BASE_URL", "https://govflow.example/reports/")

    compliance_report("2025q1")

    [alert] = outbox(fresh_store_env)
    assert alert.destination == "#compliance"
    assert alert.payload["text"] == (
        "Compliance report, 2025Q1: 1 incident opened in or about 2025Q1 (1 open at its end); "
        "audit chain intact. Report: https://govflow.example/reports/compliance/2025Q1.pdf"
    )
    context = alert.payload["blocks"][-1]["elements"][0]["text"]
    assert context == "<https://govflow.example/reports/compliance/2025Q1.pdf|Report>"


def test_drawing_the_compliance_report_again_gives_the_same_bytes_though_it_audits_itself(
    records, fresh_store_env
):
    first = compliance_report("2025Q1")
    written = {
        suffix: (records / f"reports/compliance/2025Q1.{suffix}").read_bytes()
        for suffix in ("md", "html", "pdf")
    }
    markdown = written["md"]
    again = compliance_report("2025Q1")

    assert first == again
    for suffix, content in written.items():
        assert (records / f"reports/compliance/2025Q1.{suffix}").read_bytes() == content
    # The chain is not empty (the models' registrations), but all of it came after the quarter.
    with store.session_scope(fresh_store_env) as session:
        registered = select(AuditEvent).where(AuditEvent.action == "registry.model_registered")
        assert session.scalars(registered).first() is not None
    assert (
        "- audit chain intact as the report is drawn: no event recorded before the quarter's end"
    ) in markdown.decode()
    assert len(report_events(fresh_store_env)) == 3
    assert len(outbox(fresh_store_env)) == 1


def test_the_quarter_under_way_drawn_again_the_same_day_is_the_same_report(
    records, fresh_store_env, monkeypatch
):
    """Its audit chain is counted to the end of the last day counted: the events of its own
    earlier draws (and their Slack posts) come after it, so they make no new version."""
    now = datetime.now(UTC)
    monkeypatch.setattr("govflow.reports.compliance.utcnow", lambda: now)
    quarter = f"{now.year}Q{(now.month - 1) // 3 + 1}"

    first, second, third = (compliance_report(quarter) for _ in range(3))

    assert first == second == third
    assert sorted(p.name for p in (records / "reports/compliance").iterdir()) == [
        f"{quarter}.{suffix}" for suffix in ("html", "md", "pdf")
    ]
    assert len(report_events(fresh_store_env)) == 3
    assert len(outbox(fresh_store_env)) == 1
    yesterday = now - timedelta(days=1)
    assert (
        f"- audit chain intact as the report is drawn: no event recorded before the end of "
        f"{yesterday:%Y-%m-%d} (events since, this report's own among them, count in a later draw)"
    ) in (records / f"reports/compliance/{quarter}.md").read_text()


def test_the_incident_report_pdf_shows_the_deadline_and_a_new_content_is_announced_anew(
    records, fresh_store_env, monkeypatch
):
    monkeypatch.delenv("GOVFLOW_AIRFLOW_BASE_URL", raising=False)
    first = incident_report(INCIDENT_REF, as_of=AS_OF)
    text = pdf_text((records / "reports/incidents/INC-2025-0001-initial.pdf").read_bytes())
    urgent = incident_report(INCIDENT_REF, as_of=AS_OF, gravity="widespread")

    assert first["files"] == [
        "reports/incidents/INC-2025-0001-initial.md",
        "reports/incidents/INC-2025-0001-initial.html",
        "reports/incidents/INC-2025-0001-initial.pdf",
    ]
    assert "Serious-incident report (initial) - INC-2025-0001" in text
    assert "- Deadline: 2025-03-21 09:30 UTC (Art. 73(2): 15 days after awareness)" in text
    assert "- Days left: 12.0" in text
    assert first["sha256"] != urgent["sha256"]
    texts = [alert.payload["text"] for alert in outbox(fresh_store_env)]
    assert texts == [
        "Serious-incident report (initial), INC-2025-0001: Art. 73 deadline 2025-03-21 "
        "09:30 UTC, 12.0 days left. "
        f"Report: {DASHBOARD_REPORTS}reports/incidents/INC-2025-0001-initial.pdf",
        "Serious-incident report (initial), INC-2025-0001: Art. 73 deadline 2025-03-08 "
        "09:30 UTC, OVERDUE by 1.0 days. "
        f"Report: {DASHBOARD_REPORTS}reports/incidents/INC-2025-0001-initial-2.pdf",
    ]


@pytest.mark.parametrize(
    ("args", "status", "line"),
    [
        (["incident", "INC-2099-0009"], 1, "no incident 'INC-2099-0009'"),
        (
            ["incident", INCIDENT_REF, "--as-of", "2025-03-06T09:29"],
            2,
            "Invalid value for --as-of: INC-2025-0001 was not yet open at 2025-03-06 09:29:00 UTC "
            "(opened 2025-03-06 09:30:00 UTC)",
        ),
        (
            ["incident", INCIDENT_REF, "--as-of", "2999-01-01"],
            2,
            "Invalid value for --as-of: 2999-01-01 00:00:00 UTC is still to come: a report "
            "tells the records as they stood",
        ),
        (
            ["executive", "--month", "2025-13"],
            2,
            "Invalid value for --month: '2025-13' is not a month (YYYY-MM)",
        ),
        (
            ["executive", "--month", "june"],
            2,
            "Invalid value for --month: 'june' is not a month (YYYY-MM)",
        ),
        (
            ["executive", "--month", "2999-01"],
            2,
            "Invalid value for --month: 2999-01 has not begun yet (it begins 2999-01-01 00:00 UTC)",
        ),
        *(
            (
                ["executive", "--month", month],
                2,
                f"Invalid value for --month: {month!r} is not a month (YYYY-MM)",
            )
            # "2025-3" would be kept as a second report of March; 9999-12 ends past 9999.
            for month in ("2025-3", "9999-12")
        ),
        *(
            (
                ["compliance", "--quarter", quarter],
                2,
                f"Invalid value for --quarter: {quarter!r} is not a quarter (YYYYQ1 to YYYYQ4)",
            )
            for quarter in ("0000Q1", "-025Q1", "9999Q4")
        ),
        (
            ["compliance", "--quarter", "2025Q7"],
            2,
            "Invalid value for --quarter: '2025Q7' is not a quarter (YYYYQ1 to YYYYQ4)",
        ),
        (
            ["compliance", "--quarter", "2999Q2"],
            2,
            "Invalid value for --quarter: 2999Q2 has not begun yet "
            "(it begins 2999-04-01 00:00 UTC)",
        ),
    ],
)
def test_a_report_of_nothing_is_one_line_and_a_status_and_writes_nothing(
    records, fresh_store_env, args, status, line
):
    result = govflow("report", *args)

    assert result.exit_code == status
    assert result.stderr.startswith(line) and result.stderr.count("\n") == 1
    assert not (records / "reports").exists()
    assert outbox(fresh_store_env) == []


def test_the_command_names_every_file_it_wrote(records):
    result = govflow("report", "compliance", "--quarter", "2025Q1")

    assert result.exit_code == 0, result.output
    md, html, pdf = (records / f"reports/compliance/2025Q1.{s}" for s in ("md", "html", "pdf"))
    assert result.stdout.endswith(f"\n(written to {md}, {html}, {pdf})\n")


def test_a_markdown_report_as_html_renders_its_tables_and_shows_markup_from_records_as_text():
    from govflow.reports.html import markdown_html

    page = markdown_html(
        "# Compliance report\n\n| model | verdict |\n| --- | --- |\n"
        "| <script>alert(1)</script> | CRITICAL |\n",
        title="Q <1>",
    )
    assert "<title>Q &lt;1&gt;</title>" in page
    assert "<h1>Compliance report</h1>" in page
    assert "<th>model</th>" in page and "<td>CRITICAL</td>" in page
    assert "<script>" not in page and "&lt;script&gt;alert(1)&lt;/script&gt;" in page


def test_a_backfilled_day_is_left_out_of_the_executive_summary_and_the_compliance_report(
    records, fresh_store_env
):
    """README "History on day one": a report tells what happened in its period; a day
    analysed later (a historical record) was not monitored then."""
    from datetime import timedelta

    from govflow import settings
    from govflow.config import load_config
    from govflow.reports import compliance, executive
    from govflow.store.schema import MonitoringRun

    day = datetime(2025, 3, 20, tzinfo=UTC)
    with store.session_scope(fresh_store_env) as session:
        session.add(
            MonitoringRun(
                model_id="credit_approval",
                run_key="history/2025-03-20",
                cadence="daily",
                checks=[],
                interval_start=day,
                interval_end=day + timedelta(days=1),
                status="failed",
                severity="CRITICAL",
                started_at=day + timedelta(days=200),
                finished_at=day + timedelta(days=200),
                historical=True,
            )
        )
    config = load_config(settings.config_dir())

    with store.session_scope(fresh_store_env) as session:
        month = executive.build_summary(session, config, "2025-03")
        quarter = compliance.build_report(session, config, "2025Q1")

    credit = next(model for model in month.models if model.model_id == "credit_approval")
    assert (credit.analyses, credit.verdicts) == (1, {"CRITICAL": 1})  # 2025-03-05's alone
    row = next(line for line in quarter.markdown.splitlines() if line.startswith("| credit_"))
    assert row.split(" | ")[3:5] == ["1", "3.7 %"]


def test_a_high_risk_regressors_ratios_are_in_the_80_percent_rule_table(tmp_path):
    """A regressor has no disparate impact: its groups' mean predictions and mean absolute
    errors are the ratios policy.yaml judges with its bounds, each shown with its evidence
    and the size its groups were counted in (labelled rows for the errors)."""
    entry = REGRESSOR_ENTRY.replace("risk_tier: medium", "risk_tier: high")
    config_dir = tmp_path / "config"
    shutil.copytree(CONFIG_DIR, config_dir)
    (config_dir / "models.yaml").write_text((config_dir / "models.yaml").read_text() + entry)
    config = load_config(config_dir)
    url = register_models(f"sqlite:///{tmp_path / 'govflow.db'}", config, {REGRESSOR: ["1"]})
    day = datetime(2025, 2, 3, tzinfo=UTC)
    with store.session_scope(url) as session:
        run = MonitoringRun(
            model_id=REGRESSOR,
            run_key="daily/2025-02-03",
            cadence="daily",
            checks=["fairness_drift"],
            interval_start=day,
            interval_end=day + timedelta(days=1),
            status="succeeded",
            severity="CRITICAL",
            started_at=day + timedelta(days=1),
            finished_at=day + timedelta(days=1),
        )
        session.add(run)
        session.flush()
        for metric, value, severity, sizes, counted in (
            ("mean_prediction_ratio", 0.71, "CRITICAL", (900, 950), "rows"),
            ("mean_absolute_error_ratio", 0.93, "INFO", (400, 410), "labelled rows"),
        ):
            session.add(
                MetricResult(
                    monitoring_run_id=run.id,
                    check_type="fairness_drift",
                    metric=metric,
                    subject="sex",
                    value=value,
                    status="computed",
                    severity=severity,
                    details={
                        "ci_low": value - 0.05,
                        "ci_high": value + 0.05,
                        "group_sizes": dict(zip(("female", "male"), sizes, strict=True)),
                        "groups_compared": ["female", "male"],
                        "group_sizes_counted": counted,
                    },
                )
            )
    with store.session_scope(url) as session:
        report = build_compliance_report(session, config, "2025Q1").markdown

    assert (
        "| customer_value | sex: mean_absolute_error_ratio | 1 | 0.930 (interval 0.880-0.980, "
        "smallest group compared female 400 labelled rows) | 0.930 | INFO 1 |"
    ) in report
    assert (
        "| customer_value | sex: mean_prediction_ratio | 1 | 0.710 (interval 0.660-0.760, "
        "smallest group compared female 900 rows) | 0.710 | CRITICAL 1 |"
    ) in report


def test_an_incident_resolved_or_opened_after_the_period_is_listed_as_it_stood_at_its_end(
    records, fresh_store_env
):
    """The list and the count of incidents open at the period's end tell the same moment:
    one resolved after the month was open at its end, one opened after it about a window
    inside it was not yet open; each list item names its status now beside."""
    from govflow import settings
    from govflow.reports import compliance, executive
    from govflow.store.schema import Incident

    with store.session_scope(fresh_store_env) as session:
        first = session.scalars(select(Incident)).one()
        first.status, first.acknowledged_at = "resolved", datetime(2025, 4, 2, tzinfo=UTC)
        first.resolved_at = datetime(2025, 4, 3, tzinfo=UTC)
        run = session.scalars(select(MonitoringRun)).one()
        session.add(
            Incident(
                ref="INC-2025-0002",
                model_id="credit_approval",
                category="model_drift",
                metric="accuracy_drop",
                severity="WARNING",
                priority="P2",
                status="open",
                dedup_key="credit_approval:accuracy_drop",
                title="WARNING accuracy drop on credit_approval",
                source_run_id=run.id,
                opened_at=datetime(2025, 4, 5, 8, tzinfo=UTC),
            )
        )
    config = load_config(settings.config_dir())

    with store.session_scope(fresh_store_env) as session:
        month = executive.render_markdown(executive.build_summary(session, config, "2025-03"))
        quarter = compliance.build_report(session, config, "2025Q1")

    assert (
        "- INC-2025-0001 P0 CRITICAL credit_approval disparate_impact_ratio: open at the month's "
        "end; resolved now"
    ) in month
    assert (
        "- INC-2025-0002 P2 WARNING credit_approval accuracy_drop: not yet open at the month's "
        "end; open now"
    ) in month
    assert "Resolved this month: 0; open at the month's end: 1." in month
    # Acknowledged after the month: the month's median has no acknowledgement to measure.
    assert "## Incidents (no incident of the month was acknowledged by its end)" in month
    assert (
        "- P0: 1 opened, none acknowledged (SLA 15 min), none resolved, 1 open at the quarter's end"
    ) in quarter.markdown
    assert (
        "  - INC-2025-0001 CRITICAL credit_approval disparate_impact_ratio: open at the "
        "quarter's end; resolved now, opened 2025-03-06 09:30 UTC"
    ) in quarter.markdown
    assert quarter.headline.startswith("2 incidents opened in or about 2025Q1 (1 open at its end)")
    # Opened after the period about its data (a backfill, the demo): the counts say so, or
    # "opened, 0 open at the end" would read as incidents resolved in it.
    assert quarter.headline.endswith(
        "; 1 of the 2 opened after the quarter, about its data; audit chain intact."
    )
    assert (
        "- P2: 1 opened, none acknowledged (SLA 15 min), none resolved, 0 open at the quarter's "
        "end; 1 of the 1 opened after the quarter, about its data"
    ) in quarter.markdown
    assert (
        "1 still open at the month's end (1 of the 2 opened after the month, about its data)."
        in (month)
    )
    # Each incident under its own class's line, not all after the last class.
    listed = [
        line.split(":")[0]
        for line in quarter.markdown.splitlines()
        if line.startswith(("- P", "  - INC-"))
    ]
    assert listed == [
        "- P0",
        "  - INC-2025-0001 CRITICAL credit_approval disparate_impact_ratio",
        "- P2",
        "  - INC-2025-0002 WARNING credit_approval accuracy_drop",
    ]


def test_the_executive_summary_counts_the_models_analysed_and_keeps_one_gone_from_models_yaml(
    fresh_store_env, tmp_path
):
    """A month without records monitored none of the configured models; a model taken out of
    models.yaml (here renamed there) keeps its month's analyses and CRITICAL verdicts."""
    from govflow import settings
    from govflow.reports import executive

    config = load_config(settings.config_dir())
    store.upgrade(fresh_store_env)
    with store.session_scope(fresh_store_env) as session:
        empty = executive.build_summary(session, config, "2025-03")
    add_report_records(fresh_store_env)
    config_dir = tmp_path / "config"
    shutil.copytree(settings.config_dir(), config_dir)
    models = (config_dir / "models.yaml").read_text()
    renamed = models.replace("  - id: credit_approval\n", "  - id: credit_scoring\n")
    (config_dir / "models.yaml").write_text(renamed)
    with store.session_scope(fresh_store_env) as session:
        gone = executive.build_summary(session, load_config(config_dir), "2025-03")

    assert empty.headline().startswith("0 of 4 models monitored in 2025-03; no CRITICAL finding;")
    assert gone.headline().startswith(
        "1 of 5 models monitored in 2025-03; CRITICAL findings on credit_approval;"
    )
    assert (
        "| credit_approval | not in models.yaml | 1 | CRITICAL 1 | CRITICAL | 0.80 |"
        in executive.render_markdown(gone)
    )


def test_a_model_never_analysed_is_a_coverage_row_and_a_failed_day_is_named_failed(
    records, fresh_store_env
):
    """Nothing is due before a model's first analysis, but a model with daily checks due and
    no analysis at all is named, not left out of Art. 72's table; a day whose analysis failed
    is missing, and named as failed."""
    from govflow import settings

    config = load_config(settings.config_dir())
    with store.session_scope(fresh_store_env) as session:
        session.add(
            daily_record("credit_approval", datetime(2025, 3, 7, tzinfo=UTC), status="failed")
        )
    with store.session_scope(fresh_store_env) as session:
        report = build_compliance_report(session, config, "2025Q1").markdown

    table = report.split("## Art. 72")[1].split("## Art. 10")[0]
    rows = [line for line in table.splitlines() if line.startswith("| ") and "---" not in line]
    assert rows[1:] == [
        "| credit_approval | high | 27 | 1 | 3.7 % | 03-06, 03-07 failed, 03-08, 03-09, 03-10, "
        "03-11, 03-12, 03-13, 03-14, 03-15 and 16 more |",
        "| marketing_propensity | medium | - | 0 | - | no analysis recorded by the quarter's end |",
        "| product_recommendation | low | - | 0 | - | no analysis recorded by the quarter's end |",
        "| customer_lifetime_value | medium | - | 0 | - | no analysis recorded by the quarter's "
        "end |",
    ]


def test_a_failed_analysis_is_a_failed_verdict_of_the_executive_summary_not_a_critical_one(
    records, fresh_store_env
):
    """A failed analysis is recorded CRITICAL (it pages) but judged nothing about the model."""
    from govflow import settings
    from govflow.reports import executive

    config = load_config(settings.config_dir())
    register_models(fresh_store_env, config, {"marketing_propensity": []})
    with store.session_scope(fresh_store_env) as session:
        session.add(
            daily_record("marketing_propensity", datetime(2025, 3, 7, tzinfo=UTC), status="failed")
        )
    with store.session_scope(fresh_store_env) as session:
        summary = executive.build_summary(session, config, "2025-03")

    assert summary.headline().startswith(
        "2 of 4 models monitored in 2025-03; CRITICAL findings on credit_approval;"
    )
    assert "| marketing_propensity | medium | 1 | FAILED 1 | FAILED | - |" in (
        executive.render_markdown(summary)
    )


def test_resolved_this_month_counts_an_incident_opened_the_month_before(records, fresh_store_env):
    from govflow import settings
    from govflow.reports import executive
    from govflow.store.schema import Incident

    with store.session_scope(fresh_store_env) as session:
        incident = session.scalars(select(Incident)).one()
        incident.opened_at = datetime(2025, 2, 27, 9, 30, tzinfo=UTC)
        incident.status, incident.resolved_at = "resolved", datetime(2025, 3, 2, tzinfo=UTC)
    config = load_config(settings.config_dir())
    with store.session_scope(fresh_store_env) as session:
        february = executive.render_markdown(executive.build_summary(session, config, "2025-02"))
        march = executive.render_markdown(executive.build_summary(session, config, "2025-03"))

    assert "Resolved this month: 0; open at the month's end: 1." in february
    assert "Resolved this month: 1; open at the month's end: 0." in march


def test_the_compliance_report_calls_a_trail_cut_short_broken_as_audit_verify_does(
    records, fresh_store_env
):
    """The newest event deleted, what is left is an intact chain: only the signed checkpoint
    shows the cut, and the board's report must not call that trail intact."""
    with store.session_scope(fresh_store_env) as session:
        newest = session.scalars(select(AuditEvent).order_by(AuditEvent.seq.desc())).first()
        assert newest is not None
        session.delete(newest)
        seq = newest.seq
    at = latest_checkpoint(settings.audit_checkpoints(fresh_store_env)).signed_at
    missing = EVENT_MISSING.format(first=seq, at=at)

    compliance_report("2025Q1")

    markdown = (records / "reports/compliance/2025Q1.md").read_text()
    assert f"- audit chain BROKEN ({missing}) as the report is drawn: " in markdown
    headline = "1 incident opened in or about 2025Q1 (1 open at its end); audit chain BROKEN."
    assert (
        outbox(fresh_store_env)[0]
        .payload["text"]
        .startswith(f"Compliance report, 2025Q1: {headline}")
    )


def test_incidents_that_missed_the_acknowledgement_sla_are_counted_not_hidden_by_the_median(
    records, fresh_store_env
):
    """Seed 004 3.1's 15-minute SLA holds for each incident: one acknowledged late, or never
    while its 15 minutes ran out inside the period, missed it; one opened minutes before the
    period's end has not missed it yet."""
    from govflow import settings
    from govflow.reports import compliance, executive

    def incident(number: int, opened: datetime, acknowledged: datetime | None) -> Incident:
        status = "open" if acknowledged is None else "acknowledged"
        return _data_drift_incident(
            number, opened, "CRITICAL", status=status, acknowledged_at=acknowledged
        )

    in_time = datetime(2025, 3, 10, 10, tzinfo=UTC)
    late = datetime(2025, 3, 12, 10, tzinfo=UTC)
    at_the_end = datetime(2025, 3, 31, 23, 55, tzinfo=UTC)
    with store.session_scope(fresh_store_env) as session:
        session.add(incident(3, in_time, in_time + timedelta(minutes=5)))
        session.add(incident(4, late, late + timedelta(hours=3)))
        session.add(incident(5, at_the_end, None))
    config = load_config(settings.config_dir())

    with store.session_scope(fresh_store_env) as session:
        month = executive.render_markdown(executive.build_summary(session, config, "2025-03"))
        quarter = compliance.build_report(session, config, "2025Q1").markdown

    # INC-2025-0001 (opened 03-06, never acknowledged) and INC-2025-0004 missed it.
    assert (
        "2 of the 3 incidents whose 15-minute acknowledgement SLA ran out by the month's end "
        "missed it (acknowledged late, or not by then)."
    ) in month
    assert (
        "  - acknowledgement SLA missed by 2 of the 3 whose SLA ran out by the quarter's end "
        "(acknowledged late, or not by then)"
    ) in quarter


def test_the_quarter_under_way_counts_as_due_only_the_days_that_have_ended(
    records, fresh_store_env
):
    """Drawn on 2025-03-10 at noon, 2025Q1's coverage runs from credit_approval's first day
    (03-05) to 03-09: the days to come were not missed."""
    from govflow import settings

    config = load_config(settings.config_dir())
    with store.session_scope(fresh_store_env) as session:
        report = build_compliance_report(
            session, config, "2025Q1", now=datetime(2025, 3, 10, 12, tzinfo=UTC)
        ).markdown

    assert "| credit_approval | high | 5 | 1 | 20.0 % | 03-06, 03-07, 03-08, 03-09 |" in report
    # Named by its last day counted, not the minute: drawing it again that day changes nothing.
    assert "The quarter is under way: days to 2025-03-09 counted." in report


def test_a_risk_accepted_in_a_quarter_without_an_incident_is_in_its_report(
    records, fresh_store_env
):
    """The incident was opened in 2025Q1; its risk was accepted in 2025Q2, which opened none."""
    from govflow.store.schema import Incident, RiskAcceptance

    with store.session_scope(fresh_store_env) as session:
        incident = session.scalars(select(Incident)).one()
        session.add(
            RiskAcceptance(
                incident_id=incident.id,
                model_id="credit_approval",
                metric="disparate_impact_ratio",
                rationale="a known seasonal shift",
                requested_by="olivia",
                approved_by="carol",
                status="approved",
                suppression_until=datetime(2025, 5, 15, tzinfo=UTC),
                created_at=datetime(2025, 4, 10, tzinfo=UTC),
            )
        )

    report = compliance_markdown(fresh_store_env, "2025Q2")

    assert (
        "No incident opened in or about this quarter.\n"
        "- accepted risk on credit_approval disparate_impact_ratio: approved, approved by carol, "
        "suppressed until 2025-05-15 00:00:00+00:00"
    ) in report


def test_an_incident_reopened_after_its_month_keeps_the_acknowledgement_it_had_in_it(
    records, fresh_store_env
):
    """Acknowledged 5 minutes after opening in March, its risk accepted, reopened in April
    and not yet acknowledged again: March acknowledged it within the SLA."""
    from govflow import settings
    from govflow.incidents.lifecycle import accept_risk, acknowledge, reopen
    from govflow.reports import compliance, executive
    from govflow.store.schema import Incident
    from tests.support.report_records import OPENED_AT

    with store.session_scope(fresh_store_env) as session:
        incident = session.scalars(select(Incident)).one()
        acknowledge(session, incident, actor="eve", at=OPENED_AT + timedelta(minutes=5))
        accept_risk(
            session, incident, actor="carol", event_key="risk:1", at=OPENED_AT.replace(day=7)
        )
        reopen(
            session,
            incident,
            actor="govflow",
            event_key="reopened",
            at=datetime(2025, 4, 2, tzinfo=UTC),
        )
    config = load_config(settings.config_dir())

    with store.session_scope(fresh_store_env) as session:
        month = executive.render_markdown(executive.build_summary(session, config, "2025-03"))
        quarter = compliance.build_report(session, config, "2025Q1").markdown

    assert "## Incidents (median time to acknowledge 5 min, within the 15-minute SLA)" in month
    assert "0 of the 1 incidents whose 15-minute acknowledgement SLA" in month
    assert "- P0: 1 opened, median acknowledgement 5 min (SLA 15 min)" in quarter
    assert "acknowledgement SLA missed by 0 of the 1" in quarter


def test_a_model_wide_finding_reads_without_a_gap_for_its_missing_subject(records, fresh_store_env):

    with store.session_scope(fresh_store_env) as session:
        run = session.scalars(select(MonitoringRun)).one()
        session.add(
            MetricResult(
                monitoring_run_id=run.id,
                check_type="model_drift",
                metric="accuracy_drop",
                subject=None,
                value=0.12,
                status="computed",
                severity="CRITICAL",
            )
        )

    report = compliance_markdown(fresh_store_env, "2025Q1")

    assert "\n- credit_approval accuracy_drop: CRITICAL on 1 analysis\n" in report


def test_a_finding_of_a_command_line_look_up_is_counted_and_said_to_have_opened_nothing(
    records, fresh_store_env
):
    """`govflow monitor run` records without acting (no alert, no incident): Art. 10 counts
    its finding beside the scheduled ones and says which came from it, so that Art. 73's
    incidents are not read as missing."""
    with store.session_scope(fresh_store_env) as session:
        scheduled = session.scalars(select(MonitoringRun)).one()
        looked_up = daily_record("credit_approval", datetime(2025, 3, 7, tzinfo=UTC))
        looked_up.run_key, looked_up.cadence = "cli/2025-03-07", "on_demand"
        session.add(looked_up)
        session.flush()
        for run in (scheduled, looked_up):
            session.add(
                MetricResult(
                    monitoring_run_id=run.id,
                    check_type="fairness_drift",
                    metric="disparate_impact_ratio",
                    subject="gender",
                    value=0.61,
                    status="computed",
                    severity="CRITICAL",
                )
            )

    report = compliance_markdown(fresh_store_env, "2025Q1")

    assert (
        "\n- credit_approval disparate_impact_ratio gender: CRITICAL on 2 analyses (1 of them by "
        "`govflow monitor run`, which records without acting)\n"
    ) in report


def test_a_report_drawn_again_with_other_content_never_overwrites_the_file_recorded(
    fresh_store_env, tmp_path
):
    """An auditor opens a report by the path its audit event recorded, with its sha256: a
    period redrawn (a late incident) is kept beside it, and drawn unchanged adds nothing."""
    from govflow.audit import query_events
    from govflow.reports import keep_renderings

    store.ensure_schema(fresh_store_env)
    drafts = [{"md": "# Q1 draft"}, {"md": "# Q1 with INC-9"}, {"md": "# Q1 with INC-9"}]
    with store.session_scope(fresh_store_env) as session:
        kept = [
            keep_renderings(
                session, "compliance", "2025-Q1", draft, data_dir=tmp_path, actor="carol"
            )
            for draft in drafts
        ]
        events = query_events(session, action="report.compliance_generated")
        recorded = [(Path(e.payload["path"]).name, e.payload["sha256"]) for e in events]

    assert [k.paths[0].name for k in kept] == ["2025-Q1.md", "2025-Q1-2.md", "2025-Q1-2.md"]
    assert [(tmp_path / "reports/compliance" / name).read_text() for name, _ in recorded] == [
        "# Q1 draft",
        "# Q1 with INC-9",
    ]
    assert [sha for _, sha in recorded] == [kept[0].sha256, kept[1].sha256]


def _data_drift_incident(
    number: int, opened: datetime, severity: str, **fields: object
) -> Incident:
    """Incident INC-2025-000<number> of credit_approval's data drift (psi_<number>)."""
    return Incident(
        ref=f"INC-2025-000{number}",
        model_id="credit_approval",
        category="data_drift",
        metric=f"psi_{number}",
        severity=severity,
        priority="P0" if severity == "CRITICAL" else "P2",
        dedup_key=f"credit_approval:psi_{number}",
        title=f"{severity} data drift",
        opened_at=opened,
        **fields,
    )


def _incident(number: int, opened: datetime, resolved: datetime | None) -> Incident:
    status = "open" if resolved is None else "resolved"
    return _data_drift_incident(number, opened, "WARNING", status=status, resolved_at=resolved)


def compliance_markdown(url: str, quarter: str) -> str:
    """The quarter's compliance report on the store at ``url``, with the repository's config."""
    config = load_config(settings.config_dir())
    with store.session_scope(url) as session:
        return build_compliance_report(session, config, quarter).markdown


def _acceptance(decided: datetime, until: datetime, status: str) -> RiskAcceptance:
    return RiskAcceptance(
        model_id="credit_approval",
        metric="disparate_impact_ratio",
        rationale="a known seasonal shift",
        requested_by="olivia",
        approved_by="carol",
        status=status,
        created_at=decided - timedelta(days=1),
        decided_at=decided,
        suppression_until=until,
    )


def _switch(target: str, activated: datetime, lifted: datetime | None) -> KillSwitch:
    return KillSwitch(
        scope="model",
        target=target,
        reason="stop it",
        activated_by="carol",
        activated_at=activated,
        deactivated_by=None if lifted is None else "lena",
        deactivated_at=lifted,
    )


def _day(month: int, day: int) -> datetime:
    return datetime(2025, month, day, tzinfo=UTC)


def test_the_quarter_answers_for_incidents_switches_and_risks_in_force_from_an_earlier_one(
    records, fresh_store_env
):
    """A compliance officer reads everything in force or open during the quarter: 2025Q2's
    report named neither INC-2025-0001 (opened in March, still open) nor a kill switch or an
    accepted risk of March that held into April. What ended before the quarter stays out."""
    with store.session_scope(fresh_store_env) as session:
        session.add(_incident(2, _day(2, 1), _day(3, 1)))  # resolved before the quarter
        session.add(_incident(3, _day(3, 20), _day(4, 10)))  # resolved in it
        session.add(_switch("credit_approval", _day(3, 15), _day(4, 2)))
        session.add(_switch("credit_approval@1.0.0", _day(2, 1), _day(2, 5)))
        session.add(_switch("product_recommendation", _day(3, 30), None))
        session.add(_acceptance(_day(3, 20), _day(4, 10), "expired"))
        session.add(_acceptance(_day(3, 1), _day(3, 25), "expired"))

    report = compliance_markdown(fresh_store_env, "2025Q2")

    incidents = report.split("## Art. 73: incidents\n\n")[1].split("\n\n## ")[0]
    assert incidents.splitlines() == [
        "No incident opened in or about this quarter.",
        "- accepted risk on credit_approval disparate_impact_ratio: expired, approved by carol, "
        "suppressed until 2025-04-10 00:00:00+00:00 (accepted 2025-03-20, in force when the "
        "quarter began)",
        "- 2 opened before this quarter and open when it began, 1 of them still at its end:",
        "  - INC-2025-0001 P0 CRITICAL credit_approval disparate_impact_ratio: open at the "
        "quarter's end, opened 2025-03-06 09:30 UTC",
        "  - INC-2025-0003 P2 WARNING credit_approval psi_3: resolved 2025-04-10, opened "
        "2025-03-20 00:00 UTC",
    ]
    switches = [line for line in report.splitlines() if line.startswith("- kill switch")]
    assert switches == [
        "- kill switch model credit_approval by carol at 2025-03-15 00:00 (lifted by lena) in "
        "force when the quarter began",
        "- kill switch model product_recommendation by carol at 2025-03-30 00:00 (still active) "
        "in force when the quarter began",
    ]


def test_a_quarters_risk_acceptances_read_as_they_stood_at_its_end(records, fresh_store_env):
    """Read in April, 2025Q1's report named a March request decided in April with its April
    decision, and an acceptance revoked in April as revoked: at the quarter's end the first
    was pending and the second in force for its whole grant."""
    decided_later = _acceptance(_day(4, 3), _day(4, 20), "approved")
    decided_later.created_at = _day(3, 30)
    revoked_later = _acceptance(_day(3, 10), _day(4, 5), "revoked")
    revoked_later.details = {
        "granted_until": _day(4, 9).isoformat(),
        "revoked_because": "CRITICAL disparate_impact_ratio finding on INC-2025-0001",
    }
    revoked_in_it = _acceptance(_day(3, 2), _day(3, 4), "revoked")
    revoked_in_it.details = {
        "granted_until": _day(3, 12).isoformat(),
        "revoked_because": "CRITICAL disparate_impact_ratio finding on INC-2025-0001",
    }
    with store.session_scope(fresh_store_env) as session:
        session.add_all([revoked_in_it, revoked_later, decided_later])

    report = compliance_markdown(fresh_store_env, "2025Q1")

    risks = [line for line in report.splitlines() if line.startswith("- accepted risk")]
    assert risks == [
        "- accepted risk on credit_approval disparate_impact_ratio: revoked, approved by carol, "
        "suppressed until 2025-03-04 00:00:00+00:00 (revoked: CRITICAL disparate_impact_ratio "
        "finding on INC-2025-0001)",
        "- accepted risk on credit_approval disparate_impact_ratio: approved, approved by carol, "
        "suppressed until 2025-04-09 00:00:00+00:00 (revoked 2025-04-05, after the quarter)",
        "- accepted risk on credit_approval disparate_impact_ratio: requested by olivia, "
        "undecided at the quarter's end (approved 2025-04-03, after the quarter)",
    ]


def test_a_quarter_whose_incidents_all_ended_before_it_says_so(records, fresh_store_env):
    with store.session_scope(fresh_store_env) as session:
        session.get(Incident, 1).resolved_at = _day(3, 31)

    report = compliance_markdown(fresh_store_env, "2025Q2")

    assert (
        "- no risk accepted or in force this quarter\n"
        "- no incident opened before this quarter was open in it\n"
    ) in report
    assert "- no kill switch used or in force this quarter\n" in report


def test_both_summaries_count_the_incidents_carried_over_into_their_period_read_at_once(
    records, fresh_store_env
):
    """INC-2025-0001 (opened in March, still open) and INC-2025-0003 (opened in March,
    resolved on 10 April) were open in April and in 2025Q2: the compliance report's one line
    (its Slack summary) and the executive summary of April count and list them, from one
    query of the incidents whatever their number."""
    with store.session_scope(fresh_store_env) as session:
        session.add(_incident(2, _day(2, 1), _day(3, 1)))  # resolved before the period
        session.add(_incident(3, _day(3, 20), _day(4, 10)))  # resolved in it
    config = load_config(settings.config_dir())
    statements: list[str] = []

    def count(conn, cursor, statement, *args) -> None:
        statements.append(statement)

    with store.session_scope(fresh_store_env) as session:
        quarter = build_compliance_report(session, config, "2025Q2")
        april = executive.build_summary(session, config, "2025-04")
        engine = session.get_bind().engine
        event.listen(engine, "before_cursor_execute", count)
        try:
            found = incidents_in_period(session, _day(4, 1), _day(5, 1))
        finally:
            event.remove(engine, "before_cursor_execute", count)
        markdown, page = executive.render_markdown(april), executive.render_html(april)

    assert quarter.headline == (
        "0 incidents opened in or about 2025Q2, 2 opened before it and open in it (1 open at "
        "its end); audit chain intact."
    )
    assert april.headline().endswith(
        "0 incidents opened, 2 opened before and open in it, 1 still open at the month's end."
    )
    assert (
        "No incident opened this month.\n\n"
        "Opened before this month and still open when it began:\n\n"
        "- INC-2025-0001 P0 CRITICAL credit_approval disparate_impact_ratio: open at the month's "
        "end\n"
        "- INC-2025-0003 P2 WARNING credit_approval psi_3: resolved 2025-04-10\n"
    ) in markdown
    assert (
        "<p>Opened before this month and still open when it began:</p><ul><li>INC-2025-0001 P0 "
        "CRITICAL credit_approval disparate_impact_ratio: open at the month&#x27;s end</li>"
    ) in page
    assert ([i.ref for i in found.opened], [i.ref for i in found.carried_over]) == (
        [],
        ["INC-2025-0001", "INC-2025-0003"],
    )
    assert len(statements) == 1


def test_a_model_taken_out_of_models_yaml_keeps_its_coverage_and_80_percent_rows(
    records, fresh_store_env, tmp_path
):
    """credit_approval, renamed in models.yaml after a quarter it was monitored in, had no
    Art. 72 row and no 80 % rule row in that quarter's report: the board was told nothing of
    a high-risk model's March. Its days are due to its last record of the quarter."""
    with store.session_scope(fresh_store_env) as session:
        for day in (7, 9):
            run = daily_record("credit_approval", _day(3, day))
            session.add(run)
            session.flush()
            session.add(
                MetricResult(
                    monitoring_run_id=run.id,
                    check_type="fairness_drift",
                    metric="disparate_impact_ratio",
                    subject="gender",
                    value=0.7 + day / 100,
                    status="computed",
                    severity="CRITICAL",
                )
            )
    config_dir = tmp_path / "config"
    shutil.copytree(settings.config_dir(), config_dir)
    models = (config_dir / "models.yaml").read_text()
    (config_dir / "models.yaml").write_text(
        models.replace("  - id: credit_approval\n", "  - id: credit_scoring\n")
    )

    with store.session_scope(fresh_store_env) as session:
        report = build_compliance_report(session, load_config(config_dir), "2025Q1").markdown

    assert (
        "| credit_approval | high, not in models.yaml | 5 | 3 | 60.0 % | 03-06, 03-08 |"
    ) in report
    assert ("| credit_approval | gender | 2 | 0.770 | 0.790 | CRITICAL 2 |") in report
    assert (
        "| credit_scoring | high | - | 0 | - | no analysis recorded by the quarter's end |"
        in report
    )
