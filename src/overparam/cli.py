"""The ``overparam`` command: verify | list | data | reproduce | readme-table.

One error boundary (``main``): whatever goes wrong outside a check — a full disk, a read-only
or unwritable directory, a file name too long, Ctrl-C or SIGTERM, a closed pipe, a lost Dask
scheduler — ends in one line on stderr naming the file or resource and what to do, with the
exit codes of ``EXIT_CODES``.
"""

from __future__ import annotations

# Only small modules are imported here: ``main`` installs the handlers of Ctrl-C and SIGTERM
# first thing, and everything slower (argparse, the package's modules) is imported after, so
# that an interruption from the first moment of ``main`` on meets them.
import errno
import os
import signal
import sys
import time
from typing import TYPE_CHECKING

from overparam import __version__

if TYPE_CHECKING:
    import argparse
    from collections.abc import Callable

#: exit status → meaning (shown in --help)
EXIT_CODES = {
    0: "success",
    1: "an error: a check errored, a full disk or unwritable file, a lost scheduler,\n"
       "       a closed output pipe; with verify --strict, a verdict other than verified",
    2: "bad arguments, or unusable input or output paths (nothing was run)",
    130: "interrupted by Ctrl-C (SIGINT); finished work is kept, previous outputs untouched",
    143: "interrupted by SIGTERM; as for 130",
}

#: stated upper estimate of a verify report with its figures (the quick level writes 0.5 MB)
VERIFY_BYTES = 20 * 2**20

#: errno → what to do, for the one line of a failing write
_ADVICE = {
    errno.ENOSPC: "the disk is full: free space, or choose another --out",
    errno.EDQUOT: "the disk quota is exhausted: free space, or choose another --out",
    errno.EROFS: "the file system is read-only: choose another --out (or run elsewhere)",
    errno.EACCES: "permission denied: choose a directory you may write, or fix its permissions",
    errno.EPERM: "operation not permitted: choose a directory you may write",
    errno.ENAMETOOLONG: "a file name is too long for this file system: choose a shorter --out",
}


class _Interruption:
    """The one interruption path of every command: Ctrl-C (SIGINT) and SIGTERM raise
    KeyboardInterrupt wherever the command is, so that its clean-up runs as for any
    exception; ``main`` then says in one line what was kept and how to go on (``kept``, which
    each command keeps up to date) and exits 130 or 143. A second signal during that
    clean-up stops at once, with the same line."""

    def __init__(self) -> None:
        self.signum: int | None = None
        self.said = False
        self.kept: Callable[[], str] = lambda: "nothing was written"

    @property
    def code(self) -> int:
        """128 + the signal's number: 130 for Ctrl-C, 143 for SIGTERM."""
        return 128 + (self.signum or signal.SIGINT)

    def handle(self, signum: int, frame: object) -> None:
        """The handler of SIGINT and SIGTERM."""
        if self.signum is None:
            self.signum = signum
            raise KeyboardInterrupt
        # a second signal while the first one's clean-up runs: stop now, with the same line
        # written straight to the descriptor (the stream may be in the middle of a write)
        os.write(2, self.line().encode(sys.stderr.encoding or "utf-8", "backslashreplace"))
        os._exit(self.code)

    def line(self) -> str:
        """The one line, once (later calls return nothing)."""
        if self.said:
            return ""
        self.said = True
        name = "Ctrl-C" if self.signum in (None, signal.SIGINT) else "SIGTERM"
        try:
            kept = self.kept()
        except Exception as exc:  # what was kept could not be read back: say so, still one line
            kept = f"what was kept could not be checked ({type(exc).__name__}: {exc})"
        return f"overparam: interrupted ({name}); {kept}\n"


def _epilog() -> str:
    return "exit status:\n" + "\n".join(f"  {code:>3}  {what}" for code, what in
                                         EXIT_CODES.items())


