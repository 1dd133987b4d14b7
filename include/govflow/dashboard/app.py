"""Seed 004 section 6: the governance dashboard as a FastAPI app.

Authentication is the caller's: ``create_dashboard_app`` takes the dependency that names the
authenticated user (the Airflow plugin passes one built on Airflow's ``get_user``) and puts
it on the whole app, so no route answers without it. Authorisation is govflow's
(``access``), every page view and every refusal is an audit event (``dashboard.view``,
``dashboard.refused``), and "Analyze Now" goes through the ``trigger_analysis`` callable the
caller gives, as the logged-in user.
"""

from __future__ import annotations

import json
import re
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import asdict, fields, is_dataclass
from datetime import UTC, date, datetime, timedelta
from http import HTTPStatus
from pathlib import Path
from typing import Annotated, Any, NoReturn, Protocol
from urllib.parse import quote, urlsplit

from fastapi import Depends, FastAPI, Form, HTTPException, Query, Request
from fastapi import Path as FastApiPath
from fastapi import params as fastapi_params
from fastapi.dependencies.models import Dependant
from fastapi.exception_handlers import http_exception_handler
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, HTMLResponse, RedirectResponse, Response
from fastapi.routing import APIRoute
from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field
from sqlalchemy.orm import Session
from starlette.exceptions import HTTPException as StarletteHTTPException

from govflow import settings, store
from govflow.audit import record_event
from govflow.config import CHECK_TYPES, GovflowConfig, load_config
from govflow.dashboard import html, pages, reports, timeline, trail
from govflow.dashboard.access import (
    DashboardRights,
    Page,
    Permission,
    UnknownPerson,
    dashboard_rights,
)
from govflow.dashboard.actions import my_actions
from govflow.dashboard.deployments import deployment_rows
from govflow.monitoring.drift_report import UnknownRecord
from govflow.serving.limits import BodySizeLimit

CONTROL_CHARACTERS = re.compile(r"[\x00-\x1f\x7f-\x9f]")
CONTROL_CHARACTER = "it contains a control character, which no id, name or action holds"


def printable(value: str | None) -> str | None:
    """``value``, unless it holds a control character: the filters, model and run ids read
    the store or name the target of an audit event, and Postgres refuses a NUL (a 500)."""
    if value is not None and CONTROL_CHARACTERS.search(value):
        raise ValueError(CONTROL_CHARACTER)
    return value


def absent_if_blank(value: Any) -> Any:
    """A form's empty field is a field not given: the Audit page's own form sends its
    blank dates and rows so."""
    return None if value == "" else value


Blank = BeforeValidator(absent_if_blank)
ON_DEMAND_DAG = "govflow_monitoring_on_demand"
MAX_MODEL_ID = 128
MAX_WINDOW_DAYS = 366
# The Analyze Now form and its JSON twin are a few hundred bytes. FastAPI reads and parses a
# body before any dependency runs, the authentication included.
MAX_BODY_BYTES = 16 * 1024
# Module level: FastAPI resolves a route's (string) annotations in the module's namespace.
ModelParam = Annotated[str | None, Query(max_length=MAX_MODEL_ID), AfterValidator(printable)]
DaysParam = Annotated[int, Query(ge=1, le=pages.MAX_DAYS)]
DayParam = Annotated[str | None, Query(max_length=10, pattern=r"^\d{4}-\d{2}-\d{2}$"), Blank]
ActionParam = Annotated[str | None, Query(max_length=64), AfterValidator(printable)]
ActorParam = Annotated[str | None, Query(max_length=128), AfterValidator(printable)]
PageSizeParam = Annotated[int | None, Query(ge=1, le=trail.MAX_PAGE_SIZE), Blank]
# The store's row numbers (audit seq, record ids) are INTEGER columns: Postgres refuses to
# compare one with a number above 2**31 - 1 (a 500), SQLite with one above 2**63 - 1.
MAX_ROW_NUMBER = 2**31 - 1
BeforeParam = Annotated[int | None, Query(ge=1, le=MAX_ROW_NUMBER)]
VerifyParam = Annotated[str | None, Query(pattern="^whole$")]
ReportPath = Annotated[str, FastApiPath(max_length=reports.MAX_PATH)]
MAX_RUN_ID = 250  # Airflow's run_id column
RunIdPath = Annotated[str, FastApiPath(max_length=MAX_RUN_ID), AfterValidator(printable)]
RecordPath = Annotated[int, FastApiPath(ge=1, le=MAX_ROW_NUMBER)]
# A report is a document of its own: scripts (evidently's charts) run in an opaque origin,
# never with the Airflow UI's, and the type given is the type used.
REPORT_HEADERS = {
    "Content-Security-Policy": "sandbox allow-scripts",
    "X-Content-Type-Options": "nosniff",
}
NOT_RECORDED = "no report govflow recorded is at {path!r}"
UNREDACTABLE = (
    "this drift report carries figures of {pages}, which your roles may not open, in a form "
    "the dashboard cannot leave out"
)
REPORT_GONE = "the report {path!r} is recorded but no longer in the data directory"
CROSS_SITE = "refused: the form was posted from another site"
NO_ORIGIN = (
    "refused: the form names no site it was posted from (no Origin or Referer header); "
    "a script sends its token in an Authorization header"
)
DEFAULT_PORTS = {"http": 80, "https": 443}
NO_SUCH_PAGE = "no page /{path} on this dashboard"
MAX_SHOWN_PATH = 200
ANY_METHOD = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]
NO_DRAWING = "this dashboard draws no drift report on request (no drawer was given)"
UNKNOWN_MODEL = "unknown model {model!r}: models.yaml has {known}"
AUDIT_TARGET_CHARS = 255  # audit_events.target is String(255)
CUT = "…"
UNKNOWN_RUN = "no run {run_id!r} of {dag_id}: Airflow knows none and govflow recorded none"
# A value FastAPI refuses, on one line: where it was given and what is wrong with it, never
# the value itself (it may be a megabyte long, or a NaN no JSON response can carry).
INVALID_VALUE = "{place} {name}: {message}"
NOT_JSON = "the request body is not JSON"
INVALID_BODY = "the request body: {message}"
PLACES = {"query": "query parameter", "path": "path parameter", "body": "field"}


