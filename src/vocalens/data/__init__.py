"""Datasets: metadata records, frame labels, the feature store, and datasets we make (synth, forge)."""
