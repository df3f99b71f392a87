"""The sweep runner: a sweep is a list of points (plain dicts, e.g. depth × activation × seed);
each point is computed by a pure function of the point, and its result written to disk
atomically as soon as it finishes. Re-running with ``resume=True`` recomputes nothing that
finished, so an interrupted run (Ctrl-C, SIGTERM, kill -9) continues where it stopped and ends
with the same results as an uninterrupted one.

A point file records its point, the point's key and a SHA-256 of both and the result; on
resume a file that is unreadable, truncated, empty, garbage or another point's is reported by
a ``ResumeWarning`` naming it, and its point is computed again — never used silently.

Executors: "serial" (in-process), "local" (worker processes, which exit when the sweep's
process dies, even by kill -9, and are stopped when it is interrupted), "dask" (a
dask.distributed scheduler, for sweeps that outgrow one machine; pip install
'overparam[dist]').
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import hashlib
import json
import logging
import os
import shutil
import signal
import threading
import time
import warnings
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor, as_completed
from pathlib import Path

from overparam.numerics.atomic import write_text_atomic

__all__ = ["EXECUTORS", "NO_WORKER_GRACE_S", "SCHEDULER_TIMEOUT_S", "WORKER_POLL_S",
           "ExecutorError", "NoWorkerWarning", "ResumeWarning", "point_key", "run_sweep"]

EXECUTORS = ("serial", "local", "dask")

#: seconds to wait for a Dask scheduler before saying it is unreachable
SCHEDULER_TIMEOUT_S = 5.0
#: how often a Dask sweep with nothing finished looks at its workers (seconds)
WORKER_POLL_S = 2.0
#: how long a Dask cluster may have no worker before the sweep says so (seconds); with the
#: poll, the user hears of it within 15 s
NO_WORKER_GRACE_S = 12.0


class ResumeWarning(UserWarning):
    """A finished point's file could not be used; the point is computed again."""


class NoWorkerWarning(UserWarning):
    """A Dask sweep's cluster has had no worker for a while; the sweep keeps waiting."""


class ExecutorError(RuntimeError):
    """The executor itself failed (an unreachable or lost Dask scheduler); finished points are
    kept. The message says what to do."""


