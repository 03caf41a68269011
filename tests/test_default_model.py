"""The shipped model's recipe: the sync encoder's training is a valid `vocalens sync-train` command line."""

from pathlib import Path

from vocalens.cli import build_parser
from vocalens.commands.default_model import SHORT_LAG_HOPS, sync_stages


def _args(*extra):
    parser, _ = build_parser("default-model")
    return parser.parse_args(["--corpus", "C", "--extra", "E", *extra])


def test_sync_stage_is_the_aligned_realigned_training(tmp_path):
    sync = tmp_path / "sync"
    ((_, argv, out),) = sync_stages(_args(), sync)
    a = build_parser("sync-train")[0].parse_args(argv[1:])
    assert Path(a.output_dir) == out == sync and a.extra == ["E"] and a.corpus == "C"
    assert a.crop == "aligned" and a.select == "offset_both" and a.shift == [f"short={SHORT_LAG_HOPS}"]
    assert (a.shift_px, a.freq_mask) == (3, 8)  # the augmentation that keeps the aligned pair from over-fitting
    assert not a.no_short and a.realign is None and a.sources is None


def test_sync_stages_without_short_is_one_training(tmp_path):
    ((_, argv, _),) = sync_stages(_args("--no_short", "--sync_epochs", "3"), tmp_path / "sync")
    a = build_parser("sync-train")[0].parse_args(argv[1:])
    assert a.no_short and a.epochs == 3 and a.realign is None
