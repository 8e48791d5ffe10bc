"""Resumable checkpoints: what a checkpoint was trained on, and whether a rerun may resume from it."""

from __future__ import annotations

import hashlib
import logging
from pathlib import Path

import torch

from driftline.config import TrainParams

log = logging.getLogger(__name__)


def splits_digest(splits_dir: Path) -> str:
    """sha256 of what training reads from the featurize outputs: the transform and the train and val splits."""
    digest = hashlib.sha256()
    for name in ("transform.json", "train.parquet", "val.parquet"):
        digest.update(hashlib.sha256((splits_dir / name).read_bytes()).digest())
    return digest.hexdigest()


def fingerprint(params: TrainParams, splits_dir: Path) -> str:
    """What a checkpoint must have been trained on to be resumed: the train params and the splits."""
    return hashlib.sha256((params.model_dump_json() + splits_digest(splits_dir)).encode()).hexdigest()


def resumable(checkpoint_dir: Path, key: str, owner: bool = True) -> tuple[Path, int] | None:
    """The last checkpoint of an interrupted run on the same inputs and the epoch it resumes at; the OWNER
    (rank 0) clears any other state.

    The other ranks only read, and decide as the owner does even while it clears: it removes the stale
    checkpoints before it writes the new fingerprint, and no checkpoint is written before every rank has
    decided (training waits for all of them).
    """
    last, stamp = checkpoint_dir / "last.ckpt", checkpoint_dir / "fingerprint"
    if last.is_file() and stamp.is_file() and stamp.read_text() == key:
        try:
            return last, torch.load(last, map_location="cpu", weights_only=False)["epoch"] + 1
        except Exception as exc:  # a kill while the checkpoint was written leaves a torn file
            log.warning("train: starting afresh, the last checkpoint does not load (%s)", exc)
    if not owner:
        return None
    checkpoint_dir.mkdir(parents=True, exist_ok=True)
    for old in checkpoint_dir.glob("*.ckpt"):
        old.unlink()
    stamp.write_text(key)
    return None