class AnalyzeNowBody(BaseModel):
    """The body of ``POST /api/v1/monitoring/analyze-now`` (the button's form as JSON); a
    key it does not name is refused (a misspelt window would start the default one)."""

    model_config = ConfigDict(extra="forbid")

    model: Annotated[str, AfterValidator(printable)] = Field(max_length=MAX_MODEL_ID)
    window_start: str = Field(default="", max_length=10)
    window_end: str = Field(default="", max_length=10)


class TriggerRefused(Exception):
    """The runner (Airflow) refuses the logged-in user the run govflow would allow."""


class TriggerUnavailable(Exception):
    """The runner cannot start the run now (the DAG not loaded yet): worth asking again."""


class AnalysisTrigger(Protocol):
    def __call__(self, request: Request, *, user: str, dag_id: str, conf: dict[str, Any]) -> str:
        """Start ``dag_id`` with ``conf`` as ``user``, who made ``request``; return the run id
        or raise TriggerRefused (or TriggerUnavailable)."""


class _ConfigCache:
    """config/ loaded once, and again whenever one of its files changes, so an edit of
    people.yaml (a role taken away) applies to the next request."""

    def __init__(self, directory: Callable[[], Path]) -> None:
        self._directory = directory
        self._key: tuple[Any, ...] | None = None
        self._config: GovflowConfig | None = None

    def get(self) -> GovflowConfig:
        directory = self._directory()
        key = (directory, *(p.stat().st_mtime_ns for p in sorted(directory.glob("*.yaml"))))
        if self._config is None or key != self._key:
            self._config, self._key = load_config(directory), key
        return self._config


ISO_DAY = re.compile(r"\d{4}-\d{2}-\d{2}")
BAD_WINDOW = (
    "give both dates of the window (YYYY-MM-DD), the end after the start and at most "
    f"{MAX_WINDOW_DAYS} days later, or neither"
)

NO_SUCH_DAY = "{name} {day} is not a day of the calendar: " + BAD_WINDOW


WINDOW_NOT_ENDED = (
    "the window ends {end:%Y-%m-%d %H:%M} UTC, which has not come yet: analyse a window that "
    "has ended (as govflow monitor run does)"
)


def analysis_window(start: str, end: str, *, now: datetime) -> dict[str, str]:
    """The on-demand DAG's window Params from the form's two dates (00:00 UTC each); none
    when both are empty, so the DAG analyses each model's newest complete day of logs. A
    window ending after ``now`` is refused: its logs are not all written, and a mistyped year
    would record an analysis of nothing as the model's newest, hiding its real state on the
    Drift Overview."""
    if not start and not end:
        return {}
    # Python reads more ISO 8601 than the form's dates: '20250320', '2025-W12' too.
    if not (ISO_DAY.fullmatch(start) and ISO_DAY.fullmatch(end)):
        raise HTTPException(400, BAD_WINDOW)
    days = {}
    for name, day in (("window_start", start), ("window_end", end)):
        try:
            days[name] = datetime.fromisoformat(day).replace(tzinfo=UTC)
        except ValueError:
            raise HTTPException(400, NO_SUCH_DAY.format(name=name, day=day)) from None
    first, last = days["window_start"], days["window_end"]
    if not first < last <= first + timedelta(days=MAX_WINDOW_DAYS):
        raise HTTPException(400, BAD_WINDOW)
    if last > now:
        raise HTTPException(400, WINDOW_NOT_ENDED.format(end=last))
    return {"window_start": first.isoformat(), "window_end": last.isoformat()}


