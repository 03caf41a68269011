"""Do a LAV-DF-layout set's fake periods match what changed? (forge or splice output: fakes name their real copy)

For every fake, decode it and its ``original``: per labelled / unlabelled frame, the fraction of
pixels that changed by more than 25 grey levels (video) and the audio RMS change over the frame
relative to the real copy's RMS level (audio; frames within 3 of a period edge are left out, as
AAC spreads a change that far). One line per fake, then the extremes.

  python scripts/check_fakes.py /tmp/recipe2/splice_test [--speakers ../shared/data/real-corpus/clips.tsv]
"""

import argparse
import json
from pathlib import Path

import numpy as np

from vocalens.data.labels import frame_labels
from vocalens.data.metadata import read_lavdf
from vocalens.media.video import load_video


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("root")
    p.add_argument("--speakers", help="TSV with name and speaker_id: flag donors of the same speaker")
    a = p.parse_args()
    root = Path(a.root)
    print(f"read_lavdf: {len(read_lavdf(root))} videos")
    spk = {}
    if a.speakers:
        rows = [ln.split("\t") for ln in Path(a.speakers).read_text().splitlines()]
        i, j = rows[0].index("name"), rows[0].index("speaker_id")
        spk = {r[i]: r[j] for r in rows[1:]}
    lens, worst = [], {"video_in_min": 1.0, "video_out_max": 0.0, "audio_in_median_min": 1e9, "audio_out_max": 0.0}
    same = 0
    for e in json.loads((root / "metadata.json").read_text()):
        if not e["original"]:
            continue
        f, r = load_video(root / e["file"]), load_video(root / e["original"])
        n = f.num_frames
        lab = frame_labels(e["fake_periods"], n).astype(bool)
        pix = (np.abs(f.frames.astype(np.int16) - r.frames.astype(np.int16)).max(-1) > 25).mean((1, 2))
        aud = np.sqrt((((f.audio - r.audio)[: n * 640]).reshape(n, 640) ** 2).mean(1)) / np.sqrt(np.mean(r.audio**2))
        near = np.zeros(n, bool)
        for b in np.flatnonzero(np.diff(np.r_[0, lab.astype(int), 0])):
            near[max(0, b - 3) : b + 3] = True
        lens += [t - s for s, t in e["fake_periods"]]
        row = f"{e['file']} {e.get('manipulation', ''):<13} periods {len(e['fake_periods'])}"
        if e["modify_video"]:
            vi, vo = pix[lab].min(), pix[~lab].max(initial=0)
            worst["video_in_min"] = min(worst["video_in_min"], vi)
            worst["video_out_max"] = max(worst["video_out_max"], vo)
            row += f" | video changed-pixel fraction: labelled min {vi:.4f}, other max {vo:.4f}"
        if e["modify_audio"]:
            ai, ao = np.median(aud[lab]), aud[~lab & ~near].max(initial=0)
            worst["audio_in_median_min"] = min(worst["audio_in_median_min"], ai)
            worst["audio_out_max"] = max(worst["audio_out_max"], ao)
            row += f" | audio change / level: labelled median {ai:.2f}, other max {ao:.3f}"
        donors = [d.get("donor") or d.get("donor_face") for d in e.get("manipulations") or []]
        if spk and any(x and spk.get(Path(x).name) == spk.get(Path(e["source"]).name) for x in donors):
            same += 1
            row += "  SAME-SPEAKER DONOR"
        print(row)
    print(
        f"{len(lens)} periods, {min(lens):.2f}-{max(lens):.2f} s (median {np.median(lens):.2f} s); "
        + ", ".join(f"{k} {v:.4f}" for k, v in worst.items())
        + (f"; same-speaker donors: {same}" if spk else "")
    )


if __name__ == "__main__":
    main()
