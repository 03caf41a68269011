"""Training shared by both systems: a DDP-aware loop (`fit`), checkpoints, schedules, samplers; it knows no model."""

from vocalens.train.loop import FitConfig, Task, fit

__all__ = ["FitConfig", "Task", "fit"]
