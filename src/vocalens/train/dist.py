"""Process-group helpers: one process or many (torchrun), NCCL on GPU, gloo on CPU.

`torchrun` sets RANK / WORLD_SIZE / LOCAL_RANK / MASTER_ADDR / MASTER_PORT; without them every
helper here degrades to the single-process case, so the same code path runs both ways.
"""

from __future__ import annotations

import os
from datetime import timedelta

import torch
import torch.distributed as dist

from vocalens.errors import UserError


def launched_by_torchrun() -> bool:
    return "RANK" in os.environ and "WORLD_SIZE" in os.environ


def is_dist() -> bool:
    return dist.is_available() and dist.is_initialized()


def rank() -> int:
    return dist.get_rank() if is_dist() else 0


def world_size() -> int:
    return dist.get_world_size() if is_dist() else 1


def is_main() -> bool:
    return rank() == 0


DEVICE_HELP = "torch device: auto (cuda:LOCAL_RANK when CUDA is there, else cpu), cpu, cuda, cuda:N"


def pick_device(requested: str | None = None) -> torch.device:
    """THE device rule of every command's --device: 'auto'/None -> cuda:LOCAL_RANK when CUDA is there, else cpu."""
    if requested in (None, "", "auto"):
        if torch.cuda.is_available():
            return torch.device("cuda", int(os.environ.get("LOCAL_RANK", 0)))
        return torch.device("cpu")
    try:
        dev = torch.device(requested)
    except RuntimeError:
        raise UserError(f"--device: {requested!r} is not a torch device ({DEVICE_HELP})") from None
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise UserError(f"--device {requested}: CUDA is not available on this machine (use auto or cpu)")
    if dev.type == "cuda" and dev.index is None:
        dev = torch.device("cuda", int(os.environ.get("LOCAL_RANK", 0)))
    return dev


def setup(device: torch.device) -> bool:
    """Join the process group when launched by torchrun; returns True when distributed."""
    if is_dist():
        return True
    if not launched_by_torchrun() or int(os.environ["WORLD_SIZE"]) <= 1:
        return False
    backend = "nccl" if device.type == "cuda" else "gloo"
    if device.type == "cuda":
        torch.cuda.set_device(device)
    dist.init_process_group(backend=backend, timeout=timedelta(minutes=30))
    return True


def cleanup() -> None:
    if is_dist():
        dist.destroy_process_group()


def barrier() -> None:
    if is_dist():
        dist.barrier()


def all_gather_objects(obj) -> list:
    """Every rank's `obj`, in rank order (a list of length world_size)."""
    if not is_dist():
        return [obj]
    out = [None] * world_size()
    dist.all_gather_object(out, obj)
    return out


def broadcast_object(obj, src: int = 0):
    if not is_dist():
        return obj
    box = [obj]
    dist.broadcast_object_list(box, src=src)
    return box[0]


def all_reduce_sum(values: list[float], device: torch.device) -> list[float]:
    """Sum a few scalars over ranks (for logging averages)."""
    if not is_dist():
        return list(values)
    t = torch.tensor(values, dtype=torch.float64, device=device)
    dist.all_reduce(t)
    return t.tolist()
