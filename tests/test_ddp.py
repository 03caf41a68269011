"""Two CPU processes with gloo give the same model as one process on the same global batches."""

import os
import socket

import pytest
import torch
import torch.multiprocessing as mp

from vocalens.datagen.toy import write_toy_store
from vocalens.localizer.config import DataConfig, LocalizerConfig, ModelConfig
from vocalens.localizer.task import LocalizerTask
from vocalens.train.loop import FitConfig, fit

pytestmark = pytest.mark.slow  # two spawned interpreters importing torch: ~15 s on 2 busy cores


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _task(store):
    # dropout 0 and no sync augmentation: with num_workers=0 both draw from each process's own RNG, which
    # cannot match one process's (with DataLoader workers the augmentation is keyed per item and does match)
    return LocalizerTask(
        LocalizerConfig(
            data=DataConfig(str(store), max_frames=64, sync_aug=0.0),
            model=ModelConfig(d_model=16, num_layers=1, nhead=2, dropout=0.0),
        )
    )


def _cfg(out, batch_size):
    return FitConfig(
        output_dir=str(out),
        epochs=2,
        batch_size=batch_size,
        lr=3e-3,
        warmup_epochs=1,
        num_workers=0,
        device="cpu",
        progress=False,
        tensorboard=False,
        save_every=0,
        seed=7,
    )


def _worker(rank, world, port, store, out):
    torch.set_num_threads(1)
    os.environ.update(
        RANK=str(rank), LOCAL_RANK=str(rank), WORLD_SIZE=str(world), MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port)
    )
    res = fit(_task(store), _cfg(out, batch_size=2))
    torch.save({"model": res.model.state_dict(), "history": res.history}, os.path.join(out, f"rank{rank}.pt"))


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("ddp")
    # equal lengths: every rank's batch has the same number of valid frames, so the mean of the
    # per-rank mean losses (DDP) equals the mean over the global batch (one process)
    store = write_toy_store(tmp / "feats", {"train": 8, "dev": 5}, frames=(48, 48))
    (tmp / "ddp").mkdir()
    mp.start_processes(
        _worker, args=(2, _free_port(), str(store), str(tmp / "ddp")), nprocs=2, join=True, start_method="spawn"
    )
    torch.set_num_threads(1)
    single = fit(_task(store), _cfg(tmp / "single", batch_size=4))
    ranks = [torch.load(tmp / "ddp" / f"rank{r}.pt", weights_only=False) for r in range(2)]
    return ranks, single, tmp


def test_both_ranks_hold_the_same_model_and_metrics(runs):
    (r0, r1), _, _ = runs
    for k in r0["model"]:
        assert torch.equal(r0["model"][k], r1["model"][k]), k
    assert [h["val_frame_auc"] for h in r0["history"]] == [h["val_frame_auc"] for h in r1["history"]]


def test_two_processes_match_one_process_on_the_same_global_batches(runs):
    (r0, _), single, tmp = runs
    state = single.model.state_dict()
    for k in state:
        torch.testing.assert_close(
            r0["model"][k], state[k], atol=3e-4, rtol=1e-3
        )  # reduction order only (AdamW amplifies it in a few weights); a wrong batch moves weights ~1e-3
    for hd, hs in zip(r0["history"], single.history):
        assert hd["train_loss"] == pytest.approx(hs["train_loss"], rel=1e-4)
        # validation pools all ranks' predictions: the same frames and metrics as one process
        assert hd["val_frames"] == hs["val_frames"] == 5 * 48
        assert hd["val_frame_auc"] == pytest.approx(hs["val_frame_auc"], abs=1e-4)
        assert hd["val_video_auc"] == pytest.approx(hs["val_video_auc"], abs=1e-4)


def test_only_rank0_wrote(runs):
    _, _, tmp = runs
    files = sorted(p.name for p in (tmp / "ddp").iterdir())
    assert files == ["best.pth", "config.json", "last.pth", "metrics.jsonl", "rank0.pt", "rank1.pt"]
    lines = (tmp / "ddp" / "metrics.jsonl").read_text().splitlines()
    assert len(lines) == 2  # one record per epoch, not one per rank
