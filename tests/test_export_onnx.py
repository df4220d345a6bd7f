"""``machamp-lite export --format onnx`` and ``predict --backend onnx``: the float32 graph gives
the torch model's float32 labels (CRF and softmax tasks, any batch size and length, sentences in
windows), the int8 graph runs and mostly agrees, the CLI writes the same file, and damaged
folders, wrong folders and used output folders are one clear error."""

from __future__ import annotations

import json
import random
import sys
from pathlib import Path

import pytest
import torch

import machamp_lite
from machamp_lite import export_onnx, onnx_backend
from machamp_lite.archive import load_archive, save_archive
from machamp_lite.cli import main
from machamp_lite.errors import ConfigError
from machamp_lite.metrics.span_f1 import span_f1

from conftest import DEMO, one_error, tiny_training_params, write

pytest.importorskip("onnxruntime", reason='needs the onnx extra: pip install ".[onnx]"')

DEV = DEMO / "multiconer_demo_dev.conll"


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory, tiny_model) -> Path:
    """A tiny model trained for two epochs with a softmax task (``tags``) and a CRF task
    (``ner``) on the same demo column; it predicts a mix of labels."""
    root = tmp_path_factory.mktemp("onnx-model")
    dataset = {
        "demo": {
            "train_data_path": str(DEMO / "multiconer_demo_train.conll"),
            "word_idx": 0,
            "max_sents": 60,
            "tasks": {
                "tags": {"task_type": "seq", "column_idx": -1},
                "ner": {"task_type": "seq_bio", "column_idx": -1},
            },
        }
    }
    config = write(root / "dataset.json", json.dumps(dataset))
    params = tiny_training_params(
        root / "params.json", tiny_model, 2, batching={"batch_size": 16, "max_tokens": 1024}
    )
    run = machamp_lite.train([str(config)], str(params), output_dir=str(root), device="cpu")
    # Two epochs teach the CRF little beyond O; random emission and transition weights make it
    # predict entities of every type, so that the comparisons below see real paths.
    model, params_, datasets, vocabularies, _ = load_archive(run / "model")
    torch.manual_seed(0)
    with torch.no_grad():
        model.decoders["ner"].projection.weight.normal_(0, 0.5)
        model.decoders["ner"].crf.transitions.normal_(0, 1)
    return save_archive(root / "model", model, params_, datasets, vocabularies)


@pytest.fixture(scope="module")
def export_dir(model_dir, tmp_path_factory) -> Path:
    """The export with both graphs; its int8 graph quantizes every layer (the default keeps
    the first float32: half of this 2-layer encoder)."""
    out = tmp_path_factory.mktemp("onnx-export") / "onnx"
    with pytest.MonkeyPatch.context() as patch:
        patch.setitem(export_onnx.QUANTIZATION, "float32_layers", [])
        assert main(["export", str(model_dir), str(out), "--format", "onnx", "--int8"]) == 0
    return out


def dev_sentences() -> list[list[str]]:
    sentences, words = [], []
    for line in DEV.read_text(encoding="utf-8").splitlines():
        if line.startswith("# id"):
            continue
        if line.strip():
            words.append(line.split()[0])
        elif words:
            sentences.append(words)
            words = []
    return sentences


def copy_folder(source: Path, target: Path) -> Path:
    for path in source.rglob("*"):
        if path.is_file():
            (target / path.relative_to(source)).parent.mkdir(parents=True, exist_ok=True)
            (target / path.relative_to(source)).write_bytes(path.read_bytes())
    return target


def test_the_export_holds_one_graph_and_what_prediction_needs(export_dir):
    report = json.loads((export_dir / "export.json").read_text())
    assert report["graphs"] == {"fp32": "model.onnx", "int8": "model.int8.onnx"}
    assert report["tasks"]["ner"]["decoding"] == "crf"
    assert report["tasks"]["tags"]["decoding"] == "softmax"
    listed = set(report["files"])
    on_disk = {p.relative_to(export_dir).as_posix() for p in export_dir.rglob("*") if p.is_file()}
    assert on_disk - listed == {"export.json"}
    assert {"model.onnx", "encoder/tokenizer.json", "decoding.json", "params.json"} <= listed
    assert not [p for p in export_dir.parent.iterdir() if p.name.startswith(".")]  # no temp
    import onnx

    graph = onnx.load(str(export_dir / "model.onnx"))
    dims = {i.name: [d.dim_param for d in i.type.tensor_type.shape.dim] for i in graph.graph.input}
    assert dims["input_ids"] == ["rows", "width"]
    assert dims["word_index"] == ["batch", "words"]


