"""The checks of each claim, one module per group of claims; ``CLAIM_MODULES`` lists them in
the order of the docs' claim pages (papers/ic.md, em.md, rr.md)."""

from overparam.verify.checks import (
    em_alignment,
    em_kernel,
    ic_constructions,
    ic_conv,
    ic_linear,
    rr,
)

CLAIM_MODULES = (ic_linear, ic_conv, ic_constructions, em_kernel, em_alignment, rr)
