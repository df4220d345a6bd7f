"""``predict --precision`` / ``Predictor.load(precision=...)``: bf16 really runs the encoder
under autocast, the output stays one label per word, a processor without bf16 arithmetic gets
a warning rather than a refusal, and a precision the backend cannot take is one clear error."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest
import torch

from machamp_lite import precision
from machamp_lite.cli import main
from machamp_lite.errors import ConfigError
from machamp_lite.predict import Predictor

from conftest import DEMO, ROOT, one_error, tiny_training_params, write


@pytest.fixture(scope="module")
def trained(tmp_path_factory, tiny_model) -> Path:
    """The tiny BERT trained one epoch on the MultiCoNER demo."""
    folder = tmp_path_factory.mktemp("precision")
    params = tiny_training_params(folder / "params.json", tiny_model, 1)
    code = main(
        [
            "train",
            "--dataset_configs",
            str(ROOT / "dataset_configs/demo.json"),
            "--parameters_config",
            str(params),
            "--output_dir",
            str(folder / "logs"),
            "--data_dir",
            str(ROOT),
            "--seed",
            "3",
        ]
    )
    assert code == 0
    (run,) = [p for p in (folder / "logs").glob("*/*") if p.is_dir()]
    return run / "model"


def output_dtypes(predictor: Predictor) -> list[torch.dtype]:
    """Record the dtype of every output of the encoder's linear layers during prediction."""
    seen: list[torch.dtype] = []
    for module in predictor.model.encoder.modules():
        if isinstance(module, torch.nn.Linear):
            module.register_forward_hook(lambda _m, _i, out: seen.append(out.dtype))
    return seen


SENTENCES = [["Anna", "lives", "in", "Oslo"], ["x"], ["the", "old", "man", "sleeps", "."] * 9]


def test_bf16_runs_the_encoder_in_bf16_and_keeps_one_label_per_word(trained):
    fp32 = Predictor.load(trained, "cpu", precision="fp32")
    bf16 = Predictor.load(trained, "cpu", precision="bf16")
    fp32_dtypes, bf16_dtypes = output_dtypes(fp32), output_dtypes(bf16)
    plain, low = fp32.predict(SENTENCES), bf16.predict(SENTENCES)
    assert set(fp32_dtypes) == {torch.float32}
    assert set(bf16_dtypes) == {torch.bfloat16}
    labels = set(fp32.model.decoders["ner"].vocabulary.labels)
    for words, a, b in zip(SENTENCES, plain, low):
        assert len(a["ner"]) == len(b["ner"]) == len(words)
        assert set(b["ner"]) <= labels


def test_under_bf16_the_decoders_score_in_float32_and_every_path_agrees(trained):
    """The encoder runs in bf16 but each decoder's layers in float32: scores rounded to bf16
    tie often, and Viterbi, top-n and marginals then broke ties differently, so that a top-n
    prediction's first label was not the plain prediction's label."""
    bf16 = Predictor.load(trained, "cpu", precision="bf16")
    decoder_dtypes: list[torch.dtype] = []
    for module in bf16.model.decoders.modules():
        if isinstance(module, torch.nn.Linear):
            module.register_forward_hook(lambda _m, _i, out: decoder_dtypes.append(out.dtype))
    encoder_dtypes = output_dtypes(bf16)
    words = [s for s, _ in zip(SENTENCES * 4, range(12))]
    plain = bf16.predict(words)
    assert set(encoder_dtypes) == {torch.bfloat16} and set(decoder_dtypes) == {torch.float32}
    ranked = bf16.confidences(words, topn=3, calibrated=False)
    for labels, result in zip(plain, ranked):
        assert result["ner"]["labels"] == labels["ner"]  # CRF marginals' path = Viterbi's
        assert result["ner"]["topn"][0]["labels"] == labels["ner"]  # the best of 3 sequences


def test_the_cli_writes_a_valid_bf16_prediction(trained, tmp_path):
    source = DEMO / "multiconer_demo_dev.conll"
    out_fp32, out_bf16 = tmp_path / "fp32.conll", tmp_path / "bf16.conll"
    assert main(["predict", str(trained), str(source), str(out_fp32), "--precision", "fp32"]) == 0
    assert main(["predict", str(trained), str(source), str(out_bf16), "--precision", "bf16"]) == 0
    # Same lines, same words, same comment lines: only labels may differ.
    fp32_lines = out_fp32.read_text(encoding="utf-8").splitlines()
    bf16_lines = out_bf16.read_text(encoding="utf-8").splitlines()
    assert len(fp32_lines) == len(bf16_lines)
    for a, b in zip(fp32_lines, bf16_lines):
        assert a.split()[:-1] == b.split()[:-1]


def test_without_bf16_arithmetic_there_is_a_warning_not_a_refusal(trained, monkeypatch, caplog):
    monkeypatch.setattr(precision, "cpu_flags", lambda: {"avx2", "fma"})
    with caplog.at_level(logging.WARNING):
        Predictor.load(trained, "cpu", precision="bf16")
    assert "emulated and slower than fp32" in caplog.text
    caplog.clear()
    monkeypatch.setattr(precision, "cpu_flags", lambda: {"avx2", "amx_bf16"})
    with caplog.at_level(logging.WARNING):
        Predictor.load(trained, "cpu", precision="bf16")
    assert "emulated" not in caplog.text


