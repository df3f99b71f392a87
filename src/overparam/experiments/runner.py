"""The sweep runner: a sweep is a list of points (plain dicts, e.g. depth × activation × seed);
each point is computed by a pure function of the point, and its result written to disk
atomically as soon as it finishes. Re-running with ``resume=True`` recomputes nothing that
finished, so an interrupted run (Ctrl-C, kill -9) continues where it stopped and ends with the
same results as an uninterrupted one.

Executors: "serial" (in-process), "local" (worker processes), "dask" (a dask.distributed
scheduler, for sweeps that outgrow one machine; pip install 'overparam[dist]').
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor, as_completed
from pathlib import Path

EXECUTORS = ("serial", "local", "dask")


def point_key(point: dict) -> str:
    """A stable file name for a point: its sorted JSON, hashed."""
    text = json.dumps(point, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _write_atomic(path: Path, data: dict) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump(data, fh, sort_keys=True)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, 0o644)  # mkstemp's 0600 would hide results from the rest of a team
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


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
    depend on the executor. ``resume=False`` recomputes everything.

    ``scratch=True`` calls ``compute(point, scratch=DIR)`` with a directory of the point's own
    (for checkpoints inside a long point, e.g. ``numerics.checkpoint``): it survives an
    interruption, so the resumed point continues from it, and is removed once the point's
    result is written. With Dask, ``out_dir`` must be on a file system the workers share."""
    if executor not in EXECUTORS:
        raise ValueError(f"executor: expected one of {EXECUTORS}, got {executor!r}")
    if workers is not None and workers < 1:
        raise ValueError(f"workers: expected >= 1, got {workers}")
    keys = [point_key(p) for p in points]
    if len(set(keys)) != len(keys):
        raise ValueError("points: the sweep lists the same point twice")
    folder = Path(out_dir) / "points"
    folder.mkdir(parents=True, exist_ok=True)
    todo = [(k, p) for k, p in zip(keys, points, strict=True)
            if not (resume and (folder / f"{k}.json").exists())]
    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=len(points), initial=len(points) - len(todo), unit="point",
                   desc="sweep", dynamic_ncols=True)

    def finish(key: str, point: dict, result: dict) -> None:
        _write_atomic(folder / f"{key}.json", {"point": point, "result": result})
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
            with ProcessPoolExecutor(max_workers=workers) as pool:
                futures = {pool.submit(compute, p, **extra(k)): (k, p) for k, p in todo}
                for fut in as_completed(futures):
                    finish(*futures[fut], fut.result())
        else:
            try:
                from dask.distributed import Client
                from dask.distributed import as_completed as dask_completed
            except ImportError as exc:
                raise ValueError("executor='dask' needs dask: pip install 'overparam[dist]'") \
                    from exc
            client = Client(scheduler) if scheduler else Client(processes=False)
            try:
                futures = [client.submit(compute, p, pure=False, **extra(k)) for k, p in todo]
                index = {f.key: kp for f, kp in zip(futures, todo, strict=True)}
                for fut in dask_completed(futures):
                    finish(*index[fut.key], fut.result())
            finally:
                client.close()
    finally:
        if bar is not None:
            bar.close()
    return [json.loads((folder / f"{k}.json").read_text()) for k in keys]
