"""overparam: the theorems of three papers on memorization and generalization in
over-parameterized networks, as executable objects that are checked.

Papers: Identity Crisis (Zhang et al., ICLR 2020), Extreme Memorization (Mehta et al.),
Understanding Deep Learning Requires Rethinking Generalization (Zhang et al., ICLR 2017).
"""

__version__ = "0.1.0"
