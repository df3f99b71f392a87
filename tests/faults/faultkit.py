"""Helpers of the fault suite: the CLI in a subprocess, snapshots of an output directory,
whether a reader sees one complete set there, a run killed at a chosen change to the file
system."""

import hashlib
import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
import traceback
import uuid
from pathlib import Path

import tqdm.auto
import tqdm.std

from overparam.common.outputs import MANIFEST, check_output_set, output_set


def cli(*args, env=None, **kwargs) -> subprocess.Popen:
    """``python -m overparam ARGS`` started in the background."""
    return subprocess.Popen([sys.executable, "-m", "overparam", *args],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, **(env or {})}, **kwargs)


def snapshot(folder: Path) -> dict[str, bytes]:
    """The output files of ``folder`` (not the runner's points, not hidden staging)."""
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir())
            if p.is_file() and not p.name.startswith(".")}


def previous_set(folder: Path, names: tuple[str, ...]) -> dict[str, bytes]:
    """A committed output set standing for an earlier run's outputs; returns its snapshot."""
    with output_set(folder, "an earlier run") as staged:
        for name in names:
            staged.write_text(name, f"earlier run: {name} {uuid.uuid4()}\n")
    return snapshot(folder)


def plain_set(folder: Path, names: tuple[str, ...]) -> dict[str, bytes]:
    """Outputs as overparam wrote them before sets were swapped by one rename: plain files and
    a plain manifest.json listing them. Returns the snapshot."""
    folder.mkdir(parents=True, exist_ok=True)
    files = {}
    for name in names:
        data = f"older version: {name} {uuid.uuid4()}\n".encode()
        (folder / name).write_bytes(data)
        files[name] = {"bytes": len(data), "sha256": hashlib.sha256(data).hexdigest()}
    (folder / MANIFEST).write_text(json.dumps({"kind": "older", "files": files}))
    return snapshot(folder)


def assert_whole(folder: Path, previous: dict[str, bytes]) -> str:
    """What a reader of ``folder`` sees now — before any later run tidies it — is exactly one
    complete set: the previous one untouched ("previous"), or a new one whose every file is
    listed in its manifest with its checksum ("new"); never a mix."""
    files = snapshot(folder)
    if files == previous:
        return "previous"
    manifest = check_output_set(folder)
    # the manifest is the new run's and checksums every file: nothing else may be there
    assert set(files) == set(manifest["files"]) | {MANIFEST}, "files of two runs mixed"
    return "new"


#: the calls by which a run changes a directory: each is a moment a kill can hit
FILE_SYSTEM_CHANGES = ("replace", "rename", "symlink", "link", "unlink", "rmdir", "mkdir",
                       "chmod")


def killed_at(moment: int, run, *, armed=None) -> bool:
    """Run ``run()`` in a forked child that kills itself with SIGKILL (nothing after it runs,
    no ``finally``) just before its ``moment``-th change to the file system
    (``FILE_SYSTEM_CHANGES``), counting from the call of ``armed`` (a ``(owner, name)``
    method; default: from the start). Returns True if it was killed, False if ``run``
    finished before that moment; fails if ``run`` raised."""
    pid = os.fork()
    if pid == 0:
        code = 3
        try:
            count = [0, armed is None]

            def wrap(change):
                def counted(*args, **kwargs):
                    if count[1]:
                        count[0] += 1
                        if count[0] == moment:
                            os.kill(os.getpid(), signal.SIGKILL)
                    return change(*args, **kwargs)
                return counted

            for name in FILE_SYSTEM_CHANGES:
                setattr(os, name, wrap(getattr(os, name)))
            if armed is not None:
                owner, method = armed
                real = getattr(owner, method)

                def arm(*args, **kwargs):
                    count[1] = True
                    return real(*args, **kwargs)
                setattr(owner, method, arm)
            run()
            code = 0
        except BaseException:
            traceback.print_exc()  # the child's stderr is the test's
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    code = os.waitstatus_to_exitcode(status)
    assert code in (0, -signal.SIGKILL), f"the run failed (exit status {code})"
    return code != 0


def wait_for(predicate, timeout: float = 60.0, every: float = 0.005) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(every)
    return False


def staging_dirs(folder: Path) -> list[Path]:
    """The staging directories of runs writing into ``folder`` (or killed while writing)."""
    return list(folder.glob(".staging-*"))


