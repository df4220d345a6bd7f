"""MaChAmp's command-line conventions: ``predict`` with several INPUT OUTPUT pairs (one model
load), ``--batch_size``, ``--max_sents``, ``--topn`` (checked before loading), and
``--device`` given as MaChAmp's integers."""

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
        (["--topn", "0"], "--topn 0: must be at least 1"),
        (["--min_confidence", "2"], "--min_confidence 2.0: must be from 0 to 1"),
        (["--batch_size", "0"], "--batch_size 0: must be at least 1"),
        (["--max_sents", "0"], "--max_sents 0: must be at least 1"),
        (["--max_sents", "-3"], "--max_sents -3: must be at least 1"),
    ],
)
def test_predict_refuses_what_it_cannot_honour_before_loading(tmp_path, capsys, extra, expected):
    missing_model = tmp_path / "no-model"  # never loaded: the arguments fail first
    source = sentences(tmp_path / "in.conll", 1)
    code = main(["predict", str(missing_model), str(source), str(tmp_path / "out"), *extra])
    assert expected in one_error(capsys, code)
    assert not (tmp_path / "out").exists()


def test_predict_with_three_pairs_loads_the_model_once_and_writes_as_three_calls(
    model, tmp_path, monkeypatch, capsys
):
    from machamp_lite import archive

    loads = []
    load_archive = archive.load_archive

    def counted(*args, **kwargs):
        loads.append(args[0])
        return load_archive(*args, **kwargs)

    monkeypatch.setattr(archive, "load_archive", counted)
    inputs = [sentences(tmp_path / f"in{i}.conll", n) for i, n in enumerate((2, 4, 3))]
    together = [tmp_path / f"together{i}.conll" for i in range(3)]
    pairs = [str(path) for pair in zip(inputs, together) for path in pair]
    assert main(["predict", str(model), *pairs, "--device", "cpu"]) == 0
    assert len(loads) == 1
    for source, output in zip(inputs, together):
        alone = tmp_path / f"alone-{source.name}"
        assert main(["predict", str(model), str(source), str(alone), "--device", "cpu"]) == 0
        assert output.read_bytes() == alone.read_bytes()
    assert len(loads) == 4  # and each single call loaded it once


def test_max_sents_predicts_and_writes_the_first_sentences_of_each_input(model, tmp_path):
    first, second = sentences(tmp_path / "a.conll", 3), sentences(tmp_path / "b.conll", 1)
    code = main(
        ["predict", str(model), str(first), str(tmp_path / "a.out"), str(second)]
        + [str(tmp_path / "b.out"), "--max_sents", "2", "--device", "cpu"]
    )
    assert code == 0
    assert main(["predict", str(model), str(first), str(tmp_path / "all.out")]) == 0
    blocks = (tmp_path / "all.out").read_text(encoding="utf-8").split("\n\n")
    assert (tmp_path / "a.out").read_text(encoding="utf-8") == "\n\n".join(blocks[:2]) + "\n\n"
    written = (tmp_path / "b.out").read_text(encoding="utf-8")
    assert written.count("# id") == 1 and len(written.splitlines()) == len(
        second.read_text(encoding="utf-8").splitlines()
    )


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
