"""Plots and the HTML report of evaluation and inference results."""
