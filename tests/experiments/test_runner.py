import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from overparam.experiments.runner import point_key, run_sweep

sys.path.insert(0, str(Path(__file__).parent))
from sweep_points import checkpointed_training, computed, noisy_square  # noqa: E402


def points(log=None, sleep=0.0, n=6):
    return [{"x": x, "seed": 10 + x, "log": str(log) if log else "", "sleep": sleep}
            for x in range(n)]


def values(rows):
    return [r["result"]["value"] for r in rows]


def test_serial_and_local_processes_give_identical_results(tmp_path):
    a = run_sweep(points(), noisy_square, tmp_path / "a", executor="serial", progress=False)
    b = run_sweep(points(), noisy_square, tmp_path / "b", executor="local", workers=2,
                  progress=False)
    assert values(a) == values(b)


def test_resume_recomputes_nothing_that_finished(tmp_path):
    log = tmp_path / "log"
    run_sweep(points(log)[:3], noisy_square, tmp_path / "r", progress=False)
    rows = run_sweep(points(log), noisy_square, tmp_path / "r", progress=False)
    assert sorted(computed(log)) == list(range(6))  # each point computed exactly once
    assert values(rows) == values(run_sweep(points(), noisy_square, tmp_path / "fresh",
                                            progress=False))


def kill_9_after(call: str, log: Path, calls: int) -> None:
    """Run ``call`` (Python source using sweep_points, run_sweep and points) in a fresh
    process and SIGKILL it once ``log`` records ``calls`` computations."""
    here = Path(__file__).parent
    script = (f"import sys; sys.path.insert(0, {str(here)!r});"
              "from sweep_points import checkpointed_training, noisy_square;"
              "from overparam.experiments.runner import run_sweep;"
              "from test_runner import points;" + call)
    proc = subprocess.Popen([sys.executable, "-c", script])
    deadline = time.time() + 60
    while len(computed(log)) < calls and time.time() < deadline:
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()


def test_kill_9_then_resume(tmp_path):
    log, out = tmp_path / "log", tmp_path / "k"
    kill_9_after(f"run_sweep(points({str(log)!r}, sleep=0.3), noisy_square, {str(out)!r},"
                 " progress=False)", log, 3)
    done_before = len(list((out / "points").glob("*.json")))
    assert 0 < done_before < 6
    rows = run_sweep(points(log, sleep=0.3), noisy_square, out, progress=False)
    # the finished points were not recomputed; at most the one in flight ran twice
    assert len(computed(log)) <= 6 + 1
    assert values(rows) == values(run_sweep(points(), noisy_square, tmp_path / "fresh",
                                            progress=False))
    assert not list((out / "points").glob(".*.tmp"))  # no half-written result survives


def test_dask_local_cluster_matches_local(tmp_path):
    distributed = pytest.importorskip("dask.distributed", reason="needs overparam[dist]")
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=False,
                                  dashboard_address=None) as cluster:
        a = run_sweep(points(), noisy_square, tmp_path / "d", executor="dask",
                      scheduler=cluster.scheduler_address, progress=False)
    b = run_sweep(points(), noisy_square, tmp_path / "s", progress=False)
    assert values(a) == values(b)


def test_bad_sweeps():
    with pytest.raises(ValueError, match="executor"):
        run_sweep([{"x": 1}], noisy_square, "/tmp/never", executor="mpi")
    with pytest.raises(ValueError, match="twice"):
        run_sweep([{"x": 1}, {"x": 1}], noisy_square, "/tmp/never")
    with pytest.raises(ValueError, match="workers"):
        run_sweep([{"x": 1}], noisy_square, "/tmp/never", executor="local", workers=0)
    assert point_key({"a": 1, "b": 2}) == point_key({"b": 2, "a": 1})


