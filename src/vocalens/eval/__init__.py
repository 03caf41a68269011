"""Evaluation: probabilities to segments, and the metrics."""
