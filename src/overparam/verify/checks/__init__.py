"""The checks of each claim, one module per group of claims; ``CLAIM_MODULES`` lists them in
CLAIMS.md order."""

from overparam.verify.checks import (
    em_alignment,
    em_kernel,
    ic_constructions,
    ic_conv,
    ic_linear,
    rr,
)

CLAIM_MODULES = (ic_linear, ic_conv, ic_constructions, em_kernel, em_alignment, rr)
