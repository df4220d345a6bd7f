"""Temperature scaling: one number T per task, fitted on dev data after training, by which the
task's scores are divided before they become probabilities (Guo et al., 2017).

A fine-tuned encoder's probabilities are usually too sure of themselves; dividing the scores by
a T above 1 softens them, below 1 sharpens them, and never changes which label is predicted
(``decoders/confidence.py`` decodes from the undivided scores). T is the value that minimises
the negative log-likelihood of the dev gold labels, so it is found without touching the
weights: the encoder runs once over the dev data, the scores are kept (on the CPU), and a 1-D
search re-scores them at each candidate T.

The fitted temperatures live in the archive as ``calibration.json``, listed in ``archive.json``
with its checksum like every other file, so a calibrated model still verifies. It is written
into an existing archive atomically: a sibling folder of hard links to the unchanged files plus
the two new files is swapped into place, so a crash or a full disk leaves the archive as it was.
An archive without the file (older ones, ``training.calibrate`` false) predicts at T = 1."""

from __future__ import annotations

import logging
import math
import os
import shutil
import stat
import tempfile
import warnings
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any, cast

import torch

from .archive_integrity import (
    DAMAGED,
    MANIFEST,
    file_sha256,
    read_json_object,
    read_manifest,
)
from .calibration_data import collect_scores, dev_sources, probability_tasks
from .config_checks import shown
from .errors import ModelLoadError

logger = logging.getLogger("machamp_lite")

CALIBRATION_FILE = "calibration.json"
CALIBRATION_FORMAT = "machamp-lite-calibration"
CALIBRATION_VERSION = 1
# The range searched: far beyond what temperature scaling finds for fine-tuned encoders (about
# 0.7 to 3); a result at either end is logged, as the data then says little about T.
T_MIN, T_MAX = 0.05, 20.0
MAX_EVALUATIONS = 40
# T = 1 is kept unless the fitted T is better by more than this fraction of the NLL: float noise
# (or dev data that does not depend on T, such as labels all unseen in training) moves nothing.
KEEP_ONE_TOLERANCE = 1e-9
_INVERSE_GOLDEN = (math.sqrt(5.0) - 1.0) / 2.0


def fit_temperature(nll_of: Callable[[float], float]) -> float:
    """The T in [T_MIN, T_MAX] that minimises ``nll_of(T)``, by golden-section search on log T
    (at most MAX_EVALUATIONS calls, deterministic). The NLL of a softmax or a CRF is convex in
    1/T, hence unimodal in log T, which is what the search needs; log T treats 0.5 and 2 alike.
    A non-finite NLL counts as worse than any finite one. T = 1 is returned when it is as good
    (within KEEP_ONE_TOLERANCE), so a flat or degenerate curve never moves the temperature."""

    def value(log_t: float) -> float:
        result = float(nll_of(math.exp(log_t)))
        return result if math.isfinite(result) else math.inf

    at_one = value(0.0)
    low, high = math.log(T_MIN), math.log(T_MAX)
    left, right = high - _INVERSE_GOLDEN * (high - low), low + _INVERSE_GOLDEN * (high - low)
    f_left, f_right = value(left), value(right)
    used = 3
    while used < MAX_EVALUATIONS and high - low > 1e-6:
        if f_left <= f_right:  # the minimum lies in [low, right]
            high, right, f_right = right, left, f_left
            left = high - _INVERSE_GOLDEN * (high - low)
            f_left = value(left)
        else:
            low, left, f_left = left, right, f_right
            right = low + _INVERSE_GOLDEN * (high - low)
            f_right = value(right)
        used += 1
    best, f_best = (left, f_left) if f_left <= f_right else (right, f_right)
    if not math.isfinite(f_best):
        return 1.0  # no T gives a number: nothing to prefer over the scores as they are
    if math.isfinite(at_one) and f_best >= at_one - KEEP_ONE_TOLERANCE * max(1.0, abs(at_one)):
        return 1.0
    return math.exp(best)


# ---- the archive's calibration.json ----


