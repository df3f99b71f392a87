"""Datasets, the sweep runner, the experiment protocol and its registry, and one module per
reproduction of the papers' figures and tables (each declares ``EXPERIMENT``; see
``experiments.protocol``)."""
