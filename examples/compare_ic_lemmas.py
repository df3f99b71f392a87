"""IC Lemmas 1–2: f(x) = Wᵀx trained by gradient descent vs Lemma 1 (N ≤ D) and Lemma 2
(N > D), the lemma chosen from the data's shape and rank."""

import numpy as np

from overparam import compare

rng = np.random.default_rng(0)
data = [(rng.standard_normal((n, 10)), rng.standard_normal((n, 2))) for n in (3, 6, 20, 40)]
print(compare.to_markdown([compare.ic_lemmas(X, Y) for X, Y in data]))