def read_calibration(root: str | os.PathLike) -> dict[str, float]:
    """Each calibrated task's temperature from a model folder's ``calibration.json``; {} when
    the folder has none (uncalibrated: T = 1). A file that archive.json does not list (or lists
    with another checksum), that is not JSON, or holds a temperature that is not a finite number
    above 0 or a task the model does not have, is one ModelLoadError naming the file and key."""
    folder = Path(root)
    path = folder / CALIBRATION_FILE
    if not path.exists():
        return {}
    content = read_json_object(path, lambda v: True)
    listed = read_manifest(folder).get("files", {}).get(CALIBRATION_FILE)
    if listed is None:
        raise ModelLoadError(
            f"{path}: not part of the model as saved (archive.json does not list it); run "
            f"machamp-lite calibrate {folder} to write one, or remove it"
        )
    if listed["sha256"] != file_sha256(path):
        raise ModelLoadError(
            f"{path}: changed since the model was saved (its SHA-256 differs from the one in "
            f"archive.json); {DAMAGED}"
        )
    return check_calibration(path, content, model_tasks(folder))


def model_tasks(folder: Path) -> set[str]:
    datasets = read_json_object(folder / "datasets.json", lambda v: True)
    return {
        task
        for dataset in datasets.values()
        if isinstance(dataset, dict) and isinstance(dataset.get("tasks"), dict)
        for task in dataset["tasks"]
    }


def check_calibration(path: Path, content: dict[str, Any], tasks: set[str]) -> dict[str, float]:
    """The temperatures of a calibration.json's content, checked key by key."""
    again = f"run machamp-lite calibrate {path.parent} to write it again"
    version = content.get("version")
    if content.get("format") != CALIBRATION_FORMAT or type(version) is not int or version < 1:
        raise ModelLoadError(
            f"{path}: keys 'format' and 'version' are not what machamp-lite writes there "
            f"(expected {CALIBRATION_FORMAT!r} and a version number); {again}"
        )
    if version > CALIBRATION_VERSION:
        raise ModelLoadError(
            f"{path}: calibration format version {version} was written by a newer machamp-lite; "
            f"this release reads version {CALIBRATION_VERSION}: upgrade machamp-lite, or {again}"
        )
    entries = content.get("tasks")
    if not isinstance(entries, dict):
        raise ModelLoadError(f"{path}: key 'tasks' should be an object of tasks; {again}")
    temperatures: dict[str, float] = {}
    for task, entry in entries.items():
        if task not in tasks:
            raise ModelLoadError(
                f"{path}: key 'tasks.{task}' names a task this model does not have (it has "
                f"{', '.join(sorted(tasks))}); {again}"
            )
        value = entry.get("temperature") if isinstance(entry, dict) else None
        if not (
            isinstance(value, (int, float))
            and not isinstance(value, bool)
            and math.isfinite(value)
            and value > 0
        ):
            raise ModelLoadError(
                f"{path}: key 'tasks.{task}.temperature' must be a finite number above 0, got "
                f"{shown(value)}; {again}"
            )
        temperatures[task] = float(value)
    return temperatures


def write_calibration(root: str | os.PathLike, content: dict[str, Any]) -> Path:
    """Put ``content`` into the archive as calibration.json, with archive.json listing it: both
    appear together or not at all. Every other file of the folder is hard-linked (copied where
    linking fails) into a sibling temporary folder, the two files are written there, and the
    folder is swapped into place as ``save_archive`` swaps a new archive in. The manifest keeps
    its version and entries (an older archive is not relabelled as the current format); only
    the calibration entry is added or replaced."""
    from .archive import ModelSaveError, _swap_into_place, failed_write
    from .config_files import write_json

    target = Path(root)
    refuse_format_1(target)
    manifest = read_manifest(target)
    try:
        tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=target.parent))
    except OSError as error:
        raise ModelSaveError(_not_written(target, error)) from None
    try:
        os.chmod(tmp, stat.S_IMODE(target.stat().st_mode))
        _link_tree(target, tmp, skip={MANIFEST, CALIBRATION_FILE})
        write_json(tmp / CALIBRATION_FILE, content)
        files = {k: v for k, v in manifest["files"].items() if k != CALIBRATION_FILE}
        files[CALIBRATION_FILE] = {
            "sha256": file_sha256(tmp / CALIBRATION_FILE),
            "size": (tmp / CALIBRATION_FILE).stat().st_size,
        }
        write_json(tmp / MANIFEST, {**manifest, "files": dict(sorted(files.items()))})
        _swap_into_place(tmp, target)
    except BaseException as error:
        shutil.rmtree(tmp, ignore_errors=True)
        if failed_write(error):
            raise ModelSaveError(_not_written(target, error)) from None
        raise
    return target / CALIBRATION_FILE


