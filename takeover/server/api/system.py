"""The routes outside `/v1` and the OpenAPI document: liveness, readiness, metrics, and Slack's
button callbacks (signed by Slack, never a bearer token).

`add_system_routes` puts them on the app itself rather than in an included router, so they are
in `app.routes` beside `/openapi.json`, where tests/test_access.py lists them.
"""

from fastapi import BackgroundTasks, FastAPI, HTTPException, Request, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST

from takeover.server.api.deps import ServiceDep, api_state


def healthz() -> dict[str, str]:
    """The process is alive."""
    return {"status": "ok"}


async def slack_interactions(request: Request, background: BackgroundTasks) -> Response:
    """Slack's button callbacks: verified, acknowledged at once, applied after."""
    slack = api_state(request).slack
    if slack is None:
        raise HTTPException(403, "Slack interactivity is off: set TAKEOVER_SLACK_SIGNING_SECRET")
    interaction = slack.verify(await request.body(), request.headers)
    if interaction is not None:
        background.add_task(slack.apply, interaction)
    return Response(status_code=200)


ADVISORY = frozenset({"notifications"})  # reported, but a replica stays ready: agents must still poll


def readyz(service: ServiceDep) -> Response:
    """Ready to serve: the database answers, rules are loaded, Prometheus answers."""
    checks = service.readiness()
    ready = all(ok for name, (ok, _) in checks.items() if name not in ADVISORY)
    return JSONResponse({"ready": ready, "checks": {k: {"ok": ok, "detail": d} for k, (ok, d) in checks.items()}},
                        status_code=200 if ready else 503)


def metrics(service: ServiceDep) -> Response:
    """Prometheus metrics of takeover itself."""
    return Response(service.metrics.render(), media_type=CONTENT_TYPE_LATEST)


def add_system_routes(app: FastAPI) -> None:
    """Register the routes above on `app`, in their documented order."""
    app.get("/healthz", include_in_schema=False)(healthz)
    app.post("/slack/interactions", include_in_schema=False)(slack_interactions)
    app.get("/readyz", include_in_schema=False)(readyz)
    app.get("/metrics", include_in_schema=False)(metrics)
