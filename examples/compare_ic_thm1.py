"""IC Thm 1: a one-layer linear net trained by gradient descent on one example vs the closed
form Π∥x + W0Π⊥x, on 8 test inputs (the step size is chosen and stated for you)."""

import numpy as np

from overparam import compare

record = compare.ic_thm1(np.random.default_rng(0).standard_normal(64))
print(compare.to_markdown([record]), record.lr_rule, sep="\n")
