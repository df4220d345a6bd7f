"""Smoke test of the benchmark code paths (benchmarks/run.py and its parts) on the tiny model
and a MultiCoNER-shaped folder of demo sentences: it checks that they run and report what they
promise, not how fast anything is. ../shared is not needed."""

from __future__ import annotations

import json
import sys
from types import SimpleNamespace

import pytest
import torch

from benchmarks import bench_reference, bench_tokenize, bench_train_predict, predict_backends, run
from benchmarks.bench_train_predict import (
    DEV_LANGUAGES,
    TRAIN_LANGUAGES,
    dev_file,
    train_file,
)

from conftest import DEMO, SHARED_DATA, needs_shared_data, tiny_training_params

TRAIN_SENTENCES = 12
DEV_SENTENCES = 5
needs_pytorch_crf = pytest.mark.skipif(
    bench_reference.missing_dependency() is not None,
    reason="the reference loop needs pytorch-crf (pip install pytorch-crf==0.7.2)",
)


def first_sentences(path, count: int) -> str:
    blocks = [b for b in path.read_text(encoding="utf-8").split("\n\n") if b.strip()]
    return "\n\n".join(blocks[:count]) + "\n"


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    """The MultiCoNER layout the benchmarks expect, each file a few demo sentences."""
    root = tmp_path_factory.mktemp("bench-data")
    train = first_sentences(DEMO / "multiconer_demo_train.conll", TRAIN_SENTENCES)
    dev = first_sentences(DEMO / "multiconer_demo_dev.conll", DEV_SENTENCES)
    for language in TRAIN_LANGUAGES:
        path = root / train_file(language)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(train, encoding="utf-8")
    for language in DEV_LANGUAGES:
        path = root / dev_file(language)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(dev, encoding="utf-8")
    return root


def test_tokenize_measurement_reads_and_tokenizes_every_train_file(data_dir, tiny_model):
    result = bench_tokenize.measure(str(tiny_model), str(data_dir))
    assert result["sentences"] == TRAIN_SENTENCES * len(TRAIN_LANGUAGES)
    assert result["subwords"] >= result["words"] > 0
    assert result["seconds"] == pytest.approx(
        result["read_seconds"] + result["subword_seconds"], abs=0.02
    )


def test_train_and_predict_reports_speed_memory_and_f1(data_dir, tiny_model):
    result = bench_train_predict.train_and_predict(
        str(tiny_model), str(data_dir), train_sents=8, dev_sents=3, epochs=1, threads=1
    )
    assert result["dev_sentences"] == 3 * len(DEV_LANGUAGES)
    (epoch,) = result["epochs"]
    assert epoch["train_sentences"] == 8 * len(TRAIN_LANGUAGES)
    assert result["train_sentences_per_s"] > 0 and result["predict_sentences_per_s"] > 0
    assert result["dev_eval_sentences_per_s"] > 0 and len(result["predict_rounds_seconds"]) == 3
    assert result["peak_rss_mb"] > 0
    assert 0.0 <= result["dev_micro_f1_last"] <= 1.0


def test_step_profile_splits_each_setting(data_dir, tiny_model):
    result = bench_train_predict.profile_steps(str(tiny_model), str(data_dir), repeats=1)
    assert set(result["seconds"]) == set(bench_train_predict.STEP_VARIANTS)
    for phases in result["seconds"].values():
        assert set(phases) == {"forward", "backward", "clip", "optimizer_step", "total"}


