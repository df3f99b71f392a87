"""RR Sec. 5: single-example SGD on a linear model from w0 = 0 vs the minimum-norm
interpolant X⁺y, as the dimension grows."""

import numpy as np

from overparam import compare

rng = np.random.default_rng(0)
data = [(rng.standard_normal((5, d)), rng.standard_normal(5)) for d in (8, 16, 32)]
print(compare.to_markdown([compare.rr_min_norm_sgd(X, y) for X, y in data]))