def test_fp32_labels_are_the_torch_labels_on_the_demo_dev_file(model_dir, export_dir):
    sentences = dev_sentences()
    torch_labels = machamp_lite.Predictor.load(model_dir, precision="fp32").predict(sentences)
    onnx_labels = machamp_lite.Predictor.load(export_dir, backend="onnx").predict(sentences)
    assert onnx_labels == torch_labels
    ner = {label for labels in torch_labels for label in labels["ner"]}
    tags = {label for labels in torch_labels for label in labels["tags"]}
    assert len(ner) > 2 and len(tags) > 1  # both tasks predict more than O


@pytest.mark.parametrize("batch_size", [1, 3, 17])
def test_any_batch_size_and_length_and_windows_give_the_torch_labels(
    model_dir, export_dir, batch_size
):
    rng = random.Random(batch_size)
    words = [w for s in dev_sentences() for w in s]
    sentences = [rng.sample(words, rng.randint(1, 30)) for _ in range(25)]
    sentences.insert(5, [words[i % len(words)] for i in range(150)])  # far over 64 subwords
    torch_predictor = machamp_lite.Predictor.load(model_dir, precision="fp32")
    onnx_predictor = machamp_lite.Predictor.load(export_dir, backend="onnx")
    windows = torch_predictor.model.encoder.subwords.window_length
    assert len(torch_predictor.model.encoder.encode_many([sentences[5]])[0].subword_ids) > windows
    for predictor in (torch_predictor, onnx_predictor):
        predictor.params.setdefault("prediction", {})["batch_size"] = batch_size
    expected = torch_predictor.predict(sentences)
    assert onnx_predictor.predict(sentences) == expected
    assert [len(p["ner"]) for p in expected] == [len(s) for s in sentences]


def test_predict_backend_onnx_writes_the_torch_file(model_dir, export_dir, tmp_path):
    torch_out, onnx_out = tmp_path / "torch.conll", tmp_path / "onnx.conll"
    assert main(["predict", str(model_dir), str(DEV), str(torch_out), "--precision", "fp32"]) == 0
    code = main(["predict", str(export_dir), str(DEV), str(onnx_out), "--backend", "onnx"])
    assert code == 0
    assert onnx_out.read_bytes() == torch_out.read_bytes()


def test_int8_runs_and_mostly_agrees_with_fp32(export_dir, tmp_path):
    """Scored against the fp32 labels, the int8 graph's entities (every layer quantized) reach
    span F1 0.961 here (792 of 823 entities kept). The bound is looser (0.9): this tiny model's
    scores lie close together, so int8 round-off flips labels more easily than on a trained
    encoder, and F1 against the gold labels means nothing for it (docs/performance.md has the
    real model's: within 0.5 points of float32)."""
    sentences = dev_sentences()
    fp32 = machamp_lite.Predictor.load(export_dir, backend="onnx").predict(sentences)
    int8 = machamp_lite.Predictor.load(export_dir, backend="onnx", onnx_graph="int8")
    quantized = int8.predict(sentences)
    assert [len(p["ner"]) for p in quantized] == [len(s) for s in sentences]
    import onnx

    ops = [node.op_type for node in onnx.load(str(export_dir / "model.int8.onnx")).graph.node]
    assert ops.count("MatMulInteger") == 14  # 6 per layer, and the two tasks' layers
    kept = export_onnx.float_layer_nodes(export_dir / "model.onnx")  # by default the first
    assert len(kept) == 8 and all("/layer.0/" in name for name in kept)
    result = span_f1([p["ner"] for p in fp32], [p["ner"] for p in quantized])
    assert result["counts"]["gold"] > 20
    assert result["micro"]["f1"] >= 0.9
    out = tmp_path / "int8.conll"
    code = main(
        ["predict", str(export_dir), str(DEV), str(out), "--backend", "onnx"]
        + ["--onnx_graph", "int8"]
    )
    assert code == 0 and out.is_file()


