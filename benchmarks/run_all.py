"""Run every benchmark in this folder and gather their tables into BENCHMARKS.md.

Each ``bench_*.py`` prints a markdown table and writes it to ``benchmarks/results/<area>.md``;
this script runs them one after another (never in parallel: they measure speed) and writes
BENCHMARKS.md from those files, with the machine they ran on.

    python benchmarks/run_all.py                 # all
    python benchmarks/run_all.py extract train   # some
    python benchmarks/run_all.py --collect       # only rebuild BENCHMARKS.md from benchmarks/results/
"""

from __future__ import annotations

import os
import platform
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
ORDER = ["synth", "faces", "extract", "train", "avff"]


def machine() -> str:
    import torch

    cpu = platform.processor() or platform.machine()
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{os.cpu_count()} cores ({cpu}), torch {torch.__version__}, Python {platform.python_version()}"


def main(argv: list[str]) -> int:
    collect_only = "--collect" in argv
    argv = [a for a in argv if a != "--collect"]
    wanted = [] if collect_only else (argv or [p.stem[len("bench_") :] for p in sorted(HERE.glob("bench_*.py"))])
    wanted = sorted(wanted, key=lambda n: ORDER.index(n) if n in ORDER else len(ORDER))
    env = dict(os.environ, HF_HUB_OFFLINE="1", PYTHONPATH=str(ROOT / "src"))
    failed = []
    for name in wanted:
        script = HERE / f"bench_{name}.py"
        print(f"== {script.name}", flush=True)
        t = time.time()
        rc = subprocess.call([sys.executable, str(script)], cwd=ROOT, env=env)
        print(f"== {script.name}: exit {rc} in {time.time() - t:.0f} s", flush=True)
        if rc:
            failed.append(name)
    parts = [
        "# Benchmarks",
        "",
        "Every figure below is written by `make bench` (`python benchmarks/run_all.py`); each section",
        "names the script that produced it. Ratios compare against a baseline measured in the same run.",
        "",
        f"Machine: {machine()}.",
        "",
        "Each section states the load average it was measured at: several were taken while other jobs",
        "shared the two cores, and their wall-clock times are inflated accordingly (CPU-second columns",
        "are the steadier figure). Model-quality runs and probes are not here: experiments/results/.",
        "",
    ]
    for name in ORDER + sorted(set(p.stem for p in (HERE / "results").glob("*.md")) - set(ORDER)):
        f = HERE / "results" / f"{name}.md"
        if f.is_file():
            parts += [f.read_text().rstrip(), ""]
    extra = ROOT / "benchmarks" / "GPU.md"
    if extra.is_file():
        parts += [extra.read_text().rstrip(), ""]
    (ROOT / "BENCHMARKS.md").write_text("\n".join(parts))
    print(f"wrote {ROOT / 'BENCHMARKS.md'}")
    if failed:
        print("failed:", ", ".join(failed), file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