def test_run_quick_writes_results_and_ends_with_the_summary_line(
    data_dir, tiny_model, tmp_path, capsys
):
    result = run.main(
        [
            "--quick",
            "--data_dir",
            str(data_dir),
            "--model",
            str(tiny_model),
            "--results_dir",
            str(tmp_path),
            "--skip",
            "crf",
        ]
    )
    summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    for key in (
        "crf_loglik_speedup_vs_pytorch_crf",
        "crf_decode_speedup_vs_pytorch_crf",
        "tokenize_seconds_multiconer_train",
        "train_sentences_per_s",
        "predict_sentences_per_s",
        "peak_rss_mb",
    ):
        assert key in summary
    assert summary["train_sentences_per_s"] > 0
    assert summary["crf_loglik_speedup_vs_pytorch_crf"] is None  # skipped
    backends = result["train"]["default_recipe"]["predict_backends"]
    assert 0.0 <= backends["torch_fp32"]["dev_micro_f1"] <= 1.0
    assert set(backends) == {"torch_fp32", "torch_bf16", "onnx_fp32", "onnx_int8"}
    # The float32 graph gives torch's labels, so the same F1; each backend is in the summary.
    assert backends["onnx_fp32"]["dev_micro_f1"] == backends["torch_fp32"]["dev_micro_f1"]
    assert backends["onnx_fp32"]["export_seconds"] > 0
    assert isinstance(backends["torch_bf16"]["native_bf16"], bool)
    assert set(summary["predict_backends"]) == set(backends)
    if bench_reference.missing_dependency() is None:
        reference = result["reference"]
        assert reference["train_sentences"] == TRAIN_SENTENCES * len(TRAIN_LANGUAGES)
        assert summary["reference_train_sentences_per_s"] == reference["train_sentences_per_s"]
        assert summary["train_speedup_vs_reference"] == pytest.approx(
            summary["train_sentences_per_s"] / reference["train_sentences_per_s"], abs=0.01
        )
        best = summary["predict_best_backend"]
        assert summary["predict_backends"][best]["eligible"] is True
        fp32_f1 = backends["torch_fp32"]["dev_micro_f1"]
        assert abs(summary["predict_best_f1"] - fp32_f1) <= 0.005
        assert summary["predict_speedup_vs_reference_best"] >= max(
            b["speedup_vs_reference"]
            for b in summary["predict_backends"].values()
            if b.get("eligible")
        )
        assert 0.0 <= summary["reference_dev_f1"] <= 1.0
    saved = json.loads((tmp_path / "latest-quick.json").read_text(encoding="utf-8"))
    assert saved["summary"] == result["summary"]
    assert saved["machine"]["cores"] >= 1 and "load_average" in saved["machine"]
    assert saved["machine"]["cpu_capability"] == torch.backends.cpu.get_cpu_capability()
    assert set(saved["machine"]["cpu_flags"]) <= bench_train_predict.SPEED_FLAGS


def test_levers_turn_on_one_lever_per_row_and_compare_with_the_baseline(data_dir):
    from benchmarks import bench_levers

    assert bench_levers.overrides_for("baseline") == bench_levers.ALL_OFF
    frozen = bench_levers.overrides_for("freeze_embeddings")
    assert "encoder.freeze_embeddings=true" in frozen
    assert "encoder.freeze_embeddings=false" not in frozen
    assert len(frozen) == len(bench_levers.ALL_OFF)


def test_levers_table_from_real_runs(data_dir, tiny_model):
    from benchmarks import bench_levers

    result = bench_levers.run(
        ["baseline", "freeze_embeddings"], str(data_dir), str(tiny_model), 4, 2
    )
    baseline, frozen = result["table"]
    assert baseline["peak_rss_mb_vs_baseline"] == 1.0
    # Freezing takes the embedding matrix out of the trainable parameters.
    assert frozen["trainable_parameters"] < baseline["trainable_parameters"]
    assert frozen["overrides"] == bench_levers.overrides_for("freeze_embeddings")


def test_gpu_benchmark_path_runs_each_precision_on_a_random_model(data_dir, tmp_path):
    """The GPU benchmark's code path, with the tiny shape on the CPU (no GPU here): one fresh
    training process per precision, each reporting speed and memory."""
    from benchmarks import bench_gpu

    result = bench_gpu.main(
        [
            "--shape",
            "tiny",
            "--data_dir",
            str(data_dir),
            "--train_sents",
            "4",
            "--dev_sents",
            "2",
            "--precisions",
            "fp32",
            "bf16",
            "--device",
            "cpu",
            "--results_dir",
            str(tmp_path),
        ]
    )
    assert [row["precision"] for row in result["table"]] == ["fp32", "bf16"]
    for row in result["table"]:
        assert row["train_sentences"] == 4 * len(TRAIN_LANGUAGES)
        assert row["train_sentences_per_s"] > 0 and row["peak_rss_mb"] > 0
        assert row["device"].startswith("cpu")
    assert list(tmp_path.glob("gpu-tiny-*.json"))