def web_origin(url: str) -> tuple[str, str, int] | None:
    """The origin (scheme, host, port) a URL names, the port spelled out; None for one it
    does not ("null", a path, another scheme, a port that is not one)."""
    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError:
        return None
    scheme = parts.scheme.lower()
    if scheme not in DEFAULT_PORTS or not parts.hostname:
        return None
    return scheme, parts.hostname, port or DEFAULT_PORTS[scheme]


BAD_DAY = "{value!r} is not a date (YYYY-MM-DD)"
EMPTY_PERIOD = (
    "until {until} is not after since {since}: the events shown are those from since up to "
    "(not including) until"
)


def _day(value: str) -> datetime:
    """00:00 UTC of a YYYY-MM-DD query parameter (400 if it is no date)."""
    try:
        return datetime.fromisoformat(value).replace(tzinfo=UTC)
    except ValueError:
        raise HTTPException(400, BAD_DAY.format(value=value)) from None


def event_query(
    action: ActionParam = None,
    actor: ActorParam = None,
    model: ActorParam = None,
    since: DayParam = None,
    until: DayParam = None,
    page_size: PageSizeParam = None,
    before: BeforeParam = None,
    verify: VerifyParam = None,
) -> tuple[trail.EventFilter, bool]:
    """The Audit page's query parameters (bounded) and whether to walk the whole chain."""
    first = _day(since) if since else None
    last = _day(until) if until else None
    if first is not None and last is not None and last <= first:
        raise HTTPException(400, EMPTY_PERIOD.format(since=since, until=until))
    wanted = trail.EventFilter(
        action=action or None,
        actor=actor or None,
        model=model or None,
        since=first,
        until=last,
        before_seq=before,
        page_size=page_size or trail.DEFAULT_PAGE_SIZE,
    )
    return wanted, verify == "whole"


def _json_value(value: Any) -> Any:
    """What json.dumps cannot write itself, written as FastAPI's jsonable_encoder writes it.
    A year of Fairness Monitor points went through jsonable_encoder in about 100 ms."""
    if isinstance(value, datetime | date):
        return value.isoformat()
    if is_dataclass(value) and not isinstance(value, type):
        # One level: json.dumps comes back here for the dataclasses inside. asdict would
        # deep-copy every value first, most of the time of a year of Fairness Monitor points.
        return {field.name: getattr(value, field.name) for field in fields(value)}
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"the dashboard cannot write a {type(value).__name__} as JSON")


def json_response(body: dict[str, Any], status_code: int = 200) -> Response:
    """``body`` as JSONResponse writes it (compact, UTF-8, no NaN)."""
    return Response(
        json.dumps(
            body, default=_json_value, ensure_ascii=False, allow_nan=False, separators=(",", ":")
        ),
        media_type="application/json",
        status_code=status_code,
    )


def invalid_request(errors: Sequence[Any]) -> str:
    """FastAPI's validation errors as one line naming each refused parameter or field."""
    if any(error["type"] == "json_invalid" for error in errors):
        return NOT_JSON
    return "; ".join(
        INVALID_VALUE.format(
            place=PLACES.get(str(error["loc"][0]), str(error["loc"][0])),
            name=".".join(str(part) for part in error["loc"][1:]),
            message=error["msg"],
        )
        if len(error["loc"]) > 1
        else INVALID_BODY.format(message=error["msg"])
        for error in errors
    )


UNKNOWN_PARAMETER = "unknown query parameter {name!r}: {path} reads {known}"
UNKNOWN_FIELD = "unknown form field {name!r}: the form of {path} has {known}"
REPEATED = "the {place} {name!r} is given {count} times: give it once"
FORM_TYPES = ("application/x-www-form-urlencoded", "multipart/form-data")


def _query_names(dependant: Dependant) -> set[str]:
    """The query parameters a route reads, those of its dependencies included."""
    names = {param.alias for param in dependant.query_params}
    for dependency in dependant.dependencies:
        names |= _query_names(dependency)
    return names


def _refuse_unread(
    pairs: Sequence[tuple[str, Any]], known: set[str], *, place: str, unknown: str, path: str
) -> None:
    """400 for a name the route does not read or one given more than once."""
    for name, count in Counter(name for name, _ in pairs).items():
        if name not in known:
            listed = ", ".join(sorted(known)) or "none"
            raise HTTPException(400, unknown.format(name=name[:64], path=path, known=listed))
        if count > 1:
            raise HTTPException(400, REPEATED.format(place=place, name=name, count=count))


