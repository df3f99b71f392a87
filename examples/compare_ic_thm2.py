"""IC Thm 2: a one-layer CNN trained to reproduce a 6×6 image vs the closed form, and its test
MSE against the explicit bound, as the kernel grows (more parameters, a larger nullity n, a
larger bound). Heavy ball reaches the same limit as plain GD, in fewer steps."""

import numpy as np

from overparam import compare

image = np.random.default_rng(0).random((6, 6, 1))
records = [compare.ic_thm2(image, k, method="heavy-ball") for k in (1, 3, 5, 7)]
print(compare.to_markdown(records))
compare.plot(records, x="kernel", path="ic_thm2.png")
