"""Detection jobs: a bounded queue, N worker threads (each driving its own model, see workers.py),
state on disk.

Each job lives in ``{data_dir}/{id}/``: the upload under a fixed name, ``job.json`` (status, written
atomically at every change), ``result.json`` and ``plot.png`` when done. Results are kept on disk
only, so memory does not grow with the number of finished jobs, and a replica sharing ``data_dir``
can answer for a job another replica ran. A failing job is recorded as failed with its one-line
error; the worker goes on with the next job.
"""

from __future__ import annotations

import json
import logging
import re
import secrets
import shutil
import threading
import time
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable

from vocalens.errors import UserError
from vocalens.fileio import write_json_atomic

log = logging.getLogger("vocalens.serve")

JOB_ID = re.compile(r"[0-9a-f]{32}")
FINISHED = ("done", "failed")


class QueueFull(Exception):
    """The bounded queue has no room; the client should retry later."""


@dataclass
class Job:
    id: str
    name: str  # what the user called the file (display only, never a path)
    status: str = "queued"  # queued | running | done | failed
    progress: float = 0.0
    stage: str = "queued"
    error: str | None = None
    duration_s: float | None = None  # probed before the job is queued
    created: float = field(default_factory=time.time)
    started: float | None = None
    finished: float | None = None
    input: str = ""  # file name inside the job's folder

    def public(self) -> dict:
        d = asdict(self)
        d.pop("input")
        return d