def test_random_model_of_xlmr_large_sizes_has_its_parameter_count():
    """The shape the GPU benchmark builds: xlm-roberta-large's 560M parameters (checked on the
    config, without allocating the weights)."""
    from transformers import BertConfig, BertModel

    from machamp_lite.testing import XLMR_LARGE_SIZES

    with torch.device("meta"):
        model = BertModel(BertConfig(**XLMR_LARGE_SIZES), add_pooling_layer=False)
    count = sum(p.numel() for p in model.parameters())
    assert 555e6 < count < 565e6, count
    assert model.embeddings.word_embeddings.weight.numel() == 250002 * 1024


def test_streaming_benchmark_reports_each_size_with_the_machine():
    from benchmarks import bench_streaming

    result = bench_streaming.run([30, 60])
    assert set(result["results"]) == {"30", "60"}
    assert result["results"]["60"]["sentences"] == 60
    assert result["peak_rss_ratio_largest_vs_smallest"] > 0
    assert result["machine"]["cores"] >= 1 and result["command"].endswith("--sizes 30 60")


def test_long_sentence_benchmark_reports_time_memory_and_windows_per_case():
    from benchmarks import bench_long_sentence

    result = bench_long_sentence.run([5000], ["words", "token"], threads=1)
    cases = result["results"]
    words, token = cases["words"]["5000"]["new"], cases["token"]["5000"]["new"]
    assert words["subwords"] >= 5000 and words["labels"] == words["words"] > 1000
    assert words["largest_call_positions"] <= 4096 < words["windows_encoded"] * 512
    assert token["words"] == token["labels"] == 1 and token["windows_encoded"] == 1
    for case in (words, token):
        assert case["seconds"] > 0 and case["peak_rss_mb"] >= case["rss_before_mb"] > 0
    assert result["machine"]["cores"] >= 1 and "--shapes words token" in result["command"]


@needs_pytorch_crf
def test_reference_loop_trains_every_weight_and_reports_speed_and_f1(data_dir, tiny_model):
    result = bench_reference.train_and_predict(
        str(tiny_model),
        str(data_dir),
        train_sents=8,
        dev_sents=3,
        epochs=2,
        threads=1,
        predict_repeats=2,
    )
    assert result["train_sentences"] == 8 * len(TRAIN_LANGUAGES)
    assert result["dev_sentences"] == 3 * len(DEV_LANGUAGES)
    assert len(result["epoch_seconds"]) == 2 and len(result["predict_rounds_seconds"]) == 2
    assert result["train_sentences_per_s"] > 0 and result["predict_sentences_per_s"] > 0
    assert 0.0 <= result["dev_micro_f1"] <= 1.0
    assert result["trainable_parameters"] == result["parameters"]  # embeddings too
    assert result["settings"]["max_length"] == 64  # the tiny model's positions


@needs_pytorch_crf
def test_reference_loop_learns_its_training_sentences(tmp_path, tiny_model, monkeypatch):
    """Dev = train and rates raised so that a few epochs memorise the sentences: only labels
    on the right subwords, decoded back onto the right words, reach F1 1."""
    text = first_sentences(DEMO / "multiconer_demo_train.conll", TRAIN_SENTENCES)
    for path in {train_file(x) for x in TRAIN_LANGUAGES} | {dev_file(x) for x in DEV_LANGUAGES}:
        (tmp_path / path).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / path).write_text(text, encoding="utf-8")
    monkeypatch.setattr(bench_reference, "HEAD_LR", 1e-2)
    monkeypatch.setattr(bench_reference, "ENCODER_LR", 1e-3)
    result = bench_reference.train_and_predict(
        str(tiny_model),
        str(tmp_path),
        TRAIN_SENTENCES,
        TRAIN_SENTENCES,
        epochs=25,
        threads=1,
        predict_repeats=1,
    )
    assert result["dev_micro_f1"] >= 0.9


