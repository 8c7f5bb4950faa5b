"""Evaluation: metrics and reports, plots, and comparing models on the same faces."""