def test_cpu_flags_are_read_from_cpuinfo(tmp_path):
    info = write(tmp_path / "cpuinfo", "processor\t: 0\nflags\t\t: fpu avx2 avx512_bf16\n")
    assert precision.cpu_flags(info) == {"fpu", "avx2", "avx512_bf16"}
    assert precision.cpu_flags(tmp_path / "missing") == set()


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--precision", "fp8"], None),
        (["--backend", "onnx", "--precision", "bf16"], "--precision bf16 is for --backend torch"),
    ],
)
def test_a_precision_the_backend_cannot_take_is_one_error(
    trained, tmp_path, capsys, extra, message
):
    source = DEMO / "multiconer_demo_dev.conll"
    code = main(["predict", str(trained), str(source), str(tmp_path / "out"), *extra])
    if message is None:  # argparse's choices
        assert code == 2 and "invalid choice: 'fp8'" in capsys.readouterr().err
    else:
        assert message in one_error(capsys, code)
    assert not (tmp_path / "out").exists()


def test_the_library_refuses_an_unknown_precision(trained):
    with pytest.raises(ConfigError, match="'half'"):
        Predictor.load(trained, "cpu", precision="half")


def test_training_in_bf16_without_bf16_arithmetic_warns(tiny_model, tmp_path, monkeypatch, caplog):
    monkeypatch.setattr(precision, "cpu_flags", lambda: {"avx2"})
    params = tiny_training_params(tmp_path / "params.json", tiny_model, 1)
    arguments = ["train", "--dataset_configs", str(ROOT / "dataset_configs/demo.json")]
    arguments += ["--parameters_config", str(params), "--output_dir", str(tmp_path / "logs")]
    arguments += ["--data_dir", str(ROOT), "--override", "training.precision=bf16"]
    with caplog.at_level(logging.WARNING):
        assert main(arguments) == 0
    assert "bf16 on cpu: this processor has no bf16 arithmetic" in caplog.text


@pytest.mark.parametrize(
    ("flags", "expected"),
    [({"avx2"}, "fp32"), ({"avx2", "avx512_bf16"}, "bf16"), ({"amx_bf16"}, "bf16")],
)
def test_auto_is_bf16_only_where_the_processor_computes_it(monkeypatch, flags, expected):
    monkeypatch.setattr(precision, "cpu_flags", lambda: flags)
    cpu = torch.device("cpu")
    assert precision.resolve_precision("auto", cpu) == expected
    for explicit in ("fp32", "bf16", "fp16"):
        assert precision.resolve_precision(explicit, cpu) == explicit
    with pytest.raises(ConfigError, match="'half'"):
        precision.resolve_precision("half", cpu)


@pytest.mark.parametrize(("flags", "expected"), [({"avx2"}, "fp32"), ({"amx_bf16"}, "bf16")])
def test_training_by_default_runs_auto_and_metrics_say_what_it_became(
    tiny_model, tmp_path, monkeypatch, flags, expected
):
    """The default training.precision is auto: on a processor without bf16 arithmetic the run
    is the fp32 run, with it the bf16 run (whose losses differ from fp32's)."""
    monkeypatch.setattr(precision, "cpu_flags", lambda: flags)
    params = tiny_training_params(tmp_path / "params.json", tiny_model, 1)
    config = json.loads(params.read_text())
    del config["training"]["precision"]  # the helper pins fp32; this run takes the default
    params.write_text(json.dumps(config))
    arguments = ["train", "--dataset_configs", str(ROOT / "dataset_configs/demo.json")]
    arguments += ["--parameters_config", str(params), "--output_dir", str(tmp_path / "logs")]
    arguments += ["--data_dir", str(ROOT)]

    def train(name: str, *extra: str) -> tuple[dict, Path]:
        assert main([*arguments, "--name", name, *extra]) == 0
        (run,) = (tmp_path / "logs" / name).iterdir()
        return json.loads((run / "metrics.json").read_text()), run

    metrics, run = train("auto")
    assert metrics["precision"] == expected
    assert json.loads((run / "params.json").read_text())["training"]["precision"] == "auto"
    losses = {}
    for pinned in ("fp32", "bf16"):
        pinned_metrics, _ = train(pinned, "--override", f"training.precision={pinned}")
        assert pinned_metrics["precision"] == pinned
        losses[pinned] = [e["train_loss"] for e in pinned_metrics["epochs"]]
    assert losses["fp32"] != losses["bf16"]
    assert [e["train_loss"] for e in metrics["epochs"]] == losses[expected]


def test_predict_auto_runs_bf16_only_where_it_is_native(trained, monkeypatch):
    monkeypatch.setattr(precision, "cpu_flags", lambda: {"avx2"})
    assert Predictor.load(trained, "cpu", precision="auto").precision == "fp32"
    monkeypatch.setattr(precision, "cpu_flags", lambda: {"avx512_bf16"})
    assert Predictor.load(trained, "cpu", precision="auto").precision == "bf16"


def test_the_precision_benchmark_scores_both_precisions_on_each_file(trained, tmp_path):
    from benchmarks import bench_precision

    out = tmp_path / "precision.json"
    dev = str(DEMO / "multiconer_demo_dev.conll")
    result = bench_precision.main(
        [f"tiny={trained}", "--inputs", dev, "--threads", "1"] + ["--out", str(out)]
    )
    assert json.loads(out.read_text()) == result
    row = result["models"]["tiny"]["multiconer_demo_dev.conll"]
    gold = [s for s in Path(dev).read_text(encoding="utf-8").split("\n\n") if s.strip()]
    assert row["sentences"] == len(gold)
    assert 0 <= row["sentences_unlike_fp32"] <= row["sentences"]
    assert {"micro_f1_points", "sentences_per_s"} <= set(row["fp32"]) == set(row["bf16"])
