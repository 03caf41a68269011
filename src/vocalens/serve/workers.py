"""Where a job's computation runs: in a child process per worker (the server's default), or in the
worker thread itself (stand-in engines in tests).

A child process has its own model, face detector and memory: the face detectors are cached per
process and are not thread-safe, a crash or an out-of-memory kill ends one job only (the worker
starts a new child), and the work runs beside the event loop, not under its GIL. The child is
started with ``spawn`` (no fork of a process holding threads) and loads the engine once.
"""

from __future__ import annotations

import multiprocessing as mp
import os
import queue
import signal
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path
from typing import Callable

from vocalens.errors import UserError

Progress = Callable[[float, str], None]


def run_job(engine, folder: Path, input_name: str, name: str, progress: Progress) -> bool:
    """detect -> plot.png -> result.json in the job's folder; False when the folder went away meanwhile
    (the job was deleted), so nothing is written back."""
    from vocalens.fileio import write_json

    result = engine.detect(folder / input_name, progress, name=name)
    if not folder.is_dir():
        return False
    progress(0.92, "drawing the plot")
    engine.plot(result, folder / "plot.png")
    write_json(folder / "result.json", result)
    return True


class ThreadWorker:
    """Runs the engine in the calling worker thread."""

    def __init__(self, engine):
        self.engine = engine
        self.checkpoint = getattr(engine, "checkpoint", None)

    def run(self, folder: Path, input_name: str, name: str, progress: Progress) -> bool:
        return run_job(self.engine, folder, input_name, name, progress)

    def close(self) -> None:
        pass


# ---------------------------------------------------------------- the child process side

_ENGINE = None
_LOAD_ERROR: str | None = None
_PROGRESS = None


def _init(checkpoint: str | None, device: str, threads: int, progress_queue) -> None:
    global _ENGINE, _LOAD_ERROR, _PROGRESS
    _PROGRESS = progress_queue
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C reaches the whole group: the server shuts us down
    try:
        import torch

        if "OMP_NUM_THREADS" not in os.environ:
            torch.set_num_threads(threads)
        from vocalens.serve.engine import load_engine

        _ENGINE = load_engine(checkpoint, device)
        _warm_up()
    except UserError as e:
        _LOAD_ERROR = str(e)


def _warm_up() -> None:
    """Import and build now what the first job would otherwise pay for (plotting, the face detector)."""
    import vocalens.localizer.extract  # noqa: F401
    import vocalens.viz.plots  # noqa: F401
    from vocalens.media.faces import get_detector

    try:
        get_detector("auto")
    except Exception:  # noqa: BLE001 - a detector that cannot load fails the job that needs it, with its message
        pass


def _ping() -> str:
    if _LOAD_ERROR is not None:
        raise UserError(_LOAD_ERROR)
    return _ENGINE.checkpoint


def _job(folder: str, input_name: str, name: str) -> bool:
    return run_job(_ENGINE, Path(folder), input_name, name, lambda f, s: _PROGRESS.put((f, s)))


class ProcessWorker:
    """Runs the engine in one child process, restarted if it dies."""

    def __init__(self, checkpoint: str | None, device: str = "cpu", threads: int = 1):
        self._args = (checkpoint, device, threads)
        self._ctx = mp.get_context("spawn")
        self._closed = False
        self._start()

    def _start(self) -> None:
        self._queue = self._ctx.Queue()
        self._pool = ProcessPoolExecutor(
            1, mp_context=self._ctx, initializer=_init, initargs=(*self._args, self._queue)
        )
        try:
            self.checkpoint = self._pool.submit(_ping).result()  # a load error is a one-line UserError here
        except BaseException:
            self._pool.shutdown(wait=False, cancel_futures=True)
            raise

    def _drain(self, progress: Progress) -> None:
        while True:
            try:
                progress(*self._queue.get_nowait())
            except queue.Empty:
                return

    def run(self, folder: Path, input_name: str, name: str, progress: Progress) -> bool:
        try:
            fut = self._pool.submit(_job, str(folder), input_name, name)
        except BrokenProcessPool:  # the child died while idle: a new one, and this job is not lost
            self._restart()
            fut = self._pool.submit(_job, str(folder), input_name, name)
        try:
            while True:
                try:
                    ok = fut.result(timeout=0.2)
                    break
                except TimeoutError:
                    self._drain(progress)
        except BrokenProcessPool:
            if self._closed:
                raise RuntimeError("the server shut down while this job ran") from None
            self._restart()
            raise RuntimeError("the worker process died while decoding this video (out of memory?)") from None
        self._drain(progress)
        return ok

    def _restart(self) -> None:
        if self._closed:
            raise RuntimeError("the server is shutting down")
        self._stop_pool()
        self._start()

    def close(self) -> None:
        """Stop now: a job still running is abandoned (its child is terminated)."""
        self._closed = True
        self._stop_pool()

    def _stop_pool(self) -> None:
        procs = list((getattr(self._pool, "_processes", None) or {}).values())
        self._pool.shutdown(wait=False, cancel_futures=True)
        for p in procs:
            if p.is_alive():
                p.terminate()
        for p in procs:
            p.join(5)
        self._pool.shutdown(wait=True)  # the children are gone: this only reaps the pool's own thread
        self._queue.close()
        self._queue.join_thread()
