"""How well a prediction's probabilities (``predict --probabilities``'s side file) match how
often it is right: ``evaluate GOLD PRED --probabilities FILE``.

A probability is calibrated when, of all the predictions made with probability about p, a
fraction p is correct. Two kinds of prediction are measured:

- words (every task with ``probabilities``): the confidence is the word's probability of its
  label, correct when that label is the gold label;
- entities (tasks with ``entities``, CRF taggers): the confidence is the probability that
  exactly that span with that type is an entity, correct when it is a gold chunk under the
  evaluation's ``--scheme`` (the chunks the span scores count).

Each gets a reliability table (equal-width bins over [0, 1]: count, mean confidence and
accuracy per bin), the expected calibration error (ECE, the bins' gaps between accuracy and
confidence weighted by their share of the predictions) and the largest gap (MCE). Entities
also get precision and recall when only those with probability >= t are kept, the threshold
that ``predict --min_confidence t`` applies: at t = 0 they are the span scores' micro
precision and recall. The side file is read in :mod:`machamp_lite.calibration_side`.
"""

from __future__ import annotations

import bisect
from collections.abc import Sequence
from typing import Any

from .data.sentence import Sentence
from .metrics.span_f1 import extract_chunks

DEFAULT_BINS = 10
# The thresholds of the precision/recall table, and the precisions whose threshold is sought.
TABLE_THRESHOLDS = (0.0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95, 0.99)
TARGET_PRECISIONS = (0.80, 0.90, 0.95)


def _ratio(numerator: float, denominator: float) -> float:
    return numerator / denominator if denominator else 0.0


def reliability(
    confidences: Sequence[float], correct: Sequence[bool], bins: int = DEFAULT_BINS
) -> dict[str, Any]:
    """Reliability bins and calibration errors of predictions made with ``confidences``.

    Bin b of ``bins`` holds the confidences in [b/bins, (b+1)/bins), the last one 1.0 too.
    ``ece`` is sum_b n_b/N |accuracy_b - confidence_b|, ``mce`` the largest of those gaps over
    the bins that hold predictions. Numbers that no prediction defines (the mean confidence of
    an empty bin, anything of an empty set) are None."""
    if bins < 1:
        raise ValueError(f"bins must be 1 or more, got {bins}")
    if len(confidences) != len(correct):
        raise ValueError(f"{len(confidences)} confidences but {len(correct)} outcomes")
    counts = [0] * bins
    sums = [0.0] * bins
    hits = [0] * bins
    for confidence, right in zip(confidences, correct):
        index = min(int(confidence * bins), bins - 1)
        counts[index] += 1
        sums[index] += confidence
        hits[index] += bool(right)
    total = len(confidences)
    table = []
    ece = 0.0
    mce: float | None = None
    for index in range(bins):
        n = counts[index]
        row: dict[str, Any] = {
            "lower": index / bins,
            "upper": (index + 1) / bins,
            "count": n,
            "confidence": sums[index] / n if n else None,
            "accuracy": hits[index] / n if n else None,
        }
        if n:
            gap = abs(row["accuracy"] - row["confidence"])
            ece += n / total * gap
            mce = gap if mce is None else max(mce, gap)
        table.append(row)
    return {
        "count": total,
        "mean_confidence": sum(sums) / total if total else None,
        "accuracy": sum(hits) / total if total else None,
        "ece": ece if total else None,
        "mce": mce,
        "bins": table,
    }


class ThresholdCounts:
    """Predicted entities sorted by probability, to count those kept at any threshold t
    (probability >= t) and the correct ones among them in O(log n)."""

    def __init__(self, entities: Sequence[tuple[float, bool]], gold: int):
        ordered = sorted(entities, key=lambda entity: entity[0])
        self.probabilities = [p for p, _ in ordered]
        self.gold = gold
        # correct_below[k]: correct entities among the k least probable.
        self.correct_below = [0]
        for _, right in ordered:
            self.correct_below.append(self.correct_below[-1] + bool(right))

    def at(self, threshold: float) -> dict[str, Any]:
        """Kept and correct entities, precision and recall at ``threshold`` (0.0 where a
        ratio has nothing to count, as in the span scores)."""
        dropped = bisect.bisect_left(self.probabilities, threshold)
        kept = len(self.probabilities) - dropped
        correct = self.correct_below[-1] - self.correct_below[dropped]
        return {
            "threshold": threshold,
            "kept": kept,
            "correct": correct,
            "precision": _ratio(correct, kept),
            "recall": _ratio(correct, self.gold),
        }

    def distinct(self) -> list[float]:
        """The distinct probabilities, ascending: every threshold where the kept set changes."""
        return sorted(set(self.probabilities))