def point_key(point: dict) -> str:
    """A stable file name for a point: its sorted JSON, hashed."""
    text = json.dumps(point, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _checksum(key: str, point: dict, result: dict) -> str:
    text = json.dumps({"key": key, "point": point, "result": result}, sort_keys=True,
                      default=str)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _point_record(key: str, point: dict, result: dict) -> str:
    """The text of a point file."""
    return json.dumps({"key": key, "point": point, "result": result,
                       "sha256": _checksum(key, point, result)}, sort_keys=True)


def _load_point(path: Path, key: str, point: dict) -> dict | None:
    """The row {"point", "result"} stored in ``path`` for ``point``; None, with a
    ``ResumeWarning`` naming the file, when it cannot be used."""
    try:
        data = json.loads(path.read_bytes().decode("utf-8"))
        problem = None
        if not isinstance(data, dict) or not {"key", "point", "result", "sha256"} <= set(data):
            problem = "not a point file of this runner"
        elif data["key"] != key or point_key(data["point"]) != key:
            problem = f"holds point {data['point']!r}, not {point!r}"
        elif _checksum(key, data["point"], data["result"]) != data["sha256"]:
            problem = "checksum mismatch (corrupt)"
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        problem = f"unreadable ({type(exc).__name__}: {exc})"
    if problem is None:
        return {"point": data["point"], "result": data["result"]}
    warnings.warn(f"{path}: {problem}; its point is computed again", ResumeWarning,
                  stacklevel=3)
    return None


def _watch_parent(parent: int) -> None:
    """Worker initialiser: exit as soon as the sweep's process is gone (even after kill -9,
    which runs no clean-up in the parent), and leave Ctrl-C to the parent."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)  # the parent's handler is not the worker's

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(0.2)
        os._exit(1)

    threading.Thread(target=watch, daemon=True, name="overparam-parent-watch").start()


def _stop_workers(pool: ProcessPoolExecutor) -> None:
    """End the pool now, running points included (an interruption must not wait for them)."""
    # the executor has no public way to stop a running task before Python 3.14; its
    # processes are taken before ``shutdown``, which forgets them
    processes = list((pool._processes or {}).values())
    pool.shutdown(wait=False, cancel_futures=True)
    for proc in processes:
        if proc.is_alive():
            proc.terminate()


def _run_local(todo, compute, extra, finish, workers) -> None:
    pool = ProcessPoolExecutor(max_workers=workers, initializer=_watch_parent,
                               initargs=(os.getpid(),))
    try:
        futures = {pool.submit(compute, p, **extra(k)): (k, p) for k, p in todo}
        for fut in as_completed(futures):
            finish(*futures[fut], fut.result())
    except BaseException:
        _stop_workers(pool)
        raise
    pool.shutdown(wait=True)


def _dask_client(scheduler: str | None):
    """A client of ``scheduler`` (or of an in-process cluster); ExecutorError if it cannot be
    reached within ``SCHEDULER_TIMEOUT_S``."""
    try:
        from dask.distributed import Client
    except ImportError as exc:
        raise ValueError("executor='dask' needs dask: pip install 'overparam[dist]'") from exc
    if not scheduler:
        return Client(processes=False)
    try:
        return Client(scheduler, timeout=SCHEDULER_TIMEOUT_S)
    except (OSError, TimeoutError) as exc:
        raise ExecutorError(f"cannot reach the Dask scheduler at {scheduler} within "
                            f"{SCHEDULER_TIMEOUT_S:g} s ({type(exc).__name__}); start it or "
                            "correct --scheduler") from None


@contextlib.contextmanager
def _dask_quiet() -> Iterator[None]:
    """Dask's own loggers (and tornado's, which it runs on) at CRITICAL while a sweep runs,
    restored after: a lost scheduler or worker is said in our one line, not beside its
    tracebacks. Every logger under those names is set, not just the top one, because Dask's
    logging configuration gives some of them levels of their own."""
    with contextlib.suppress(ImportError):  # without dask the client says what to install
        import distributed  # noqa: F401 — its import configures the loggers set below
    names = ("distributed", "tornado")
    loggers = [logging.getLogger(n) for n in names] + [
        logger for name, logger in list(logging.root.manager.loggerDict.items())
        if isinstance(logger, logging.Logger) and name.startswith(tuple(f"{n}." for n in names))]
    levels = [logger.level for logger in loggers]
    for logger in loggers:
        logger.setLevel(logging.CRITICAL)
    try:
        yield
    finally:
        for logger, level in zip(loggers, levels, strict=True):
            logger.setLevel(level)


class _WorkerWatch:
    """Says, once per spell, that the cluster has had no worker for ``NO_WORKER_GRACE_S``
    while points wait (a ``NoWorkerWarning``); the sweep keeps waiting, and goes on when a
    worker joins."""

    def __init__(self, client, where: str, scheduler: str | None, folder: Path) -> None:
        self.client, self.where, self.folder = client, where, folder
        self.start_one = f"dask worker {scheduler}" if scheduler else "dask worker ADDRESS"
        self.since: float | None = None
        self.said = False

    def check(self, waiting: int) -> None:
        """Look at the cluster's workers now (``waiting``: points not finished)."""
        if self.client.scheduler_info(n_workers=-1)["workers"]:
            self.since, self.said = None, False
            return
        now = time.monotonic()
        self.since = now if self.since is None else self.since
        if not self.said and now - self.since >= NO_WORKER_GRACE_S:
            self.said = True
            warnings.warn(
                f"{self.where} has had no worker for {now - self.since:.0f} s and {waiting} "
                f"points are waiting: the sweep waits for one — start a worker "
                f"({self.start_one}) and it goes on, or stop it (Ctrl-C; finished points are "
                f"kept in {self.folder}) and rerun with --resume", NoWorkerWarning,
                stacklevel=2)


def _run_dask(client, todo, compute, extra, finish, scheduler, folder) -> None:
    from dask.distributed import wait

    where = f"the Dask scheduler at {scheduler}" if scheduler else "the in-process Dask cluster"
    watch = _WorkerWatch(client, where, scheduler, folder)

    def lost(exc: BaseException) -> ExecutorError:
        return ExecutorError(f"lost {where} mid-sweep ({type(exc).__name__}); finished points "
                             f"are kept in {folder}: restart the scheduler and rerun with "
                             "--resume")

    try:
        futures = [client.submit(compute, p, pure=False, **extra(k)) for k, p in todo]
        index = {f.key: kp for f, kp in zip(futures, todo, strict=True)}
        pending = set(futures)
        while pending:
            try:
                done, pending = wait(pending, timeout=WORKER_POLL_S,
                                     return_when="FIRST_COMPLETED")
            except TimeoutError:  # nothing finished meanwhile: are there workers at all?
                watch.check(len(pending))
                continue
            except concurrent.futures.CancelledError as exc:  # the scheduler cancelled them
                raise lost(exc) from None
            for fut in done:
                try:
                    result = fut.result()
                except (concurrent.futures.CancelledError, OSError, TimeoutError) as exc:
                    if client.status == "running" and not isinstance(
                            exc, concurrent.futures.CancelledError):
                        raise  # the point's own error, not the cluster's
                    raise lost(exc) from None
                finish(*index[fut.key], result)
    finally:
        client.close()