def _link_tree(source: Path, destination: Path, skip: set[str]) -> None:
    for item in sorted(source.rglob("*")):
        name = item.relative_to(source).as_posix()
        if name in skip:
            continue
        copy = destination / name
        if item.is_dir() and not item.is_symlink():
            copy.mkdir()
            os.chmod(copy, stat.S_IMODE(item.stat().st_mode))
            continue
        try:
            os.link(item, copy, follow_symlinks=False)
        except OSError:  # another file system, or one without hard links
            shutil.copy2(item, copy, follow_symlinks=False)


def _not_written(target: Path, error: BaseException) -> str:
    reason = (error.strerror if isinstance(error, OSError) else None) or str(error) or repr(error)
    return (
        f"{target}: cannot write the calibration ({reason}); the model directory is unchanged. "
        f"Free disk space and run machamp-lite calibrate {target} again"
    )


# ---- calibrating an archive ----


def calibrate_archive(
    model_dir: str | os.PathLike,
    dev_files: Sequence[str] | None = None,
    dataset: str | None = None,
    device: str | torch.device | None = None,
    allow_plugins: Iterable[str] = (),
) -> dict[str, Any]:
    """Fit each probability-giving task's temperature on dev data and store it in the archive.
    Returns the report: ``tasks`` (each fitted task's calibration.json entry), ``kept`` (tasks
    fitted before and not now, e.g. another dataset's with ``--dev``: their stored temperatures
    stay), ``skipped`` (task: why) and ``written`` (False when no task could be fitted: the
    archive is then left as it was)."""
    from .archive import load_archive
    from .devices import resolve_device

    root = Path(model_dir)
    torch_device = resolve_device(str(device) if device is not None else None)
    if (root / MANIFEST).is_file():
        refuse_format_1(root)
    model, params, datasets, _, _ = load_archive(root, torch_device, allow_plugins)

    def has_probabilities(name: str) -> bool:
        return bool(probability_tasks(model, datasets[name]["tasks"]))

    sources = dev_sources(root, datasets, dev_files, dataset, has_probabilities)
    skipped: dict[str, str] = {}
    for name in sources:
        for task, config in datasets[name]["tasks"].items():
            if not probability_tasks(model, [task]):
                skipped[task] = f"task type {config['task_type']!r} gives no probabilities"
    scores = collect_scores(model, params, datasets, sources, torch_device)
    fitted: dict[str, dict[str, Any]] = {}
    for task, collected in scores.items():
        if not collected.informative:
            skipped[task] = "no dev sentence has a label the model was trained on"
            logger.warning("calibration: task %s not calibrated: %s", task, skipped[task])
            continue
        temperature = fit_temperature(collected.nll)
        fitted[task] = {
            "temperature": temperature,
            "nll_before": collected.nll(1.0),
            "nll_after": collected.nll(temperature),
            "sentences": collected.sentences,
            "fitted_on": collected.files,
        }
        log_fit(task, fitted[task])
    if not dev_files:  # the model's own dev data: say which tasks had none
        for name, config in datasets.items():
            for task in config["tasks"] if dataset in (None, name) else ():
                if task not in fitted and task not in skipped:
                    skipped[task] = (
                        f"dataset {name!r} has no dev_data_path"
                        if probability_tasks(model, [task])
                        else f"task type {config['tasks'][task]['task_type']!r} gives no "
                        "probabilities"
                    )
    if skipped:
        reasons = "; ".join(f"{task} ({why})" for task, why in skipped.items())
        logger.info("calibration: not calibrated: %s", reasons)
    kept = _kept_entries(root, set(fitted)) if fitted else {}
    if fitted:
        content = {
            "format": CALIBRATION_FORMAT,
            "version": CALIBRATION_VERSION,
            "method": "temperature scaling: probabilities from scores / T",
            "tasks": {**kept, **fitted},
        }
        write_calibration(root, content)
        logger.info("calibration written to %s", root / CALIBRATION_FILE)
    return {
        "tasks": fitted,
        "kept": sorted(kept),
        "skipped": skipped,
        "written": bool(fitted),
        "path": str(root / CALIBRATION_FILE),
    }


def refuse_format_1(root: Path) -> None:
    if read_manifest(root)["version"] < 2:
        raise ModelLoadError(
            f"{root / MANIFEST}: archive format 1 has no file checksums to list the "
            "calibration in; upgrade the archive first (machamp_lite.archive.upgrade_archive)"
        )


