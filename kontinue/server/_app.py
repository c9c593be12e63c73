"""The HTTP application: the JSON API under /api/v1, the event stream, /metrics and the UI."""

import asyncio
import dataclasses
import logging
import os
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

from fastapi import Body, Depends, FastAPI, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse, Response, StreamingResponse
from pydantic import BaseModel, ConfigDict, Field
from starlette.concurrency import iterate_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException

from kontinue import __version__
from kontinue.api import Error, ErrorKind, Execution, Function, ObjectMeta, ScheduledExecution
from kontinue.dsl import ArgumentsError, PipelineError
from kontinue.runtime import (
    REGISTRY,
    OperationError,
    Registry,
    cancel_execution,
    mask,
    resume_execution,
    retry_execution,
    skip_execution,
    start_execution,
    tree_secret_values,
)
from kontinue.runtime._schedule_ops import set_suspended, trigger_schedule
from kontinue.server._auth import TOKEN_COOKIE, Auth, AuthError, Principal
from kontinue.server._events import Hub
from kontinue.server._index import ExecutionIndex, decode_cursor
from kontinue.server._index import Query as ListQuery
from kontinue.server._metrics import CONTENT_TYPE, Metrics
from kontinue.server._schedules import schedule_view
from kontinue.server._views import detail, log_targets, tree
from kontinue.store import AlreadyExistsError, NotFoundError, Store, StoreError, parse_selector

__all__ = ["ApiError", "ServerState", "create_app"]

STATIC = Path(__file__).parent / "static"
log = logging.getLogger("kontinue.server")
_MAX_BODY = 1 << 20  # a pipeline file or arguments beyond 1 MiB are refused
_PHASES = (
    "Pending",
    "Executing",
    "Suspended",
    "Backoff",
    "Completed",
    "Failed",
    "Canceled",
    "Skipped",
)


class ApiError(Error):
    """An error answered as JSON: `{"message": ..., "problems": [...]}`."""

    default_kind, default_retryable = ErrorKind.VALIDATION, False

    def __init__(self, status: int, message: str, problems: list[Any] | None = None) -> None:
        super().__init__(message)
        self.status, self.problems = status, problems


@dataclass
class ServerState:
    """What the application serves from."""

    store: Store
    index: ExecutionIndex
    auth: Auth
    metrics: Metrics
    hub: Hub = field(default_factory=Hub)
    runners: dict[str, Any] = field(default_factory=dict)
    registry: Registry = REGISTRY
    pipeline_dirs: list[Path] = field(default_factory=list)
    base_dir: Path = field(default_factory=Path.cwd)


# -- request and response bodies ---------------------------------------------------------


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)


class PipelineSource(_Body):
    """A pipeline to run: a file the server offers (`file`), or a file's `content`."""

    file: str | None = Field(None, description="a pipeline the server lists at /pipelines")
    content: str | None = Field(None, description="the YAML text of a pipeline file")
    filename: str = Field("pipeline.yaml", description="the name errors give for `content`")


class CreateRequest(_Body):
    """A new Execution: of a function with arguments, or of a pipeline with params."""

    function: str | None = None
    arguments: Any = None
    pipeline: PipelineSource | None = None
    params: dict[str, Any] = Field(default_factory=dict)
    name: str | None = Field(None, description="default: a generated name")
    labels: dict[str, str] = Field(default_factory=dict)


class ResumeRequest(_Body):
    """Which open Suspension to resolve (default: every open one of the Execution)."""

    suspension: str | None = None


class LoginRequest(_Body):
    """The bearer token, to keep in a cookie for the pages."""

    token: str


class Message(BaseModel):
    """An error: a sentence a person can act on, and the problems one by one."""

    message: str
    problems: list[Any] | None = None


# -- the application ---------------------------------------------------------------------


