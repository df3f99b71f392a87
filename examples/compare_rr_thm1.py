"""RR Thm 1: the constructed two-layer ReLU net with 2n + d weights fits n random points,
evaluated as a real network, as n grows."""

import numpy as np

from overparam import compare

rng = np.random.default_rng(0)
records = [compare.rr_thm1(rng.standard_normal((n, 3)), rng.standard_normal(n)) for n in (10, 100)]
print(compare.to_markdown(records))
