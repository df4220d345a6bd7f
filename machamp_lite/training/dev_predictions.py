"""Dev predictions of the best epoch, put back into copies of the dev files by the writer that
``predict`` uses, one folder per dataset under ``RUN/dev_predictions``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ..data.writers import sentence_labels_in_comments, write_predictions
from ..errors import ConfigError


def dev_output_names(sources: list[str]) -> dict[str, str]:
    """The file name each dev file's predictions get in its dataset's folder: its own name,
    numbered when two dev files of one dataset share a name (``dev.conll``, ``dev-2.conll``)."""
    names: dict[str, str] = {}
    taken: set[str] = set()
    for source in sources:
        path = Path(source)
        name, number = path.name, 1
        while name in taken:
            number += 1
            name = f"{path.stem}-{number}{path.suffix}"
        taken.add(name)
        names[source] = name
    return names


def write_dev_predictions(
    folder: Path,
    dev: list,
    datasets: dict[str, Any],
    predictions: dict[str, dict[str, list]],
) -> None:
    """Write each dev split's token-level predictions, and its sentence-level ones where the
    file keeps them in comments (otherwise they have no column in a copy of the file; their
    scores are in metrics.json)."""
    for split in dev:
        dataset = datasets[split.name]
        token_tasks = [t for t in split.tasks if split.codecs[t].level == "token"]
        if not token_tasks:
            continue
        by_file: dict[str, list[int]] = {}
        for index, sentence in enumerate(split.sentences):
            by_file.setdefault(sentence.source, []).append(index)
        for source, name in dev_output_names(list(by_file)).items():
            indices = by_file[source]
            tasks = token_tasks
            if sentence_labels_in_comments(dataset, source):
                tasks = split.tasks  # sentence labels go into the comments they came from
            # One folder per dataset: dev files of different datasets may share a name.
            target = folder / split.name / name
            if folder.resolve() not in target.resolve().parents:  # names are checked at load
                raise ConfigError(f"dataset {split.name!r}: not a usable folder name")
            write_predictions(
                dataset,
                source,
                str(target),
                [split.sentences[i] for i in indices],
                {t: [predictions[split.name][t][i] for i in indices] for t in tasks},
                last_line=split.sentences[indices[-1]].line_numbers[-1]
                if dataset.get("max_dev_sents", -1) > 0
                else None,
            )