def test_kill_9_inside_a_point_continues_from_its_checkpoint(tmp_path):
    log, out = tmp_path / "log", tmp_path / "k"
    point = {"seed": 4, "steps": 150, "log": str(log), "sleep": 0.02}
    kill_9_after(f"run_sweep([{point!r}], checkpointed_training, {str(out)!r}, progress=False,"
                 " scratch=True)", log, 40)
    before = len(computed(log))
    assert 40 <= before < 151 and not list((out / "points").glob("*.json"))
    rows = run_sweep([point], checkpointed_training, out, progress=False, scratch=True)
    # continued from the last checkpoint, not from step 0: 151 gradient evaluations in all,
    # plus the one at the restart and at most one step done twice
    assert len(computed(log)) <= 151 + 2
    fresh = run_sweep([dict(point, log="", sleep=0.0)], checkpointed_training,
                      tmp_path / "fresh", progress=False, scratch=True)
    assert rows[0]["result"] == fresh[0]["result"] and rows[0]["result"]["steps"] == 150
    assert not list((out / "points").glob(".*.scratch"))  # removed once the result is written


def test_a_scheduler_belongs_to_the_dask_executor(tmp_path):
    with pytest.raises(ValueError, match="scheduler"):
        run_sweep([{"x": 1}], noisy_square, tmp_path, scheduler="tcp://127.0.0.1:9")


def test_an_unreachable_scheduler_is_one_clear_error_within_10_s(tmp_path):
    pytest.importorskip("dask.distributed", reason="needs overparam[dist]")
    from overparam.experiments.runner import ExecutorError

    start = time.perf_counter()
    # port 9 (discard) on loopback: nothing listens there
    with pytest.raises(ExecutorError, match="tcp://127.0.0.1:9"):
        run_sweep([{"x": 1, "seed": 1}], noisy_square, tmp_path, executor="dask",
                  scheduler="tcp://127.0.0.1:9", progress=False)
    assert time.perf_counter() - start < 10


def _alive(pid: int) -> bool:
    """Running, and not a zombie waiting for a parent that does not reap it."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError):
        return False
    return state != "Z"


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads /proc")
def test_local_workers_do_not_outlive_a_killed_sweep(tmp_path):
    log = tmp_path / "pids"
    pts = [{"x": x, "log": str(log), "sleep": 60} for x in range(2)]
    here = Path(__file__).parent
    script = (f"import sys; sys.path.insert(0, {str(here)!r});"
              "from sweep_points import pid_then_sleep;"
              "from overparam.experiments.runner import run_sweep;"
              f"run_sweep({pts!r}, pid_then_sleep, {str(tmp_path / 'o')!r}, executor='local',"
              " workers=2, progress=False)")
    proc = subprocess.Popen([sys.executable, "-c", script])
    deadline = time.time() + 60
    while len(computed(log)) < 2 and time.time() < deadline:
        time.sleep(0.05)
    workers = computed(log)
    assert len(workers) == 2 and all(_alive(p) for p in workers)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    deadline = time.time() + 5  # the workers poll their parent every 0.2 s
    while any(_alive(p) for p in workers) and time.time() < deadline:
        time.sleep(0.05)
    assert not any(_alive(p) for p in workers)


def test_a_scheduler_lost_mid_sweep_is_one_executor_error_keeping_finished_points(tmp_path):
    distributed = pytest.importorskip("dask.distributed", reason="needs overparam[dist]")
    import threading

    from overparam.experiments.runner import ExecutorError

    cluster = distributed.LocalCluster(n_workers=1, threads_per_worker=1, processes=False,
                                       dashboard_address=None)
    pts = [{"x": x, "seed": x, "sleep": 1.0} for x in range(6)]
    threading.Timer(1.5, cluster.close).start()  # the scheduler goes away after a point
    start = time.perf_counter()
    with pytest.raises(ExecutorError, match="--resume"):
        run_sweep(pts, noisy_square, tmp_path, executor="dask",
                  scheduler=cluster.scheduler_address, progress=False)
    assert time.perf_counter() - start < 30
    assert 1 <= len(list((tmp_path / "points").glob("*.json"))) < 6
