"""A Dask sweep's faults: Dask's own logging kept below our one line while the sweep runs
(and restored after), and a cluster left with no worker said within seconds while the sweep
waits for one."""

import logging
import threading
import warnings

import pytest
from faultkit import DASK_LOGGERS, dask_log_levels, slow_square, wait_for

from overparam.experiments import runner
from overparam.experiments.runner import NoWorkerWarning, run_sweep

distributed = pytest.importorskip("dask.distributed", reason="needs overparam[dist]")


def test_dask_logging_is_quiet_while_a_sweep_runs_and_restored_after(tmp_path):
    """Found by hand: with the scheduler killed mid-sweep, Dask's tracebacks were printed
    beside our one line. Inside the sweep its loggers are at CRITICAL; after, as before."""
    before = {name: logging.getLogger(name).level for name in DASK_LOGGERS}
    with distributed.LocalCluster(n_workers=1, threads_per_worker=1, processes=False,
                                  dashboard_address=None) as cluster:
        rows = run_sweep([{"x": 1}], dask_log_levels, tmp_path, executor="dask",
                         scheduler=cluster.scheduler_address, progress=False)
    assert rows[0]["result"] == dict.fromkeys(DASK_LOGGERS, logging.CRITICAL)
    assert {name: logging.getLogger(name).level for name in DASK_LOGGERS} == before


def test_a_cluster_with_no_worker_is_said_and_the_sweep_goes_on_when_one_joins(
        tmp_path, monkeypatch):
    """Found by hand: a sweep whose only worker was lost waited silently. Now it says so
    (within NO_WORKER_GRACE_S + WORKER_POLL_S, at most 30 s; shortened here) and keeps
    waiting; a worker that joins finishes the points."""
    assert runner.NO_WORKER_GRACE_S + runner.WORKER_POLL_S <= 30
    monkeypatch.setattr(runner, "NO_WORKER_GRACE_S", 0.5)
    monkeypatch.setattr(runner, "WORKER_POLL_S", 0.2)
    points = [{"x": x, "sleep": 0.0} for x in range(3)]
    with distributed.LocalCluster(n_workers=0, threads_per_worker=1, processes=False,
                                  dashboard_address=None) as cluster, \
            warnings.catch_warnings(record=True) as said:
        warnings.simplefilter("always")

        def join_once_said() -> None:
            # a worker joins once the sweep has said it has none (or after a minute, so that
            # a sweep that says nothing still ends, and fails below)
            wait_for(lambda: any(w.category is NoWorkerWarning for w in said), timeout=60)
            cluster.scale(1)

        helper = threading.Thread(target=join_once_said, daemon=True)
        helper.start()
        rows = run_sweep(points, slow_square, tmp_path, executor="dask",
                         scheduler=cluster.scheduler_address, progress=False)
        helper.join(timeout=60)
    assert [r["result"]["value"] for r in rows] == [0, 1, 4]
    messages = [str(w.message) for w in said if w.category is NoWorkerWarning]
    assert len(messages) == 1, messages
    assert "no worker" in messages[0] and "3 points are waiting" in messages[0]
    assert f"dask worker {cluster.scheduler_address}" in messages[0]
    assert "--resume" in messages[0]
