"""Rewrite pre-issue-12 vocalens import paths to the current layout, in place (run in the repo root).

For code written against the old tree (vocalens.inference, vocalens.pipeline, vocalens.models.*,
vocalens.data.synth/forge, vocalens.eval.evaluate, vocalens.extract, ...): the module moves are
mechanical, this does them; API changes are not (pipeline.detect -> vocalens.load(ckpt).detect(path),
LocalizerTaskConfig -> LocalizerConfig(data, model, loss, fit)). Then `ruff format . && ruff check --fix .`.

    python scripts/migrate_imports.py
"""

import glob
import re

m = [
    ("vocalens.data.dataset", "vocalens.localizer.data"),
    ("vocalens.train.localizer_task", "vocalens.localizer.task"),
    ("vocalens.inference", "vocalens.localizer.predict"),
    ("vocalens.avff.infer", "vocalens.avff.predict"),
    ("vocalens.data.forge", "vocalens.datagen.forge"),
    ("vocalens.data.synth_checks", "vocalens.datagen.synth.checks"),
    ("vocalens.data.synth_face", "vocalens.datagen.synth.face"),
    ("vocalens.data.synth_speech", "vocalens.datagen.synth.speech"),
    ("vocalens.data.synth", "vocalens.datagen.synth"),
    ("vocalens.train.toy", "vocalens.datagen.toy"),
    ("vocalens.avff.presets", "vocalens.avff.config"),
    ("vocalens.models.losses", "vocalens.localizer.losses"),
    ("vocalens.encoders.avff", "vocalens.avff.encoder"),
    ("from vocalens.pipeline import load_encoders", "from vocalens.localizer.detect import load_encoders"),
    ("from vocalens.extract import", "from vocalens.localizer.extract import"),
]
files = (
    glob.glob("src/**/*.py", recursive=True)
    + glob.glob("tests/*.py")
    + glob.glob("benchmarks/*.py")
    + glob.glob("scripts/*.py")
    + glob.glob("experiments/*.py")
)
for p in files:
    if p.endswith("migrate_imports.py"):  # this table itself
        continue
    s = open(p).read()
    o = s
    for a, b in m:
        s = s.replace(a, b)

    def fix_eval(mt):
        ind = mt.group(1)
        names = [n.strip() for n in mt.group(2).replace("(", "").replace(")", "").split(",") if n.strip()]
        g = {"vocalens.fileio": [], "vocalens.localizer.evaluate": [], "vocalens.eval.report": []}
        for n in names:
            if n in ("write_json", "clean_json"):
                g["vocalens.fileio"].append(n)
            elif n in ("evaluate_split", "predict_videos", "video_record"):
                g["vocalens.localizer.evaluate"].append(n)
            else:
                g["vocalens.eval.report"].append(n)
        return "\n".join(f"{ind}from {k} import {', '.join(v)}" for k, v in g.items() if v)

    s = re.sub(r"^( *)from vocalens\.eval\.evaluate import ([^\n]+)$", fix_eval, s, flags=re.M)

    def fix_model(mt):
        ind = mt.group(1)
        names = [n.strip() for n in mt.group(2).split(",")]
        out = []
        if "LocalizerConfig" in names:
            out.append(f"{ind}from vocalens.localizer.config import ModelConfig as LocalizerConfig")
        rest = [n for n in names if n != "LocalizerConfig"]
        if rest:
            out.append(f"{ind}from vocalens.localizer.model import {', '.join(rest)}")
        return "\n".join(out)

    s = re.sub(r"^( *)from vocalens\.models\.localizer import ([^\n(]+)$", fix_model, s, flags=re.M)
    if s != o:
        open(p, "w").write(s)
        print("fixed", p)
