"""Seed 004 section 6: the governance dashboard as a FastAPI app.

Authentication is the caller's: ``create_dashboard_app`` takes the dependency that names the
authenticated user (the Airflow plugin passes one built on Airflow's ``get_user``) and puts
it on the whole app, so no route answers without it. Authorisation is govflow's
(``access``), every page view and every refusal is an audit event (``dashboard.view``,
``dashboard.refused``), and "Analyze Now" goes through the ``trigger_analysis`` callable the
caller gives, as the logged-in user.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Annotated, Any, NoReturn, Protocol
from urllib.parse import urlsplit

from fastapi import Depends, FastAPI, Form, HTTPException, Query, Request
from fastapi.encoders import jsonable_encoder
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from sqlalchemy.orm import Session

from govflow import settings, store
from govflow.audit import record_event
from govflow.config import CHECK_TYPES, GovflowConfig, load_config
from govflow.dashboard import html, pages
from govflow.dashboard.access import (
    DashboardRights,
    Page,
    Permission,
    UnknownPerson,
    dashboard_rights,
)

ON_DEMAND_DAG = "govflow_monitoring_on_demand"
MAX_MODEL_ID = 128
MAX_WINDOW_DAYS = 366
# Module level: FastAPI resolves a route's (string) annotations in the module's namespace.
ModelParam = Annotated[str | None, Query(max_length=MAX_MODEL_ID)]
DaysParam = Annotated[int, Query(ge=1, le=pages.MAX_DAYS)]
CROSS_SITE = "refused: the form was posted from another site"
UNKNOWN_MODEL = "unknown model {model!r}: models.yaml has {known}"


class TriggerRefused(Exception):
    """The runner (Airflow) refuses the logged-in user the run govflow would allow."""


class AnalysisTrigger(Protocol):
    def __call__(self, request: Request, *, user: str, dag_id: str, conf: dict[str, Any]) -> str:
        """Start ``dag_id`` with ``conf`` as ``user``, who made ``request``; return the run id
        or raise TriggerRefused."""


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


BAD_WINDOW = (
    "give both dates of the window (YYYY-MM-DD), the end after the start and at most "
    f"{MAX_WINDOW_DAYS} days later, or neither"
)


def analysis_window(start: str, end: str) -> dict[str, str]:
    """The on-demand DAG's window Params from the form's two dates (00:00 UTC each); none
    when both are empty, so the DAG's own default window applies."""
    if not start and not end:
        return {}
    try:
        first = datetime.fromisoformat(start).replace(tzinfo=UTC)
        last = datetime.fromisoformat(end).replace(tzinfo=UTC)
    except ValueError:
        raise HTTPException(400, BAD_WINDOW) from None
    if not first < last <= first + timedelta(days=MAX_WINDOW_DAYS):
        raise HTTPException(400, BAD_WINDOW)
    return {"window_start": first.isoformat(), "window_end": last.isoformat()}


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
    config_dir: Callable[[], Path] = settings.config_dir,
    clock: Callable[[], datetime] = lambda: datetime.now(UTC),
) -> FastAPI:
    """The dashboard app. ``current_user`` is a FastAPI dependency returning the user name
    (it must refuse an unauthenticated request); ``run_url(dag_id, run_id)`` links to a run."""
    configs = _ConfigCache(config_dir)
    # No /docs, /redoc or /openapi.json: FastAPI serves them outside the app's dependencies.
    app = FastAPI(
        title="govflow dashboard",
        dependencies=[Depends(current_user)],
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
    )

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
    ) -> Response:
        """One page view: authorised, read, rendered as HTML or JSON, and audited."""
        started = time.perf_counter()
        target = f"{page}/{model or 'all'}"
        rights = rights_for(user, page, target, model)
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
                },
            )
        response: Response
        if as_json:
            body = {"page": page, "model": model, "user": user, "data": data}
            response = JSONResponse(jsonable_encoder(body))
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
            return [o.to_dict() for o in overviews] if as_json else overviews

        def draw(root: str, rights: DashboardRights, config: GovflowConfig, data: Any) -> str:
            return html.drift_overview(root, rights, data, CHECK_TYPES, run_url)

        return view(request, user, "drift_overview", None, load, draw, as_json)

    def fairness(
        request: Request, user: str, model: str | None, days: int, as_json: bool
    ) -> Response:
        # The page shows one model: the audit event names it even when the URL does not.
        shown = model or configs.get().models.ids()[0]

        def load(session: Session, config: GovflowConfig) -> Any:
            return pages.fairness_series(session, config, shown, now=clock(), days=days)

        def draw(root: str, rights: DashboardRights, config: GovflowConfig, data: Any) -> str:
            return html.fairness_monitor(root, rights, shown, config.models.ids(), days, data)

        return view(request, user, "fairness_monitor", shown, load, draw, as_json)

    def health(request: Request, user: str, as_json: bool) -> Response:
        def load(session: Session, config: GovflowConfig) -> Any:
            overviews = pages.model_overviews(session, config, now=clock())
            metrics = pages.health_metrics(session, overviews)
            if as_json:
                return [
                    {
                        "model_id": o.model_id,
                        "status": o.health,
                        "metrics": metrics.get(o.model_id, {}),
                    }
                    for o in overviews
                ]
            return overviews, metrics

        def draw(root: str, rights: DashboardRights, config: GovflowConfig, data: Any) -> str:
            overviews, metrics = data
            return html.model_health(root, rights, overviews, metrics, pages.HEALTH_METRICS)

        return view(request, user, "model_health", None, load, draw, as_json)

    def incidents(request: Request, user: str, model: str | None, as_json: bool) -> Response:
        def load(session: Session, config: GovflowConfig) -> Any:
            return pages.incident_timeline(session, config, now=clock(), model_id=model)

        def draw(root: str, rights: DashboardRights, config: GovflowConfig, data: Any) -> str:
            return html.incident_timeline(root, rights, data)

        return view(request, user, "incident_timeline", model, load, draw, as_json)

    # Each page and its JSON twin (/api/...): the same authorisation, data and audit event.
    @app.get("/drift", response_class=HTMLResponse)
    def drift_overview(request: Request, user: str = Depends(current_user)) -> Response:
        return drift(request, user, as_json=False)

    @app.get("/api/drift")
    def drift_overview_json(request: Request, user: str = Depends(current_user)) -> Response:
        return drift(request, user, as_json=True)

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

    @app.get("/health", response_class=HTMLResponse)
    def model_health(request: Request, user: str = Depends(current_user)) -> Response:
        return health(request, user, as_json=False)

    @app.get("/api/health")
    def model_health_json(request: Request, user: str = Depends(current_user)) -> Response:
        return health(request, user, as_json=True)

    @app.get("/incidents", response_class=HTMLResponse)
    def incident_timeline(
        request: Request, user: str = Depends(current_user), model: ModelParam = None
    ) -> Response:
        return incidents(request, user, model, as_json=False)

    @app.get("/api/incidents")
    def incident_timeline_json(
        request: Request, user: str = Depends(current_user), model: ModelParam = None
    ) -> Response:
        return incidents(request, user, model, as_json=True)

    @app.post("/analyze", response_class=HTMLResponse)
    def analyze_now(
        request: Request,
        model: Annotated[str, Form(max_length=MAX_MODEL_ID)],
        window_start: Annotated[str, Form(max_length=10)] = "",
        window_end: Annotated[str, Form(max_length=10)] = "",
        user: str = Depends(current_user),
    ) -> HTMLResponse:
        target = f"analyze_now/{model}"
        origin = request.headers.get("origin")
        if origin is not None and urlsplit(origin).netloc != request.headers.get("host"):
            refuse(user, 403, CROSS_SITE, target, {"origin": origin[:200]})
        rights = rights_for(user, "can_trigger_analysis", target, model)
        config = configs.get()
        known = config.models.ids()
        if model != html.ALL_MODELS and model not in known:
            raise HTTPException(400, UNKNOWN_MODEL.format(model=model, known=known))
        models = known if model == html.ALL_MODELS else [model]
        conf: dict[str, Any] = {
            "model_ids": models,
            "reason": f"Analyze Now on the dashboard by {user}",
            **analysis_window(window_start, window_end),
        }
        try:
            run_id = trigger_analysis(request, user=user, dag_id=ON_DEMAND_DAG, conf=conf)
        except TriggerRefused as refused:
            refuse(user, 403, str(refused), target, {"permission": "airflow:trigger"})
        _audit(
            db_url,
            actor=user,
            action="dashboard.analyze_now",
            target=target,
            payload={"models": models, "dag_id": ON_DEMAND_DAG, "dag_run_id": run_id},
        )
        root = request.scope.get("root_path", "")
        return HTMLResponse(
            html.analysis_requested(root, rights, models, run_id, run_url(ON_DEMAND_DAG, run_id))
        )

    return app
