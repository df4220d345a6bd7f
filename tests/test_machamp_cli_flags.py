"""MaChAmp's command-line conventions: ``predict`` with several INPUT OUTPUT pairs,
``--batch_size`` and ``--topn`` (1 only), and ``--device`` given as MaChAmp's integers."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

import machamp_lite
from machamp_lite.cli import main
from machamp_lite.devices import resolve_device
from machamp_lite.errors import ConfigError

from conftest import DEMO, ROOT, one_error, write


@pytest.fixture(scope="module")
def model(tmp_path_factory, params) -> Path:
    run = machamp_lite.train(
        [str(ROOT / "dataset_configs/demo.json")],
        str(params),
        output_dir=str(tmp_path_factory.mktemp("cli-flags")),
        device="cpu",
        data_dir=str(ROOT),
        overrides=["training.num_epochs=1", "multiconer_demo.max_sents=20"],
    )
    return run / "model"


def sentences(path: Path, count: int) -> Path:
    lines = (DEMO / "multiconer_demo_dev.conll").read_text(encoding="utf-8").split("\n\n")
    return write(path, "\n\n".join(lines[:count]) + "\n\n")


def test_predict_takes_several_input_output_pairs(model, tmp_path, capsys):
    first, second = sentences(tmp_path / "a.conll", 3), sentences(tmp_path / "b.conll", 5)
    outputs = [tmp_path / "a.out", tmp_path / "b.out"]
    code = main(
        ["predict", str(model), str(first), str(outputs[0]), str(second), str(outputs[1])]
        + ["--device", "cpu", "--batch_size", "2", "--topn", "1"]
    )
    assert code == 0
    err = capsys.readouterr().err
    assert f"wrote 3 sentences to {outputs[0]}" in err
    assert f"wrote 5 sentences to {outputs[1]}" in err
    for source, output in zip((first, second), outputs):
        assert len(output.read_text(encoding="utf-8").splitlines()) == len(
            source.read_text(encoding="utf-8").splitlines()
        )


@pytest.mark.parametrize(
    "extra, expected",
    [
        (["extra.conll"], "predict takes an output file for each input file"),
        (["--topn", "3"], "--topn 3: machamp-lite writes one label per item"),
        (["--batch_size", "0"], "--batch_size 0: must be at least 1"),
    ],
)
def test_predict_refuses_what_it_cannot_honour_before_loading(tmp_path, capsys, extra, expected):
    missing_model = tmp_path / "no-model"  # never loaded: the arguments fail first
    source = sentences(tmp_path / "in.conll", 1)
    code = main(["predict", str(missing_model), str(source), str(tmp_path / "out"), *extra])
    assert expected in one_error(capsys, code)
    assert not (tmp_path / "out").exists()


def test_two_inputs_may_not_share_an_output(tmp_path, capsys):
    source = sentences(tmp_path / "in.conll", 1)
    out = str(tmp_path / "out")
    code = main(["predict", str(tmp_path / "m"), str(source), out, str(source), out])
    assert "two inputs name the same output file" in one_error(capsys, code)


def test_machamps_integer_devices():
    assert resolve_device("-1") == torch.device("cpu")
    if not torch.cuda.is_available():
        with pytest.raises(ConfigError, match="--device cuda:0: no CUDA GPU is available"):
            resolve_device("0")
    else:
        assert resolve_device("0") == torch.device("cuda", 0)
