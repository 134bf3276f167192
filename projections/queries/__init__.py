"""Each domain's named questions (projections/catalog.py collects them)."""
