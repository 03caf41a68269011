"""Evaluation: probabilities to segments and proposals, the metrics, the per-manipulation breakdown, reports."""