@needs_pytorch_crf
def test_reference_prediction_gives_one_label_per_word_when_words_have_no_subword(tiny_model):
    """Words past the truncation (64 positions here) and characters the tokenizer drops get O;
    a sentence left without any subword still gets its labels."""
    from transformers import AutoTokenizer

    torch.manual_seed(0)
    tags = ["B-PER", "I-PER", "O"]
    tagger = bench_reference.build_tagger(str(tiny_model), len(tags))
    with torch.no_grad():
        tagger.crf.start_transitions.fill_(-10.0)
        tagger.crf.start_transitions[0] = 10.0  # every sentence starts with B-PER
    tokenizer = AutoTokenizer.from_pretrained(str(tiny_model))
    sentences = [["john"] * 100, ["\u200b"], ["john", "\x00", "smith"], ["\ufeff", "john"]]
    predicted = bench_reference.predict(tagger, tokenizer, sentences, tags, 64)
    assert [len(p) for p in predicted] == [len(s) for s in sentences]
    assert predicted[0][0] == "B-PER" and predicted[0][62:] == ["O"] * 38
    assert predicted[1] == ["O"] and predicted[2][1] == "O" and predicted[2][0] == "B-PER"
    assert predicted[3] == ["O", "B-PER"]


def test_summary_divides_by_the_reference_and_takes_the_best_backend_within_half_a_point():
    backends = {
        "torch_fp32": {"sentences_per_s": 100.0, "dev_micro_f1": 0.500},
        "fast_but_worse": {"sentences_per_s": 1000.0, "dev_micro_f1": 0.490},
        "int8": {"sentences_per_s": 200.0, "dev_micro_f1": 0.496},
        "not_here": {"skipped": "onnxruntime is not installed"},
    }
    result = {
        "machine": {"load_average": [1.0, 1.0, 1.0]},
        "train": {
            "default_recipe": {
                "train_sentences_per_s": 40.0,
                "predict_sentences_per_s": 100.0,
                "predict_backends": backends,
                "settings": {"epochs": 1},
            }
        },
        "reference": {
            "train_sentences_per_s": 10.0,
            "predict_sentences_per_s": 25.0,
            "dev_micro_f1": 0.3,
        },
    }
    summary = run.summarize(result)
    assert summary["train_speedup_vs_reference"] == 4.0
    assert summary["predict_speedup_vs_reference"] == 4.0
    assert summary["predict_speedup_vs_reference_best"] == 8.0
    assert summary["predict_best_backend"] == "int8" and summary["predict_best_f1"] == 0.496
    assert summary["reference_dev_f1"] == 0.3
    assert summary["predict_backends"]["not_here"] == {"skipped": "onnxruntime is not installed"}
    assert summary["predict_backends"]["fast_but_worse"]["eligible"] is False
    assert summary["predict_backends"]["fast_but_worse"]["speedup_vs_reference"] == 40.0
    assert summary["targets_met"]["train_speedup_vs_reference"] is True
    assert summary["targets_met"]["predict_speedup_vs_reference_best"] is True
    backends["int8"]["dev_micro_f1"] = 0.494  # 0.6 points off: no longer counts
    summary = run.summarize(result)
    assert summary["predict_best_backend"] == "torch_fp32"
    assert summary["targets_met"]["predict_speedup_vs_reference_best"] is True
    result["reference"]["predict_sentences_per_s"] = 30.0
    assert run.summarize(result)["targets_met"]["predict_speedup_vs_reference_best"] is False


def test_without_pytorch_crf_the_reference_is_skipped_and_the_speedups_are_null(
    data_dir, tiny_model, tmp_path, capsys, monkeypatch
):
    monkeypatch.setitem(sys.modules, "torchcrf", None)  # import torchcrf now fails
    result = run.main(
        [
            "--quick",
            "--data_dir",
            str(data_dir),
            "--model",
            str(tiny_model),
            "--results_dir",
            str(tmp_path),
            "--skip",
            "crf",
            "tokenize",
            "train",
        ]
    )
    summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert "pytorch-crf" in result["reference"]["skipped"]
    assert summary["reference_skipped"] == result["reference"]["skipped"]
    for key in (
        "train_speedup_vs_reference",
        "predict_speedup_vs_reference",
        "predict_speedup_vs_reference_best",
        "reference_train_sentences_per_s",
    ):
        assert summary[key] is None
    assert "train_speedup_vs_reference" not in summary["targets_met"]