class Forked:
    """``overparam ARGS`` in a forked child of the test process — the same code path as the
    console script, without paying an interpreter start and the imports for every run (which
    keeps the signal tests within seconds). Popen-like: pid, poll, send_signal, kill,
    communicate (returns ("", stderr)); returncode -N when killed by signal N."""

    def __init__(self, *args: str) -> None:
        import importlib

        from overparam.cli import main

        for module in ("overparam.verify.checks", "overparam.verify.report",
                       "overparam.experiments.registry", "overparam.experiments.fcn_depth",
                       "overparam.common.plotting", "tqdm.auto"):
            importlib.import_module(module)  # once, in the test process, before forking

        self._err = tempfile.NamedTemporaryFile(prefix="overparam-stderr-", delete=False)
        self.returncode = None
        self.pid = os.fork()
        if self.pid == 0:  # the child: run the command, never return into pytest
            code = 1
            try:
                # tqdm's lock is a multiprocessing lock, and through fork it is shared with
                # the test process and every sibling: a sibling killed (kill -9) inside a
                # progress bar would hold it forever and hang the next bar anywhere. A real
                # `overparam` process makes its own lock; so does this child.
                for bar_class in (tqdm.std.tqdm, tqdm.auto.tqdm):
                    bar_class.set_lock(threading.RLock())
                devnull = os.open(os.devnull, os.O_WRONLY)
                os.dup2(devnull, 1)
                os.dup2(self._err.fileno(), 2)
                sys.stdout = open(1, "w", closefd=False)
                sys.stderr = open(2, "w", closefd=False)
                signal.signal(signal.SIGINT, signal.default_int_handler)
                code = main(list(args))
                sys.stdout.flush()
                sys.stderr.flush()
            finally:
                os._exit(code)
        self._err.close()  # the child writes it; the parent reads it back by name

    def poll(self) -> int | None:
        if self.returncode is None:
            pid, status = os.waitpid(self.pid, os.WNOHANG)
            if pid:
                self.returncode = os.waitstatus_to_exitcode(status)
        return self.returncode

    def send_signal(self, sig: int) -> None:
        if self.poll() is None:
            os.kill(self.pid, sig)

    def kill(self) -> None:
        self.send_signal(signal.SIGKILL)

    def communicate(self, timeout: float = 60.0) -> tuple[str, str]:
        assert wait_for(lambda: self.poll() is not None, timeout=timeout, every=0.01)
        text = Path(self._err.name).read_text(encoding="utf-8", errors="replace")
        os.unlink(self._err.name)
        return "", text


#: the loggers a Dask sweep quiets (the client's, the scheduler's and the worker's)
DASK_LOGGERS = ("distributed.client", "distributed.scheduler", "distributed.worker")


def dask_log_levels(point: dict) -> dict:
    """A sweep point's result: the levels of Dask's loggers while the point runs (on an
    in-process cluster, the sweep's own process)."""
    import logging

    return {name: logging.getLogger(name).getEffectiveLevel() for name in DASK_LOGGERS}


def slow_square(point: dict) -> dict:
    """A sweep point's result: x², after ``point["sleep"]`` seconds."""
    time.sleep(point["sleep"])
    return {"value": point["x"] ** 2}


SLOW_MODULE = '''"""A reproduction written by the fault suite: six points of a second each, so
that a signal lands in the middle of a sweep on any machine."""
import time

from overparam.experiments.protocol import Experiment, Outputs, Summary

PRESETS = {"smoke": {"n": 6}, "quick": {"n": 6}, "paper": {"n": 6}}


def points(preset, seed, backend):
    return [{"x": x, "seed": seed} for x in range(PRESETS[preset]["n"])]


def compute_point(point, scratch=None):
    time.sleep(1.0)
    return {"square": point["x"] ** 2}


def outputs(rows, *, preset, seed, backend):
    return Outputs(metadata={}, csv_header=["x", "square"],
                   csv_rows=[[r["point"]["x"], r["result"]["square"]] for r in rows],
                   draw=lambda name, path: None,
                   summary=Summary(title="slow.squares", setup="six squares",
                                   differences=["no paper: a test"]))


EXPERIMENT = Experiment(
    id="slow.squares", paper="T", reproduces="a test of interruptions", presets=PRESETS,
    points=points, compute_point=compute_point, outputs=outputs,
    estimated_bytes=lambda preset: 10_000)
'''


def install_slow_experiment(folder: Path, monkeypatch) -> None:
    """Add the reproduction ``slow.squares`` (``SLOW_MODULE``) as a module of
    ``overparam.experiments`` for this test (forked runs inherit it)."""
    from overparam import experiments

    (folder / "slowsquares.py").write_text(SLOW_MODULE, encoding="utf-8")
    monkeypatch.setattr(experiments, "__path__", [*experiments.__path__, str(folder)])
    monkeypatch.delitem(sys.modules, "overparam.experiments.slowsquares", raising=False)