def create_app(state: ServerState) -> FastAPI:
    """The ASGI application over `state`."""

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        state.hub.bind(asyncio.get_running_loop())
        yield
        state.hub.close()

    app = FastAPI(
        title="kontinue",
        version=__version__,
        description="Executions, their trees and logs; actions on them; a stream of changes.",
        openapi_url="/api/v1/openapi.json",
        docs_url=None,  # the stock docs pages load scripts from a CDN: not here
        redoc_url=None,
        lifespan=lifespan,
        responses={401: {"model": Message}, 403: {"model": Message}, 404: {"model": Message}},
    )
    auth = state.auth
    store = state.store

    @app.exception_handler(ApiError)
    async def _api_error(_: Request, exc: ApiError) -> JSONResponse:
        body: dict[str, Any] = {"message": exc.message}
        if exc.problems:
            body["problems"] = exc.problems
        return JSONResponse(body, status_code=exc.status)

    @app.exception_handler(AuthError)
    async def _auth_error(_: Request, exc: AuthError) -> JSONResponse:
        headers = {"WWW-Authenticate": "Bearer"} if exc.status == 401 else None
        return JSONResponse({"message": exc.message}, status_code=exc.status, headers=headers)

    @app.exception_handler(RequestValidationError)
    async def _invalid(_: Request, exc: RequestValidationError) -> JSONResponse:
        problems = [
            f"{'.'.join(str(p) for p in e['loc'] if p != 'body') or 'body'}: {e['msg']}"
            for e in exc.errors()
        ]
        return JSONResponse(
            {"message": "the request is not valid: " + "; ".join(problems), "problems": problems},
            status_code=422,
        )

    @app.exception_handler(StarletteHTTPException)
    async def _http(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        return JSONResponse({"message": str(exc.detail)}, status_code=exc.status_code)

    @app.exception_handler(NotFoundError)
    async def _not_found(_: Request, exc: NotFoundError) -> JSONResponse:
        return JSONResponse({"message": str(exc)}, status_code=404)

    @app.exception_handler(OperationError)
    async def _conflict(_: Request, exc: OperationError) -> JSONResponse:
        return JSONResponse({"message": str(exc)}, status_code=409)

    @app.exception_handler(StoreError)
    async def _store_error(_: Request, exc: StoreError) -> JSONResponse:
        return JSONResponse({"message": f"the store failed: {exc}"}, status_code=503)

    @app.exception_handler(Error)
    async def _kontinue_error(_: Request, exc: Error) -> JSONResponse:
        status = 400 if exc.kind is ErrorKind.VALIDATION else 500
        return JSONResponse({"message": str(exc), "kind": exc.kind.value}, status_code=status)

    @app.exception_handler(Exception)
    async def _bug(request: Request, exc: Exception) -> JSONResponse:
        log.exception("%s %s failed", request.method, request.url.path)
        return JSONResponse(
            {
                "message": f"the server failed on this request ({type(exc).__name__}: {exc}); "
                "its log has the details"
            },
            status_code=500,
        )

    # -- who is asking --------------------------------------------------------------------

    def who(request: Request) -> Principal:
        return auth.authenticate(request.headers, request.cookies)

    def reader(request: Request, namespace: str = "default") -> Principal:
        principal = who(request)
        auth.require(principal, namespace, "read")
        return principal

    def writer(request: Request, namespace: str = "default") -> Principal:
        principal = who(request)
        _same_origin(request)
        auth.require(principal, namespace, "write")
        return principal

    Reader = Annotated[Principal, Depends(reader)]
    Writer = Annotated[Principal, Depends(writer)]
    Namespace = Annotated[str, Query(description="namespace (default: default)")]

    # -- reading --------------------------------------------------------------------------

    @app.get("/api/v1/info", tags=["server"])
    def info(request: Request, namespace: Namespace = "default") -> dict[str, Any]:
        """The server's auth mode, and what the caller may do in `namespace`."""
        principal = who(request)
        namespaces = sorted({r["namespace"] for r in state.index.rows()} | {namespace})
        return {
            "authMode": auth.mode,
            "tokenRequired": bool(auth.token),
            "user": principal.user,
            "groups": list(principal.groups),
            "canRead": auth.can(principal, namespace, "read"),
            "canWrite": auth.can(principal, namespace, "write"),
            "namespaces": [n for n in namespaces if auth.can(principal, n, "read")],
            "phases": list(_PHASES),
        }

    @app.get("/api/v1/executions", tags=["executions"])
    def list_executions(
        request: Request,
        namespace: Namespace = "default",
        all_namespaces: Annotated[bool, Query(alias="allNamespaces")] = False,
        phase: Annotated[list[str] | None, Query(description="repeat or comma-separate")] = None,
        function: Annotated[str | None, Query(description="function or pipeline name")] = None,
        selector: Annotated[str | None, Query(description="label selector, e.g. a=b")] = None,
        search: Annotated[str | None, Query(description="part of the name")] = None,
        toplevel: Annotated[bool, Query(description="only Executions without a parent")] = False,
        limit: Annotated[int, Query(ge=1, le=500)] = 50,
        cont: Annotated[str | None, Query(alias="continue")] = None,
    ) -> dict[str, Any]:
        """Executions newest first, filtered, one page at a time (`continue` for the next)."""
        principal = who(request)
        auth.require(principal, "*" if all_namespaces else namespace, "read")
        phases = frozenset(p for item in phase or [] for p in item.split(",") if p)
        unknown = sorted(phases - set(_PHASES))
        if unknown:
            raise ApiError(
                400, f"unknown phase {', '.join(unknown)}; phases are {', '.join(_PHASES)}"
            )
        try:
            sel = parse_selector(selector)
        except ValueError as exc:
            raise ApiError(400, f"selector {selector!r}: {exc}") from None
        try:
            after = decode_cursor(cont) if cont else None
        except ValueError as exc:
            raise ApiError(400, f"{exc}; start again without `continue`") from None
        page = state.index.query(
            ListQuery(
                namespace=None if all_namespaces else namespace,
                phases=phases,
                function=function or None,
                selector=sel,
                search=search or None,
                toplevel=toplevel,
                limit=limit,
                after=after,
            )
        )
        return {
            "items": page.items,
            "total": page.total,
            "phases": page.phases,
            "continue": page.next,
        }

    @app.get("/api/v1/executions/{name}", tags=["executions"])
    def get_execution(name: str, _: Reader, namespace: Namespace = "default") -> dict[str, Any]:
        """One Execution: spec, status, arguments, result, error and the pipeline's plan."""
        return detail(store, store.get(Execution, namespace, name))

    @app.get("/api/v1/executions/{name}/tree", tags=["executions"])
    def get_tree(name: str, _: Reader, namespace: Namespace = "default") -> dict[str, Any]:
        """The Execution with its steps, sleeps, gates, jobs and children, in order."""
        return tree(store, store.get(Execution, namespace, name), state.runners)

    @app.get(
        "/api/v1/executions/{name}/logs",
        tags=["executions"],
        response_class=StreamingResponse,
        responses={200: {"content": {"text/plain": {}}}},
    )
    def get_logs(
        name: str,
        _: Reader,
        namespace: Namespace = "default",
        step: Annotated[str | None, Query(description="the step (default: every one)")] = None,
        execution: Annotated[str | None, Query(description="the child running the step")] = None,
        follow: bool = False,
        tail: Annotated[int | None, Query(ge=0)] = None,
    ) -> StreamingResponse:
        """The logs of the script, job and pod steps of the tree; `follow` streams them."""
        root = store.get(Execution, namespace, name)
        targets = log_targets(store, root)
        if step:
            chosen = [
                t for t in targets if t.step == step and (not execution or t.execution == execution)
            ]
            if not chosen:
                steps = ", ".join(sorted({t.step for t in targets})) or "none yet"
                raise ApiError(
                    404,
                    f"Execution {name} has no job, pod or script step {step!r} "
                    f"(steps with logs: {steps})",
                )
            targets = chosen[-1:]
        many = len(targets) > 1
        secrets = tree_secret_values(store, root)  # a script that echoes a secret shows ******

        def lines() -> Iterator[str]:
            for target in targets:
                runner = state.runners.get(target.runner)
                if many:
                    yield f"==> {target.step} ({target.execution}) <==\n"
                if runner is None:
                    yield f"(step {target.step} ran on the {target.runner} runner, not here)\n"
                    continue
                if follow and hasattr(runner, "follow"):
                    for line in runner.follow(target.job, namespace, tail_lines=tail):
                        yield mask(line, secrets) + "\n"
                else:
                    text = mask(runner.logs(target.job, namespace, tail_lines=tail), secrets)
                    yield text if text.endswith("\n") or not text else text + "\n"

        return StreamingResponse(
            iterate_in_threadpool(lines()),
            media_type="text/plain; charset=utf-8",
            headers={"Cache-Control": "no-store", "X-Content-Type-Options": "nosniff"},
        )

    @app.get("/api/v1/functions", tags=["functions"])
    def list_functions(_: Reader, namespace: Namespace = "default") -> dict[str, Any]:
        """Published Functions (and those this server imported): description, group, schema."""
        return {"items": _functions(state, namespace)}

    @app.get("/api/v1/pipelines", tags=["pipelines"])
    def list_pipelines(_: Reader) -> dict[str, Any]:
        """Pipeline files the server offers (`--pipelines DIR`), with their params schema."""
        return {"items": _pipelines(state)}

    @app.get("/api/v1/schedules", tags=["schedules"])
    def list_schedules(
        request: Request,
        namespace: Namespace = "default",
        all_namespaces: Annotated[bool, Query(alias="allNamespaces")] = False,
    ) -> dict[str, Any]:
        """ScheduledExecutions by name: cron, zone, next run, last run, suspended or not."""
        principal = who(request)
        auth.require(principal, "*" if all_namespaces else namespace, "read")
        now = datetime.now(UTC)
        items = store.list(ScheduledExecution, None if all_namespaces else namespace)
        items.sort(key=lambda se: (se.metadata.namespace, se.metadata.name))
        return {"items": [schedule_view(store, se, now) for se in items]}

    @app.get("/api/v1/schedules/{name}", tags=["schedules"])
    def get_schedule(name: str, _: Reader, namespace: Namespace = "default") -> dict[str, Any]:
        """One schedule, with its arguments and its runs (newest first)."""
        se = store.get(ScheduledExecution, namespace, name)
        return schedule_view(store, se, datetime.now(UTC), with_runs=True)

    def _suspend(name: str, namespace: str, suspend: bool) -> dict[str, Any]:
        se, changed = set_suspended(store, namespace, name, suspend)
        return {"schedule": schedule_view(store, se, datetime.now(UTC)), "changed": changed}

    @app.post("/api/v1/schedules/{name}/suspend", tags=["schedules"])
    def suspend_schedule(name: str, _: Writer, namespace: Namespace = "default") -> dict[str, Any]:
        """Stop creating runs (runs already going are not touched); `changed` is false if it
        was suspended already."""
        return _suspend(name, namespace, True)

    @app.post("/api/v1/schedules/{name}/resume", tags=["schedules"])
    def resume_schedule(name: str, _: Writer, namespace: Namespace = "default") -> dict[str, Any]:
        """Create runs again. As with a Kubernetes CronJob, the latest tick missed while it
        was suspended runs at once, unless `startingDeadlineSeconds` says it is too late."""
        return _suspend(name, namespace, False)

    @app.post("/api/v1/schedules/{name}/trigger", status_code=201, tags=["schedules"])
    def trigger(name: str, who_: Writer, namespace: Namespace = "default") -> dict[str, Any]:
        """Start a run now, outside the cron times (also while suspended): NAME-manual-xxxxx."""
        by = "kontinue server" + (f" ({who_.user})" if who_.user else "")
        return {"execution": detail(store, trigger_schedule(store, namespace, name, by))}

    @app.get(
        "/api/v1/events",
        tags=["events"],
        response_class=StreamingResponse,
        responses={200: {"content": {"text/event-stream": {}}}},
    )
    async def events(
        request: Request,
        namespace: Namespace = "default",
        all_namespaces: Annotated[bool, Query(alias="allNamespaces")] = False,
    ) -> StreamingResponse:
        """Server-sent events: `change` for each Execution, Suspension or Function change,
        `resync` when the page should read again."""
        principal = who(request)
        auth.require(principal, "*" if all_namespaces else namespace, "read")
        stream = state.hub.stream(
            None if all_namespaces else namespace,
            lambda ns: auth.can(principal, ns, "read"),
        )
        return StreamingResponse(
            stream,
            media_type="text/event-stream",
            headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
        )

    # -- acting ---------------------------------------------------------------------------

    @app.post("/api/v1/executions", status_code=201, tags=["executions"])
    def create(
        body: Annotated[CreateRequest, Body()], _: Writer, namespace: Namespace = "default"
    ) -> dict[str, Any]:
        """Start an Execution of a function (arguments checked against its schema) or of a
        pipeline (checked exactly as `kontinue submit` checks it)."""
        if (body.function is None) == (body.pipeline is None):
            raise ApiError(422, "give either `function` (with `arguments`) or `pipeline`")
        if body.pipeline is not None:
            ex = _create_pipeline(state, body, body.pipeline, namespace)
        else:
            assert body.function is not None
            arguments = _check_arguments(state, body.function, body.arguments, namespace)
            try:
                ex = start_execution(
                    store,
                    body.function,
                    arguments,
                    name=body.name,
                    namespace=namespace,
                    labels=body.labels,
                )
            except AlreadyExistsError:
                raise ApiError(409, _exists(body.name)) from None
        return {"execution": detail(store, ex)}

    @app.post("/api/v1/executions/{name}/resume", tags=["actions"])
    def resume(
        name: str,
        _: Writer,
        namespace: Namespace = "default",
        body: Annotated[ResumeRequest | None, Body()] = None,
    ) -> dict[str, Any]:
        """Resolve an approval gate, or end a sleep early (every open one by default)."""
        resumed = resume_execution(
            store, namespace, name, body.suspension if body else None, by="kontinue server"
        )
        return {"resumed": resumed}

    @app.post("/api/v1/executions/{name}/cancel", tags=["actions"])
    def cancel(
        name: str, _: Writer, namespace: Namespace = "default", force: bool = False
    ) -> dict[str, Any]:
        """Cancel the Execution and everything it started.

        A pipeline with `finally:` steps runs them first, then ends Canceled (`cleaningUp`
        says so); `force=true`, or a second cancel, stops them at once.
        """
        canceled = cancel_execution(store, namespace, name, force=force, runners=state.runners)
        ex = store.get(Execution, namespace, name)
        return {"canceled": canceled, "cleaningUp": not ex.terminal}

    @app.post("/api/v1/executions/{name}/retry", tags=["actions"])
    def retry(name: str, _: Writer, namespace: Namespace = "default") -> dict[str, Any]:
        """Start a new attempt of a Failed or Canceled Execution; finished steps are kept."""
        return {"execution": detail(store, retry_execution(store, namespace, name))}

    @app.post("/api/v1/executions/{name}/skip", tags=["actions"])
    def skip(name: str, _: Writer, namespace: Namespace = "default") -> dict[str, Any]:
        """Mark it Skipped: it ends without a result and its parent goes on."""
        return {"skipped": skip_execution(store, namespace, name, why="skipped from the server")}

    @app.post("/api/v1/executions/{name}/resubmit", status_code=201, tags=["actions"])
    def resubmit(name: str, _: Writer, namespace: Namespace = "default") -> dict[str, Any]:
        """A new Execution with the same function, arguments and options."""
        old = store.get(Execution, namespace, name)
        labels = {
            k: v
            for k, v in old.metadata.labels.items()
            if not k.startswith("kontinue.cloud/") or k == "kontinue.cloud/pipeline"
        }
        new = Execution(
            metadata=ObjectMeta(
                generate_name=_base_name(old),
                namespace=namespace,
                labels={**labels, "kontinue.cloud/resubmitted-from": name[:63]},
                annotations=dict(old.metadata.annotations),
            ),
            spec=old.spec.model_copy(deep=True),
        )
        return {"execution": detail(store, store.create(new))}

    @app.post("/api/v1/login", tags=["server"])
    def login(request: Request, body: LoginRequest) -> Response:
        """Keep the bearer token in a same-site cookie, so the pages and streams send it."""
        _same_origin(request)
        if not auth.token:
            return JSONResponse({"message": "this server needs no token"})
        request_headers = {"authorization": f"Bearer {body.token}"}
        auth.authenticate(request_headers, {})
        response = JSONResponse({"message": "signed in"})
        response.set_cookie(
            TOKEN_COOKIE,
            body.token,
            httponly=True,
            samesite="strict",
            path="/",
            secure=request.url.scheme == "https",
        )
        return response

    # -- metrics and pages ----------------------------------------------------------------

    @app.get("/metrics", include_in_schema=False)
    def metrics(request: Request) -> Response:
        if auth.token:
            auth.authenticate(request.headers, request.cookies)
        return Response(state.metrics.exposition(), media_type=CONTENT_TYPE)

    @app.get("/static/{path:path}", include_in_schema=False)
    def static(path: str) -> Response:
        target = (STATIC / path).resolve()
        if STATIC.resolve() not in target.parents or not target.is_file():
            raise ApiError(404, f"no such file: {path}")
        return FileResponse(target, headers={"Cache-Control": "no-cache"})

    page_headers = {
        "Content-Security-Policy": (
            "default-src 'self'; style-src 'self'; script-src 'self'; img-src 'self' data:; "
            "connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'"
        ),
        "X-Content-Type-Options": "nosniff",
        "Referrer-Policy": "same-origin",
        "Cache-Control": "no-cache",
    }

    @app.get("/", include_in_schema=False)
    @app.get("/executions/{rest:path}", include_in_schema=False)
    @app.get("/new", include_in_schema=False)
    @app.get("/functions", include_in_schema=False)
    @app.get("/schedules", include_in_schema=False)
    def page(rest: str = "") -> Response:
        del rest
        return FileResponse(STATIC / "index.html", headers=page_headers)

    return app


# -- helpers -----------------------------------------------------------------------------


def _same_origin(request: Request) -> None:
    """Refuse what a browser sends on behalf of another site: only JSON bodies, and an
    Origin (when a browser sets one) naming this server."""
    content_type = (request.headers.get("content-type") or "").split(";")[0].strip().lower()
    if request.method == "POST" and content_type != "application/json":
        raise ApiError(
            415,
            "actions take a JSON body: send Content-Type: application/json (an empty body "
            "may be {}); form posts are refused so that other sites cannot act for you",
        )
    site = request.headers.get("sec-fetch-site")
    if site not in (None, "same-origin", "none"):
        raise ApiError(403, f"a {site} request was refused: actions must come from this server")
    origin = request.headers.get("origin")
    if origin is not None:
        host = request.headers.get("host", "")
        if origin not in (f"http://{host}", f"https://{host}"):
            raise ApiError(
                403,
                f"a request from {origin} was refused: actions must come from this server's "
                "own pages",
            )


def _exists(name: str | None) -> str:
    return f"an Execution named {name!r} already exists; choose another name"


def _base_name(ex: Execution) -> str:
    pipeline = ex.metadata.labels.get("kontinue.cloud/pipeline")
    if pipeline:
        return f"{pipeline}-"
    return ex.metadata.generate_name or f"{ex.spec.function.replace('.', '-').lower()}-"


def _functions(state: ServerState, namespace: str) -> list[dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    for f in state.store.list(Function, namespace):
        out[f.metadata.name] = {
            "name": f.metadata.name,
            "displayName": f.metadata.annotations.get("kontinue.cloud/display-name"),
            "description": f.spec.description,
            "group": f.spec.worker_group,
            "argumentSchema": f.spec.argument_schema,
            "builtin": f.metadata.name == "kontinue.pipeline",
        }
    for fdef in state.registry.all():
        out.setdefault(
            fdef.name,
            {
                "name": fdef.name,
                "displayName": None,
                "description": fdef.description,
                "group": "(this server)",
                "argumentSchema": fdef.argument_schema(),
                "builtin": fdef.name == "kontinue.pipeline",
            },
        )
    return [out[k] for k in sorted(out)]


def _check_arguments(state: ServerState, function: str, arguments: Any, namespace: str) -> Any:
    """Check arguments as `kontinue execute` does (the registered type), else against the
    published Function's schema; an unknown function is an error naming the known ones."""
    if function in state.registry:
        try:
            state.registry.get(function).parse_arguments(arguments)
        except ValueError as exc:
            raise ApiError(422, str(exc)) from None
        return arguments
    published = {f.metadata.name: f for f in state.store.list(Function, namespace)}
    if function not in published:
        known = ", ".join(sorted(set(published) | set(state.registry.names()))) or "none"
        raise ApiError(
            404,
            f"no function {function!r} in namespace {namespace!r} (known: {known}); start a "
            "worker that registers it, or the server with --import",
        )
    schema = published[function].spec.argument_schema
    if schema:
        from jsonschema import Draft202012Validator

        errors = sorted(
            Draft202012Validator(schema).iter_errors({} if arguments is None else arguments),
            key=lambda e: [str(p) for p in e.absolute_path],
        )
        if errors:
            problems = [
                f"{'.'.join(str(p) for p in e.absolute_path) or 'arguments'}: {e.message}"
                for e in errors
            ]
            raise ApiError(
                422,
                f"invalid arguments for function {function!r}: {'; '.join(problems)}",
                problems,
            )
    return arguments


def _pipeline_files(state: ServerState) -> dict[str, Path]:
    found: dict[str, Path] = {}
    for folder in state.pipeline_dirs:
        for path in sorted(folder.glob("*.y*ml")):
            found.setdefault(path.name, path)
    return found


def _pipelines(state: ServerState) -> list[dict[str, Any]]:
    from kontinue.dsl import compile_pipeline

    out = []
    for name, path in _pipeline_files(state).items():
        item: dict[str, Any] = {"file": name}
        try:
            plan = compile_pipeline(path)
        except PipelineError as exc:
            item["problems"] = [str(d) for d in exc.diagnostics]
        else:
            item.update(
                {
                    "name": plan.name,
                    "description": plan.get("description"),
                    "params": plan.get("params") or {"type": "object"},
                }
            )
        out.append(item)
    return out


def _create_pipeline(
    state: ServerState, body: CreateRequest, source: PipelineSource, namespace: str
) -> Execution:
    from kontinue.dsl.submit import (
        SubmitError,
        check_functions,
        compile_submission,
        start_pipeline,
    )

    if (source.file is None) == (source.content is None):
        raise ApiError(422, "give the pipeline's `file` (one the server lists) or its `content`")
    if source.file is not None:
        files = _pipeline_files(state)
        if source.file not in files:
            offered = ", ".join(files) or "none (start the server with --pipelines DIR)"
            raise ApiError(404, f"no pipeline file {source.file!r}; the server offers {offered}")
        path, text, shown = files[source.file], None, source.file
    else:
        assert source.content is not None
        if len(source.content.encode()) > _MAX_BODY:
            raise ApiError(413, f"{source.filename}: a pipeline file is limited to 1 MiB")
        shown = Path(source.filename).name or "pipeline.yaml"
        path, text = state.base_dir / shown, source.content
    try:
        submission = compile_submission(path, body.params, text=text)
    except PipelineError as exc:
        problems = []
        for d in exc.diagnostics:
            if d.file == os.fspath(path):
                d = dataclasses.replace(d, file=shown)
            problems.append(
                {
                    "file": d.file,
                    "line": d.line,
                    "col": d.col,
                    "message": d.message,
                    "hint": d.hint,
                    "text": str(d),
                }
            )
        count = len(problems)
        raise ApiError(
            422,
            f"{shown}: {count} problem{'s' if count != 1 else ''}; nothing was run",
            problems,
        ) from None
    except ArgumentsError as exc:
        raise ApiError(
            422, f"{shown}: " + "; ".join(exc.problems), [f"{shown}: {p}" for p in exc.problems]
        ) from None
    try:
        check_functions(submission, state.registry)
    except SubmitError as exc:
        raise ApiError(422, "; ".join(exc.problems), exc.problems) from None
    try:
        return start_pipeline(
            state.store, submission, name=body.name, namespace=namespace, labels=body.labels
        )
    except AlreadyExistsError:
        raise ApiError(409, _exists(body.name)) from None
    except SubmitError as exc:  # the pipeline's mutex template
        raise ApiError(422, "; ".join(exc.problems), exc.problems) from None