class JobManager:
    """Owns the queue, the workers and the job folders under ``data_dir``."""

    def __init__(
        self,
        worker_factory: Callable[[], object],
        data_dir: str | Path,
        workers: int = 1,
        queue_size: int = 16,
        job_ttl_s: float = 3600.0,
        clock: Callable[[], float] = time.time,
    ):
        self.data_dir = Path(data_dir)
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.queue_size, self.job_ttl_s, self.clock = int(queue_size), float(job_ttl_s), clock
        self._jobs: dict[str, Job] = {}
        self._queue: deque[str] = deque()
        self._cv = threading.Condition()
        self._stopping = False
        with ThreadPoolExecutor(max(1, int(workers))) as pool:  # children load their models side by side
            futures = [pool.submit(worker_factory) for _ in range(max(1, int(workers)))]
        self.workers: list = []
        for f in futures:
            try:
                self.workers.append(f.result())
            except BaseException:  # a load error: one line, after stopping the workers that did start
                for w in self.workers:
                    w.close()
                raise
        self._threads = [
            threading.Thread(target=self._work, args=(w,), name=f"vocalens-job-{i}", daemon=True)
            for i, w in enumerate(self.workers)
        ]
        for t in self._threads:
            t.start()

    # ---------------------------------------------------------------- folders and state

    def new_folder(self) -> tuple[str, Path]:
        """A fresh random job id and its empty folder (the only place the upload may go)."""
        job_id = secrets.token_hex(16)
        folder = self.data_dir / job_id
        folder.mkdir()
        return job_id, folder

    def folder(self, job_id: str) -> Path:
        if not JOB_ID.fullmatch(job_id):  # ids are ours: never a path from the request
            raise KeyError(job_id)
        return self.data_dir / job_id

    def _save(self, job: Job) -> None:
        write_json_atomic(self.folder(job.id) / "job.json", asdict(job))

    def _update(self, job: Job, **changes) -> None:
        with self._cv:
            if job.status == "deleted":  # deleted while running: nothing left to update
                return
            for k, v in changes.items():
                setattr(job, k, v)
            self._save(job)

    def get(self, job_id: str) -> Job | None:
        """The job from memory, else from its job.json (written by another replica sharing data_dir)."""
        try:
            folder = self.folder(job_id)
        except KeyError:
            return None
        with self._cv:
            if job_id in self._jobs:
                return self._jobs[job_id]
        try:
            return Job(**json.loads((folder / "job.json").read_text()))
        except (OSError, ValueError, TypeError):
            return None

    def result(self, job_id: str) -> dict | None:
        try:
            return json.loads((self.folder(job_id) / "result.json").read_text())
        except (KeyError, OSError, ValueError):
            return None

    def file(self, job_id: str, which: str) -> Path | None:
        """``plot.png`` or the uploaded ``input`` of a job, if it exists."""
        job = self.get(job_id)
        if job is None:
            return None
        path = self.folder(job_id) / (job.input if which == "input" else "plot.png")
        return path if path.is_file() and path.parent.name == job_id else None

    # ---------------------------------------------------------------- queue

    def submit(self, job_id: str, name: str, input_name: str, duration_s: float | None) -> Job:
        job = Job(job_id, name, duration_s=duration_s, input=input_name, created=self.clock())
        with self._cv:
            if len(self._queue) >= self.queue_size:
                raise QueueFull(f"the queue is full ({self.queue_size} jobs waiting)")
            self._jobs[job_id] = job
            self._save(job)
            self._queue.append(job_id)
            self._cv.notify()
        return job

    def add_failed(self, job_id: str, name: str, input_name: str, error: str) -> Job:
        """A job that failed before it could be queued (the probe could not read the file)."""
        now = self.clock()
        job = Job(
            job_id, name, status="failed", stage="failed", error=error, created=now, finished=now, input=input_name
        )
        with self._cv:
            self._jobs[job_id] = job
            self._save(job)
        return job

    def queue_position(self, job_id: str) -> int | None:
        with self._cv:
            try:
                return self._queue.index(job_id)
            except ValueError:
                return None

    def counts(self) -> dict:
        with self._cv:
            running = sum(j.status == "running" for j in self._jobs.values())
            return {
                "workers": len(self._threads),
                "queued": len(self._queue),
                "running": running,
                "queue_size": self.queue_size,
            }

    def _next(self) -> Job | None:
        with self._cv:
            while not self._queue and not self._stopping:
                self._cv.wait()
            if self._stopping:
                return None
            return self._jobs.get(self._queue.popleft())

    def _work(self, worker) -> None:
        while True:
            job = self._next()
            if job is None:
                return
            if job.status != "queued":  # deleted while queued
                continue
            self._run(worker, job)

    def _run(self, worker, job: Job) -> None:
        folder = self.folder(job.id)
        self._update(job, status="running", started=self.clock(), stage="starting", progress=0.0)

        def progress(fraction: float, stage: str) -> None:
            self._update(job, progress=float(fraction), stage=stage)

        try:
            written = worker.run(folder, job.input, job.name, progress)
        except UserError as e:
            self._finish(job, str(e).splitlines()[0] if str(e) else "error")
        except Exception as e:  # a bug or a resource error in one job must not stop the worker
            log.exception("job %s failed", job.id)
            msg = f"{job.name}: internal error ({type(e).__name__}: {e})"
            self._finish(job, msg.splitlines()[0])
        else:
            if not written:  # deleted (maybe through another replica sharing data_dir) while it ran
                self.delete(job.id)
                return
            self._finish(job, None)
        with self._cv:
            if job.status == "deleted":  # deleted while it ran: drop what the run wrote since
                shutil.rmtree(folder, ignore_errors=True)

    def _finish(self, job: Job, error: str | None) -> None:
        if error is None:
            self._update(job, status="done", stage="done", progress=1.0, finished=self.clock())
        else:
            self._update(job, status="failed", stage="failed", error=error, finished=self.clock())

    # ---------------------------------------------------------------- removal

    def delete(self, job_id: str) -> bool:
        """Remove a job and its files (a running job finishes its computation, then is dropped)."""
        try:
            folder = self.folder(job_id)
        except KeyError:
            return False
        with self._cv:
            job = self._jobs.pop(job_id, None)
            if job is not None:
                was, job.status = job.status, "deleted"
            if job is not None and was == "queued":
                try:
                    self._queue.remove(job_id)
                except ValueError:
                    pass
            existed = job is not None or folder.is_dir()
            shutil.rmtree(folder, ignore_errors=True)
        return existed

    def reap(self, now: float | None = None) -> int:
        """Delete finished jobs older than job_ttl_s, and leftovers (no job.json) as old; returns how many."""
        now = self.clock() if now is None else now
        removed = 0
        for folder in list(self.data_dir.iterdir()):
            if not folder.is_dir() or not JOB_ID.fullmatch(folder.name):
                continue
            job = self.get(folder.name)
            if job is None:  # an upload cut off mid-way, or a folder being created right now
                try:
                    newest = max([folder.stat().st_mtime] + [f.stat().st_mtime for f in folder.iterdir()])
                except OSError:
                    continue
                expired = newest + self.job_ttl_s < now
            else:
                expired = job.status in FINISHED and (job.finished or job.created) + self.job_ttl_s < now
            if expired and self.delete(folder.name):
                removed += 1
        return removed

    def stop(self) -> None:
        with self._cv:
            self._stopping = True
            self._cv.notify_all()
        for w in self.workers:
            w.close()
        for t in self._threads:
            t.join(timeout=5)