def threshold_tables(
    entities: Sequence[tuple[float, bool]],
    gold: int,
    thresholds: Sequence[float] = TABLE_THRESHOLDS,
    targets: Sequence[float] = TARGET_PRECISIONS,
) -> dict[str, Any]:
    """Precision and recall over an entity-probability threshold. ``entities`` are the
    predicted entities as (probability, correct), ``gold`` the number of gold chunks.

    ``curve``: one point per distinct probability, highest first (recall grows along it);
    ``table``: the points at ``thresholds``; ``targets``: for each target precision, the
    smallest threshold (0, or one of the probabilities) whose precision reaches it, with its
    recall, or ``reached`` False (precision is not monotonic in the threshold, so the
    smallest is sought, not the first from the top)."""
    counts = ThresholdCounts(entities, gold)
    distinct = counts.distinct()
    curve = [counts.at(p) for p in reversed(distinct)]
    table = [counts.at(t) for t in thresholds]
    candidates = [0.0] + [p for p in distinct if p > 0.0]
    picks = []
    for target in targets:
        pick: dict[str, Any] = {"target": target, "reached": False, "threshold": None}
        for threshold in candidates:
            point = counts.at(threshold)
            if point["kept"] and point["precision"] >= target:
                pick.update(point, reached=True, target=target)
                break
        picks.append(pick)
    return {"curve": curve, "table": table, "targets": picks}


def _chunks(labels: Sequence[str], scheme: str) -> set[tuple[str, int, int]]:
    return set(extract_chunks(labels, scheme))


def calibration_measures(
    gold: Sequence[Sentence],
    pred: Sequence[Sentence],
    records: Sequence[dict[str, Any]],
    scheme: str | None,
    bins: int = DEFAULT_BINS,
) -> dict[str, Any]:
    """The measures of one task's side-file ``records`` (one checked dict per sentence, with
    ``labels``, ``probabilities`` and perhaps ``entities``) against the aligned ``gold`` and
    ``pred`` sentences (labels under ``labels["label"]``): ``tokens``, and ``entities`` when
    the records have entities and a ``scheme`` gives the gold chunks; ``notes``."""
    confidences: list[float] = []
    outcomes: list[bool] = []
    for g, record in zip(gold, records):
        confidences.extend(record["probabilities"])
        outcomes.extend(p == t for p, t in zip(record["labels"], g.labels["label"]))
    result: dict[str, Any] = {"tokens": reliability(confidences, outcomes, bins), "notes": []}
    if not records or "entities" not in records[0]:
        return result
    if scheme is None:
        result["notes"].append("the entities are not scored: --no_spans reads no chunks")
        return result
    entities: list[tuple[float, bool]] = []
    gold_total = 0
    differing = 0
    for g, p, record in zip(gold, pred, records):
        gold_chunks = _chunks(g.labels["label"], scheme)
        gold_total += len(gold_chunks)
        found = {(e["type"], e["start"], e["end"]) for e in record["entities"]}
        differing += found != _chunks(p.labels["label"], scheme)
        entities.extend(
            (e["probability"], (e["type"], e["start"], e["end"]) in gold_chunks)
            for e in record["entities"]
        )
    section = reliability([p for p, _ in entities], [c for _, c in entities], bins)
    section.update(
        gold=gold_total,
        predicted=len(entities),
        correct=sum(c for _, c in entities),
        **threshold_tables(entities, gold_total),
    )
    result["entities"] = section
    if differing:
        result["notes"].append(
            f"in {differing} sentence(s) the side file's entities are not the chunks of the "
            f"prediction's labels under scheme {scheme!r}, so the entity precision and recall "
            "at threshold 0 differ from the span scores"
        )
    return result


# --- evaluate's options, report section and table -----------------------------------------------

MAX_BINS = 1000
# Options of other evaluate modes, which score several files or no label column.
_OTHER_MODES = (
    "compare", "models", "by_language", "language_files", "language_dir", "language_map",
    "dataset_config", "model", "dataset",
)  # fmt: skip


