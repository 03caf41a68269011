"""The shipped model's recipe: the sync encoder's two trainings (short/-only measuring pair, then the
realigned pair) are valid `vocalens sync-train` command lines, in that order, on one cache."""

from pathlib import Path

from vocalens.cli import build_parser
from vocalens.commands.default_model import sync_stages


def _args(*extra):
    parser, _ = build_parser("default-model")
    return parser.parse_args(["--corpus", "C", "--extra", "E", *extra])


def test_sync_stages_measure_then_realign(tmp_path):
    sync = tmp_path / "sync"
    (_, short, short_dir), (_, main, main_dir) = sync_stages(_args(), sync)
    parser, _ = build_parser("sync-train")
    a, b = parser.parse_args(short[1:]), parser.parse_args(main[1:])
    assert a.sources == ["short"] and a.realign is None and a.cache == b.cache == str(sync / "cache.npz")
    assert Path(b.realign) == Path(a.output_dir) / "sync_encoder.safetensors"  # measured by the first pair
    assert (Path(a.output_dir), Path(b.output_dir)) == (short_dir, main_dir)
    assert b.output_dir == str(sync) and b.realign_sources == ["short"] and b.realign_reference == ["clips"]
    assert b.select == "offset_both" and b.extra == ["E"] and b.sources is None


def test_sync_stages_without_short_is_one_training(tmp_path):
    ((_, argv, _),) = sync_stages(_args("--no_short", "--sync_epochs", "3"), tmp_path / "sync")
    a = build_parser("sync-train")[0].parse_args(argv[1:])
    assert a.no_short and a.epochs == 3 and a.realign is None
