"""The ``overparam`` command: verify | list | data | reproduce | readme-table."""

from __future__ import annotations

import argparse
import json
import sys
import time
import warnings
from pathlib import Path

from overparam import __version__

#: experiment id → (paper, what it reproduces)
EXPERIMENTS = {"ic.fcn-depth": ("IC", "Fig. 2, 13, 14, 33, 34: FCN depth on one training digit")}


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # one line, not the usage block
        self.exit(2, f"overparam: error: {message}\n")


def _parser() -> argparse.ArgumentParser:
    p = _Parser(prog="overparam", description="Checked theorems on memorization and "
                "generalization in over-parameterized networks.")
    p.add_argument("--version", action="version", version=f"overparam {__version__}")
    sub = p.add_subparsers(dest="command", required=True, parser_class=_Parser)
    v = sub.add_parser("verify", help="check claims and write a report")
    v.add_argument("ids", nargs="*", help="claim ids (or prefixes like 'ic.*'); all if none")
    v.add_argument("--level", choices=("quick", "full"), default="quick")
    v.add_argument("--seed", type=int, default=0)
    v.add_argument("--backend", choices=("numpy", "cupy"), default="numpy")
    v.add_argument("--out", type=Path, default=Path("reports"))
    v.add_argument("--strict", action="store_true",
                   help="exit non-zero unless every verdict is 'verified'")
    sub.add_parser("list", help="list claims (and experiments)")
    sub.add_parser("data", help="datasets available on this machine and how to get the rest")
    r = sub.add_parser("reproduce", help="reproduce a paper figure or table")
    r.add_argument("experiment", choices=tuple(EXPERIMENTS))
    r.add_argument("--preset", choices=("smoke", "quick", "paper"), default="quick")
    r.add_argument("--out", type=Path, default=None)
    r.add_argument("--seed", type=int, default=0)
    r.add_argument("--resume", action="store_true",
                   help="keep finished points from an earlier (interrupted) run")
    r.add_argument("--backend", choices=("numpy", "cupy"), default="numpy")
    r.add_argument("--executor", choices=("serial", "local", "dask"), default="serial")
    r.add_argument("--scheduler", default=None, help="dask scheduler address (tcp://…)")
    r.add_argument("--workers", type=int, default=None,
                   help="worker processes for --executor local (default: one per core)")
    t = sub.add_parser("readme-table", help="print (or write into README) the claims table")
    t.add_argument("report", type=Path, help="a report.json")
    t.add_argument("--update", type=Path, metavar="README", help="rewrite this README's block")
    return p


def _verify(args: argparse.Namespace) -> int:
    from tqdm.auto import tqdm

    from overparam.numerics.backend import get_xp
    from overparam.verify.registry import Context, run_claim, select_claims
    from overparam.verify.report import build_report, environment, terminal_table, write_report

    try:
        claims = select_claims(args.ids)
        xp = get_xp(backend=args.backend)
    except (ValueError, TypeError) as exc:
        print(f"overparam: error: {exc}", file=sys.stderr)
        return 2
    figures = args.out
    figures.mkdir(parents=True, exist_ok=True)
    ctx = Context(level=args.level, seed=args.seed, xp=xp, figures_dir=figures)
    results = []
    start = time.perf_counter()
    with warnings.catch_warnings():
        # float warnings inside checks are expected on adversarial inputs and are accounted
        # for by the checks themselves; they would only clutter the table
        warnings.simplefilter("ignore", RuntimeWarning)
        for claim in tqdm(claims, desc="verify", unit="claim", leave=False):
            results.append(run_claim(claim, ctx))
    report = build_report(results, environment(args.backend, args.level, args.seed))
    json_path, md_path = write_report(report, args.out)
    print(terminal_table(report))
    print(f"\n{len(results)} claims in {time.perf_counter() - start:.1f} s; "
          f"wrote {json_path} and {md_path}")
    if any(r.verdict == "error" for r in results):
        return 1
    if args.strict and any(r.verdict != "verified" for r in results):
        return 1
    return 0


def _list() -> int:
    from overparam.verify.registry import all_claims

    print("claims (overparam verify):")
    for c in all_claims():
        print(f"  {c.id:<22} {c.paper:<3} {c.where}")
    print("experiments (overparam reproduce):")
    for name, (paper, where) in EXPERIMENTS.items():
        print(f"  {name:<22} {paper:<3} {where}")
    return 0


def _reproduce(args: argparse.Namespace) -> int:
    from overparam.experiments import fcn_depth

    out = args.out or Path("reproductions") / f"{args.experiment}-{args.preset}"
    try:
        result = fcn_depth.reproduce(out, preset=args.preset, seed=args.seed,
                                     backend=args.backend, executor=args.executor,
                                     workers=args.workers, scheduler=args.scheduler,
                                     resume=args.resume)
    except (ValueError, FileNotFoundError) as exc:
        print(f"overparam: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"overparam: interrupted; finished points and training checkpoints are kept in "
              f"{out} — continue with the same command plus --resume", file=sys.stderr)
        return 130
    print(result["summary"])
    print(f"wrote {out}/: results.json, results.csv, predictions.png, heatmaps.png, "
          f"heatmaps_mse.png, summary.md")
    return 0


def _data() -> int:
    from overparam.experiments.datasets import available_datasets

    for d in available_datasets():
        state = "available" if d.available else "missing  "
        print(f"{d.name:<14} {state}  {d.where}\n{'':<14} get it: {d.how}")
    return 0


def _readme_table(args: argparse.Namespace) -> int:
    from overparam.verify.report import readme_table, update_readme

    try:
        report = json.loads(args.report.read_text(encoding="utf-8"))
        if args.update:
            update_readme(args.update, report)
        else:
            print(readme_table(report))
    except (OSError, ValueError, KeyError) as exc:
        print(f"overparam: error: {exc}", file=sys.stderr)
        return 2
    return 0


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``overparam`` console script."""
    args = _parser().parse_args(argv)
    if args.command == "verify":
        return _verify(args)
    if args.command == "list":
        return _list()
    if args.command == "data":
        return _data()
    if args.command == "reproduce":
        return _reproduce(args)
    return _readme_table(args)