@pytest.mark.parametrize("graph", ["fp32", "int8"])
def test_two_threads_run_two_batches_at_once_with_the_one_thread_labels(export_dir, graph):
    """On 2 threads the session labels two batches side by side, one thread each (the first
    two runs only pass a barrier if they run at once); the batches are the one-thread run's,
    so even the int8 graph, whose activation scales follow each batch, gives the same labels."""
    import threading

    sentences = dev_sentences()
    threads = torch.get_num_threads()
    try:
        torch.set_num_threads(1)
        one = machamp_lite.Predictor.load(export_dir, backend="onnx", onnx_graph=graph)
        torch.set_num_threads(2)
        two = machamp_lite.Predictor.load(export_dir, backend="onnx", onnx_graph=graph)
    finally:
        torch.set_num_threads(threads)
    assert (one.model.concurrent_batches, two.model.concurrent_batches) == (1, 2)
    for predictor in (one, two):
        predictor.params.setdefault("prediction", {})["batch_size"] = 4
    session, meeting, runs = two.model.session, threading.Barrier(2, timeout=10), []

    class MeetingSession:
        def run(self, outputs, feed):
            runs.append(threading.get_ident())
            if len(runs) <= 2:
                meeting.wait()
            return session.run(outputs, feed)

    two.model.session = MeetingSession()
    assert two.predict(sentences) == one.predict(sentences)
    assert len(runs) == -(-len(sentences) // 4) and len(set(runs)) == 2


def test_numpy_viterbi_on_the_saved_scores_is_the_torch_crf_viterbi():
    """The scores saved in decoding.json (BIO constraints applied) and the numpy recursion
    give the torch CRF's paths, for sentences of every length, empty ones included."""
    import numpy as np

    from machamp_lite.data.vocabulary import LabelVocabulary
    from machamp_lite.decoders.crf_tagger import CrfTagger

    labels = ["B-LOC", "B-PER", "I-LOC", "I-PER", "O"]
    torch.manual_seed(0)
    decoder = CrfTagger(4, LabelVocabulary(labels))
    with torch.no_grad():
        decoder.crf.transitions.normal_(0, 2)
        decoder.crf.start_transitions.normal_(0, 2)
    entry = json.loads(json.dumps(export_onnx.decoding_entry(decoder, "crf")))  # as stored
    scores = {k: np.asarray(entry[k], dtype=np.float32) for k in ("transitions", "start", "end")}
    emissions = torch.randn(60, 12, 5) * 3
    lengths = torch.randint(0, 13, (60,))
    mask = torch.arange(12) < lengths[:, None]
    expected = decoder.crf.viterbi_decode(emissions, mask)
    got = [onnx_backend.viterbi(e.numpy(), int(n), scores) for e, n in zip(emissions, lengths)]
    assert got == expected
    assert any(labels[i].startswith("I-") for path in got for i in path)


def test_a_damaged_edited_or_incomplete_export_is_one_error(export_dir, tmp_path, capsys):
    out = str(tmp_path / "out.conll")
    flipped = copy_folder(export_dir, tmp_path / "flipped")
    data = bytearray((flipped / "model.onnx").read_bytes())
    data[len(data) // 2] ^= 0xFF
    (flipped / "model.onnx").write_bytes(bytes(data))
    code = main(["predict", str(flipped), str(DEV), out, "--backend", "onnx"])
    assert "model.onnx: changed since the export was written" in one_error(capsys, code)

    edited = copy_folder(export_dir, tmp_path / "edited")
    decoding = edited / "decoding.json"
    decoding.write_text(decoding.read_text().replace('"B-CORP"', '"B-XXXX"', 1))
    code = main(["predict", str(edited), str(DEV), out, "--backend", "onnx"])
    assert "decoding.json: changed since the export was written" in one_error(capsys, code)

    missing = copy_folder(export_dir, tmp_path / "missing")
    (missing / "model.int8.onnx").unlink()
    code = main(["predict", str(missing), str(DEV), out, "--backend", "onnx"])
    assert "model.int8.onnx: missing (export.json lists it)" in one_error(capsys, code)

    stray = copy_folder(export_dir, tmp_path / "stray")
    write(stray / "encoder" / "special_tokens_map.json", "{}")
    code = main(["predict", str(stray), str(DEV), out, "--backend", "onnx"])
    assert "not part of the export" in one_error(capsys, code)

    newer = copy_folder(export_dir, tmp_path / "newer")
    report = json.loads((newer / "export.json").read_text())
    (newer / "export.json").write_text(json.dumps({**report, "version": 99}))
    code = main(["predict", str(newer), str(DEV), out, "--backend", "onnx"])
    assert "export version 99" in one_error(capsys, code)

    truncated = copy_folder(export_dir, tmp_path / "truncated")
    (truncated / "export.json").write_text('{"format": "machamp-lite export onnx", ')
    code = main(["predict", str(truncated), str(DEV), out, "--backend", "onnx"])
    assert "not valid JSON" in one_error(capsys, code)
    assert not Path(out).exists()


def test_each_backend_refuses_the_other_folder(model_dir, export_dir, tmp_path, capsys):
    out = str(tmp_path / "out.conll")
    code = main(["predict", str(export_dir), str(DEV), out])
    assert "is an export folder (export.json), not a model folder; predict with --backend onnx" in (
        one_error(capsys, code)
    )
    code = main(["predict", str(model_dir), str(DEV), out, "--backend", "onnx"])
    assert "is a model folder (archive.json), not an ONNX export" in one_error(capsys, code)
    code = main(["predict", str(tmp_path), str(DEV), out, "--backend", "onnx"])
    assert "not an ONNX export folder (expected export.json)" in one_error(capsys, code)
    code = main(["predict", str(model_dir), str(DEV), out, "--onnx_graph", "int8"])
    assert "--onnx_graph" in one_error(capsys, code)
    code = main(
        ["predict", str(export_dir), str(DEV), out, "--backend", "onnx", "--device", "cuda"]
    )
    assert "runs on the CPU only" in one_error(capsys, code)
    assert not Path(out).exists()


def test_probabilities_are_refused_with_the_onnx_backend(export_dir, tmp_path, capsys):
    out = tmp_path / "out.conll"
    for option in (["--probabilities"], ["--topn", "2"], ["--min_confidence", "0.5"]):
        code = main(["predict", str(export_dir), str(DEV), str(out), "--backend", "onnx", *option])
        assert "not available with the onnx backend" in one_error(capsys, code)
    assert list(tmp_path.iterdir()) == []
    predictor = machamp_lite.Predictor.load(export_dir, backend="onnx")
    with pytest.raises(ConfigError, match="not available with the onnx backend"):
        predictor.confidences([["a", "b"]])


def test_a_graph_the_export_lacks_is_one_error(model_dir, tmp_path, capsys):
    out = tmp_path / "fp32-only"
    assert main(["export", str(model_dir), str(out), "--format", "onnx"]) == 0
    assert not (out / "model.int8.onnx").exists()
    code = main(
        ["predict", str(out), str(DEV), str(tmp_path / "o"), "--backend", "onnx"]
        + ["--onnx_graph", "int8"]
    )
    assert "holds no int8 graph (it has: fp32); export again with --int8" in one_error(capsys, code)


def test_a_used_output_folder_is_never_written(model_dir, tmp_path, capsys):
    used = write(tmp_path / "used" / "mine.txt", "keep me")
    code = main(["export", str(model_dir), str(used.parent), "--format", "onnx"])
    assert "the folder is not empty" in one_error(capsys, code)
    assert [p.name for p in used.parent.iterdir()] == ["mine.txt"]
    code = main(["export", str(model_dir), str(used), "--format", "onnx"])
    assert "exists and is not a folder" in one_error(capsys, code)
    code = main(
        ["export", str(model_dir), str(tmp_path / "x"), "--format", "onnx", "--task", "ner"]
    )
    assert "--task and --encoder_only belong to --format hf" in one_error(capsys, code)
    code = main(["export", str(model_dir), str(tmp_path / "x"), "--int8"])
    assert "--int8 quantizes an ONNX export" in one_error(capsys, code)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["used"]


def test_a_failed_check_leaves_nothing_behind(model_dir, tmp_path, capsys, monkeypatch):
    def drifted(model, tasks, path):
        raise export_onnx.ConfigError("the ONNX graph does not reproduce task 'ner''s scores")

    monkeypatch.setattr(export_onnx, "check_graph", drifted)
    code = main(["export", str(model_dir), str(tmp_path / "out"), "--format", "onnx"])
    assert "does not reproduce" in one_error(capsys, code)
    assert list(tmp_path.iterdir()) == []


def test_tasks_without_a_plain_decoding_are_refused_by_name():
    from machamp_lite.data.vocabulary import LabelVocabulary
    from machamp_lite.decoders.regression import Regressor
    from machamp_lite.decoders.softmax_tagger import SoftmaxTagger

    class Reversed(SoftmaxTagger):
        def decode(self, vectors, mask):
            return [labels[::-1] for labels in super().decode(vectors, mask)]

    vocabulary = LabelVocabulary(["A", "B"])
    model = type("M", (), {})()
    model.decoders = {
        "tags": SoftmaxTagger(4, vocabulary),
        "score": Regressor(4, vocabulary),
        "odd": Reversed(4, vocabulary),
    }
    types = {"tags": "seq", "score": "regression", "odd": "seq_reversed"}
    with pytest.raises(ConfigError) as error:
        export_onnx.task_decoding(model, types)
    assert "task(s) score (regression), odd (seq_reversed)" in str(error.value)
    assert "tags" not in str(error.value).split("decode with")[0]
    model.decoders = {"tags": model.decoders["tags"]}
    assert export_onnx.task_decoding(model, types) == {"tags": "softmax"}


def test_without_the_extra_torch_works_and_onnx_is_one_error(
    model_dir, export_dir, tmp_path, capsys, monkeypatch
):
    for name in ("onnx", "onnxruntime"):
        monkeypatch.setitem(sys.modules, name, None)  # import fails as if not installed
    assert machamp_lite.Predictor.load(model_dir).predict([["a", "b"]])[0]["ner"]
    out = str(tmp_path / "out.conll")
    code = main(["predict", str(export_dir), str(DEV), out, "--backend", "onnx"])
    assert 'pip install "machamp-lite[onnx]"' in one_error(capsys, code)
    code = main(["export", str(model_dir), str(tmp_path / "x"), "--format", "onnx"])
    assert 'pip install "machamp-lite[onnx]"' in one_error(capsys, code)
    with pytest.raises(ConfigError, match="machamp-lite\\[onnx\\]"):
        export_onnx.require_onnx()
    assert not Path(out).exists() and not (tmp_path / "x").exists()


@pytest.mark.slow
def test_mean_pooling_layer_mixes_and_dataset_embeddings_export(tmp_path, tiny_model):
    """Every encoder feature a model may have is in the graph: mean pooling (a scatter that
    sums, where the exporter's index_add would keep one subword per word), a layer mix, dataset
    embeddings on the input and beside a decoder's word vectors; labels equal torch's."""
    dataset = {
        "demo": {
            "train_data_path": str(DEMO / "multiconer_demo_train.conll"),
            "word_idx": 0,
            "max_sents": 30,
            "dataset_embed_idx": -1,
            "tasks": {
                "ner": {"task_type": "seq_bio", "column_idx": -1, "layers_to_use": [0, 1, 2]},
                "tags": {"task_type": "seq", "column_idx": -1, "dec_dataset_embed_idx": -1},
            },
        },
        "aux": {
            "train_data_path": str(DEMO / "aux_ner_train.tsv"),
            "word_idx": 0,
            "max_sents": 30,
            "separator": "tab",
            "tasks": {"aux_ner": {"task_type": "seq_bio", "column_idx": 1}},
        },
    }
    config = write(tmp_path / "dataset.json", json.dumps(dataset))
    params = tiny_training_params(
        tmp_path / "params.json",
        tiny_model,
        1,
        batching={"batch_size": 16, "max_tokens": 1024},
        encoder={"pooling": "mean"},
    )
    run = machamp_lite.train([str(config)], str(params), output_dir=str(tmp_path), device="cpu")
    out = tmp_path / "onnx"
    assert main(["export", str(run / "model"), str(out), "--format", "onnx"]) == 0
    inputs = json.loads((out / "export.json").read_text())["inputs"]
    assert {"mean_src", "mean_dst", "dataset_ids"} <= set(inputs)
    sentences = dev_sentences()
    sentences.append([w for s in sentences[:10] for w in s])  # in windows
    torch_predictor = machamp_lite.Predictor.load(run / "model", precision="fp32")
    onnx_predictor = machamp_lite.Predictor.load(out, backend="onnx")
    for name in ("demo", "aux"):
        expected = torch_predictor.predict(sentences, name)
        assert onnx_predictor.predict(sentences, name) == expected


def test_softmax_and_classification_decoding_take_the_first_best_label():
    import numpy as np

    labels = ["A", "B", "C"]
    scores = np.array([[[0.0, 2.0, 1.0], [3.0, 3.0, 0.0], [9.0, 0.0, 0.0]]], dtype=np.float32)
    softmax = onnx_backend.OnnxTask({"decoding": "softmax", "labels": labels})
    assert softmax.decode(scores, [2]) == [["B", "A"]]  # padding ignored, ties: the first
    classifier = onnx_backend.OnnxTask({"decoding": "sentence", "labels": labels})
    assert classifier.decode(np.array([[0.0, 1.0, 5.0], [2.0, 1.0, 0.0]]), [1, 1]) == ["C", "A"]
    with pytest.raises(Exception, match="unknown decoding 'tree'"):
        onnx_backend.OnnxTask({"decoding": "tree", "labels": labels})


def test_the_benchmark_runs_and_reports_ratios(model_dir, export_dir, tmp_path):
    from benchmarks import bench_onnx

    out = tmp_path / "onnx.json"
    arguments = [str(model_dir), str(export_dir), str(DEV), "--sentences", "10"]
    result = bench_onnx.main(arguments + ["--repeats", "1", "--threads", "2", "--out", str(out)])
    assert json.loads(out.read_text()) == result
    accuracy = result["accuracy"]
    assert accuracy["onnx_fp32"]["sentences_unlike_torch"] == 0
    assert accuracy["torch_fp32"]["sentences"] == len(dev_sentences())
    # One batch at a time on both threads labels as one batch per thread does.
    sequential = accuracy["onnx_int8_one_batch_at_a_time"]
    assert sequential["micro_f1"] == accuracy["onnx_int8"]["micro_f1"]
    assert sequential["sentences_unlike_torch"] == accuracy["onnx_int8"]["sentences_unlike_torch"]
    ratios = result["speed"]["threads_2"]["over_torch_fp32"]
    assert set(ratios) == set(bench_onnx.BACKENDS) and ratios["torch_fp32"] == 1
    assert "onnxruntime" in result["machine"]
    assert list(tmp_path.iterdir()) == [out]  # the working files are gone


def test_the_int8_scheme_benchmark_scores_each_scheme_on_each_set(model_dir, export_dir, tmp_path):
    from benchmarks import bench_int8_schemes

    out = tmp_path / "schemes.json"
    schemes = ["per_channel_first_fp32", "per_channel_reduce_range"]
    result = bench_int8_schemes.main(
        [str(model_dir), str(export_dir), str(DEV), str(DEV), "--schemes", *schemes]
        + ["--threads", "1", "--out", str(out)]
        + ["--calibration", str(DEMO / "multiconer_demo_train.conll")]
    )
    assert json.loads(out.read_text()) == result
    table = result["table"]
    assert set(table) == {"torch_fp32", *schemes, "smoothed_feed_forward"}
    assert table["torch_fp32"]["f1_points_vs_torch"] == [0.0, 0.0]
    for name in [*schemes, "smoothed_feed_forward"]:
        # The same file twice: one graph gives the same labels, so the same F1, both times.
        first, second = table[name]["f1_points_vs_torch"]
        assert first == second == table[name]["mean_f1_points_vs_torch"]
    assert list(tmp_path.iterdir()) == [out]  # the quantized copies and the new export are gone
    assert (export_dir / "model.int8.onnx").exists()  # the export itself is untouched
