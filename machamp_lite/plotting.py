"""Per-type F1 bar charts of ``evaluate`` results (one bar per model or language); matplotlib is an
optional extra, imported only when a chart is drawn."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from .errors import MachampError

INSTALL_HINT = 'pip install "machamp-lite[plot]" (or: pip install matplotlib)'
# Above this many bars the value labels would overlap; the bars alone are drawn.
MAX_LABELLED_BARS = 48
# Figures grow with the number of bars up to this width (inches); the bars get thinner beyond.
MAX_WIDTH = 15.0


class PlotUnavailableError(MachampError):
    """matplotlib, needed to draw a chart, is not installed."""


def _matplotlib() -> tuple[Any, Any, Any]:
    try:
        from matplotlib import colormaps
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError:
        raise PlotUnavailableError(f"drawing a plot needs matplotlib: {INSTALL_HINT}") from None
    return Figure, FigureCanvasAgg, colormaps


def _colours(colormaps: Any, n: int) -> list[Any]:
    if n <= 10:
        return [colormaps["tab10"](i) for i in range(n)]
    # tab20 pairs a strong and a light shade of each hue: all strong shades first, so that
    # neighbouring bars do not look like one group.
    order = list(range(0, 20, 2)) + list(range(1, 20, 2))
    return [colormaps["tab20"](order[i % 20]) for i in range(n)]


def plot_per_type_f1(
    series: Sequence[tuple[str, Mapping[str, Any]]],
    path: str | Path,
    types: Sequence[str] | None = None,
    title: str | None = None,
    legend_title: str | None = None,
    support: Mapping[str, int] | None = None,
    summary: Sequence[str] = ("micro", "macro"),
) -> Path:
    """Draw grouped bars of span F1 (in %): one group per entity type, then the ``summary``
    scores (micro, macro), one bar per ``(name, result)`` in ``series`` (a model or a language;
    ``result`` as :func:`machamp_lite.evaluation.evaluate_files` returns it). ``support`` adds
    the number of gold chunks under each type. Drawn with the Agg canvas, so no display and no
    change to pyplot's backend; the format follows the file extension (png, pdf, svg)."""
    if not series:
        raise ValueError("nothing to plot: no results")
    Figure, FigureCanvasAgg, colormaps = _matplotlib()
    if types is None:
        types = sorted({t for _, result in series for t in result["per_type"]})
    groups = list(types) + list(summary)
    n_series, n_groups = len(series), len(groups)

    group_width = max(1.0, 0.3 * n_series + 0.4)
    width = min(MAX_WIDTH, max(6.5, 1.0 + group_width * n_groups))
    figure = Figure(figsize=(width, 4.6), layout="constrained")
    FigureCanvasAgg(figure)
    axes = figure.add_subplot()
    colours = _colours(colormaps, n_series)
    bar_width = 0.84 / n_series
    labelled = n_series * n_groups <= MAX_LABELLED_BARS
    for k, (name, result) in enumerate(series):
        values = []
        for group in groups:
            if group in types:
                scores = result["per_type"].get(group)
                values.append(100 * scores["f1"] if scores else math.nan)
            else:
                values.append(100 * result[group]["f1"])
        offset = (k - (n_series - 1) / 2) * bar_width
        bars = axes.bar(
            [g + offset for g in range(n_groups)],
            values,
            bar_width * 0.92,
            label=name,
            color=colours[k],
        )
        if labelled:
            axes.bar_label(
                bars,
                labels=["" if math.isnan(v) else f"{v:.1f}" for v in values],
                fontsize=7,
                padding=2,
                rotation=90 if n_series > 2 else 0,
            )

    tick_labels = []
    for group in groups:
        if support is not None and group in types:
            tick_labels.append(f"{group}\n(n={support.get(group, 0):,})")
        else:
            tick_labels.append(group)
    axes.set_xticks(range(n_groups), tick_labels)
    if types and summary:
        axes.axvline(len(types) - 0.5, color="0.55", linestyle=":", linewidth=1)
    axes.set_xlim(-0.6, n_groups - 0.4)
    axes.set_ylim(0, 112 if labelled and n_series > 2 else 105)
    axes.set_yticks(range(0, 101, 20))
    axes.set_ylabel("span F1 (%)")
    axes.yaxis.grid(True, color="0.85", linewidth=0.8)
    axes.set_axisbelow(True)
    for side in ("top", "right"):
        axes.spines[side].set_visible(False)
    if title:
        figure.suptitle(title)
    # At the right, outside the axes: above them it would collide with the title.
    figure.legend(loc="outside right upper", title=legend_title, frameon=False, fontsize=9)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=150)
    return path
