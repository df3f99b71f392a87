"""kill -9, SIGTERM and SIGINT at several moments of ``overparam verify`` and ``overparam
reproduce``: afterwards the output directory holds the previous outputs untouched or a new
complete set — never two runs mixed — and no worker process outlives a killed reproduce."""

import json
import os
import shutil
import signal
import time
from pathlib import Path

import pytest
from faultkit import (
    Forked,
    assert_whole,
    install_slow_experiment,
    killed_at,
    previous_set,
    snapshot,
    staging_dirs,
    wait_for,
)

from overparam.common.outputs import check_output_set, recover

REPORT = ("report.json", "report.md")


def _staged(folder: Path, name: str) -> bool:
    return any((s / name).exists() for s in staging_dirs(folder))


# moment → when it has come, watching the run's output directory
VERIFY_MOMENTS = {
    "claims running": lambda d: bool(staging_dirs(d)),
    "report being written": lambda d: _staged(d, "report.json"),
}


def _errors_in(out):
    """The first line of each ``error`` item of the report in ``out`` (what a failed run
    reported, for the assertion's message)."""
    path = out / "report.json"
    if not path.exists():
        return []
    report = json.loads(path.read_text(encoding="utf-8"))
    return [(c["id"], (ev.get("details") or "").splitlines()[:1])
            for c in report.get("claims", []) for ev in c["evidence"]
            if ev["verdict"] == "error"]


def test_verify_killed_at_several_moments_keeps_one_whole_report(tmp_path):
    """Each signal at each moment, all runs side by side (each in its own copy of a
    directory holding an earlier report)."""
    base = tmp_path / "base"
    previous = previous_set(base, (*REPORT, "ic.thm1.png"))
    runs = []
    for sig in (signal.SIGKILL, signal.SIGTERM, signal.SIGINT):
        for moment in VERIFY_MOMENTS:
            out = tmp_path / f"{sig.name}-{moment.replace(' ', '-')}"
            shutil.copytree(base, out)
            runs.append((sig, moment, out, Forked("verify", "ic.params", "--seed", "3",
                                                  "--out", str(out))))
    pending = list(runs)
    deadline = time.monotonic() + 300  # generous: the machine may be loaded
    while pending and time.monotonic() < deadline:
        for run in list(pending):
            sig, moment, out, proc = run
            if VERIFY_MOMENTS[moment](out) or proc.poll() is not None:
                proc.send_signal(sig)
                pending.remove(run)
        time.sleep(0.002)
    assert not pending, "a run never reached its moment"
    for sig, moment, out, proc in runs:
        _, err = proc.communicate(timeout=300)
        if sig != signal.SIGKILL and proc.returncode == 128 + sig:
            # a clean stop: one line (beside the progress bar), and the staged files gone
            said = [line for line in err.splitlines() if line.startswith("overparam:")]
            assert len(said) == 1 and ("untouched" in said[0] or "complete" in said[0]), err
            assert "Traceback" not in err
            assert not staging_dirs(out)
        # 130 for Ctrl-C, 143 for SIGTERM, as a shell reports a process they ended
        assert proc.returncode in (0, 128 + sig, -signal.SIGKILL), (sig, moment, err,
                                                                     _errors_in(out))
        # one whole set as a reader sees it right after the stop: the previous one, or —
        # when the signal came while the new set was being swapped in, which then completes
        # before the stop — the new one; the next run's tidying changes nothing of it
        state = assert_whole(out, previous)
        recover(out)
        assert assert_whole(out, previous) == state
        # the previous report had ic.thm1.png; a new report of ic.params has none
        assert "ic.thm1.png" not in snapshot(out) or state == "previous"