def test_backends_that_cannot_run_are_recorded_as_skipped_and_the_export_is_removed(tmp_path):
    model_dir = tmp_path / "model"
    model_dir.mkdir()
    (tmp_path / "model-onnx").mkdir()  # as if an onnx backend had exported
    sentence = SimpleNamespace(words=["Anna", "sings"], labels={"ner": ["B-PER", "O"]})

    def missing(model_dir, device):
        raise predict_backends.Unavailable("onnxruntime is not installed")

    def tagger(model_dir, device):
        return predict_backends.Backend(lambda words: [["B-PER", "O"] for _ in words], 2, {"x": 1})

    measured = predict_backends.measure_backends(
        model_dir, [sentence], "cpu", 3, {"torch_fp32": tagger, "onnx_int8": missing}
    )
    assert measured["onnx_int8"] == {"skipped": "onnxruntime is not installed"}
    assert len(measured["torch_fp32"]["rounds_seconds"]) == 2  # the backend's own repeats
    assert measured["torch_fp32"]["dev_micro_f1"] == 1.0 and measured["torch_fp32"]["x"] == 1
    assert not (tmp_path / "model-onnx").exists()
    on_gpu = predict_backends.measure_backends(
        model_dir, [sentence], "cuda", 1, {"onnx_fp32": tagger}
    )
    assert "device is a GPU" in on_gpu["onnx_fp32"]["skipped"]


def test_padding_benchmark_reports_each_setting_with_its_padding(tmp_path, tiny_model):
    import machamp_lite
    from benchmarks import bench_padding

    from conftest import ROOT, tiny_training_params

    params = tiny_training_params(tmp_path / "params.json", tiny_model, 1)
    run_dir = machamp_lite.train(
        [str(ROOT / "dataset_configs/demo.json")],
        str(params),
        output_dir=str(tmp_path / "logs"),
        data_dir=str(ROOT),
    )
    out = tmp_path / "padding.json"
    source = DEMO / "multiconer_demo_dev.conll"
    result = bench_padding.main(
        [str(run_dir / "model"), str(source), "--sentences", "40", "--repeats", "1"]
        + ["--out", str(out)]
    )
    assert result["sentences"] == 40 and json.loads(out.read_text()) == result
    batching = result["batching"]
    assert set(batching) == set(bench_padding.BATCHING)
    sorted_32 = batching["sorted, 32 sentences"]
    plain = batching["file order, 32 sentences (a plain loop)"]
    # With the same batch size, sorting by length cannot pad more than the file order; 40
    # sentences of mixed lengths in batches of 32 pad in either.
    assert 1.0 < sorted_32["padded_over_real_positions"] < plain["padded_over_real_positions"]
    assert set(result["stream_chunks"]) == {str(size) for size in bench_padding.CHUNKS}
    assert not (tmp_path / ".bench_padding").exists()


@pytest.mark.slow
def test_compile_benchmark_times_eager_and_compiled_steps(tmp_path, tiny_model):
    from benchmarks import bench_compile

    out = tmp_path / "compile.json"
    arguments = ["--model", str(tiny_model), "--rows", "2", "--width", "5", "--steps", "2"]
    result = bench_compile.main([*arguments, "--threads", "1", "--out", str(out)])
    assert json.loads(out.read_text()) == result
    assert len(result["eager_rounds"]) == len(result["compiled_rounds"]) == 2
    assert result["speedup"] > 0 and result["compile_and_first_step_seconds"] > 0


@pytest.mark.slow
@needs_shared_data()
def test_context_benchmark_trains_and_predicts_each_setting_through_the_command_line(
    tmp_path, tiny_model
):
    from benchmarks import bench_context

    params = tiny_training_params(tmp_path / "params.json", tiny_model, 1)
    dev = tmp_path / "dev.conll"
    dev.write_text((SHARED_DATA / "multiconer2022/EN-English/en_dev.conll").read_text()[:3000])
    out = tmp_path / "context.json"
    arguments = ["--train_sents", "4", "--repeats", "1", "--dev", str(dev), "--out", str(out)]
    result = bench_context.main([*arguments, "--parameters_config", str(params)])
    assert json.loads(out.read_text()) == result
    assert set(result["train_sentences_per_second"]) == {"none", "k1", "k3"}
    assert result["train_relative_to_none"]["none"] == 1.0
    assert all(r[0]["sentences"] == 7 * 4 for r in result["training_rounds"].values())
    counts = {r[0]["sentences"] for r in result["prediction_rounds"].values()}
    assert len(counts) == 1 and counts.pop() > 0
    assert set(result["retrieval_seconds_for_dev"]) == {"k1", "k3"}