def check_calibration_options(args: Any, files: Sequence[str]) -> None:
    """``--probabilities`` scores one GOLD PRED pair in the span mode; ``--task`` and
    ``--bins`` go with it."""
    from .evaluate_modes import EvaluateUsageError

    if getattr(args, "probabilities", None) is None:
        for option in ("task", "bins"):
            if getattr(args, option, None) is not None:
                raise EvaluateUsageError(f"--{option} goes with --probabilities FILE")
        return
    if not str(args.probabilities).strip():
        raise EvaluateUsageError("--probabilities needs the side file's path")
    clash = [f"--{o}" for o in _OTHER_MODES if getattr(args, o, None) not in (None, False, [])]
    if clash:
        raise EvaluateUsageError(
            f"--probabilities cannot go with {', '.join(clash)}: it scores the probabilities of "
            "one prediction file against its gold file (GOLD PRED)"
        )
    if len(files) != 2:
        raise EvaluateUsageError(
            f"--probabilities scores one GOLD PRED pair, got {len(files)} files"
        )
    bins = getattr(args, "bins", None)
    if bins is not None and not 1 <= bins <= MAX_BINS:
        raise EvaluateUsageError(f"--bins {bins}: must be a whole number from 1 to {MAX_BINS}")


def calibration_section(
    gold_path: str,
    pred_path: str,
    side_path: str,
    layout: Any,
    scheme: str | None,
    task: str | None = None,
    bins: int | None = None,
) -> dict[str, Any]:
    """The ``calibration`` section of evaluate's report: the side file ``side_path`` of the
    prediction ``pred_path`` checked and measured against ``gold_path``, both read with
    ``layout`` (an :class:`~machamp_lite.evaluation_files.Layout`)."""
    from .calibration_side import read_side_file

    bins = DEFAULT_BINS if bins is None else bins
    gold, pred = layout.read_pair(gold_path, pred_path)
    name, records, temperatures = read_side_file(side_path, task, gold_path, gold, pred_path, pred)
    section: dict[str, Any] = {
        "task": name,
        "probabilities": str(side_path),
        "temperatures": temperatures,
        "scheme": scheme,
        "bins": bins,
    }
    section.update(calibration_measures(gold, pred, records, scheme, bins))
    return section


def _percent(value: float | None) -> str:
    return "-" if value is None else f"{100 * value:.2f}"


def format_calibration(section: dict[str, Any]) -> str:
    """The section as text, numbers in % as in the span table."""
    temperatures = ", ".join(f"{t:g}" for t in section["temperatures"]) or "not given"
    kinds = [k for k in ("tokens", "entities") if k in section]
    lines = [
        f"calibration of task {section['task']!r} ({section['probabilities']}; temperature "
        f"{temperatures}) in %: {section['bins']} equal-width confidence bins",
        f"{'':<10}{'count':>8}{'conf':>9}{'acc':>9}{'ECE':>9}{'MCE':>9}",
    ]
    for kind in kinds:
        s = section[kind]
        lines.append(
            f"{kind:<10}{s['count']:>8}{_percent(s['mean_confidence']):>9}"
            f"{_percent(s['accuracy']):>9}{_percent(s['ece']):>9}{_percent(s['mce']):>9}"
        )
    lines.append(
        f"{'bin':<12}" + "  |".join(f"{k + ': count':>14}{'conf':>8}{'acc':>8}" for k in kinds)
    )
    for index, row in enumerate(section["tokens"]["bins"]):
        cells = []
        for kind in kinds:
            b = section[kind]["bins"][index]
            cells.append(
                f"{b['count']:>14}{_percent(b['confidence']):>8}{_percent(b['accuracy']):>8}"
            )
        lines.append(f"{row['lower']:.3g}-{row['upper']:.3g}".ljust(12) + "  |".join(cells))
    entities = section.get("entities")
    if entities is not None:
        lines.append(
            f"entities kept at probability >= t ({entities['gold']} gold chunks; "
            "predict --min_confidence t writes the others as O):"
        )
        lines.append(f"{'t':>6}{'kept':>8}{'correct':>9}{'P':>9}{'R':>9}")
        for point in entities["table"]:
            lines.append(
                f"{point['threshold']:>6.2f}{point['kept']:>8}{point['correct']:>9}"
                f"{_percent(point['precision']):>9}{_percent(point['recall']):>9}"
            )
        for pick in entities["targets"]:
            target = f"precision {100 * pick['target']:.0f}%"
            if pick["reached"]:
                lines.append(
                    f"{target}: smallest threshold {pick['threshold']:.4g} (P "
                    f"{_percent(pick['precision'])}, R {_percent(pick['recall'])})"
                )
            else:
                lines.append(f"{target}: not reached at any threshold")
    lines += [f"note: {note}" for note in section["notes"]]
    return "\n".join(lines)