def test_verify_killed_at_every_moment_of_its_swap_shows_one_whole_report(tmp_path):
    """The case found by hand: kill -9 right after report.json was replaced left report.md
    and the figures of the earlier run beside it. Now, killed before each change to the
    directory from the commit's start to its end, the folder shows the earlier report (with
    its figure) or the new one (without), whole, to a reader who opens it at once."""
    from overparam.cli import main
    from overparam.common.outputs import OutputSet

    # once here first, so that each forked run finds everything imported and warmed up
    assert main(["verify", "ic.params", "--out", str(tmp_path / "warm")]) == 0
    base = tmp_path / "base"
    previous = previous_set(base, (*REPORT, "ic.thm1.png"))
    states, moment, killed = [], 0, True
    while killed:
        moment += 1
        out = tmp_path / f"moment-{moment}"
        shutil.copytree(base, out, symlinks=True)
        killed = killed_at(moment, lambda o=out: main(["verify", "ic.params", "--out", str(o)]),
                           armed=(OutputSet, "commit"))
        states.append(assert_whole(out, previous))
        assert ("ic.thm1.png" in snapshot(out)) == (states[-1] == "previous")
    assert states[0] == "previous" and states[-1] == "new" and moment > 5, states


def _children(pid: int) -> list[int]:
    kids = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            kids.append(int(stat.parent.name))
    return kids