def _parser() -> argparse.ArgumentParser:
    import argparse  # here, not above: see the imports' comment
    from pathlib import Path

    class _Parser(argparse.ArgumentParser):
        def error(self, message: str) -> None:  # one line, not the usage block
            self.exit(2, f"overparam: error: {message}\n")

    class _Help(argparse.ArgumentDefaultsHelpFormatter, argparse.RawDescriptionHelpFormatter):
        """Every option's default in --help (a help text that states its default itself
        keeps it), and the epilog's line breaks kept."""

        def _get_help_string(self, action: argparse.Action) -> str | None:
            if action.help and "(default:" in action.help:
                return action.help
            return super()._get_help_string(action)

    p = _Parser(prog="overparam", description="Checked theorems on memorization and "
                "generalization in over-parameterized networks.", epilog=_epilog(),
                formatter_class=_Help)
    p.add_argument("--version", action="version", version=f"overparam {__version__}")
    sub = p.add_subparsers(dest="command", required=True, parser_class=_Parser)
    kw = {"formatter_class": _Help, "epilog": _epilog()}
    v = sub.add_parser("verify", help="check claims and write a report", **kw)
    v.add_argument("ids", nargs="*", help="claim ids or prefixes like 'ic.*' (default: all claims)")
    v.add_argument("--level", choices=("quick", "full"), default="quick",
                   help="search and training budget")
    v.add_argument("--seed", type=int, default=0, help="seed of every random choice")
    v.add_argument("--backend", choices=("numpy", "cupy"), default="numpy",
                   help="array backend of the checks")
    v.add_argument("--out", type=Path, default=Path("reports"),
                   help="directory of report.json, report.md and the figures")
    v.add_argument("--strict", action="store_true",
                   help="exit 1 unless every verdict is 'verified'")
    v.add_argument("--claims", action="append", default=[], metavar="PACKAGE.MODULE",
                   help="also run the CLAIMS of this module or .py file, beside overparam's "
                   "and installed plugins' (repeatable)")
    sub.add_parser("list", help="list claims and experiments", **kw)
    sub.add_parser("data", help="datasets available on this machine and how to get the rest",
                   **kw)
    r = sub.add_parser("reproduce", help="reproduce a paper figure or table", **kw)
    r.add_argument("experiment", metavar="ID", help="experiment id (see `overparam list`)")
    r.add_argument("--preset", choices=("smoke", "quick", "standard", "paper"), default="quick",
                   help="smoke: seconds; quick: minutes on 2 cores; standard: the budgets that "
                        "reach the papers' preconditions, several seeds (up to hours on 2 "
                        "cores); paper: the paper's setup")
    r.add_argument("--out", type=Path, default=None,
                   help="output directory (default: reproductions/ID-PRESET)")
    r.add_argument("--seed", type=int, default=0, help="seed of the sweep")
    r.add_argument("--resume", action="store_true",
                   help="keep finished points from an earlier (interrupted) run")
    r.add_argument("--backend", choices=("numpy", "cupy"), default="numpy",
                   help="array backend of the training")
    r.add_argument("--executor", choices=("serial", "local", "dask"), default="serial",
                   help="where points run: in-process, worker processes, a Dask cluster")
    r.add_argument("--scheduler", default=None,
                   help="Dask scheduler address (tcp://…), only with --executor dask "
                   "(default: an in-process cluster)")
    r.add_argument("--workers", type=int, default=None,
                   help="worker processes, only with --executor local (default: one per core)")
    t = sub.add_parser("readme-table", help="print (or write into README) the claims table",
                       **kw)
    t.add_argument("report", type=Path, help="a report.json")
    t.add_argument("--update", type=Path, metavar="README", default=None,
                   help="rewrite this README's generated block (default: print the table)")
    return p


def _usage_error(message: object) -> int:
    print(f"overparam: error: {message}", file=sys.stderr)
    return 2


