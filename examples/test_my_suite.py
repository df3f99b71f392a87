"""A user's own test suite using overparam: hypothesis strategies for property-based tests,
and claims' checks as parametrized tests.

    pytest examples/test_my_suite.py
"""

from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from overparam.testing import parametrize_with_claims
from overparam.theory import identity_crisis as ic
from overparam.verify import strategies as ost


@settings(max_examples=25, deadline=None)
@given(ost.vectors(st.integers(1, 16)), st.integers(2, 6))
def test_relu_identity_construction_is_exact(x, depth):
    """IC App. B.2: the ReLU FCN with hidden width 2d computes the identity exactly."""
    weights = ic.relu_fcn_identity_weights(len(x), depth)
    assert (ic.fcn_forward(weights, x) == x).all()


@settings(max_examples=10, deadline=None)
@given(ost.images(st.integers(3, 8), st.integers(3, 8), st.integers(1, 2), kinds=("random",)))
def test_padding_an_image_never_lowers_its_patch_rank(image):
    """IC Sec. 3.2's remark, as far as it holds: one zero pixel of padding per side keeps r
    at least as large (``ic.padding`` shows it can grow, so the bound need not shrink)."""
    assert ic.conv1_rank(image, 3, pad=1) >= ic.conv1_rank(image, 3)


@parametrize_with_claims(["ic.params", "user.two-layer.second-moment"],
                         claims=str(Path(__file__).with_name("user_claims.py")))
def test_claim(claim, check):
    """Each check of each selected claim, overparam's and mine, as its own test."""
    check()
