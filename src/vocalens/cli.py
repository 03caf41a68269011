"""The `vocalens` command: one subcommand per pipeline stage.

Each subcommand lives in ``vocalens.commands.<name>`` with ``add_arguments(parser)`` and
``run(args)``; only the one being run is imported, so ``vocalens --help`` stays instant.
User errors (:class:`vocalens.errors.UserError`) print as one line, exit status 2. A command over many
files (detect, avff detect, extract, evaluate, infer, avff evaluate) finishes its batch and exits 1 when
any file failed (vocalens.errors.batch_exit), 0 when none did.
"""

from __future__ import annotations

import argparse
import importlib
import sys

from vocalens import __version__
from vocalens.errors import UserError

# name -> (module, one-line help). The order is the pipeline's.
COMMANDS: dict[str, tuple[str, str]] = {
    "demo": ("vocalens.commands.demo", "synthesize, extract, train, evaluate, visualize and detect, end to end (CPU)"),
    "synth": ("vocalens.commands.synth", "write a synthetic LAV-DF-layout dataset of talking faces"),
    "forge": ("vocalens.commands.forge", "make a LAV-DF-layout dataset of partial fakes from real videos"),
    "splice": (
        "vocalens.commands.splice",
        "evaluation-only partial fakes with other artefacts than forge (hard cuts, TTS)",
    ),
    "summary": ("vocalens.commands.summary", "summarize a dataset (LAV-DF, AV-Deepfake1M, folder) or a feature store"),
    "extract": ("vocalens.commands.extract", "videos -> per-frame visual/audio embeddings + frame labels"),
    "train": ("vocalens.commands.train", "train the VOCA-Lens localizer (torchrun for many processes)"),
    "evaluate": ("vocalens.commands.evaluate", "evaluate a localizer checkpoint on a feature split"),
    "visualize": ("vocalens.commands.visualize", "plots and an HTML report from evaluation results"),
    "calibrate": ("vocalens.commands.calibrate", "fit the video probability and verdict threshold on dev speakers"),
    "infer": ("vocalens.commands.infer", "run a localizer checkpoint on extracted features"),
    "detect": ("vocalens.commands.detect", "raw videos -> verdict, fake segments, JSON and plot"),
    "serve": (
        "vocalens.commands.serve",
        "a web page and a REST API for detection (upload a video, see where it is fake)",
    ),
    "default-model": ("vocalens.commands.default_model", "reproduce the shipped default model from real recordings"),
    "avff": ("vocalens.commands.avff", "AVFF detector: pretrain, train, evaluate, detect"),
    "sync-train": ("vocalens.commands.sync_train", "train the `sync` lip-sync encoders on real speech (no labels)"),
}


def _top_parser() -> argparse.ArgumentParser:
    lines = "\n".join(f"  {n:<10} {h}" for n, (_, h) in COMMANDS.items())
    p = argparse.ArgumentParser(
        prog="vocalens",
        description="Audio-visual deepfake detection and temporal localization.",
        epilog=f"commands:\n{lines}\n\nRun `vocalens COMMAND --help` for a command's options.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--version", action="version", version=f"vocalens {__version__}")
    p.add_argument("command", nargs="?", help="one of: " + ", ".join(COMMANDS))
    return p


def build_parser(name: str) -> tuple[argparse.ArgumentParser, object]:
    module_name, help_text = COMMANDS[name]
    module = importlib.import_module(module_name)
    parser = argparse.ArgumentParser(
        prog=f"vocalens {name}",
        description=(module.__doc__ or help_text).strip(),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    module.add_arguments(parser)
    return parser, module


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] not in COMMANDS:
        top = _top_parser()
        if not argv or argv[0] in ("-h", "--help", "--version"):
            top.parse_args(argv)
            top.print_help()
            return 0
        top.error(f"unknown command {argv[0]!r} (choose from {', '.join(COMMANDS)})")
    name = argv[0]
    try:
        parser, module = build_parser(name)
        args = parser.parse_args(argv[1:])
        rc = module.run(args)
        return int(rc or 0)
    except UserError as e:
        print(f"vocalens {name}: error: {e}", file=sys.stderr)
        return 2
    except ModuleNotFoundError as e:  # an optional part whose extra is not installed: name the extra
        from vocalens.extras import missing_message

        msg = missing_message(e, f"vocalens {name}")
        if msg is None:
            raise
        print(f"vocalens {name}: error: {msg}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"vocalens {name}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    raise SystemExit(main())
