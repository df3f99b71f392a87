"""Claims, evidence, verdicts, the counterexample search, hypothesis strategies, reports."""
