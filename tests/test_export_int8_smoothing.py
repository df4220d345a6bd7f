"""``export --format onnx --int8 --calibration FILE``: the feed-forward layers are smoothed before
quantization. Smoothing leaves the model's function unchanged in float32, touches only the
feed-forward layers, lowers the int8 error where an input channel has a large range, leaves the
float32 graph as it was, and bad calibration arguments are one clear error."""

from __future__ import annotations

import copy
import json
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch
from test_export_onnx import DEV, dev_sentences, model_dir  # noqa: F401  (the fixture)
from torch import nn

from machamp_lite.archive import load_archive
from machamp_lite.cli import main
from machamp_lite.data.dataset import read_dataset_file
from machamp_lite.int8_smoothing import (
    SmoothedLinear,
    feed_forward_linears,
    recording_input_ranges,
    scale_layers,
    smooth,
)
from machamp_lite.onnx_int8 import quantize

from conftest import DEMO, one_error

pytest.importorskip("onnxruntime", reason='needs the onnx extra: pip install ".[onnx]"')

TRAIN = DEMO / "multiconer_demo_train.conll"


def test_a_smoothed_linear_layer_computes_the_same_function():
    torch.manual_seed(0)
    linear = nn.Linear(8, 32)
    scale = torch.rand(8) * 10 + 0.01
    x = torch.randn(5, 3, 8) * torch.linspace(0.1, 40, 8)
    assert torch.allclose(SmoothedLinear(linear, scale)(x), linear(x), rtol=1e-4, atol=1e-5)


def test_a_layer_whose_range_overflowed_is_left_as_it_is():
    block = nn.Sequential(nn.Linear(4, 8), nn.Linear(8, 2))
    ranges = {"0": torch.tensor([1.0, float("inf"), 2.0, 3.0]), "1": torch.ones(8)}
    assert scale_layers(block, ranges) == 1
    assert type(block[0]) is nn.Linear and isinstance(block[1], SmoothedLinear)


def _scores(model, sentences: list[list[str]]) -> dict[str, torch.Tensor]:
    encoder = model.encoder
    inputs = encoder.collate(encoder.encode_many(sentences), 1 << 30)
    with torch.no_grad():
        vectors, mask = model.task_vectors(inputs, list(model.decoders))
        return {t: d.logits(vectors[t], mask) for t, d in model.decoders.items()}


def test_smoothing_changes_only_the_feed_forward_layers_and_not_the_scores(model_dir):  # noqa: F811
    model, _, datasets, _, _ = load_archive(model_dir)
    sentences = dev_sentences()[:20]
    before = _scores(model, sentences)
    names = set(feed_forward_linears(model))
    assert names == {
        f"encoder.layer.{i}.{part}.dense" for i in range(2) for part in ("intermediate", "output")
    }
    calibration = read_dataset_file(datasets["demo"], str(TRAIN), require_labels=False)
    report = smooth(model, calibration)
    assert report["layers"] == 4 and report["calibration_sentences"] == len(calibration)
    transformer = model.encoder.transformer
    for name, module in transformer.named_modules():
        if name in names:
            assert isinstance(module, SmoothedLinear), name
        elif name.endswith(("query", "key", "value", "attention.output.dense")):
            assert type(module) is nn.Linear, name
    after = _scores(model, sentences)
    for task in before:
        assert torch.allclose(after[task], before[task], rtol=1e-4, atol=1e-4), task


def _run_graph(path: Path, x: torch.Tensor) -> np.ndarray:
    import onnxruntime

    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return session.run(["y"], {"x": x.numpy()})[0]


