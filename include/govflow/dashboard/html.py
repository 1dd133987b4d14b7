"""Seed 004 section 6: the dashboard's pages as self-contained HTML.

No script, no external stylesheet or font, no CDN: the pages open offline inside the
Airflow UI's frame, and charts are inline SVG. Every value from the store is escaped.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import datetime
from html import escape
from typing import Any
from urllib.parse import quote, urlencode

from govflow.alerts.messages import mixed_versions_line
from govflow.config.inventory import ModelType
from govflow.dashboard.access import PAGE_TITLES, DashboardRights, Page
from govflow.dashboard.actions import Action
from govflow.dashboard.deployments import DEPLOYMENT_DAG, DeploymentRow, OpenRequest
from govflow.dashboard.pages import (
    GATE_FINDINGS_SHOWN,
    HEALTH_METRICS_OF,
    LATENCY_EXPLAINED,
    NO_DATA,
    SERVING_WINDOW,
    AnalysisProgress,
    FailedAnalysis,
    FairnessPoint,
    FairnessSeries,
    GateFindings,
    HealthMetric,
    ModelOverview,
    Monitor,
    ServingCounters,
)
from govflow.dashboard.reports import ListedReport
from govflow.dashboard.timeline import LINK_LABELS, IncidentRow, incident_links
from govflow.dashboard.trail import MAX_PAGE_SIZE, PAYLOAD_SHOWN, ChainStatus, EventFilter
from govflow.reports.charts import sparkline

PAGE_PATHS: dict[Page, str] = {
    "drift_overview": "/drift",
    "fairness_monitor": "/fairness",
    "model_health": "/health",
    "incident_timeline": "/incidents",
    "deployments": "/deployments",
    "audit": "/audit",
    "governance_reports": "/reports",
    "my_actions": "/actions",
}
ALL_MODELS = "__all__"
WITHHELD = "withheld: needs {page}"
# The form's dates are days at 00:00 UTC and the window ends where its end day begins, as the
# on-demand DAG reads its window_end Param: a day picked as both dates is no window at all.
WINDOW_EXPLAINED = (
    "dates are 00:00 UTC, the window ends where its last date begins: 2025-03-20 to "
    "2025-03-21 analyses 20 March; no dates: each model's newest complete day of logs"
)

_STYLE = """
body{font:14px/1.4 system-ui,sans-serif;margin:0;color:#1b1f24;background:#fff}
nav{display:flex;gap:1rem;padding:.6rem 1rem;background:#f3f5f7;border-bottom:1px solid #d0d7de}
nav a{color:#0b5cad;text-decoration:none}nav a.here{font-weight:600;color:#1b1f24}
nav .who{margin-left:auto;color:#57606a}
main{padding:1rem}table{border-collapse:collapse;margin:.5rem 0 1.2rem}
th,td{border:1px solid #d0d7de;padding:.25rem .5rem;text-align:left;vertical-align:top}
th{background:#f6f8fa}.sev{font-weight:600;padding:0 .3rem;border-radius:3px}
.CRITICAL,.Critical{background:#ffd7d5}.WARNING,.Warning{background:#fff1c2}
.INFO,.Healthy{background:#d7f5dd}.nodata{background:#e6e6e6;color:#444}
.INCONCLUSIVE{background:#e3e8ff}.muted{color:#57606a}form.inline{display:inline}
"""


def _e(value: object) -> str:
    return escape("" if value is None else str(value))


def _time(moment: datetime | None) -> str:
    return "never" if moment is None else moment.strftime("%Y-%m-%d %H:%M UTC")


def _number(value: float | None, digits: int = 3) -> str:
    return "n/a" if value is None else f"{value:.{digits}f}"


def badge(label: str) -> str:
    css = "nodata" if label == NO_DATA else label
    return f'<span class="sev {_e(css)}">{_e(label)}</span>'


def layout(root: str, rights: DashboardRights, page: Page, body: str) -> str:
    """A page with the navigation this person may use: pages they may not see are absent."""
    links = "".join(
        f'<a href="{_e(root + PAGE_PATHS[p])}"{" class=here" if p == page else ""}>'
        f"{_e(PAGE_TITLES[p])}</a>"
        for p in rights.visible_pages()
    )
    access = "read only" if rights.pages[page] == "read_only" else "full access"
    return (
        "<!doctype html><html lang=en><head><meta charset=utf-8>"
        f"<title>{_e(PAGE_TITLES[page])} · govflow</title><style>{_STYLE}</style></head><body>"
        f'<nav>{links}<span class="who">{_e(rights.user)} ({_e(", ".join(rights.roles))}, '
        f"{access})</span></nav><main><h1>{_e(PAGE_TITLES[page])}</h1>{body}</main></body></html>"
    )


def message_page(title: str, text: str) -> str:
    return (
        "<!doctype html><html lang=en><head><meta charset=utf-8>"
        f"<title>{_e(title)} · govflow</title><style>{_STYLE}</style></head><body><main>"
        f"<h1>{_e(title)}</h1><p>{_e(text)}</p></main></body></html>"
    )


def _model_options(model_ids: Iterable[str]) -> str:
    options = [f'<option value="{ALL_MODELS}">all models</option>']
    options += [f'<option value="{_e(m)}">{_e(m)}</option>' for m in model_ids]
    return "".join(options)


RunUrl = Callable[[str, str], str]


def report_link(root: str, path: str | None, label: str = "report") -> str:
    """A report govflow wrote, opened through the dashboard (a new tab: it is a document)."""
    if not path:
        return ""
    return f'<a href="{_e(root)}/reports/{_e(path)}" target="_blank">{_e(label)}</a>'


def draw_report_button(root: str, rights: DashboardRights, run_id: int | None) -> str:
    """Draw the drift report of a record that has none: the DAGs draw a report only for a
    day with a finding above INFO, and whoever may trigger an analysis may ask for another."""
    if run_id is None or not rights.can_trigger_analysis:
        return ""
    return (
        f'<form method="post" action="{_e(root)}/drift-report/{run_id}" target="_blank" '
        'class="inline"><button type="submit">draw the newest day\'s report</button></form>'
    )


def required_action_link(run_url: RunUrl, dag_id: str | None, run_id: str | None) -> str:
    """Airflow's "Required actions" of the run that asks, in the whole window; all of them
    when the store does not know the run."""
    if dag_id is None:
        return ""
    href = "/required_actions" if run_id is None else run_url(dag_id, run_id) + "/required_actions"
    return f'<a href="{_e(href)}" target="_top">answer in Airflow</a>'


def run_link(run_url: RunUrl, dag_id: str | None, run_id: str | None, label: str = "run") -> str:
    """The Airflow run a record came from, opened in the whole window (not the frame)."""
    if dag_id is None or run_id is None:
        return ""
    return f' <a href="{_e(run_url(dag_id, run_id))}" target="_top" class="muted">{_e(label)}</a>'


def _sources(
    run_url: RunUrl, root: str, report: str | None, dag_id: str | None, run: str | None
) -> str:
    """Where a row's numbers came from: the drift report and the run that recorded them."""
    return report_link(root, report, "drift report") + run_link(run_url, dag_id, run)


def _counts_undecided(monitor: Monitor) -> bool:
    """Whether a monitor's verdict stands beside inconclusive results worth naming: a
    computed verdict (INCONCLUSIVE says it already) that is shown (not No data)."""
    return monitor.inconclusive > 0 and monitor.shown not in (NO_DATA, "INCONCLUSIVE")


def _undecided(monitor: Monitor) -> str:
    if not _counts_undecided(monitor):
        return ""
    count = monitor.inconclusive
    results = "result" if count == 1 else "results"
    return f'<br>{badge("INCONCLUSIVE")} <span class="muted">{count} {results} undecided</span>'


def _versions(model_versions: dict[str, int]) -> str:
    """A record's window rows per version, under its verdict, when it held more than one."""
    mixed = mixed_versions_line(model_versions)
    return f'<br><span class="muted">{_e(mixed)}</span>' if mixed else ""


def _monitor_cell(run_url: RunUrl, monitor: Monitor) -> str:
    """A family's verdict with its run, staleness, versions and undecided results."""
    return (
        f"<td>{badge(monitor.shown)}{run_link(run_url, monitor.dag_id, monitor.dag_run_id)}"
        + (
            f'<br><span class="muted">stale: window to {_e(_time(monitor.window_end))}, '
            f"{_e(monitor.cadence)} cadence</span>"
            if monitor.stale and monitor.window_end is not None
            else ""
        )
        + _versions(monitor.model_versions)
        + _undecided(monitor)
        + "</td>"
    )


def _withheld_note(permission: Page) -> str:
    """In place of a verdict whose page this reader may not open: no status, not even No data."""
    return f'<span class="muted">{_e(WITHHELD.format(page=PAGE_TITLES[permission]))}</span>'


def _withheld_family(check_type: str, permission: Page) -> str:
    return f"{_e(check_type)} {_withheld_note(permission)}"


def _seen_over(text: str, withheld: Mapping[str, Page]) -> str:
    """``text`` saying what is over the families this reader may see, then those withheld
    from them, once above the page's table; nothing when none is withheld."""
    if not withheld:
        return ""
    families = ", ".join(_withheld_family(c, p) for c, p in withheld.items())
    return f"<p>{_e(text)} {families}.</p>"


def drift_overview(
    root: str,
    rights: DashboardRights,
    overviews: Sequence[ModelOverview],
    check_types: Sequence[str],
    run_url: RunUrl,
) -> str:
    """Every model's family verdicts, composite and trend. A family whose page this reader
    may not open (``DashboardRights.withheld_checks``) keeps its column with a note; the
    composite and its trend, the seed's one number for all families, stay."""
    heads = "".join(f"<th>{_e(c)}</th>" for c in check_types)
    withheld = rights.withheld_checks()
    rows = []
    for model in overviews:
        cells = "".join(
            f"<td>{_withheld_note(withheld[m.check_type])}</td>"
            if m.check_type in withheld
            else _monitor_cell(run_url, m)
            for m in model.monitors
        )
        composite = (
            badge(NO_DATA)
            + (
                f' <span class="muted">last {_number(model.composite)}</span>'
                if model.composite is not None
                else ""
            )
            if model.composite_stale
            else _number(model.composite)
        )
        rows.append(
            f"<tr><td>{_e(model.model_id)}</td><td>{_e(model.risk_tier)}</td>{cells}"
            f"<td>{composite}</td><td>{sparkline(model.trend)}</td>"
            f"<td>{_e(_time(model.last_analysis))} "
            f"{report_link(root, model.report_path, 'drift report')}"
            f"{draw_report_button(root, rights, model.unreported_run)}"
            f"{_failure(run_url, model.failed_analysis)}"
            f"{_gate(run_url, model.data_quality)}</td></tr>"
        )
    form = ""
    if rights.can_trigger_analysis:
        form = (
            f'<form method="post" action="{_e(root)}/analyze">Analyze Now: '
            f'<select name="model">{_model_options(o.model_id for o in overviews)}</select> '
            '<label>window from <input type="date" name="window_start"></label> '
            '<label>up to, not including, <input type="date" name="window_end"></label> '
            '<button type="submit">Analyze Now</button> '
            f'<span class="muted">({_e(WINDOW_EXPLAINED)})</span></form>'
        )
    return layout(
        root,
        rights,
        "drift_overview",
        f"{form}<table><tr><th>model</th><th>risk tier</th>{heads}<th>composite</th>"
        f"<th>trend (last records)</th><th>last analysis</th></tr>{''.join(rows)}</table>",
    )


def _fairness_chart(series: FairnessSeries, *, width: int = 360, height: int = 90) -> str:
    """Values over time with the warning (amber) and critical (red) bounds as lines."""
    values = [p.value for p in series.points if p.value is not None]
    if not values:
        return '<span class="muted">no computed value</span>'
    marks = [bound for bound in (series.critical, series.warning) if bound is not None]
    highs = [p.ci_high for p in series.points if p.ci_high is not None]
    lows = [p.ci_low for p in series.points if p.ci_low is not None]
    low, high = min(values + marks + lows), max(values + marks + highs)
    span = (high - low) or 1.0

    def y(v: float) -> float:
        return height - 4 - (v - low) / span * (height - 8)

    step = width / max(len(series.points) - 1, 1)
    parts = [f'<svg width="{width}" height="{height}" role="img" aria-label="{_e(series.metric)}">']
    if series.critical is not None:
        parts.append(
            f'<line x1="0" x2="{width}" y1="{y(series.critical):.1f}" '
            f'y2="{y(series.critical):.1f}" stroke="#cf222e" stroke-dasharray="4 3"/>'
        )
    if series.warning is not None:
        parts.append(
            f'<line x1="0" x2="{width}" y1="{y(series.warning):.1f}" y2="{y(series.warning):.1f}" '
            'stroke="#bf8700" stroke-dasharray="4 3"/>'
        )
    points = []
    for i, p in enumerate(series.points):
        if p.value is None:
            continue
        x = i * step
        if p.ci_low is not None and p.ci_high is not None:
            parts.append(
                f'<line x1="{x:.1f}" x2="{x:.1f}" y1="{y(p.ci_low):.1f}" y2="{y(p.ci_high):.1f}" '
                'stroke="#8c959f"/>'
            )
        points.append(f"{x:.1f},{y(p.value):.1f}")
    parts.append(
        f'<polyline fill="none" stroke="#0b5cad" stroke-width="1.5" points="{" ".join(points)}"/>'
    )
    parts.append("</svg>")
    return "".join(parts)


def _failure(run_url: RunUrl, failed: FailedAnalysis | None) -> str:
    """The newest analysis, when it failed: what the older verdicts beside it do not show."""
    if failed is None:
        return ""
    return (
        f"<br>{badge('CRITICAL')} <b>analysis failed</b> (window to "
        f"{_e(_time(failed.window_end))}): {_e(failed.reason)}"
        f"{run_link(run_url, failed.dag_id, failed.dag_run_id)}"
    )


def _gate(run_url: RunUrl, gate: GateFindings | None) -> str:
    """The data-quality findings of the newest record: what its families' INFO does not say."""
    if gate is None:
        return ""
    shown = "; ".join(gate.findings[:GATE_FINDINGS_SHOWN])
    more = len(gate.findings) - GATE_FINDINGS_SHOWN
    stale = " (stale)" if gate.stale else ""
    return (
        f"<br>{badge(gate.severity)} <b>data-quality gate</b>{stale} (window to "
        f"{_e(_time(gate.window_end))}): {_e(shown)}"
        + (f" and {more} more" if more > 0 else "")
        + run_link(run_url, gate.dag_id, gate.dag_run_id)
    )


def _sizes(point: FairnessPoint) -> str:
    """A point's group sizes, saying what they count when it is not rows."""
    sizes = ", ".join(f"{group}: {n}" for group, n in point.group_sizes.items())
    counted = point.group_sizes_counted
    return sizes if not sizes or counted == "rows" else f"{sizes} ({counted})"


def fairness_monitor(
    root: str,
    rights: DashboardRights,
    model_id: str,
    model_ids: Sequence[str],
    days: int,
    all_series: Sequence[FairnessSeries],
    run_url: RunUrl,
) -> str:
    picker = "".join(
        f'<a href="{_e(root)}/fairness?model={_e(m)}&amp;days={days}">'
        f"{'<b>' + _e(m) + '</b>' if m == model_id else _e(m)}</a> "
        for m in model_ids
    )
    sections = []
    for series in all_series:
        bounds = ", ".join(
            f"{name} {bound}"
            for name, bound in (("critical", series.critical), ("warning", series.warning))
            if bound is not None
        )
        rows = "".join(
            f"<tr><td>{_e(_time(p.window_end))}</td><td>{_number(p.value)}</td>"
            f"<td>[{_number(p.ci_low)}, {_number(p.ci_high)}]</td><td>{badge(p.severity)}</td>"
            f"<td>{_e(_sizes(p))}</td>"
            f"<td>{_e(p.message)}</td>"
            f"<td>{_sources(run_url, root, p.report_path, p.dag_id, p.dag_run_id)}</td></tr>"
            for p in reversed(series.points)
        )
        sections.append(
            f"<h2>{_e(series.subject)}: {_e(series.metric)}</h2>"
            f'<p class="muted">{_e(series.direction)}; {_e(bounds or "no bound")} '
            f"({_e(series.bounds_from)})</p>"
            f"{_fairness_chart(series)}"
            "<table><tr><th>window end</th><th>value</th><th>interval</th><th>severity</th>"
            f"<th>group sizes</th><th>note</th><th>from</th></tr>{rows}</table>"
        )
    newest = max((p.window_end for series in all_series for p in series.points), default=None)
    period = f"the {days} days up to the newest window with a fairness result" + (
        f", {_time(newest)}" if newest else ""
    )
    body = f"<p>model: {picker}</p><p class=muted>{_e(period)}</p>" + (
        "".join(sections) or f"<p>{badge(NO_DATA)} no fairness record in this period</p>"
    )
    return layout(root, rights, "fairness_monitor", body)


def _health_label(metric: HealthMetric) -> str:
    return metric.severity if metric.status == "computed" else "INCONCLUSIVE"


def _latency(counters: ServingCounters, percentile: str) -> str:
    if counters.latency is None:
        return "no traffic" if counters.requests == 0 else "not recorded"
    lower, upper = getattr(counters.latency, percentile)
    return f"&gt; {lower} ms" if upper is None else f"&le; {upper} ms"


def _serving_table(overviews: Sequence[ModelOverview], serving: dict[str, ServingCounters]) -> str:
    hours = int(SERVING_WINDOW.total_seconds() // 3600)
    rows = "".join(
        f"<tr><td>{_e(o.model_id)}</td>"
        + (
            f"<td>{c.requests}</td><td>{_number(c.error_rate, 4)}</td><td>{c.errors}</td>"
            f"<td>{c.invalid}</td><td>{c.fallbacks}</td><td>{c.clipped}</td>"
            f"<td>{c.overrides}</td><td>{c.complaints}</td>"
            f"<td>{_latency(c, 'p50_ms')}</td><td>{_latency(c, 'p95_ms')}</td>"
            if (c := serving.get(o.model_id)) is not None
            else f'<td colspan="10">{badge(NO_DATA)} no gateway counted it</td>'
        )
        + "</tr>"
        for o in overviews
    )
    return (
        f"<h2>Serving gateway, last {hours} h</h2>"
        f'<p class="muted">latency: {_e(LATENCY_EXPLAINED)}</p>'
        "<table><tr><th>model</th><th>requests</th><th>error rate</th><th>errors</th>"
        "<th>invalid outputs</th><th>fallbacks</th><th>clipped</th><th>overrides</th>"
        f"<th>complaints</th><th>latency p50</th><th>latency p95</th></tr>{rows}</table>"
    )


SEEN_STATUS = "Status is over the families you may see:"


def model_health(
    root: str,
    rights: DashboardRights,
    overviews: Sequence[ModelOverview],
    metrics: dict[str, dict[str, HealthMetric]],
    metric_names: Sequence[str],
    serving: dict[str, ServingCounters],
    run_url: RunUrl,
    model_types: dict[str, ModelType],
) -> str:
    """Each model's status, model-drift values, monitors and serving counters. For a reader
    from whom families are withheld (``DashboardRights.withheld_checks``: the Fairness
    Monitor's, for a role policy.yaml gives Model Health but not it), the status is over the
    families they may see and each withheld monitor reads a note, as on the Drift Overview."""
    heads = "".join(f"<th>{_e(m)}</th>" for m in metric_names)
    withheld = rights.withheld_checks()
    rows = []
    for model in overviews:
        found = metrics.get(model.model_id, {})
        model_type = model_types[model.model_id]
        cells = "".join(
            "<td>"
            + (
                f"{_number(found[m].value)} {badge(_health_label(found[m]))}"
                f'<br><span class="muted">{_e(_time(found[m].window_end))}</span>'
                if m in found
                else badge(NO_DATA)
                if m in HEALTH_METRICS_OF[model_type]
                else f'<span class="muted">n/a: not a {_e(model_type)} metric</span>'
            )
            + "</td>"
            for m in metric_names
        )
        monitors = ", ".join(
            _withheld_family(m.check_type, withheld[m.check_type])
            if m.check_type in withheld
            else _e(
                f"{m.check_type}: {m.shown}"
                + (f" ({m.inconclusive} inconclusive)" if _counts_undecided(m) else "")
            )
            for m in model.monitors
        )
        # The model-drift values are the newest model-drift record's: link its run.
        record = model.monitor("model_drift")
        source = _sources(
            run_url,
            root,
            model.report_path,
            None if record is None else record.dag_id,
            None if record is None else record.dag_run_id,
        )
        # The values' record held more than one version: they may be one version's traffic.
        versions = "" if record is None else _versions(record.model_versions)
        rows.append(
            f"<tr><td>{_e(model.model_id)}</td><td>{badge(model.health_over(withheld))}</td>"
            f'{cells}<td class="muted">{monitors}{versions}'
            f"{_gate(run_url, model.data_quality)}</td><td>{source}</td></tr>"
        )
    return layout(
        root,
        rights,
        "model_health",
        f"{_seen_over(SEEN_STATUS, withheld)}"
        f"<table><tr><th>model</th><th>status</th>{heads}<th>monitors</th><th>from</th></tr>"
        f"{''.join(rows)}</table>{_serving_table(overviews, serving)}",
    )


def _duration(seconds: float) -> str:
    minutes = int(abs(seconds) // 60)
    days, hours, minutes = minutes // 1440, minutes // 60 % 24, minutes % 60
    return (
        " ".join(f"{n} {unit}" for n, unit in ((days, "d"), (hours, "h"), (minutes, "min")) if n)
        or "0 min"
    )


def _ack_clock(i: IncidentRow) -> str:
    """The acknowledgement SLA as a clock: time left, overdue, or when it stopped."""
    due = f"due {_e(_time(i.ack_due))} ({i.ack_sla_minutes} min SLA)"
    if i.ack_state == "waiting" and i.ack_seconds_left is not None:
        return f"{badge('WARNING')} {_duration(i.ack_seconds_left)} left<br>{due}"
    if i.ack_state == "overdue" and i.ack_seconds_left is not None:
        return f"{badge('CRITICAL')} <b>overdue</b> by {_duration(i.ack_seconds_left)}<br>{due}"
    if i.acknowledged_at is not None:
        return f"{_e(i.ack_state)} {_e(_time(i.acknowledged_at))}<br>{due}"
    return f"not running ({_e(i.status)} unacknowledged)<br>{due}"


def _lines(items: Iterable[str]) -> str:
    return "<br>".join(items) or '<span class="muted">none</span>'


def _incident_links(root: str, i: IncidentRow, run_url: RunUrl) -> str:
    # A report is a document of its own (a new tab); Airflow's pages take the whole window.
    return " ".join(
        f'<a href="{_e(href)}" target="{"_blank" if name == "drift_report" else "_top"}">'
        f"{_e(LINK_LABELS[name])}</a>"
        for name, href in incident_links(root, i, run_url).items()
        if href
    )


def incident_timeline(
    root: str,
    rights: DashboardRights,
    incidents: Sequence[IncidentRow],
    run_url: RunUrl,
) -> str:
    rows = []
    for i in incidents:
        escalations = _lines(
            f"{_e(_time(e.at))} {_e(e.level)}: {_e(', '.join(e.people))} "
            f'<span class="muted">({_e(e.reason)}; by {_e(e.by)})</span>'
            for e in i.escalations
        )
        containment = _lines(
            [
                f"{_e(_time(c.at))} {_e(c.decision.replace('_', ' '))} by {_e(c.by)}"
                for c in i.containment
            ]
            + [
                f"kill switch {k.id} ({_e(k.scope)} {_e(k.target)}): "
                + (
                    f"<b>active</b> since {_e(_time(k.activated_at))}"
                    if k.active
                    else f"lifted {_e(_time(k.deactivated_at))}"
                )
                for k in i.kill_switches
            ]
        )
        acceptances = _lines(
            f"RA-{a.id} {_e(a.metric)} {_e(a.status)}"
            + (
                f", {'expired' if a.expired else 'expires'} {_e(_time(a.expires))}"
                if a.expires
                else ""
            )
            + (f", approved by {_e(a.approved_by)}" if a.approved_by else "")
            for a in i.risk_acceptances
        )
        postmortem = (
            ""
            if i.postmortem_due is None
            else _e(_time(i.postmortem_due)) + (" <b>overdue</b>" if i.postmortem_overdue else "")
        )
        owner = (
            f"owner {_e(i.owner or 'none')}<br>holds it: {_e(i.assigned_to or 'nobody yet')}"
            f"<br>acknowledges: {_e(', '.join(i.to_acknowledge))}"
        )
        rows.append(
            f"<tr><td>{_e(i.ref)}<br>{_e(i.title)}</td><td>{_e(i.model_id)}</td>"
            f"<td>{badge(i.severity)}</td><td>{_e(i.priority)}"
            + (
                f'<br><span class="muted">respond by {_e(_time(i.response_due))}</span>'
                if i.response_due
                else ""
            )
            + f"</td><td>{_e(i.status)}<br>opened {_e(_time(i.opened_at))}</td><td>{owner}</td>"
            f"<td>{_ack_clock(i)}</td><td>{escalations}</td><td>{containment}</td>"
            f"<td>{acceptances}</td><td>{postmortem}</td>"
            f"<td>{_incident_links(root, i, run_url)}</td></tr>"
        )
    table = (
        "<table><tr><th>incident</th><th>model</th><th>severity</th><th>P-class</th>"
        "<th>status</th><th>people</th><th>acknowledgement SLA</th><th>escalations</th>"
        "<th>containment</th><th>risk acceptances</th><th>post-mortem due</th><th>links</th>"
        f"</tr>{''.join(rows)}</table>"
        if incidents
        else "<p>No open or recent incident.</p>"
    )
    return layout(root, rights, "incident_timeline", table)


def _window(window: dict[str, str]) -> str:
    if not window:
        return "each model's newest complete day of logged predictions"
    start, end = (datetime.fromisoformat(window[k]) for k in ("window_start", "window_end"))
    return f"the window from {_time(start)} up to {_time(end)} (not included)"


def analysis_requested(
    root: str,
    rights: DashboardRights,
    models: Sequence[str],
    run_id: str,
    run_url: str,
    window: dict[str, str],
) -> str:
    return layout(
        root,
        rights,
        "drift_overview",
        f"<p>Analysis of {_e(', '.join(models))} requested as {_e(rights.user)}: "
        f'Airflow run <a href="{_e(run_url)}" target="_top">{_e(run_id)}</a>, over '
        f"{_e(_window(window))}.</p>"
        f'<p><a href="{_e(_analysis_path(root, run_id))}">Follow its progress and findings</a>'
        f' · <a href="{_e(root)}/drift">Back to the Drift Overview</a></p>',
    )


def _analysis_path(root: str, run_id: str) -> str:
    return f"{root}/analysis/{quote(run_id, safe='')}"


# While the run may still write records, the progress page reloads itself this often.
PROGRESS_REFRESH_S = 5
SEEN_FAMILIES = "Severity and findings above INFO are over the families you may see:"


def analysis_progress(
    root: str, rights: DashboardRights, progress: AnalysisProgress, run_url: RunUrl
) -> str:
    """An Analyze Now run: its state in Airflow and, per model, the record it wrote with
    links to its findings, its drift report and the run; the families withheld from this
    reader named once above the records, as on the Drift Overview."""
    state = progress.state or "unknown to the dashboard (see the Airflow run)"
    rows = "".join(
        f"<tr><td>{_e(r.model_id)}</td><td>{_e(_time(r.interval_start))} to "
        f"{_e(_time(r.interval_end))}</td><td>{_e(r.status)}</td>"
        f"<td>{badge(r.severity or NO_DATA)}</td><td>{_number(r.composite_score)}</td>"
        f"<td>{r.findings_above_info}</td><td>"
        + (
            f'<a href="{_e(root)}/fairness?model={_e(r.model_id)}">Fairness Monitor</a> '
            if rights.refusal("fairness_monitor") is None
            else ""
        )
        + f"{report_link(root, r.report_path, 'drift report')}</td></tr>"
        for r in progress.records
    )
    table = (
        "<table><tr><th>model</th><th>window</th><th>record</th><th>severity</th>"
        f"<th>composite</th><th>findings above INFO</th><th>findings</th></tr>{rows}</table>"
        if rows
        else "<p>No record written yet.</p>"
    )
    table = _seen_over(SEEN_FAMILIES, progress.withheld) + table
    refresh = (
        ""
        if progress.finished
        else f'<p class="muted">This page reloads every {PROGRESS_REFRESH_S} s until the run '
        "ends.</p>"
    )
    body = (
        f"<p>Airflow run {run_link(run_url, progress.dag_id, progress.run_id)} "
        f"<b>{_e(progress.run_id)}</b>: {_e(state)}.</p>{refresh}{table}"
    )
    page = layout(root, rights, "drift_overview", body)
    if progress.finished:
        return page
    return page.replace(
        "<head>", f'<head><meta http-equiv="refresh" content="{PROGRESS_REFRESH_S}">', 1
    )


def _assignees(request: OpenRequest) -> str:
    return ", ".join(request.assignees) or "nobody"


def _failed_at(rollout: dict[str, Any]) -> str:
    """Where a failed rollout run stopped (the new version keeps that stage's traffic)."""
    if rollout.get("status") != "failed":
        return ""
    return f" at {_e(', '.join(rollout.get('failed_steps', [])))}"


def deployments(
    root: str, rights: DashboardRights, rows: Sequence[DeploymentRow], run_url: RunUrl
) -> str:
    if not rows:
        return layout(root, rights, "deployments", "<p>No deployment recorded.</p>")
    sections = []
    for d in rows:
        run = run_link(run_url, DEPLOYMENT_DAG, d.dag_run_id)
        where = (
            "not started"
            if d.step is None
            else f"phase {d.phase}, step {d.step} {d.step_name} ({d.step_status})"
        )
        requests = "".join(
            f"<li>step {r.step} {_e(r.role)}: {_e(r.subject)}; assigned to "
            f"{_e(_assignees(r))} "
            f"{required_action_link(run_url, r.dag_id, r.dag_run_id)}</li>"
            for r in d.open_requests
        )
        withdrawn = "".join(
            f"<li>step {r.step} {_e(r.role)}: {_e(r.subject)}; was assigned to "
            f"{_e(_assignees(r))}</li>"
            for r in d.withdrawn_requests
        )
        stages = "".join(
            f"<tr><td>{_e(st.stage)}</td><td>{st.traffic_share:g}</td><td>{_e(st.status)}</td>"
            f"<td>{_e(_time(st.started_at))}</td><td>{_e(_time(st.ended_at))}</td>"
            f"<td>{_e(st.decided_by)}</td></tr>"
            for st in d.stages
        )
        reports = " ".join(report_link(root, path, path.rsplit("/", 1)[-1]) for path in d.reports)
        asked_on = " ".join(
            report_link(root, path, path.rsplit("/", 1)[-1])
            for path in d.approvals_reports
            if d.approvals_reports != d.reports
        )
        rollback = (
            ""
            if not d.rollback
            else f"<p><b>rollback</b>: {_e(d.rollback.get('decision'))} "
            f"(source {_e(d.rollback.get('source'))}, requested by "
            f"{_e(d.rollback.get('requested_by'))} at {_e(d.rollback.get('requested_at'))})</p>"
        )
        sections.append(
            f"<h2>{_e(d.ref)}: {_e(d.model_id)} {_e(d.model_version)}{run}</h2>"
            f"<p>{_e(d.deployment_type)} to {_e(d.environment)}, requested by "
            f"{_e(d.requested_by)} on {_e(_time(d.created_at))}; status <b>{_e(d.status)}</b>; "
            f"{_e(where)}; go-live {_e(d.go_live or 'not decided')}; recommendation "
            f"{_e(d.recommendation or 'none yet')}; rollout "
            f"{_e(d.rollout.get('status', 'not started'))}"
            f"{_failed_at(d.rollout)}"
            f"{'; closed ' + _e(_time(d.closed_at)) if d.closed_at else ''}</p>"
            + (f"<p><b>stopped</b>: {_e(d.stopped)}</p>" if d.stopped else "")
            + (f"<p>readiness report: {reports}</p>" if reports else "")
            + (f"<p>as put to the approvers: {asked_on}</p>" if asked_on else "")
            + (f"<p>waiting for:</p><ul>{requests}</ul>" if requests else "")
            + (
                f"<p>withdrawn when it stopped (no longer asked):</p><ul>{withdrawn}</ul>"
                if withdrawn
                else ""
            )
            + (
                "<table><tr><th>rollout stage</th><th>traffic share</th><th>status</th>"
                f"<th>started</th><th>ended</th><th>decided by</th></tr>{stages}</table>"
                if stages
                else ""
            )
            + rollback
        )
    return layout(root, rights, "deployments", "".join(sections))


_ACTION_TITLES = {
    "deployment_request": "deployment",
    "rollout_stage_decision": "rollout",
    "incident_acknowledgement": "incident",
    "risk_acceptance_review": "risk acceptance",
}


def my_actions(
    root: str, rights: DashboardRights, actions: Sequence[Action], run_url: RunUrl
) -> str:
    if not actions:
        return layout(root, rights, "my_actions", "<p>Nothing is waiting for you.</p>")
    rows = "".join(
        f"<tr><td>{_e(_ACTION_TITLES[a.kind])}</td><td>{_e(a.ref)}</td><td>{_e(a.model_id)}</td>"
        f"<td>{_e(a.what)}</td><td>{_e(_time(a.due)) if a.due else ''}</td>"
        f"<td>{required_action_link(run_url, a.dag_id, a.dag_run_id)}</td></tr>"
        for a in actions
    )
    return layout(
        root,
        rights,
        "my_actions",
        "<table><tr><th>kind</th><th>ref</th><th>model</th><th>what</th><th>due</th>"
        f"<th></th></tr>{rows}</table>",
    )


def _day(moment: datetime | None) -> str:
    return "" if moment is None else moment.strftime("%Y-%m-%d")


def audit(
    root: str,
    rights: DashboardRights,
    chain: ChainStatus,
    events: Sequence[dict[str, object]],
    wanted: EventFilter,
) -> str:
    state = (
        badge("INFO") + " intact"
        if chain.intact
        else badge("CRITICAL") + f" BROKEN: {_e(chain.problem)}"
    )
    checkpoint = (
        "no signed checkpoint (there is none yet)"
        if chain.checkpoint_events is None
        else f"the latest signed checkpoint (signed {_e(chain.checkpoint_signed_at)}, covering "
        f"{chain.checkpoint_events} events)"
    )
    if chain.walk == "whole chain":
        checked = (
            f"the whole chain, {chain.events_walked} events walked link by link from the "
            f"first, held against {checkpoint}"
        )
    else:
        checked = (
            f"{checkpoint}: its signature and the event it ends on; then the "
            f"{chain.events_walked} events after it, walked link by link. The events it covers "
            "were not re-read: only the walk of the whole chain finds one edited behind it"
        )
    last = (
        "The whole chain has not been walked by this server yet"
        if chain.whole_walked_at is None
        else f"The whole chain was last walked by this server {_e(_time(chain.whole_walked_at))}: "
        + ("intact" if chain.whole_walk_intact else "BROKEN")
    )
    status = (
        f"<p>Hash chain {state}: {chain.events} events, head <code>{_e(chain.head_hash)}</code>."
        f"</p><p>Checked in this view ({_e(_time(chain.verified_at))}): {checked}. "
        f'{last}. <a href="{_e(root)}/audit?verify=whole">Verify the whole chain</a> '
        '<span class="muted">(about 1 s per 20,000 events)</span></p>'
    )
    form = (
        f'<form method="get" action="{_e(root)}/audit">'
        f'<label>action <input name="action" value="{_e(wanted.action or "")}" '
        'placeholder="dashboard.*" maxlength="64"></label> '
        f'<label>actor <input name="actor" value="{_e(wanted.actor or "")}" '
        'maxlength="128"></label> '
        f'<label>model <input name="model" value="{_e(wanted.model or "")}" '
        'maxlength="128"></label> '
        f'<label>from <input type="date" name="since" value="{_day(wanted.since)}"></label> '
        f'<label>before <input type="date" name="until" value="{_day(wanted.until)}"></label> '
        f'<label>rows <input type="number" name="page_size" min="1" max="{MAX_PAGE_SIZE}" '
        f'value="{wanted.page_size}"></label> <button type="submit">Query</button></form>'
    )
    rows = "".join(
        f"<tr><td>{_e(e['seq'])}</td><td>{_e(e['occurred_at'])}</td><td>{_e(e['severity'])}</td>"
        f"<td>{_e(e['actor'])}</td><td>{_e(e['action'])}</td><td>{_e(e['target'])}</td>"
        f'<td class="muted">{_e(str(e["payload"])[:PAYLOAD_SHOWN])}</td></tr>'
        for e in events
    )
    more = ""
    if len(events) == wanted.page_size and events:
        query = urlencode(
            {
                name: value
                for name, value in (
                    ("action", wanted.action),
                    ("actor", wanted.actor),
                    ("model", wanted.model),
                    ("since", _day(wanted.since)),
                    ("until", _day(wanted.until)),
                    ("page_size", wanted.page_size),
                    ("before", events[-1]["seq"]),
                )
                if value
            }
        )
        more = f'<p><a href="{_e(root)}/audit?{_e(query)}">older events</a></p>'
    table = (
        "<table><tr><th>seq</th><th>time</th><th>severity</th><th>actor</th><th>action</th>"
        f"<th>target</th><th>payload</th></tr>{rows}</table>"
        if rows
        else "<p>No event matches.</p>"
    )
    return layout(root, rights, "audit", status + form + table + more)


def report_list(root: str, rights: DashboardRights, listed: Sequence[ListedReport]) -> str:
    """The compliance, executive (and, to whom the Incident Timeline is open, incident)
    reports govflow wrote; drift and readiness reports are linked from their own pages."""
    rows = "".join(
        f"<tr><td>{_e(r.kind)}</td><td>{report_link(root, r.path, r.path.rsplit('/', 1)[-1])}"
        f"</td><td>{_e(r.target)}</td><td>{_e(r.written_by)}</td>"
        f"<td>{_e(_time(r.written_at))}</td></tr>"
        for r in listed
    )
    body = (
        "<table><tr><th>kind</th><th>report</th><th>of</th><th>written by</th><th>written</th>"
        f"</tr>{rows}</table>"
        if rows
        else "<p>No report written yet (govflow report compliance / executive).</p>"
    )
    return layout(root, rights, "governance_reports", body)
