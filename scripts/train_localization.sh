#!/usr/bin/env bash
# The seed's scripts/train_localization.sh: edit the variables, then
#   bash scripts/train_localization.sh            (or: nohup bash scripts/train_localization.sh > training.log 2>&1 &)
# One GPU/CPU process when NPROC=1, else torchrun with DDP (NCCL on GPUs, gloo on CPU).
set -euo pipefail

FEATURES_ROOT=${FEATURES_ROOT:-./lavdf_feats}
OUTPUT_DIR=${OUTPUT_DIR:-./checkpoints/localization}
NPROC=${NPROC:-$(python -c 'import torch; print(max(1, torch.cuda.device_count()))')}
BATCH_SIZE=${BATCH_SIZE:-8}
EPOCHS=${EPOCHS:-100}
LR=${LR:-1e-4}
EXTRA_ARGS=${EXTRA_ARGS:-}          # e.g. "--use_focal --similarity_loss_weight 0"

ARGS=(train --features_root "$FEATURES_ROOT" --splits train dev --batch_size "$BATCH_SIZE"
      --epochs "$EPOCHS" --lr "$LR" --output_dir "$OUTPUT_DIR")
if [ -f "$OUTPUT_DIR/last.pth" ]; then
  ARGS+=(--resume "$OUTPUT_DIR/last.pth")   # a killed run picks up where it stopped
fi

if [ "$NPROC" -gt 1 ]; then
  # shellcheck disable=SC2086
  exec torchrun --nproc_per_node="$NPROC" -m vocalens "${ARGS[@]}" $EXTRA_ARGS
else
  # shellcheck disable=SC2086
  exec vocalens "${ARGS[@]}" $EXTRA_ARGS
fi