def test_smoothing_lowers_the_int8_error_of_an_outlier_channel(tmp_path):
    """A feed-forward block whose input has one channel 40x larger than the others, as
    trained transformers have: int8 with one activation scale per batch rounds the other
    channels to a few levels; smoothed, the error falls, and float32 computes the same."""
    torch.manual_seed(0)
    block = nn.Sequential(nn.LayerNorm(32), nn.Linear(32, 128), nn.GELU(), nn.Linear(128, 32))
    with torch.no_grad():
        block[0].weight[3] = 40.0
    block.eval()
    x = torch.randn(256, 32)
    plain = copy.deepcopy(block)
    with recording_input_ranges({"1": block[1], "3": block[3]}) as ranges, torch.no_grad():
        block(x)
    assert scale_layers(block, ranges) == 2
    outputs = {}
    for name, module in (("plain", plain), ("smoothed", block)):
        graph, quantized = tmp_path / f"{name}.onnx", tmp_path / f"{name}.int8.onnx"
        with torch.no_grad(), warnings.catch_warnings():
            warnings.simplefilter("ignore")  # the TorchScript exporter's deprecation notice
            torch.onnx.export(
                module, (x,), str(graph), input_names=["x"], output_names=["y"], dynamo=False
            )
        quantize(graph, quantized, float32_layers=[])
        outputs[name] = (_run_graph(graph, x), _run_graph(quantized, x))
    reference = outputs["plain"][0]
    assert np.allclose(outputs["smoothed"][0], reference, rtol=1e-4, atol=1e-4)
    error_plain = np.abs(outputs["plain"][1] - reference).mean()
    error_smoothed = np.abs(outputs["smoothed"][1] - reference).mean()
    assert error_smoothed < 0.5 * error_plain, (error_smoothed, error_plain)


def test_the_report_says_how_the_int8_graph_was_made(model_dir, tmp_path):  # noqa: F811
    import onnx

    out = tmp_path / "onnx"
    code = main(
        ["export", str(model_dir), str(out), "--format", "onnx", "--int8"]
        + ["--calibration", str(TRAIN), str(DEV)]
    )
    assert code == 0
    report = json.loads((out / "export.json").read_text())
    quantization = report["quantization"]
    assert quantization["float32_layers"] == []
    smoothing = quantization["smoothing"]
    assert smoothing["alpha"] == 0.8 and smoothing["layers"] == 4
    assert smoothing["calibration_sentences"] > 60  # both files were read
    assert {p.name for p in out.iterdir()} >= {"model.onnx", "model.int8.onnx", "export.json"}
    assert not [p for p in out.rglob("*") if "smoothed" in p.name]  # the temporary graph
    graph = onnx.load(str(out / "model.int8.onnx")).graph
    initializers = {i.name for i in graph.initializer}
    assert sum("inverse_scale" in name for name in initializers) == 4
    # Every projection of both layers (6 each) and the two tasks' scoring layers are int8.
    assert [n.op_type for n in graph.node].count("MatMulInteger") == 14
    plain = tmp_path / "plain"
    assert main(["export", str(model_dir), str(plain), "--format", "onnx", "--int8"]) == 0
    report = json.loads((plain / "export.json").read_text())
    assert report["quantization"]["smoothing"] is None
    assert report["quantization"]["float32_layers"] == [0]
    plain_graph = onnx.load(str(plain / "model.int8.onnx")).graph
    assert [n.op_type for n in plain_graph.node].count("MatMulInteger") == 8  # layer 0 float32


@pytest.mark.parametrize(
    "extra, expected",
    [
        (["--calibration", "missing.conll"], "missing.conll: not a file"),
        (["--calibration", "."], "--calibration .: not a file"),
        (["--calibration", str(TRAIN), "--calibration_dataset", "other"], "'other'"),
    ],
)
def test_bad_calibration_arguments_are_one_error(model_dir, tmp_path, capsys, extra, expected):  # noqa: F811
    out = tmp_path / "onnx"
    code = main(["export", str(model_dir), str(out), "--format", "onnx", "--int8", *extra])
    message = one_error(capsys, code)
    assert expected in message
    if "calibration_dataset" in extra:
        assert "one of demo" in message
    assert not out.exists()


def test_calibration_without_int8_is_refused(model_dir, tmp_path, capsys):  # noqa: F811
    out = tmp_path / "onnx"
    code = main(["export", str(model_dir), str(out), "--format", "onnx", "--calibration", "x"])
    assert "--calibration goes with --int8" in one_error(capsys, code)
    assert not out.exists()
