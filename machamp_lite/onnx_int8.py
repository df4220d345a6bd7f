"""The int8 graph of ``export --format onnx --int8``: onnxruntime's dynamic quantization of the
MatMul weights, after smoothing the feed-forward layers when calibration sentences are given
(``--calibration FILE``, int8_smoothing.py), else with the first transformer layer in float32.

Both schemes were chosen on multilingual-e5-small trained on the small MultiCoNER setup,
judged on three disjoint sets of 2,200 dev sentences (docs/performance.md, "ONNX and int8"):
without smoothing every scheme lost 0.6 to 1.2 points of span F1 against float32 (the first
layer in float32: 0.63 on average); with the feed-forward layers smoothed on 900 training
sentences, every layer int8, the F1 stayed within 0.5 points on each set.
"""

from __future__ import annotations

import logging
import re
import shutil
import tempfile
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

# What is quantized and how, without calibration sentences. On the held-out MultiCoNER
# sentences every layer quantized with one scale per matrix lost 1.5 points of span F1, one
# scale per output column (per_channel) 1.2; keeping the first transformer layer float32 as
# well lost 0.01 there and 0.63 on average over three sets.
QUANTIZATION: dict[str, Any] = {
    "method": "onnxruntime quantize_dynamic",
    "op_types": ["MatMul"],
    "weight_type": "int8",
    "per_channel": True,
    "float32_layers": [0],
}


def float_layer_nodes(source: Path, positions: Sequence[int] | None = None) -> list[str]:
    """The MatMul nodes of the transformer layers that stay float32 (``positions`` among the
    layers; by default ``QUANTIZATION``'s ``float32_layers``), found by the layer numbers that
    the exporter writes into node names (``.../layer.0/...``); none for an encoder whose names
    carry no layer number."""
    import onnx

    if positions is None:
        positions = QUANTIZATION["float32_layers"]
    graph = onnx.load(str(source), load_external_data=False).graph
    layer_of = {}
    for node in graph.node:
        found = re.search(r"/layers?\.(\d+)/", node.name)
        if node.op_type == "MatMul" and found:
            layer_of[node.name] = int(found.group(1))
    numbers = sorted(set(layer_of.values()))
    if not numbers:
        return []
    kept = {numbers[position] for position in positions}
    return [name for name, layer in layer_of.items() if layer in kept]


def quantize(source: Path, target: Path, float32_layers: Sequence[int] | None = None) -> None:
    """onnxruntime's dynamic int8 quantization of the MatMul weights (linear layers): weights
    stored as int8 with a scale per output column (``QUANTIZATION``), activations quantized
    per batch at run time. The transformer layers at ``float32_layers`` (``float_layer_nodes``),
    the embedding lookups and everything that is not a MatMul stay float32."""
    from onnxruntime.quantization import QuantType, quantize_dynamic

    # It logs advice on pre-processing (for convolutional models) to the root logger.
    logging.disable(logging.WARNING)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            quantize_dynamic(
                str(source),
                str(target),
                op_types_to_quantize=QUANTIZATION["op_types"],
                per_channel=QUANTIZATION["per_channel"],
                weight_type=QuantType.QInt8,
                nodes_to_exclude=float_layer_nodes(source, float32_layers),
            )
    finally:
        logging.disable(logging.NOTSET)


def write_int8_graph(model, folder: Path, fp32_graph: str, target: str, calibration, graph_io):
    """The int8 graph ``folder/target`` and what the report says of it. With ``calibration``
    (sentences), the model's feed-forward layers are smoothed in place, traced again into a
    temporary graph, checked against the smoothed torch model and quantized with every layer
    int8; without, ``folder/fp32_graph`` is quantized with ``QUANTIZATION``'s float32 layers.
    ``graph_io`` is ``(write_graph, check_graph)`` of export_onnx, called as
    ``write(model, path)`` and ``check(model, path)``."""
    if not calibration:
        quantize(folder / fp32_graph, folder / target)
        return dict(QUANTIZATION, smoothing=None)
    from .int8_smoothing import smooth

    write, check = graph_io
    smoothing = smooth(model, calibration)
    work = Path(tempfile.mkdtemp(prefix=".smoothed-", dir=folder))
    try:
        write(model, work / "smoothed.onnx")
        check(model, work / "smoothed.onnx")  # smoothing is exact in float32
        quantize(work / "smoothed.onnx", folder / target, float32_layers=[])
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return dict(QUANTIZATION, float32_layers=[], smoothing=smoothing)