async def one_value_each(request: Request) -> None:
    """Each query parameter and form field a route reads, given once, and no other: FastAPI
    takes the last of repeated values and ignores a name it does not read, so a misspelt
    ``?modle=`` or a second ``model`` showed a page other than the one asked for."""
    route = request.scope.get("route")
    if not isinstance(route, APIRoute):
        return
    _refuse_unread(
        request.query_params.multi_items(),
        _query_names(route.dependant),
        place="query parameter",
        unknown=UNKNOWN_PARAMETER,
        path=route.path,
    )
    fields = {
        param.alias
        for param in route.dependant.body_params
        if isinstance(param.field_info, fastapi_params.Form)
    }
    if fields and request.headers.get("content-type", "").startswith(FORM_TYPES):
        # Read already (and kept) by FastAPI for the route's own form parameters.
        form = await request.form()
        _refuse_unread(
            form.multi_items(), fields, place="form field", unknown=UNKNOWN_FIELD, path=route.path
        )


def wants_a_page(request: Request) -> bool:
    """Whether a refusal goes to a person in a browser (a page of the dashboard asked for
    as HTML) rather than to a script or the JSON twins, which read its ``detail``."""
    path, root = request.url.path, request.scope.get("root_path", "")
    if root and path.startswith(root):
        path = path[len(root) :]
    return not path.startswith("/api/") and "text/html" in request.headers.get("accept", "")


def error_page(status: int, detail: str) -> str:
    """A refusal as a page: a compliance officer following a link or posting the form reads
    why in words, not a JSON document."""
    return html.message_page(f"{status} {HTTPStatus(status).phrase}", detail)


def audit_target(target: str) -> str:
    """``target`` as the audit trail's target column can hold it: control characters
    escaped, cut to the column's length. The refusal of a report path is audited with the
    path asked for, and Postgres refused that event, answering a 500, for a NUL or a path
    longer than the column (a path may have up to reports.MAX_PATH characters)."""
    escaped = CONTROL_CHARACTERS.sub(lambda found: f"\\x{ord(found[0]):02x}", target)
    if len(escaped) <= AUDIT_TARGET_CHARS:
        return escaped
    return escaped[: AUDIT_TARGET_CHARS - len(CUT)] + CUT


def _audit(
    db_url: str | None, *, actor: str, action: str, target: str, payload: dict[str, Any]
) -> None:
    with store.session_scope(db_url) as session:
        record_event(session, actor=actor, action=action, target=target, payload=payload)


