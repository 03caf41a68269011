"""The FastAPI app: the REST API under /api/v1, /healthz, the page at / and OpenAPI docs at /docs.

Routes take job ids (32 hex digits, checked) and nothing else from the request that could name a
file. Detection runs in the JobManager's worker threads; the event loop only streams uploads to
disk and answers status requests.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import ipaddress
import mimetypes
import os
import shutil
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from fastapi import Depends, FastAPI, HTTPException, Request, Response
from fastapi.responses import FileResponse, JSONResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from starlette.concurrency import run_in_threadpool

from vocalens import __version__
from vocalens.errors import UserError
from vocalens.serve.jobs import JobManager, QueueFull
from vocalens.serve.uploads import BadUpload, TooLarge, probe, receive
from vocalens.serve.workers import ProcessWorker, ThreadWorker

API = "/api/v1/detections"
STATIC = {
    "": ("index.html", "text/html; charset=utf-8"),
    "app.js": ("app.js", "text/javascript; charset=utf-8"),
    "style.css": ("style.css", "text/css; charset=utf-8"),
}
UPLOAD_SCHEMA = {
    "requestBody": {
        "required": True,
        "content": {
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "required": ["file"],
                    "properties": {"file": {"type": "string", "format": "binary", "description": "the video"}},
                }
            }
        },
    }
}


@dataclass
class Settings:
    checkpoint: str | None = None
    device: str = "cpu"
    host: str = "127.0.0.1"
    workers: int = 1
    queue_size: int = 16
    max_upload_mb: float = 500.0
    max_duration_s: float | None = None
    data_dir: str = "vocalens_serve_data"
    job_ttl_s: float = 3600.0
    token: str | None = None


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_settings(s: Settings) -> None:
    if not is_loopback(s.host) and not s.token:
        raise UserError(
            f"--host {s.host} is reachable from other machines: give --token (or set VOCALENS_TOKEN); "
            "clients then send 'Authorization: Bearer TOKEN'"
        )
    if s.workers < 1 or s.queue_size < 1:
        raise UserError("--workers and --queue_size must be at least 1")
    if s.max_upload_mb <= 0 or s.job_ttl_s <= 0 or (s.max_duration_s is not None and s.max_duration_s <= 0):
        raise UserError("--max_upload_mb, --job_ttl_s and --max_duration_s must be positive")


def _static(name: str) -> bytes:
    return resources.files("vocalens.serve").joinpath("static", name).read_bytes()


def create_app(settings: Settings, engine_factory=None) -> FastAPI:
    """Check the settings, load one engine per worker (errors surface before the port is bound).
    ``engine_factory`` (tests) makes stand-in engines run in the worker threads instead."""
    check_settings(settings)
    if engine_factory is None:  # the real engine: one child process per worker (vocalens.serve.workers)
        threads = max(1, (os.cpu_count() or 1) // settings.workers)

        def worker_factory():
            return ProcessWorker(settings.checkpoint, settings.device, threads)
    else:  # a stand-in engine, run in the worker threads

        def worker_factory():
            return ThreadWorker(engine_factory())

    manager = JobManager(worker_factory, settings.data_dir, settings.workers, settings.queue_size, settings.job_ttl_s)
    max_bytes = int(settings.max_upload_mb * 2**20)
    checkpoint = manager.workers[0].checkpoint
    model_name = Path(checkpoint).name if checkpoint else None

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI):
        async def reaper():
            while True:
                await asyncio.sleep(min(60.0, settings.job_ttl_s / 4))
                await run_in_threadpool(manager.reap)

        task = asyncio.create_task(reaper())
        try:
            yield
        finally:
            task.cancel()
            manager.stop()

    app = FastAPI(
        title="vocalens",
        version=__version__,
        lifespan=lifespan,
        description="Upload a talking-face video; get a verdict, per-frame fake probabilities and the "
        "fake segments (the JSON `vocalens detect` writes).",
    )
    app.state.manager, app.state.settings = manager, settings
    bearer = HTTPBearer(auto_error=False)

    def authorized(cred: HTTPAuthorizationCredentials | None = Depends(bearer)) -> None:
        if settings.token is None:
            return
        if cred is None or not hmac.compare_digest(cred.credentials.encode(), settings.token.encode()):
            raise HTTPException(401, "missing or wrong bearer token", headers={"WWW-Authenticate": "Bearer"})

    def job_or_404(job_id: str):
        job = manager.get(job_id)
        if job is None:
            raise HTTPException(404, "no such job (finished jobs expire after a while)")
        return job

    for route, (fname, mime) in STATIC.items():

        def page(fname=fname, mime=mime) -> Response:
            return Response(_static(fname), media_type=mime, headers={"Cache-Control": "no-cache"})

        app.get("/" + route, include_in_schema=False)(page)

    @app.get("/healthz")
    def healthz() -> dict:
        """Liveness and load: worker count and queue depth."""
        return {"status": "ok", "version": __version__, "model": model_name, **manager.counts()}

    @app.post(API, status_code=202, dependencies=[Depends(authorized)], openapi_extra=UPLOAD_SCHEMA)
    async def create(request: Request) -> JSONResponse:
        """Upload a video (multipart field `file`); answers 202 with the job id to poll."""
        length = request.headers.get("content-length")
        if length and length.isdigit() and int(length) > max_bytes + 2**16:
            raise HTTPException(413, f"upload larger than the server's limit of {settings.max_upload_mb:g} MB")
        job_id, folder = manager.new_folder()
        try:
            up = await receive(request.stream(), request.headers.get("content-type", ""), folder, max_bytes)
        except TooLarge as e:
            shutil.rmtree(folder, ignore_errors=True)
            raise HTTPException(413, str(e))
        except BadUpload as e:
            shutil.rmtree(folder, ignore_errors=True)
            raise HTTPException(422, str(e))
        except BaseException:
            shutil.rmtree(folder, ignore_errors=True)
            raise
        try:
            duration = await run_in_threadpool(probe, up.path, up.name)
        except UserError as e:
            job = manager.add_failed(job_id, up.name, up.path.name, str(e))
        else:
            if settings.max_duration_s is not None and duration is not None and duration > settings.max_duration_s:
                shutil.rmtree(folder, ignore_errors=True)
                raise HTTPException(
                    422, f"{up.name}: {duration:.1f} s long, over the server's limit of {settings.max_duration_s:g} s"
                )
            try:
                job = manager.submit(job_id, up.name, up.path.name, duration)
            except QueueFull as e:
                shutil.rmtree(folder, ignore_errors=True)
                raise HTTPException(503, f"{e}; retry later", headers={"Retry-After": "10"})
        url = f"{API}/{job.id}"
        return JSONResponse(
            {"id": job.id, "status": job.status, "url": url}, status_code=202, headers={"Location": url}
        )

    @app.get(API + "/{job_id}", dependencies=[Depends(authorized)])
    def status(job_id: str) -> dict:
        """queued (with its place in the queue) / running (progress 0-1, stage) / done (with `result`,
        exactly the entry `vocalens detect` writes to detections.json) / failed (with the one-line `error`)."""
        job = job_or_404(job_id)
        body = job.public()
        if job.status == "queued":
            body["queue_position"] = manager.queue_position(job_id)
        if job.status == "done":
            body["result"] = manager.result(job_id)
            body["plot_url"] = f"{API}/{job_id}/plot.png"
        return body

    @app.get(API + "/{job_id}/plot.png", dependencies=[Depends(authorized)], response_class=FileResponse)
    def plot(job_id: str) -> FileResponse:
        """The time-series PNG of a finished job (what `vocalens detect --plot` draws)."""
        job_or_404(job_id)
        path = manager.file(job_id, "plot")
        if path is None:
            raise HTTPException(404, "no plot: the job is not done")
        return FileResponse(path, media_type="image/png")

    @app.get(API + "/{job_id}/video", dependencies=[Depends(authorized)], response_class=FileResponse)
    def video(job_id: str) -> FileResponse:
        """The uploaded video, for the page's player."""
        job_or_404(job_id)
        path = manager.file(job_id, "input")
        if path is None:
            raise HTTPException(404, "the upload is gone")
        return FileResponse(path, media_type=mimetypes.guess_type(path.name)[0] or "application/octet-stream")

    @app.delete(API + "/{job_id}", status_code=204, dependencies=[Depends(authorized)])
    def delete(job_id: str) -> Response:
        """Remove the job and all its files."""
        if not manager.delete(job_id):
            raise HTTPException(404, "no such job")
        return Response(status_code=204)

    return app
