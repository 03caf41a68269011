"""Rewrite pre-issue-12 vocalens import paths to the current layout, in place (run in the repo root).

For code written against the old tree (vocalens.localizer.predict, vocalens.pipeline, vocalens.models.*,
vocalens.datagen.synth/forge, vocalens.eval.evaluate, vocalens.extract, ...): the module moves are
mechanical, this does them; API changes are not (pipeline.detect -> vocalens.load(ckpt).detect(path),
LocalizerTaskConfig -> LocalizerConfig(data, model, loss, fit)). Then `ruff format . && ruff check --fix .`.

    python scripts/migrate_imports.py
"""

import glob
import re

m = [
    ("vocalens.localizer.data", "vocalens.localizer.data"),
    ("vocalens.localizer.task", "vocalens.localizer.task"),
    ("vocalens.localizer.predict", "vocalens.localizer.predict"),
    ("vocalens.avff.predict", "vocalens.avff.predict"),
    ("vocalens.datagen.forge", "vocalens.datagen.forge"),
    ("vocalens.datagen.synth.checks", "vocalens.datagen.synth.checks"),
    ("vocalens.datagen.synth.face", "vocalens.datagen.synth.face"),
    ("vocalens.datagen.synth.speech", "vocalens.datagen.synth.speech"),
    ("vocalens.datagen.synth", "vocalens.datagen.synth"),
    ("vocalens.datagen.toy", "vocalens.datagen.toy"),
    ("vocalens.avff.config", "vocalens.avff.config"),
    ("vocalens.localizer.losses", "vocalens.localizer.losses"),
    ("vocalens.avff.encoder", "vocalens.avff.encoder"),
    ("from vocalens.localizer.detect import load_encoders", "from vocalens.localizer.detect import load_encoders"),
    ("from vocalens.localizer.extract import", "from vocalens.localizer.extract import"),
]
files = (
    glob.glob("src/**/*.py", recursive=True)
    + glob.glob("tests/*.py")
    + glob.glob("benchmarks/*.py")
    + glob.glob("scripts/*.py")
    + glob.glob("experiments/*.py")
)
for p in files:
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
