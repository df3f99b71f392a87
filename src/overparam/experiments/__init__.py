"""Datasets, sweeps and reproductions of the papers' figures and tables."""