def log_fit(task: str, entry: dict[str, Any]) -> None:
    temperature = entry["temperature"]
    logger.info(
        "calibration: task %s: temperature %.4g (dev NLL per sentence %.4f -> %.4f, %d sentences)",
        task,
        temperature,
        entry["nll_before"],
        entry["nll_after"],
        entry["sentences"],
    )
    if min(abs(temperature - T_MIN), abs(temperature - T_MAX)) < 1e-3 * temperature:
        logger.warning(
            "calibration: task %s: the temperature is at the end of the range searched "
            "(%g to %g): its dev data are nearly all right (or nearly all wrong) with "
            "certainty, which says little about T; fit it on more dev data",
            task,
            T_MIN,
            T_MAX,
        )


def _kept_entries(root: Path, refitted: set[str]) -> dict[str, Any]:
    """The stored entries of tasks not fitted now; none when the old file is unreadable."""
    try:
        read_calibration(root)
    except ModelLoadError as error:
        logger.warning("calibration: the stored calibration is replaced (%s)", error)
        return {}
    path = root / CALIBRATION_FILE
    if not path.exists():
        return {}
    stored = cast(dict, read_json_object(path, lambda v: True)["tasks"])
    return {task: entry for task, entry in stored.items() if task not in refitted}


def calibrate_after_training(
    run_dir: Path,
    params: dict[str, Any],
    datasets: dict[str, Any],
    device: torch.device,
    allow_plugins: Iterable[str] = (),
) -> dict[str, Any] | None:
    """Calibrate ``RUN/model`` on the run's dev data (``training.calibrate``, default on). A
    failure is a warning: the trained model stays as saved, uncalibrated."""
    if not params.get("training", {}).get("calibrate", True):
        logger.info("training.calibrate is false: the model is not calibrated")
        return None
    model_dir = Path(run_dir) / "model"
    if not (model_dir / MANIFEST).is_file():
        return None
    if not any(config.get("dev_data_path") for config in datasets.values()):
        logger.info("no dev data: the model is not calibrated (probabilities at temperature 1)")
        return None
    try:
        return calibrate_archive(model_dir, device=device, allow_plugins=allow_plugins)
    except Exception as error:  # whatever went wrong, the trained model must stay usable
        message = (
            f"{model_dir}: calibration failed ({error}); the model is saved uncalibrated "
            f"(temperature 1). Retry with machamp-lite calibrate {model_dir}"
        )
        logger.warning(message)
        warnings.warn(message, stacklevel=2)
        return None


def format_report(report: dict[str, Any]) -> str:
    """``machamp-lite calibrate``'s lines: each task's T and NLL before and after."""
    lines = []
    for task, entry in report["tasks"].items():
        lines.append(
            f"{task}: temperature {entry['temperature']:.4g}, dev NLL per sentence "
            f"{entry['nll_before']:.4f} -> {entry['nll_after']:.4f} "
            f"({entry['sentences']} sentences)"
        )
    for task, reason in report["skipped"].items():
        lines.append(f"{task}: not calibrated ({reason})")
    if report["kept"]:
        lines.append(f"kept as calibrated before: {', '.join(report['kept'])}")
    if report["written"]:
        lines.append(f"wrote {report['path']}")
    else:
        lines.append("no task was calibrated; the model directory is unchanged")
    return "\n".join(lines)


def add_calibrate_arguments(parser) -> None:
    """``machamp-lite calibrate``'s arguments (cli.py adds ``--plugins``)."""
    parser.add_argument("model_dir")
    parser.add_argument(
        "--dev",
        nargs="+",
        action="extend",
        default=None,
        metavar="FILE",
        help="dev file(s) to fit on (default: the model's dev_data_path, first max_dev_sents)",
    )
    parser.add_argument(
        "--dataset", default=None, help="which training dataset's format and tasks the files have"
    )
    parser.add_argument("--device", default=None, help="cpu, cuda or cuda:N")


def run_calibrate(args) -> None:
    """The ``calibrate`` command (cli.py parses it)."""
    from .registry import import_plugin_modules

    import_plugin_modules(args.plugins, "--plugins")
    report = calibrate_archive(args.model_dir, args.dev, args.dataset, args.device, args.plugins)
    print(format_report(report))