def _verify(args: argparse.Namespace, interruption: _Interruption) -> int:
    import warnings

    from tqdm.auto import tqdm

    from overparam.claims import select_all_claims
    from overparam.common.outputs import current_set, output_set, preflight
    from overparam.numerics.backend import get_xp
    from overparam.verify.registry import Context, run_claim
    from overparam.verify.report import build_report, environment, terminal_table, write_report

    try:
        claims = select_all_claims(args.ids, args.claims)
        xp = get_xp(backend=args.backend)
        preflight(args.out, need_bytes=VERIFY_BYTES, files=("report.json", "report.md"))
    except (ValueError, TypeError) as exc:
        return _usage_error(exc)
    results = []
    before = current_set(args.out)

    def kept() -> str:
        if current_set(args.out) != before:  # the signal came after the swap
            return f"the new report in {args.out} is complete"
        return (f"stopped after {len(results)} of {len(claims)} claims; the previous report in "
                f"{args.out} is untouched — run the same command again")

    interruption.kept = kept
    start = time.perf_counter()
    with output_set(args.out, "verify report") as staged:
        ctx = Context(level=args.level, seed=args.seed, xp=xp, figures_dir=staged.directory)
        with warnings.catch_warnings():
            # float warnings inside checks are expected on adversarial inputs and are
            # accounted for by the checks themselves; they would only clutter the table
            warnings.simplefilter("ignore", RuntimeWarning)
            for claim in tqdm(claims, desc="verify", unit="claim", leave=False):
                results.append(run_claim(claim, ctx))
        report = build_report(results, environment(args.backend, args.level, args.seed))
        json_path, md_path = write_report(report, staged)
    print(terminal_table(report))
    print(f"\n{len(results)} claims in {time.perf_counter() - start:.1f} s; "
          f"wrote {json_path} and {md_path}")
    sys.stdout.flush()  # the table first, then what went wrong in it
    for line in _error_lines(report, md_path):
        print(line, file=sys.stderr)
    if any(r.verdict == "error" for r in results):
        return 1
    if args.strict and any(r.verdict != "verified" for r in results):
        return 1
    return 0


def _error_lines(report: dict, md_path: os.PathLike) -> list[str]:
    """One line per check that errored — the claim, the cause (the exception's first line)
    and the fix — so that a fault of the environment (a missing package, memory, a file) is
    named where the user looks, not only inside report.md."""
    import re

    lines = []
    for claim in report["claims"]:
        for ev in claim["evidence"]:
            if ev["verdict"] != "error":
                continue
            cause = (ev.get("details") or "no details").splitlines()[0]
            cause = cause if len(cause) <= 240 else cause[:237] + "..."
            module = re.match(r"(?:ModuleNotFoundError|ImportError): No module named '([^']+)'",
                              cause)
            code = re.search(r"\[Errno (\d+)\]", cause)
            if module:
                fix = (f"install the package that provides {module.group(1)!r} (pip install -e "
                       "'.[test]' installs what overparam's claims use)")
            elif cause.startswith("MemoryError"):
                fix = "free memory (close other programs), or run fewer claims at once"
            elif code and int(code.group(1)) in _ADVICE:
                fix = _ADVICE[int(code.group(1))]
            else:
                fix = f"the traceback is in {md_path} under {claim['id']}"
            lines.append(f"overparam: {claim['id']} is error: {ev['kind']} raised {cause} — "
                         f"{fix}")
    return lines


def _list() -> int:
    from overparam.claims import select_all_claims
    from overparam.experiments.registry import all_experiments

    print("claims (overparam verify; installed plugins' included):")
    for c in select_all_claims():
        print(f"  {c.id:<22} {c.paper:<3} {c.where}")
        if c.exercises:
            print(f"  {'':<22}     exercises: {', '.join(c.exercises)}")
    print("experiments (overparam reproduce):")
    for e in all_experiments():
        print(f"  {e.id:<22} {e.paper:<3} {e.reproduces}")
    return 0


def _reproduce(args: argparse.Namespace, interruption: _Interruption) -> int:
    from pathlib import Path

    from overparam.common.outputs import current_set
    from overparam.experiments.protocol import reproduce
    from overparam.experiments.registry import get_experiment
    from overparam.experiments.runner import ExecutorError

    out = args.out or Path("reproductions") / f"{args.experiment}-{args.preset}"
    if args.workers is not None and args.executor != "local":
        return _usage_error("--workers: only with --executor local")
    before = current_set(out)

    def kept() -> str:
        if current_set(out) != before:  # the signal came after the swap
            return f"the reproduction in {out} is complete"
        return (f"finished points and training checkpoints are kept in {out}, the previous "
                "outputs there are untouched — continue with the same command plus --resume")

    interruption.kept = kept
    try:
        experiment = get_experiment(args.experiment)
        result = reproduce(experiment, out, preset=args.preset, seed=args.seed,
                           backend=args.backend, executor=args.executor, workers=args.workers,
                           scheduler=args.scheduler, resume=args.resume)
    except (ValueError, FileNotFoundError) as exc:
        return _usage_error(exc)
    except ExecutorError as exc:
        print(f"overparam: error: {exc}", file=sys.stderr)
        return 1
    print(result["summary"])
    print(f"wrote {out}/: " + ", ".join(p.name for p in result["files"]))
    return 0