def _alive(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads /proc")
def test_reproduce_killed_at_several_moments_keeps_one_whole_set(tmp_path):
    """One smoke sweep, stopped three times and resumed: kill -9 mid-sweep (with worker
    processes), SIGTERM and SIGINT while the outputs are being written; the earlier outputs
    stay untouched until a run completes, and the completed set is whole."""
    out = tmp_path / "out"
    files = ("results.json", "results.csv", "summary.md", "predictions.png", "heatmaps.png",
             "heatmaps_mse.png")
    previous = previous_set(out, files)
    args = ("reproduce", "ic.fcn-depth", "--preset", "smoke", "--out", str(out))

    # 1. kill -9 once the first point is on disk; its workers must not outlive it
    proc = Forked(*args, "--executor", "local", "--workers", "2")
    assert wait_for(lambda: any((out / "points").glob("*.json")), timeout=600)
    workers = _children(proc.pid)
    proc.kill()
    proc.communicate()
    assert workers and wait_for(lambda: not any(_alive(w) for w in workers), timeout=5)
    assert snapshot(out) == previous

    # 2. and 3. SIGTERM, then SIGINT, as soon as the outputs are being staged
    for sig in (signal.SIGTERM, signal.SIGINT):
        proc = Forked(*args, "--resume", "--executor", "local", "--workers", "2")
        # the rest of the sweep runs first (generous: a loaded machine is many times slower)
        assert wait_for(lambda p=proc: bool(staging_dirs(out)) or p.poll() is not None,
                        timeout=600)
        proc.send_signal(sig)
        _, err = proc.communicate(timeout=600)
        if proc.returncode == 128 + sig:
            assert "--resume" in err and "Traceback" not in err
            assert snapshot(out) == previous and not staging_dirs(out)
        else:  # it finished writing before the signal arrived
            assert proc.returncode == 0 and assert_whole(out, previous) == "new"

    # 4. a last resume completes: one whole new set
    proc = Forked(*args, "--resume")
    _, err = proc.communicate(timeout=600)
    assert proc.returncode == 0, err
    assert assert_whole(out, previous) == "new"
    assert set(check_output_set(out)["files"]) == set(files)


def _one_line(err: str) -> str:
    """The one line a stopped command says (a progress bar may share stderr)."""
    said = [line[line.index("overparam:"):] for line in err.splitlines()
            if "overparam:" in line]
    assert len(said) == 1 and "Traceback" not in err, err
    return said[0]


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads /proc")
@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_reproduce_local_stopped_after_the_first_point_says_one_line(tmp_path, monkeypatch,
                                                                     sig):
    """Found by hand: Ctrl-C or SIGTERM of ``--executor local`` after the first point ended in
    AttributeError: 'NoneType' object has no attribute 'values' (exit 1)."""
    install_slow_experiment(tmp_path, monkeypatch)
    out = tmp_path / "out"
    proc = Forked("reproduce", "slow.squares", "--preset", "smoke", "--out", str(out),
                  "--executor", "local", "--workers", "2")
    assert wait_for(lambda: any((out / "points").glob("*.json")), timeout=600)
    workers = _children(proc.pid)
    proc.send_signal(sig)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 128 + sig, err
    line = _one_line(err)
    assert "interrupted" in line and str(out) in line and "--resume" in line
    assert wait_for(lambda: not any(_alive(w) for w in workers), timeout=5)


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads /proc")
def test_a_second_signal_during_the_clean_up_stops_at_once_with_the_same_line(tmp_path,
                                                                             monkeypatch):
    """Ctrl-C, then SIGTERM while the first one's clean-up runs (here: right after the worker
    processes are stopped): one line, the first signal's status, no traceback."""
    from overparam.experiments import runner

    real = runner._stop_workers

    def stop_then_signalled(pool):
        real(pool)
        os.kill(os.getpid(), signal.SIGTERM)

    monkeypatch.setattr(runner, "_stop_workers", stop_then_signalled)  # inherited by the fork
    install_slow_experiment(tmp_path, monkeypatch)
    out = tmp_path / "out"
    proc = Forked("reproduce", "slow.squares", "--preset", "smoke", "--out", str(out),
                  "--executor", "local", "--workers", "2")
    assert wait_for(lambda: any((out / "points").glob("*.json")), timeout=600)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err
    assert "interrupted (Ctrl-C)" in _one_line(err)


def _signalled_inside(monkeypatch, owner, name: str, sig: int) -> None:
    """Make ``owner.name`` send ``sig`` to this process as it is called, as a Ctrl-C or a
    SIGTERM landing at that moment would."""
    real = getattr(owner, name)

    def signalled(*args, **kwargs):
        os.kill(os.getpid(), sig)
        return real(*args, **kwargs)

    monkeypatch.setattr(owner, name, signalled)


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
@pytest.mark.parametrize("moment", ["arguments parsed", "readme-table reading",
                                    "readme-table writing", "data listing"])
def test_every_command_stopped_at_any_moment_says_one_line(tmp_path, monkeypatch, capsys, sig,
                                                           moment):
    """The one interruption path beyond verify and reproduce: while the arguments are parsed,
    while readme-table reads the report or rewrites the README, while data looks for the
    datasets — one line saying what was kept, 130 for Ctrl-C and 143 for SIGTERM."""
    from overparam import cli
    from overparam.experiments import datasets
    from overparam.verify import report

    readme = tmp_path / "README.md"
    readme.write_text(f"{report.README_BEGIN}\n{report.README_END}\n", encoding="utf-8")
    argv = ["readme-table", "docs/report/report.json", "--update", str(readme)]
    if moment == "arguments parsed":
        _signalled_inside(monkeypatch, cli, "_parser", sig)
        kept = "nothing was written"
    elif moment == "readme-table reading":
        _signalled_inside(monkeypatch, report, "load_report", sig)
        kept = f"{readme} is untouched"
    elif moment == "readme-table writing":
        _signalled_inside(monkeypatch, report, "update_readme", sig)
        kept = f"{readme} is untouched"
    else:
        _signalled_inside(monkeypatch, datasets, "available_datasets", sig)
        argv, kept = ["data"], "nothing was written"
    before = readme.read_bytes()
    handlers = signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM)
    assert cli.main(argv) == 128 + sig
    line = _one_line(capsys.readouterr().err)
    assert line == f"overparam: interrupted ({'Ctrl-C' if sig == signal.SIGINT else 'SIGTERM'}); "\
                   f"{kept}"
    assert readme.read_bytes() == before
    # a caller in Python gets its own handlers back
    assert (signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM)) == handlers


def test_an_interruption_while_older_outputs_are_adopted_says_they_are_untouched(
        tmp_path, monkeypatch, capsys):
    """Plain files of an older version are moved into a set directory before the swap (the
    set link then exists, the manifest a reader sees is still the old one): a Ctrl-C right
    there says the previous report is untouched — as it is — not that the new one is
    complete."""
    from faultkit import plain_set

    from overparam.cli import main
    from overparam.common import outputs

    previous = plain_set(tmp_path, (*REPORT, "ic.thm1.png"))
    real = outputs._adopt_plain_files

    def adopted_then_interrupted(*args, **kwargs):
        real(*args, **kwargs)
        raise KeyboardInterrupt

    monkeypatch.setattr(outputs, "_adopt_plain_files", adopted_then_interrupted)
    assert main(["verify", "ic.params", "--out", str(tmp_path)]) == 130
    line = _one_line(capsys.readouterr().err)
    assert "the previous report" in line and "untouched" in line, line
    assert assert_whole(tmp_path, previous) == "previous"