def run_sweep(
    points: list[dict],
    compute: Callable[[dict], dict],
    out_dir: str | Path,
    *,
    executor: str = "serial",
    workers: int | None = None,
    scheduler: str | None = None,
    resume: bool = True,
    progress: bool = True,
    scratch: bool = False,
) -> list[dict]:
    """Compute ``compute(point)`` for every point not already on disk under
    ``out_dir/points/``; returns [{"point": …, "result": …}] in the order of ``points``.

    ``compute`` must be a module-level function (it is pickled for worker processes and for
    Dask) and must draw randomness only from the point (e.g. its "seed"), so results do not
    depend on the executor. ``resume=False`` recomputes everything. A point file that cannot
    be used gives a ``ResumeWarning`` naming it, and the point is computed again.

    ``scratch=True`` calls ``compute(point, scratch=DIR)`` with a directory of the point's own
    (for checkpoints inside a long point, e.g. ``numerics.checkpoint``): it survives an
    interruption, so the resumed point continues from it, and is removed once the point's
    result is written. With Dask, ``out_dir`` must be on a file system the workers share.

    Raises ``ExecutorError`` when a Dask scheduler cannot be reached (within
    ``SCHEDULER_TIMEOUT_S``) or is lost mid-sweep. A Dask cluster that has had no worker for
    ``NO_WORKER_GRACE_S`` while points wait gives one ``NoWorkerWarning`` (looked for every
    ``WORKER_POLL_S``), and the sweep keeps waiting for a worker to join. Dask's own loggers
    are held at CRITICAL during a Dask sweep and restored after."""
    if executor not in EXECUTORS:
        raise ValueError(f"executor: expected one of {EXECUTORS}, got {executor!r}")
    if workers is not None and workers < 1:
        raise ValueError(f"workers: expected >= 1, got {workers}")
    if scheduler is not None and executor != "dask":
        raise ValueError(f"scheduler: only for executor='dask', got executor={executor!r}")
    keys = [point_key(p) for p in points]
    if len(set(keys)) != len(keys):
        raise ValueError("points: the sweep lists the same point twice")
    folder = Path(out_dir) / "points"
    folder.mkdir(parents=True, exist_ok=True)
    rows: dict[str, dict] = {}
    if resume:
        for k, p in zip(keys, points, strict=True):
            path = folder / f"{k}.json"
            if path.exists() and (row := _load_point(path, k, p)) is not None:
                rows[k] = row
    todo = [(k, p) for k, p in zip(keys, points, strict=True) if k not in rows]
    # Dask logs quieted from the connection to the client's close (our messages say what
    # happened); connect before the progress bar, so that an unreachable scheduler is all
    # that is shown
    with _dask_quiet() if executor == "dask" and todo else contextlib.nullcontext():
        client = _dask_client(scheduler) if executor == "dask" and todo else None
        bar = None
        if progress:
            from tqdm.auto import tqdm

            bar = tqdm(total=len(points), initial=len(points) - len(todo), unit="point",
                       desc="sweep", dynamic_ncols=True)

        def finish(key: str, point: dict, result: dict) -> None:
            text = _point_record(key, point, result)
            write_text_atomic(folder / f"{key}.json", text)
            data = json.loads(text)  # the row as a resumed run reads it back
            rows[key] = {"point": data["point"], "result": data["result"]}
            if scratch:
                shutil.rmtree(folder / f".{key}.scratch", ignore_errors=True)
            if bar is not None:
                bar.update(1)

        def extra(key: str) -> dict:
            if not scratch:
                return {}
            path = folder / f".{key}.scratch"
            if not resume:
                shutil.rmtree(path, ignore_errors=True)  # a stale checkpoint is not this run's
            path.mkdir(exist_ok=True)
            return {"scratch": path}

        try:
            if executor == "serial" or not todo:
                for key, point in todo:
                    finish(key, point, compute(point, **extra(key)))
            elif executor == "local":
                _run_local(todo, compute, extra, finish, workers)
            else:
                _run_dask(client, todo, compute, extra, finish, scheduler, folder)
        finally:
            if bar is not None:
                bar.close()
    return [rows[k] for k in keys]