def _data() -> int:
    from overparam.experiments.datasets import available_datasets

    for d in available_datasets():
        state = "available" if d.available else "missing  "
        print(f"{d.name:<14} {state}  {d.where}\n{'':<14} get it: {d.how}")
    return 0


def _file_id(path: os.PathLike) -> tuple[int, int] | None:
    """Which file ``path`` is now (a rename over it makes another one); None if none."""
    try:
        st = os.stat(path)
    except OSError:
        return None
    return st.st_dev, st.st_ino


def _readme_table(args: argparse.Namespace, interruption: _Interruption) -> int:
    from overparam.verify.report import load_report, readme_table, update_readme

    if args.update:
        before = _file_id(args.update)
        interruption.kept = lambda: (f"{args.update} is untouched" if _file_id(args.update)
                                     == before else f"{args.update} is updated")
    try:
        report = load_report(args.report)
        if args.update:
            update_readme(args.update, report)
        else:
            print(readme_table(report))
    except UnicodeDecodeError:
        return _usage_error(f"{args.update}: not UTF-8 text")
    except ValueError as exc:
        return _usage_error(exc)
    except (FileNotFoundError, IsADirectoryError, NotADirectoryError) as exc:
        return _usage_error(f"{exc.filename}: {exc.strerror}")
    return 0


def _os_error_line(exc: OSError) -> str:
    where = exc.filename or "a file"
    if exc.filename2:
        where = f"{where} → {exc.filename2}"
    advice = _ADVICE.get(exc.errno, "check the path and try again")
    return f"overparam: error: {exc.strerror or exc} ({where}); {advice}"


def _show_warning(message, category, filename, lineno, file=None, line=None) -> None:
    """A warning (e.g. a point file that cannot be used) as one line, not two with a source
    line."""
    print(f"overparam: warning: {message}", file=file or sys.stderr)


def _run(args: argparse.Namespace, interruption: _Interruption) -> int:
    if args.command == "verify":
        return _verify(args, interruption)
    if args.command == "list":
        return _list()
    if args.command == "data":
        return _data()
    if args.command == "reproduce":
        return _reproduce(args, interruption)
    return _readme_table(args, interruption)


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``overparam`` console script (``argv`` None: ``sys.argv``); returns
    the exit status (``EXIT_CODES``)."""
    interruption = _Interruption()
    replaced = {sig: signal.signal(sig, interruption.handle)
                for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        import warnings

        for stream in (sys.stdout, sys.stderr):
            # a non-UTF-8 locale (LC_ALL=C, PYTHONUTF8=0) shows ρ as \u03c1 instead of
            # failing; files are UTF-8 whatever the locale
            if hasattr(stream, "reconfigure"):
                stream.reconfigure(errors="backslashreplace")
        args = _parser().parse_args(argv)
        with warnings.catch_warnings():
            warnings.showwarning = _show_warning
            code = _run(args, interruption)
        sys.stdout.flush()  # a closed pipe shows here, inside the boundary, not at exit
        return code
    except KeyboardInterrupt:
        for sig in replaced:  # the clean-up is done: nothing may cut the line below short
            signal.signal(sig, signal.SIG_IGN)
        sys.stderr.write(interruption.line())
        return interruption.code
    except BrokenPipeError:
        # the reader went away (`overparam list | head -1`): nothing left to say to it
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1
    except OSError as exc:
        print(_os_error_line(exc), file=sys.stderr)
        return 1
    finally:
        for sig, handler in replaced.items():
            # the console script's process ends right after: a signal in its last moments
            # changes nothing (and must not print a traceback); a caller in Python gets its
            # own handlers back
            signal.signal(sig, signal.SIG_IGN if argv is None else handler)
