"""A full disk, a read-only or unwritable place, a file name too long, a non-UTF-8 locale: one
line naming the file and what to do (never a traceback), and the previous outputs untouched."""

import errno
import json
import os
import subprocess
import sys

import pytest
from faultkit import previous_set, snapshot

from overparam.cli import main
from overparam.common.outputs import OutputSet
from overparam.verify.report import README_BEGIN, README_END

REPORT_FILES = ("report.json", "report.md")


def one_line(err: str) -> str:
    """The one message line (a progress bar may share stderr; it starts otherwise)."""
    lines = [line for line in err.splitlines() if "overparam:" in line]
    assert len(lines) == 1 and "Traceback" not in err, err
    message = lines[0][lines[0].index("overparam:"):]
    assert message.startswith("overparam: error:"), err
    return message


@pytest.mark.parametrize(("code", "advice"), [(errno.ENOSPC, "disk is full"),
                                              (errno.EROFS, "read-only"),
                                              (errno.EACCES, "permission denied"),
                                              (errno.ENAMETOOLONG, "too long")])
def test_a_write_failing_mid_run_is_one_line_and_keeps_the_previous_report(
        tmp_path, monkeypatch, capsys, code, advice):
    previous = previous_set(tmp_path, REPORT_FILES)
    failing = tmp_path / "report.md"

    def write_text(self, name, text):
        if name == "report.md":
            raise OSError(code, os.strerror(code), str(failing))
        return real(self, name, text)
    real = OutputSet.write_text
    monkeypatch.setattr(OutputSet, "write_text", write_text)
    assert main(["verify", "ic.params", "--out", str(tmp_path)]) == 1
    line = one_line(capsys.readouterr().err)
    assert str(failing) in line and advice in line
    assert snapshot(tmp_path) == previous
    assert not list(tmp_path.glob(".staging-*"))


def test_a_disk_already_full_is_refused_before_any_claim_runs(small_tmpfs, tmp_path, capsys,
                                                              monkeypatch):
    if small_tmpfs is None:
        from overparam.common import outputs

        def full(path, data):
            raise OSError(errno.ENOSPC, "No space left on device", str(path))
        monkeypatch.setattr(outputs, "write_atomic", full)
        out = tmp_path
    else:
        out = small_tmpfs
        # fill it: the preflight's probe file must meet a real ENOSPC
        with open(out / "filler", "wb") as fh, pytest.raises(OSError) as info:
            while True:
                fh.write(b"\0" * 65536)
                fh.flush()
        assert info.value.errno == errno.ENOSPC
    assert main(["verify", "ic.params", "--out", str(out)]) == 2
    line = one_line(capsys.readouterr().err)
    assert str(out) in line and "No space left on device" in line
    assert not (out / "report.json").exists()


def test_a_disk_too_small_for_the_stated_estimate_is_refused(small_tmpfs, capsys):
    if small_tmpfs is None:
        pytest.skip("needs a real small file system (root and mount)")
    assert main(["verify", "ic.params", "--out", str(small_tmpfs)]) == 2
    line = one_line(capsys.readouterr().err)
    assert "free" in line and str(small_tmpfs) in line


def test_a_too_long_out_name_is_one_line(tmp_path, capsys):
    out = tmp_path / ("d" * 300)
    assert main(["verify", "ic.params", "--out", str(out)]) == 2
    assert "too long" in one_line(capsys.readouterr().err)


def c_locale(*args, cwd=None):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("LC_", "PYTHONIO"))}
    env.update(LC_ALL="C", LANG="C", PYTHONUTF8="0", PYTHONCOERCECLOCALE="0")
    return subprocess.run([sys.executable, "-m", "overparam", *args], capture_output=True,
                          env=env, cwd=cwd, timeout=120)


def test_a_non_utf8_locale_writes_utf8_and_prints_what_it_can(tmp_path):
    out = tmp_path / "reports"
    proc = c_locale("verify", "ic.params", "--out", str(out))
    assert proc.returncode == 0, proc.stderr
    md = (out / "report.md").read_bytes().decode("utf-8")  # UTF-8 whatever the locale
    assert "×" in md
    # a table with Greek letters printed to an ASCII terminal: escaped, not a codec error
    report = json.loads((out / "report.json").read_text(encoding="utf-8"))
    report["claims"][0]["where"] = "Sec. 3.2, ρ-images"
    (out / "report.json").write_text(json.dumps(report), encoding="utf-8")
    proc = c_locale("readme-table", str(out / "report.json"))
    assert proc.returncode == 0, proc.stderr
    assert b"\\u03c1-images" in proc.stdout and b"Traceback" not in proc.stderr
    readme = tmp_path / "README.md"
    readme.write_text(f"ρ intro\n{README_BEGIN}\n{README_END}\n", encoding="utf-8")
    proc = c_locale("readme-table", str(out / "report.json"), "--update", str(readme))
    assert proc.returncode == 0, proc.stderr
    assert "ρ-images" in readme.read_text(encoding="utf-8")
    assert readme.read_text(encoding="utf-8").startswith("ρ intro\n")


def test_a_closed_output_pipe_is_quiet():
    """`overparam list | head -1`: the reader goes away before the listing is written."""
    proc = subprocess.Popen([sys.executable, "-m", "overparam", "list"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    proc.stdout.close()  # before the child has printed anything (it is still importing)
    err = proc.stderr.read()
    assert proc.wait(timeout=60) == 1
    assert err == b""


def test_an_invalid_mplbackend_does_not_stop_the_figures(tmp_path):
    """Found by hand: MPLBACKEND=bogus made ic.thm1 `error` (Matplotlib's import refuses the
    name) for figures that never use the user's display backend. In a fresh interpreter, as
    the command runs: the figure is drawn and the user's variable is left as it was."""
    script = ("import os\n"
              "from overparam.common.plotting import pyplot, save\n"
              "plt = pyplot()\n"
              f"save(plt.figure(), __import__('pathlib').Path({str(tmp_path / 'f.png')!r}))\n"
              "print(plt.get_backend(), os.environ['MPLBACKEND'])\n")
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          env={**os.environ, "MPLBACKEND": "bogus"}, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["Agg", "bogus"]
    assert (tmp_path / "f.png").read_bytes().startswith(b"\x89PNG")


def test_a_claim_errored_by_the_environment_is_named_on_the_terminal(tmp_path, monkeypatch,
                                                                      capsys):
    """The claim, the cause and the fix on stderr — before, the reason was only inside
    report.md (found with MPLBACKEND=bogus). Here a package the check needs is missing."""
    from overparam.theory import identity_crisis as ic

    def missing(*args, **kwargs):
        raise ModuleNotFoundError("No module named 'sympy'", name="sympy")

    monkeypatch.setattr(ic, "param_count", missing)
    assert main(["verify", "ic.params", "--out", str(tmp_path)]) == 1
    said = [line for line in capsys.readouterr().err.splitlines()
            if line.startswith("overparam: ic.params is error:")]
    assert said, "the errored claim is not named on stderr"
    assert all("ModuleNotFoundError: No module named 'sympy'" in line
               and "install the package that provides 'sympy'" in line for line in said), said
