"""The per-manipulation breakdown, one rule for both systems.

Each fake type is scored together with *all* real videos (so AUC/AP and the false positives on real
videos stay meaningful, as in the LAV-DF subsets); 'real' alone is the real videos (their AUCs are
undefined: read accuracy and the false-positive rate). Real = video label 0.
"""

from __future__ import annotations

from typing import Sequence

MANIPULATIONS = ("real", "audio", "visual", "both")  # LAV-DF's and AV-Deepfake1M's types, in report order


def manipulation_subsets(
    manipulations: Sequence[str], labels: Sequence[int], *, include_real: bool = True, known_only: bool = False
) -> dict[str, list[int]]:
    """``{type: indices}``: each fake type's videos followed by every real video; ``'real'``: the real videos
    (with ``include_real``). Types in :data:`MANIPULATIONS` order, then any others sorted;
    ``known_only`` keeps only the types in :data:`MANIPULATIONS`."""
    real = [i for i, y in enumerate(labels) if not int(y)]
    kinds = {str(m) for m, y in zip(manipulations, labels) if int(y)}
    order = [k for k in MANIPULATIONS if k in kinds] + ([] if known_only else sorted(kinds - set(MANIPULATIONS)))
    out: dict[str, list[int]] = {"real": real} if include_real and real else {}
    for k in order:
        out[k] = [i for i, (m, y) in enumerate(zip(manipulations, labels)) if int(y) and str(m) == k] + real
    return out
