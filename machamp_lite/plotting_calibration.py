"""The figure of ``evaluate --probabilities FILE --plot FILE.png``: a reliability diagram (per
confidence bin, the accuracy of words and of entities against the diagonal that calibrated
probabilities follow) and the entity precision/recall curve over the probability threshold,
with the thresholds that reach the target precisions marked. matplotlib is an optional extra,
imported only here (see :mod:`machamp_lite.plotting`)."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from .plotting import _matplotlib

KIND_NAMES = {"tokens": "words", "entities": "entities"}


def _reliability(axes: Any, section: Mapping[str, Any], colours: list[Any]) -> None:
    kinds = [k for k in ("tokens", "entities") if k in section]
    bins = section["tokens"]["bins"]
    width = 1.0 / len(bins)
    bar = width * 0.9 / len(kinds)
    for k, kind in enumerate(kinds):
        rows = section[kind]["bins"]
        offset = -width * 0.45 + bar * (k + 0.5)
        centres = [(row["lower"] + row["upper"]) / 2 + offset for row in rows]
        heights = [row["accuracy"] if row["count"] else 0.0 for row in rows]
        ece = section[kind]["ece"]
        label = KIND_NAMES[kind] + ("" if ece is None else f" (ECE {100 * ece:.1f}%)")
        axes.bar(centres, heights, bar * 0.95, label=label, color=colours[k], alpha=0.85)
    axes.plot([0, 1], [0, 1], color="0.3", linestyle="--", linewidth=1, label="calibrated")
    axes.set_xlim(0, 1)
    axes.set_ylim(0, 1.02)
    axes.set_xlabel("confidence (probability of the prediction)")
    axes.set_ylabel("accuracy in the bin")
    axes.set_title("reliability")
    axes.legend(loc="upper left", frameon=False, fontsize=8)


def _threshold_curve(axes: Any, entities: Mapping[str, Any], colour: Any) -> None:
    curve = entities["curve"]
    recall = [point["recall"] for point in curve]
    precision = [point["precision"] for point in curve]
    axes.plot(recall, precision, color=colour, linewidth=1.5)
    marked = {pick["kept"] for pick in entities["targets"] if pick["reached"]}
    for point in entities["table"]:
        if point["threshold"] in (0.5, 0.9) and point["kept"] and point["kept"] not in marked:
            marked.add(point["kept"])
            axes.plot(point["recall"], point["precision"], "o", color="0.3", markersize=4)
            axes.annotate(
                f"t={point['threshold']:g}",
                (point["recall"], point["precision"]),
                textcoords="offset points",
                xytext=(4, -10),
                fontsize=7,
            )
    # One mark per threshold: several target precisions often pick the same one.
    picked: dict[float, list[dict[str, Any]]] = {}
    for pick in entities["targets"]:
        if pick["reached"]:
            picked.setdefault(pick["threshold"], []).append(pick)
    for threshold, picks in picked.items():
        point = picks[0]
        targets = "/".join(f"{100 * p['target']:.0f}" for p in picks)
        axes.plot(point["recall"], point["precision"], "D", color="black", markersize=5)
        axes.annotate(
            f"P>={targets}%: t={threshold:.3g}",
            (point["recall"], point["precision"]),
            textcoords="offset points",
            xytext=(6, -12),
            fontsize=7,
        )
    axes.set_xlim(0, 1)
    axes.set_ylim(0, 1.05)
    axes.set_xlabel("recall")
    axes.set_ylabel("precision")
    axes.set_title("entities kept at probability >= t")
    axes.grid(True, color="0.9", linewidth=0.8)


def plot_calibration(
    section: Mapping[str, Any], path: str | Path, title: str | None = None
) -> Path:
    """Draw ``section`` (the ``calibration`` of an evaluate report) to ``path``: the
    reliability diagram, and beside it the entity precision/recall curve when the task has
    entities. Agg canvas; the format follows the extension."""
    Figure, FigureCanvasAgg, colormaps = _matplotlib()
    entities = section.get("entities")
    panels = 2 if entities is not None else 1
    figure = Figure(figsize=(5.2 * panels, 4.6), layout="constrained")
    FigureCanvasAgg(figure)
    colours = [colormaps["tab10"](i) for i in range(2)]
    axes = figure.subplots(1, panels, squeeze=False)[0]
    _reliability(axes[0], section, colours)
    if entities is not None:
        _threshold_curve(axes[1], entities, colours[1])
    figure.suptitle(title or f"calibration of task {section['task']}")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=150)
    return path
