"""Crash-safe, resumable end-of-epoch checkpoints.

A checkpoint is a folder ``checkpoints/epoch-NNN`` holding the model weights (safetensors) and
the training state (optimizer, scheduler, every random generator, the epoch history and the best
score) in a file that loads with ``torch.load(weights_only=True)``. It is written under a hidden
temporary name, fsynced and renamed, so a half-written checkpoint is never picked up; older
checkpoints are removed once a newer one is complete.
"""

from __future__ import annotations

import os
import random
import re
import shutil
import tempfile
from pathlib import Path
from typing import Any, cast

import numpy as np
import torch
from safetensors.torch import save_model

from ..errors import MachampError, write_failure_reason
from ..permissions import apply_umask

CHECKPOINTS = "checkpoints"
WEIGHTS = "model.safetensors"
STATE = "training_state.pt"
_NAME = re.compile(r"^epoch-(\d+)$")


def _fsync_tree(folder: Path) -> None:
    for file in folder.iterdir():
        with open(file, "rb") as handle:
            os.fsync(handle.fileno())
    _fsync_dir(folder)


def _fsync_dir(folder: Path) -> None:
    handle = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(handle)
    finally:
        os.close(handle)


def random_states(batch_rng: random.Random) -> dict[str, Any]:
    """Every generator that affects training, in types that weights_only loading accepts."""
    # The legacy state of the global (MT19937) generator: a tuple, not the dict of other ones.
    legacy = cast(tuple[str, np.ndarray, int, int, float], np.random.get_state())
    kind, keys, position, has_gauss, cached = legacy
    states = {
        "batching": batch_rng.getstate(),
        "python": random.getstate(),
        "numpy": {
            "kind": kind,
            "keys": torch.from_numpy(keys.astype(np.int64)),
            "position": int(position),
            "has_gauss": int(has_gauss),
            "cached": float(cached),
        },
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available():
        states["cuda"] = torch.cuda.get_rng_state_all()
    return states


def restore_random_states(states: dict[str, Any], batch_rng: random.Random) -> None:
    batch_rng.setstate(_as_tuple(states["batching"]))
    random.setstate(_as_tuple(states["python"]))
    numpy = states["numpy"]
    np.random.set_state(
        (
            numpy["kind"],
            numpy["keys"].numpy().astype(np.uint32),
            numpy["position"],
            numpy["has_gauss"],
            numpy["cached"],
        )
    )
    torch.set_rng_state(states["torch"])
    if "cuda" in states and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(states["cuda"])


def _as_tuple(value: Any) -> Any:
    """random.setstate wants nested tuples; a round trip may give lists."""
    if isinstance(value, (list, tuple)):
        return tuple(_as_tuple(v) for v in value)
    return value


def save_checkpoint(
    run_dir: Path, epoch: int, model: torch.nn.Module, state: dict[str, Any]
) -> Path:
    """Write ``checkpoints/epoch-NNN`` atomically and remove the older ones."""
    folder = Path(run_dir) / CHECKPOINTS
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / f"epoch-{epoch:03d}"
    tmp = Path(tempfile.mkdtemp(prefix=f".epoch-{epoch:03d}.", dir=folder))
    try:
        save_model(model, str(tmp / WEIGHTS))
        torch.save(state, tmp / STATE)
        apply_umask(tmp)
        _fsync_tree(tmp)
        if target.exists():
            shutil.rmtree(target)
        os.replace(tmp, target)
        _fsync_dir(folder)
    except Exception as error:
        shutil.rmtree(tmp, ignore_errors=True)
        previous = latest_checkpoint(run_dir)
        kept = (
            f"the previous checkpoint {previous.name} is kept: free space and continue with "
            f"machamp-lite train --resume {run_dir}"
            if previous is not None
            else "there is no earlier checkpoint: free space and start the run again"
        )
        raise MachampError(
            f"{target}: cannot save the checkpoint, {write_failure_reason(error, folder)}; {kept}"
        ) from None
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    for old in folder.iterdir():
        match = _NAME.match(old.name)
        if (match and int(match.group(1)) < epoch) or old.name.startswith("."):
            shutil.rmtree(old, ignore_errors=True)
    return target


def latest_checkpoint(run_dir: Path) -> Path | None:
    """The complete checkpoint of the highest epoch; hidden temporary folders never count."""
    folder = Path(run_dir) / CHECKPOINTS
    if not folder.is_dir():
        return None
    complete = [
        (int(m.group(1)), path)
        for path in folder.iterdir()
        if (m := _NAME.match(path.name)) and (path / WEIGHTS).is_file() and (path / STATE).is_file()
    ]
    return max(complete)[1] if complete else None


def load_checkpoint(path: Path, model: torch.nn.Module) -> dict[str, Any]:
    """Load the weights into ``model`` and return the training state (no unpickling)."""
    from safetensors.torch import load_model

    try:
        missing, unexpected = load_model(model, str(path / WEIGHTS), strict=False)
        state = torch.load(path / STATE, map_location="cpu", weights_only=True)
    except Exception as error:  # corrupt or foreign files
        raise MachampError(f"{path}: cannot load the checkpoint ({error})") from None
    if missing or unexpected:
        raise MachampError(f"{path}: the checkpoint's weights do not match the configured model")
    return state
