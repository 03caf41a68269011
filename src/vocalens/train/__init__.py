"""Training shared by every model: a DDP-aware loop (`fit`), checkpoints, schedules, samplers."""

from vocalens.train.loop import FitConfig, Task, fit

__all__ = ["FitConfig", "Task", "fit"]
