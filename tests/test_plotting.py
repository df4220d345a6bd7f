"""Per-type F1 bar charts: drawn to the file format the extension names, with any number of
models, and without matplotlib one error that says how to install it."""

from __future__ import annotations

import sys

import pytest

from machamp_lite.errors import MachampError
from machamp_lite.plotting import (
    INSTALL_HINT,
    MAX_LABELLED_BARS,
    PlotUnavailableError,
    plot_per_type_f1,
)


def result(micro: float, **per_type: float) -> dict:
    """The parts of an ``evaluate_files`` result that a chart reads."""
    return {
        "per_type": {name: {"f1": f1} for name, f1 in per_type.items()},
        "micro": {"f1": micro},
        "macro": {"f1": sum(per_type.values()) / max(1, len(per_type))},
    }


SERIES = [("A", result(0.8, PER=0.9, LOC=0.7)), ("B", result(0.6, PER=0.5, LOC=0.7))]


@pytest.fixture
def matplotlib():
    return pytest.importorskip("matplotlib", reason="charts need the optional matplotlib")


def test_a_png_is_drawn_in_a_new_folder(tmp_path, matplotlib):
    path = tmp_path / "figures" / "f1.png"
    written = plot_per_type_f1(SERIES, path, title="demo", legend_title="model")
    assert written == path
    data = path.read_bytes()
    assert len(data) > 1000 and data.startswith(b"\x89PNG\r\n\x1a\n")


def test_the_extension_picks_the_format(tmp_path, matplotlib):
    svg = plot_per_type_f1(SERIES, str(tmp_path / "f1.svg"), support={"PER": 3, "LOC": 1})
    assert "<svg" in svg.read_text(encoding="utf-8")
    pdf = plot_per_type_f1(SERIES, tmp_path / "f1.pdf", types=["LOC"], summary=("micro",))
    assert pdf.read_bytes().startswith(b"%PDF")


def test_a_type_one_model_never_predicted_and_many_models_still_draw(tmp_path, matplotlib):
    series = [(f"model {k}", result(0.5, PER=0.5)) for k in range(12)]
    series.append(("with LOC", result(0.5, PER=0.5, LOC=0.25)))
    assert len(series) * 4 > MAX_LABELLED_BARS  # PER, LOC, micro, macro: bars without labels
    path = plot_per_type_f1(series, tmp_path / "many.png")
    assert path.read_bytes().startswith(b"\x89PNG")


def test_nothing_to_plot_is_refused(tmp_path):
    with pytest.raises(ValueError, match="nothing to plot"):
        plot_per_type_f1([], tmp_path / "empty.png")
    assert not (tmp_path / "empty.png").exists()


def test_without_matplotlib_the_error_says_how_to_install_it(tmp_path, monkeypatch):
    for module in ("matplotlib", "matplotlib.figure", "matplotlib.backends.backend_agg"):
        monkeypatch.setitem(sys.modules, module, None)
    with pytest.raises(PlotUnavailableError) as caught:
        plot_per_type_f1(SERIES, tmp_path / "f1.png")
    assert isinstance(caught.value, MachampError)  # the command line prints it as one line
    assert INSTALL_HINT in str(caught.value)
    assert not (tmp_path / "f1.png").exists()
