"""Closed forms, bounds and constructions of the three papers, stated as the papers state them."""