def create_dashboard_app(
    *,
    current_user: Callable[..., Any],
    trigger_analysis: AnalysisTrigger,
    run_url: Callable[[str, str], str],
    db_url: str | None = None,
    run_state: Callable[[str, str], str | None] | None = None,
    draw_report: Callable[[int, str | None], str] | None = None,
    config_dir: Callable[[], Path] = settings.config_dir,
    data_dir: Callable[[], Path] = settings.data_dir,
    clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    public_url: str | None = None,
) -> FastAPI:
    """The dashboard app. ``current_user`` is a FastAPI dependency returning the user name
    (it must refuse an unauthenticated request); ``run_url(dag_id, run_id)`` links to a run;
    ``run_state(dag_id, run_id)`` is Airflow's state of a run, None for a run Airflow does
    not know (no ``run_state``: this dashboard cannot ask, every state is unknown);
    ``draw_report(record_id, db_url)`` draws a record's drift report and returns its path, or
    raises ``UnknownRecord`` for a record that does not exist (a 404), ValueError naming why it
    cannot draw one that does (a 409; None: this dashboard draws none);
    ``public_url`` is the address browsers reach the server at through a proxy (Airflow's
    ``[api] base_url``), whose forms are this server's own as well."""
    configs = _ConfigCache(config_dir)
    public_origin = web_origin(public_url) if public_url else None
    chain_watch = trail.ChainWatch()
    # No /docs, /redoc or /openapi.json: FastAPI serves them outside the app's dependencies.
    app = FastAPI(
        title="govflow dashboard",
        # current_user first: a request without credentials is a 401 whatever it asks.
        dependencies=[Depends(current_user), Depends(one_value_each)],
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
    )

    app.add_middleware(BodySizeLimit, max_bytes=MAX_BODY_BYTES)

    @app.exception_handler(RequestValidationError)
    async def refuse_invalid(request: Request, error: RequestValidationError) -> Response:
        detail = invalid_request(error.errors())
        if wants_a_page(request):
            return HTMLResponse(error_page(422, detail), status_code=422)
        return json_response({"detail": detail}, status_code=422)

    @app.exception_handler(StarletteHTTPException)
    async def answer_refusal(request: Request, error: StarletteHTTPException) -> Response:
        if wants_a_page(request) and isinstance(error.detail, str):
            return HTMLResponse(
                error_page(error.status_code, error.detail),
                status_code=error.status_code,
                headers=error.headers,
            )
        return await http_exception_handler(request, error)

    def refuse(
        user: str, status: int, reason: str, target: str, payload: dict[str, Any]
    ) -> NoReturn:
        _audit(
            db_url,
            actor=user,
            action="dashboard.refused",
            target=target,
            payload={**payload, "reason": reason},
        )
        raise HTTPException(status_code=status, detail=reason)

    def rights_for(
        user: str, permission: Permission, target: str, model: str | None
    ) -> DashboardRights:
        config = configs.get()
        payload = {"permission": permission, "model": model or "all"}
        try:
            rights = dashboard_rights(config, user)
        except UnknownPerson as error:
            refuse(user, 403, str(error), target, payload)
        refusal = rights.refusal(permission)
        if refusal is not None:
            refuse(user, 403, refusal, target, payload)
        return rights

    def view(
        request: Request,
        user: str,
        page: Page,
        model: str | None,
        load: Callable[[Session, GovflowConfig], Any],
        draw: Callable[[str, DashboardRights, GovflowConfig, Any], str],
        as_json: bool,
        query: dict[str, Any] | None = None,
        *,
        withholding: bool = False,
    ) -> Response:
        """One page view: authorised, read, rendered as HTML or JSON, and audited (with the
        ``query`` it answered, if any, and, on a page ``withholding`` the verdicts of
        families the reader may not see, those families: what they were not shown)."""
        started = time.perf_counter()
        target = f"{page}/{model or 'all'}"
        rights = rights_for(user, page, target, model)
        withheld = rights.withheld_checks() if withholding else {}
        config = configs.get()
        if model is not None and model not in config.models.ids():
            raise HTTPException(
                404, UNKNOWN_MODEL.format(model=model[:MAX_MODEL_ID], known=config.models.ids())
            )
        with store.session_scope(db_url) as session:
            data = load(session, config)
            record_event(
                session,
                actor=user,
                action="dashboard.view",
                target=target,
                payload={
                    "page": page,
                    "model": model or "all",
                    "format": "json" if as_json else "html",
                    **({"query": query} if query else {}),
                    **({"withheld": withheld} if withheld else {}),
                },
            )
        response: Response
        if as_json:
            body = {"page": page, "model": model, "user": user, "data": data}
            response = json_response(body)
        else:
            response = HTMLResponse(draw(request.scope.get("root_path", ""), rights, config, data))
        response.headers["Server-Timing"] = f"app;dur={(time.perf_counter() - started) * 1000:.1f}"
        return response

    @app.get("/", include_in_schema=False)
    def landing(request: Request, user: str = Depends(current_user)) -> RedirectResponse:
        config = configs.get()
        try:
            visible = dashboard_rights(config, user).visible_pages()
        except UnknownPerson as error:
            refuse(user, 403, str(error), "dashboard/all", {})
        if not visible:
            refuse(user, 403, "no dashboard page is open to your roles", "dashboard/all", {})
        root = request.scope.get("root_path", "")
        return RedirectResponse(root + html.PAGE_PATHS[visible[0]], status_code=303)

    def drift(request: Request, user: str, as_json: bool) -> Response:
        def load(session: Session, config: GovflowConfig) -> Any:
            overviews = pages.model_overviews(session, config, now=clock())
            if not as_json:
                return overviews
            withheld = dashboard_rights(config, user).withheld_checks()
            return [o.to_dict(withheld=withheld) for o in overviews]

        def draw(root: str, rights: DashboardRights, config: GovflowConfig, data: Any) -> str:
            return html.drift_overview(root, rights, data, CHECK_TYPES, run_url)

        return view(request, user, "drift_overview", None, load, draw, as_json, withholding=True)

    def fairness(
        request: Request, user: str, model: str | None, days: int, as_json: bool
    ) -> Response:
        # The page shows one model: the audit event names it even when the URL does not.
        shown = model or configs.get().models.ids()[0]

        def load(session: Session, config: GovflowConfig) -> Any:
            return pages.fairness_series(session, config, shown, now=clock(), days=days)

        def draw(root: str, rights: DashboardRights, config: GovflowConfig, data: Any) -> str:
            return html.fairness_monitor(
                root, rights, shown, config.models.ids(), days, data, run_url
            )

        return view(request, user, "fairness_monitor", shown, load, draw, as_json)

    def health(request: Request, user: str, as_json: bool) -> Response:
        def load(session: Session, config: GovflowConfig) -> Any:
            now = clock()
            overviews = pages.model_overviews(session, config, now=now)
            metrics = pages.health_metrics(session, overviews)
            serving = pages.serving_counters(session, config.models.ids(), now=now)
            if as_json:
                withheld = dashboard_rights(config, user).withheld_checks()
                return [
                    {
                        "model_id": o.model_id,
                        "status": o.health_over(withheld),
                        **({"withheld": o.withheld_monitors(withheld)} if withheld else {}),
                        "metrics": metrics.get(o.model_id, {}),
                        "data_quality": o.data_quality,
                        "serving": None
                        if o.model_id not in serving
                        else serving[o.model_id].to_dict(),
                        # Where the numbers came from, as the page links them.
                        "report_path": o.report_path,
                        "source_run": None
                        if (record := o.monitor("model_drift")) is None or record.dag_id is None
                        else {"dag_id": record.dag_id, "dag_run_id": record.dag_run_id},
                    }
                    for o in overviews
                ]
            return overviews, metrics, serving

        def draw(root: str, rights: DashboardRights, config: GovflowConfig, data: Any) -> str:
            overviews, metrics, serving = data
            model_types = {m.id: m.type for m in config.models.models}
            return html.model_health(
                root,
                rights,
                overviews,
                metrics,
                pages.HEALTH_METRICS,
                serving,
                run_url,
                model_types,
            )

        return view(request, user, "model_health", None, load, draw, as_json, withholding=True)

    def incidents(request: Request, user: str, model: str | None, as_json: bool) -> Response:
        def load(session: Session, config: GovflowConfig) -> Any:
            rows = timeline.incident_timeline(session, config, now=clock(), model_id=model)
            if not as_json:
                return rows
            root = request.scope.get("root_path", "")
            return [
                {**_json_value(row), "links": timeline.incident_links(root, row, run_url)}
                for row in rows
            ]

        def draw(root: str, rights: DashboardRights, config: GovflowConfig, data: Any) -> str:
            return html.incident_timeline(root, rights, data, run_url)

        return view(request, user, "incident_timeline", model, load, draw, as_json)

    def deployments(request: Request, user: str, model: str | None, as_json: bool) -> Response:
        def load(session: Session, config: GovflowConfig) -> Any:
            return deployment_rows(session, config, model_id=model)

        def draw(root: str, rights: DashboardRights, config: GovflowConfig, data: Any) -> str:
            return html.deployments(root, rights, data, run_url)

        return view(request, user, "deployments", model, load, draw, as_json)

    def report_list(request: Request, user: str, as_json: bool) -> Response:
        def load(session: Session, config: GovflowConfig) -> Any:
            rights = dashboard_rights(config, user)
            kinds: list[reports.ReportKind] = ["compliance", "executive"]
            if rights.refusal("incident_timeline") is None:
                kinds.append("incident")
            return reports.audited_reports(session, kinds)

        def draw(root: str, rights: DashboardRights, config: GovflowConfig, data: Any) -> str:
            return html.report_list(root, rights, data)

        return view(request, user, "governance_reports", None, load, draw, as_json)

    def actions(request: Request, user: str, as_json: bool) -> Response:
        def load(session: Session, config: GovflowConfig) -> Any:
            return my_actions(session, config, user, now=clock())

        def draw(root: str, rights: DashboardRights, config: GovflowConfig, data: Any) -> str:
            return html.my_actions(root, rights, data, run_url)

        return view(request, user, "my_actions", None, load, draw, as_json)

    def audit(
        request: Request, user: str, wanted: trail.EventFilter, whole: bool, as_json: bool
    ) -> Response:
        checkpoints = settings.audit_checkpoints(db_url or settings.db_url())

        def load(session: Session, config: GovflowConfig) -> Any:
            chain = chain_watch.status(session, checkpoints, now=clock(), whole=whole)
            return {"chain": chain, "events": trail.audit_events(session, wanted)}

        def draw(root: str, rights: DashboardRights, config: GovflowConfig, data: Any) -> str:
            return html.audit(root, rights, data["chain"], data["events"], wanted)

        query = {k: v for k, v in asdict(wanted).items() if v is not None}
        return view(request, user, "audit", None, load, draw, as_json, query=query)

    # Each page and its JSON twin (/api/...): the same authorisation, data and audit event.
    def twins(path: str, page: Callable[..., Response]) -> None:
        """The page at ``path`` and its JSON twin at ``/api<path>``."""

        def as_html(request: Request, user: str = Depends(current_user)) -> Response:
            return page(request, user, as_json=False)

        def as_json(request: Request, user: str = Depends(current_user)) -> Response:
            return page(request, user, as_json=True)

        app.get(path, response_class=HTMLResponse)(as_html)
        app.get("/api" + path)(as_json)

    def model_twins(path: str, page: Callable[..., Response]) -> None:
        """``twins`` of a page that one model can narrow (``?model=``)."""

        def as_html(
            request: Request, user: str = Depends(current_user), model: ModelParam = None
        ) -> Response:
            return page(request, user, model, as_json=False)

        def as_json(
            request: Request, user: str = Depends(current_user), model: ModelParam = None
        ) -> Response:
            return page(request, user, model, as_json=True)

        app.get(path, response_class=HTMLResponse)(as_html)
        app.get("/api" + path)(as_json)

    twins("/drift", drift)
    twins("/health", health)
    model_twins("/incidents", incidents)
    model_twins("/deployments", deployments)
    twins("/actions", actions)
    twins("/reports", report_list)

    @app.get("/fairness", response_class=HTMLResponse)
    def fairness_monitor(
        request: Request,
        user: str = Depends(current_user),
        model: ModelParam = None,
        days: DaysParam = 30,
    ) -> Response:
        return fairness(request, user, model, days, as_json=False)

    @app.get("/api/fairness")
    def fairness_monitor_json(
        request: Request,
        user: str = Depends(current_user),
        model: ModelParam = None,
        days: DaysParam = 30,
    ) -> Response:
        return fairness(request, user, model, days, as_json=True)

    @app.get("/audit", response_class=HTMLResponse)
    def audit_page(
        request: Request,
        query: Annotated[tuple[trail.EventFilter, bool], Depends(event_query)],
        user: str = Depends(current_user),
    ) -> Response:
        return audit(request, user, *query, as_json=False)

    @app.get("/api/audit")
    def audit_json(
        request: Request,
        query: Annotated[tuple[trail.EventFilter, bool], Depends(event_query)],
        user: str = Depends(current_user),
    ) -> Response:
        return audit(request, user, *query, as_json=True)

    @app.get("/reports/{path:path}")
    def report(path: ReportPath, user: str = Depends(current_user)) -> Response:
        """A report govflow wrote, by its recorded path under the data directory: refused
        when the path could leave reports/, absent when the store records no such report,
        and read under the permission of the report's page; every outcome audited."""
        target = audit_target(f"report/{path}")
        config = configs.get()
        try:
            rights = dashboard_rights(config, user)
            reports.check_path(path)
        except (UnknownPerson, reports.UnsafeReportPath) as error:
            status = 403 if isinstance(error, UnknownPerson) else 400
            refuse(user, status, str(error), target, {"page": "report"})
        with store.session_scope(db_url) as session:
            found = reports.recorded_report(session, path)
        if found is None:
            refuse(user, 404, NOT_RECORDED.format(path=path), target, {"page": "report"})
        payload: dict[str, Any] = {
            "page": "report",
            "kind": found.kind,
            "model": found.model_id or "all",
        }
        refusal = rights.refusal(found.permission)
        if refusal is not None:
            refuse(user, 403, refusal, target, {**payload, "permission": found.permission})
        served = reports.report_file(data_dir(), found)
        if served is None:
            raise HTTPException(404, REPORT_GONE.format(path=path))
        withheld = reports.withheld_figures(found, rights)
        page = None
        if withheld:
            payload["withheld"] = list(withheld)
            page = reports.without_figures(served.read_text(encoding="utf-8"), withheld)
            if page is None:
                reason = UNREDACTABLE.format(pages=", ".join(withheld))
                refuse(user, 403, reason, target, payload)
        _audit(db_url, actor=user, action="dashboard.view", target=target, payload=payload)
        if page is not None:
            return Response(page, media_type=found.media_type, headers=REPORT_HEADERS)
        return FileResponse(served, media_type=found.media_type, headers=REPORT_HEADERS)

    def refuse_cross_site(request: Request, user: str, target: str) -> None:
        """A form posted from another site is refused. The browser names the page that
        posted it (Origin; the Referer in a browser too old to send Origin), whose scheme,
        host and port must be this server's as the browser addressed it (the request's
        Host) or ``public_url``'s. A request naming neither is a browser's form only if it
        carries no Authorization header, which no other site's page can add."""
        posted_from = request.headers.get("origin") or request.headers.get("referer")
        if posted_from is None:
            if "authorization" not in request.headers:
                refuse(user, 403, NO_ORIGIN, target, {})
            return
        own = web_origin(f"{request.url.scheme}://{request.headers.get('host', '')}")
        claimed = web_origin(posted_from)
        if claimed is None or claimed not in (own, public_origin):
            refuse(user, 403, CROSS_SITE, target, {"origin": posted_from[:200]})

    @app.post("/drift-report/{record}")
    def draw_drift_report(
        request: Request, record: RecordPath, user: str = Depends(current_user)
    ) -> Response:
        """Issue 18: the DAGs draw a drift report only for a day with a finding above INFO;
        whoever may trigger an analysis may have any other record's drawn, then opened. A
        draw costs seconds of CPU and writes megabytes, so it is an action (seed 004 section
        6's one action column), never granted with a page a role may only read."""
        target = f"drift_report/{record}"
        refuse_cross_site(request, user, target)
        rights_for(user, "drift_overview", target, None)
        rights_for(user, "can_trigger_analysis", target, None)
        if draw_report is None:
            raise HTTPException(409, NO_DRAWING)
        try:
            path = draw_report(record, db_url)
        except UnknownRecord as error:
            raise HTTPException(404, str(error)) from None
        except ValueError as error:
            raise HTTPException(409, str(error)) from None
        _audit(
            db_url,
            actor=user,
            action="dashboard.report_drawn",
            target=target,
            payload={"record": record, "path": path},
        )
        root = request.scope.get("root_path", "")
        return RedirectResponse(f"{root}/reports/{quote(path)}", status_code=303)

    def request_analysis(
        request: Request, user: str, model: str, window_start: str, window_end: str
    ) -> tuple[DashboardRights, list[str], str, dict[str, str]]:
        """Analyze Now (seed 004 section 1.3): the on-demand DAG triggered as ``user``;
        (their rights, the models, the run id, the window given: none for the DAG's own)."""
        target = f"analyze_now/{model}"
        refuse_cross_site(request, user, target)
        rights = rights_for(user, "can_trigger_analysis", target, model)
        config = configs.get()
        known = config.models.ids()
        if model != html.ALL_MODELS and model not in known:
            raise HTTPException(400, UNKNOWN_MODEL.format(model=model, known=known))
        models = known if model == html.ALL_MODELS else [model]
        window = analysis_window(window_start, window_end, now=clock())
        conf: dict[str, Any] = {
            "model_ids": models,
            "reason": f"Analyze Now on the dashboard by {user}",
            **window,
        }
        try:
            run_id = trigger_analysis(request, user=user, dag_id=ON_DEMAND_DAG, conf=conf)
        except TriggerRefused as refused:
            refuse(user, 403, str(refused), target, {"permission": "airflow:trigger"})
        except TriggerUnavailable as unavailable:
            raise HTTPException(503, str(unavailable)) from None
        _audit(
            db_url,
            actor=user,
            action="dashboard.analyze_now",
            target=target,
            payload={"models": models, "dag_id": ON_DEMAND_DAG, "dag_run_id": run_id},
        )
        return rights, models, run_id, window

    @app.post("/analyze", response_class=HTMLResponse)
    def analyze_now(
        request: Request,
        model: Annotated[str, Form(max_length=MAX_MODEL_ID), AfterValidator(printable)],
        window_start: Annotated[str, Form(max_length=10)] = "",
        window_end: Annotated[str, Form(max_length=10)] = "",
        user: str = Depends(current_user),
    ) -> HTMLResponse:
        rights, models, run_id, window = request_analysis(
            request, user, model, window_start, window_end
        )
        root = request.scope.get("root_path", "")
        return HTMLResponse(
            html.analysis_requested(
                root, rights, models, run_id, run_url(ON_DEMAND_DAG, run_id), window
            )
        )

    @app.post("/api/v1/monitoring/analyze-now")
    def analyze_now_api(
        request: Request, body: AnalyzeNowBody, user: str = Depends(current_user)
    ) -> Response:
        """The seed's ``POST /api/v1/monitoring/analyze-now``: the same as the button."""
        _, models, run_id, _ = request_analysis(
            request, user, body.model, body.window_start, body.window_end
        )
        root = request.scope.get("root_path", "")
        return json_response(
            {
                "models": models,
                "dag_id": ON_DEMAND_DAG,
                "dag_run_id": run_id,
                "run_url": run_url(ON_DEMAND_DAG, run_id),
                "progress": f"{root}/api/analysis/{quote(run_id, safe='')}",
            },
            status_code=202,
        )

    def analysis(request: Request, user: str, run_id: str, as_json: bool) -> Response:
        def load(session: Session, config: GovflowConfig) -> Any:
            state = None if run_state is None else run_state(ON_DEMAND_DAG, run_id)
            withheld = dashboard_rights(config, user).withheld_checks()
            progress = pages.analysis_progress(
                session, ON_DEMAND_DAG, run_id, state, withheld=withheld
            )
            if run_state is not None and state is None and not progress.records:
                raise HTTPException(404, UNKNOWN_RUN.format(run_id=run_id, dag_id=ON_DEMAND_DAG))
            return progress.to_dict() if as_json else progress

        def draw(root: str, rights: DashboardRights, config: GovflowConfig, data: Any) -> str:
            return html.analysis_progress(root, rights, data, run_url)

        return view(
            request,
            user,
            "drift_overview",
            None,
            load,
            draw,
            as_json,
            {"run": run_id},
            withholding=True,
        )

    @app.get("/analysis/{run_id}", response_class=HTMLResponse)
    def analysis_page(
        request: Request,
        run_id: RunIdPath,
        user: str = Depends(current_user),
    ) -> Response:
        return analysis(request, user, run_id, as_json=False)

    @app.get("/api/analysis/{run_id}")
    def analysis_json(
        request: Request,
        run_id: RunIdPath,
        user: str = Depends(current_user),
    ) -> Response:
        return analysis(request, user, run_id, as_json=True)

    # Last, so it answers only what no route above matched. Unmatched paths never reach the
    # app's dependencies, so without it a caller with no credentials would learn from the
    # router's 404 which paths exist; through it they get current_user's 401 like any route.
    @app.api_route("/{path:path}", methods=ANY_METHOD, include_in_schema=False, response_model=None)
    def unknown_path(path: str) -> NoReturn:
        raise HTTPException(404, NO_SUCH_PAGE.format(path=path[:MAX_SHOWN_PATH]))

    return app
