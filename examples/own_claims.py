"""Your own claims in overparam's report: the claims of ``user_claims.py`` beside one of
overparam's, with the same verdict rules, JSON and Markdown.

    python examples/own_claims.py [OUT_DIR]

does what ``overparam verify --claims examples/user_claims.py 'user.*' ic.params --out
OUT_DIR`` does (without figures): ``user.two-layer.lipschitz-max`` comes out falsified with a
counterexample that re-runs as ``user_claims:lipschitz_gap(**arguments)``; the others verified.
"""

import json
import sys
from pathlib import Path

from overparam import claims as oc
from overparam.verify.report import markdown, terminal_table

out = Path(sys.argv[1] if len(sys.argv) > 1 else "reports-own-claims")
mine = str(Path(__file__).with_name("user_claims.py"))
report = oc.run_claims(oc.select_all_claims(["user.*", "ic.params"], [mine]))
out.mkdir(parents=True, exist_ok=True)
(out / "report.json").write_text(json.dumps(report, indent=2, ensure_ascii=False) + "\n")
(out / "report.md").write_text(markdown(report))
print(terminal_table(report))
