"""Write a synthetic LAV-DF: plan, render and encode every video (in worker processes), then the metadata;
an interrupted run with the same settings resumes where it stopped."""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path

from vocalens.constants import FPS, SAMPLE_RATE
from vocalens.data.metadata import lavdf_entry, write_lavdf_metadata
from vocalens.datagen.synth.plan import SynthConfig, VideoPlan, plan_dataset
from vocalens.datagen.synth.render import render_video
from vocalens.errors import UserError
from vocalens.fileio import write_json_atomic
from vocalens.media.video import write_video

ENCODER_PRESET = "superfast"  # fast; every preset gives the same bytes run to run (video.X264_REPRODUCIBLE)


def metadata_entry(plan: VideoPlan, words: list, originals: dict[int, str]) -> dict:
    """One LAV-DF metadata entry (``metadata.json`` form; ``metadata.min.json`` drops timestamps/transcript)."""
    return lavdf_entry(
        plan.file,
        plan.split,
        plan.fake_periods,
        plan.num_frames,
        original=None if plan.kind == "real" or plan.content == plan.index else originals[plan.content],
        modify_video=plan.kind in ("visual", "both"),
        modify_audio=plan.kind in ("audio", "both"),
        duration=round(plan.num_frames / FPS, 3),
        timestamps=[[w, float(a), float(b)] for w, a, b in words],
        transcript=" ".join(w for w, _, _ in words),
    )


def _make_one(job) -> tuple[int, list]:
    """Render and encode one video (runs in a worker process); returns its index and words."""
    plan, seed, cfg, root = job
    r = render_video(plan, seed, cfg)
    path = Path(root) / plan.file
    try:
        write_video(path, r.frames, FPS, r.audio, SAMPLE_RATE, crf=r.crf, preset=ENCODER_PRESET)
    except OSError as e:  # disk full, permissions: the user can fix these
        raise UserError(f"{path}: cannot write ({e.strerror or e})") from None
    return plan.index, [list(w) for w in r.words]


def synthesize(
    output_root: str | Path, num_videos: int, seed: int = 0, workers: int = 1, progress: bool = True, **knobs
) -> list[dict]:
    """Write a synthetic LAV-DF to ``output_root``; returns the metadata entries (``metadata.json``).

    ``knobs`` are :class:`SynthConfig` fields. Videos already present from an interrupted run with the
    same settings are kept (each video is written atomically; the metadata files last).
    """
    from tqdm import tqdm

    unknown = set(knobs) - set(SynthConfig.__dataclass_fields__)
    if unknown:
        raise UserError(f"synthesize: unknown knobs {sorted(unknown)}")
    if "split_fractions" in knobs:
        knobs["split_fractions"] = tuple(float(x) for x in knobs["split_fractions"])
    cfg = SynthConfig(**knobs).check()
    root = Path(output_root)
    if root.exists() and not root.is_dir():
        raise UserError(f"{root}: exists and is not a folder")
    root.mkdir(parents=True, exist_ok=True)
    plans = plan_dataset(num_videos, seed, cfg)
    originals = {p.index: p.file for p in plans}

    # resume: keep finished videos only when they were made with the same settings
    stamp_path = root / ".vocalens-synth.json"
    stamp = {"num_videos": num_videos, "seed": seed, "config": asdict(cfg), "version": 1}
    words_path = root / ".vocalens-synth-words.jsonl"
    done: dict[int, list] = {}
    if stamp_path.is_file() and json.loads(stamp_path.read_text()) == json.loads(json.dumps(stamp)):
        if (root / "metadata.json").is_file():  # a finished run: its words are in the metadata
            by_file = {p.file: p.index for p in plans}
            for e in json.loads((root / "metadata.json").read_text()):
                if e.get("file") in by_file:
                    done[by_file[e["file"]]] = e.get("timestamps", [])
        for line in words_path.read_text().splitlines() if words_path.is_file() else []:
            try:
                i, w = json.loads(line)
            except ValueError:
                continue  # a line cut by a kill
            done[i] = w
        done = {i: w for i, w in done.items() if (root / plans[i].file).is_file()}
    else:
        for name in ("metadata.json", "metadata.min.json"):  # stale: other settings
            (root / name).unlink(missing_ok=True)
        write_json_atomic(stamp_path, stamp)
        words_path.unlink(missing_ok=True)
    todo = [(p, seed, cfg, str(root)) for p in plans if p.index not in done]

    with (
        open(words_path, "a") as log,
        tqdm(total=len(plans), initial=len(done), unit="video", desc="synth", disable=not progress) as bar,
    ):
        if workers > 1 and len(todo) > 1:
            import multiprocessing as mp

            with mp.get_context("spawn").Pool(workers) as pool:
                for i, w in pool.imap_unordered(_make_one, todo, chunksize=1):
                    done[i] = w
                    log.write(json.dumps([i, w]) + "\n")
                    log.flush()
                    bar.update()
        else:
            for job in todo:
                i, w = _make_one(job)
                done[i] = w
                log.write(json.dumps([i, w]) + "\n")
                log.flush()
                bar.update()

    entries = [metadata_entry(p, [tuple(w) for w in done[p.index]], originals) for p in plans]
    write_lavdf_metadata(root, entries)
    words_path.unlink(missing_ok=True)  # the words are in metadata.json now
    return entries
