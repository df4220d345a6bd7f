"""Hostile input through the command line: a correct, aligned result or one clear error line."""

from __future__ import annotations

import codecs
import json
import logging
import re
import shutil
import warnings
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

import machamp_lite
from machamp_lite.cli import main
from machamp_lite.data.readers import ColumnReader, read_text, split_fields
from machamp_lite.data.sentence import TaskColumn
from machamp_lite.decoders.codecs import bio_label_problem
from machamp_lite.predict import Predictor

from conftest import one_error, write

CONLL = "# id s{n}\tdomain=x\nanna _ _ B-PER\nlives _ _ O\nin _ _ O\nberlin _ _ B-LOC\n\n"
NER = {"ner": {"task_type": "seq_bio", "column_idx": -1}}
NER_TASK = [TaskColumn("ner", -1, "token", bio_label_problem)]


def sentences(count: int = 4) -> str:
    return "".join(CONLL.format(n=i) for i in range(count))


def dataset_config(folder: Path, name: str = "small", **settings) -> Path:
    """A dataset config file; ``train_data_path`` defaults to four clean sentences."""
    if "train_data_path" not in settings:
        settings["train_data_path"] = str(write(folder / f"{name}_train.conll", sentences()))
    config = {name: {"tasks": NER, **settings}}
    return write(folder / f"{name}.json", json.dumps(config))


def train_cli(params: Path, output: Path, *configs: Path, extra: tuple[str, ...] = ()) -> int:
    return main(
        [
            "train",
            "--dataset_configs",
            *map(str, configs),
            "--parameters_config",
            str(params),
            "--output_dir",
            str(output),
            "--device",
            "cpu",
            *extra,
        ]
    )


def predict_cli(model: Path, source: Path, output: Path, *extra: str) -> int:
    return main(["predict", str(model), str(source), str(output), "--device", "cpu", *extra])


def file_lines(path: Path, encoding: str = "utf-8") -> list[str]:
    return [line.removesuffix("\r") for line in read_text(str(path), encoding).split("\n")]


def assert_aligned(source: Path, output: Path, separator="whitespace", encoding="utf-8"):
    """The prediction has exactly the input's lines (and line endings, and BOM): each token line
    keeps its words and gets one BIO label, every other line is unchanged."""
    raw_in, raw_out = source.read_bytes(), output.read_bytes()
    assert raw_out.count(b"\n") == raw_in.count(b"\n")
    assert raw_out.count(b"\r\n") == raw_in.count(b"\r\n")
    assert raw_out.startswith(codecs.BOM_UTF8) == raw_in.startswith(codecs.BOM_UTF8)
    reader = ColumnReader(separator=separator, encoding=encoding)
    before = reader.read(str(source), NER_TASK, require_labels=False)
    after = reader.read(str(output), NER_TASK)  # fails unless every token line has a BIO label
    assert [s.words for s in after] == [s.words for s in before]
    assert [s.line_numbers for s in after] == [s.line_numbers for s in before]
    token_lines = {n for s in before for n in s.line_numbers}
    old, new = file_lines(source, encoding), file_lines(output, encoding)
    for number, (a, b) in enumerate(zip(old, new, strict=True), start=1):
        if number in token_lines:
            width = 2 if separator == "tab" else 1
            assert split_fields(a, separator, width)[:-1] == split_fields(b, separator, width)[:-1]
        else:
            assert a == b
    return after


@pytest.fixture(autouse=True)
def no_stale_console_handler():
    """The trainer adds a console handler bound to the sys.stderr of the moment; under capsys
    that stream is closed after the test, so drop it around each test."""

    def drop():
        log = logging.getLogger("machamp_lite")
        for handler in list(log.handlers):
            if type(handler) is logging.StreamHandler:
                log.removeHandler(handler)

    drop()
    yield
    drop()


LONG_WORDS = [f"w{i % 50}" for i in range(5000)]
ZERO_WIDTH = ["\u200b", "\x01", "\u200d\u200c", "\x7f", "\ufeff", "\x00"]
NO_PIECES = ["\u0301", "\u00ad", "\u200e", "\ufe0f", "\u0301\u0300"]
CONLLU = (
    "# sent_id = 1\n"
    "1\tanna\t_\t_\t_\t_\t_\t_\t_\tB-PER\n"
    "2\tlives in\t_\t_\t_\t_\t_\t_\t_\tO\n"
    "3\tnew york\t_\t_\t_\t_\t_\t_\t_\tB-LOC\n\n"
)


def token_file(words: list[str], label: str = "O") -> str:
    return "# id z\tdomain=x\n" + "".join(f"{w} _ _ {label}\n" for w in words) + "\n"


# Each quirky file is a dataset of one training run: it trains, and its model predicts it.
QUIRKS = {
    "crlf": ("crlf.conll", sentences().replace("\n", "\r\n").encode(), {}),
    "bom": ("bom.conll", codecs.BOM_UTF8 + sentences().encode(), {}),
    "mixed_tabs": (
        "mixed.conll",
        sentences().replace("anna _ _", "anna\t_ _").replace("lives _ _", "lives \t_\t_").encode(),
        {},
    ),
    "trailing_ws": ("trailing.conll", sentences().replace("\n", "  \t\n").encode(), {}),
    "trailing_tab": (
        "trailing_tab.tsv",
        b"anna\tB-PER\t\nlives\tO \t\n\nberlin\tB-LOC\t\t\n",
        {"separator": "tab"},
    ),
    "no_newline": ("no_newline.conll", sentences().rstrip("\n").encode(), {}),
    "latin1": (
        "latin1.conll",
        sentences().replace("berlin", "münchen").encode("latin-1"),
        {"encoding": "latin-1"},
    ),
    "long": ("long.conll", (token_file(LONG_WORDS) + sentences(2)).encode(), {}),
    "zero_width": ("zero_width.conll", (token_file(ZERO_WIDTH) + sentences(2)).encode(), {}),
    "no_pieces": ("no_pieces.conll", (token_file(NO_PIECES) + sentences(2)).encode(), {}),
    "conllu": (
        "forms.conllu",
        (CONLLU * 3).encode(),
        {"tasks": {"ner": {"task_type": "seq_bio", "column_idx": 9}}},  # MISC
    ),
}


@pytest.fixture(scope="module")
def quirky_run(tmp_path_factory, params):
    """One training run over every quirky file (one dataset each), plus a dataset whose dev file
    has a label never seen in training; returns the run folder, the files and the warnings."""
    folder = tmp_path_factory.mktemp("quirks")
    configs, files = {}, {}
    for name, (file_name, data, settings) in QUIRKS.items():
        path = folder / file_name
        path.write_bytes(data)
        files[name] = path
        configs[name] = {"train_data_path": str(path), "tasks": NER, **settings}
    dev = write(folder / "unseen_dev.conll", sentences(2).replace("B-LOC", "B-EVENT"))
    files["unseen_dev"] = dev
    configs["unseen"] = {
        "train_data_path": str(write(folder / "unseen_train.conll", sentences())),
        "dev_data_path": str(dev),
        "tasks": NER,
    }
    config = write(folder / "quirks.json", json.dumps(configs))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        run = machamp_lite.train([str(config)], str(params), output_dir=str(folder / "logs"))
    return run, files, [str(w.message) for w in caught]


def predict_quirk(quirky_run, name: str, tmp_path: Path) -> tuple[Path, Path]:
    run, files, _ = quirky_run
    source = files[name]
    output = tmp_path / f"pred-{source.name}"
    assert predict_cli(run / "model", source, output, "--dataset", name) == 0
    return source, output


# ---- files that train and predict ----


def test_crlf_line_endings_train_and_predict_with_crlf_kept(quirky_run, tmp_path):
    source, output = predict_quirk(quirky_run, "crlf", tmp_path)
    assert_aligned(source, output)
    assert output.read_bytes().count(b"\n") == output.read_bytes().count(b"\r\n")


def test_a_bom_is_not_part_of_the_first_word_and_is_kept_in_the_output(quirky_run, tmp_path):
    source, output = predict_quirk(quirky_run, "bom", tmp_path)
    after = assert_aligned(source, output)
    assert output.read_bytes().startswith(codecs.BOM_UTF8 + b"# id s0")
    assert after[0].words[0] == "anna"


def test_latin1_file_with_the_encoding_key_trains_and_predicts_in_latin1(quirky_run, tmp_path):
    source, output = predict_quirk(quirky_run, "latin1", tmp_path)
    assert_aligned(source, output, encoding="latin-1")
    assert b"m\xfcnchen _ _ " in output.read_bytes()


def test_latin1_file_without_the_encoding_key_names_the_line_and_the_key(tmp_path, params, capsys):
    data = write(tmp_path / "l1.conll", sentences().replace("berlin", "münchen"), "latin-1")
    config = dataset_config(tmp_path, train_data_path=str(data))
    error = one_error(capsys, train_cli(params, tmp_path / "logs", config))
    assert f"{data}, line 5: bytes that are not valid utf-8" in error
    assert '"encoding": "latin-1"' in error
    assert not (tmp_path / "logs").exists()


def test_tabs_mixed_with_spaces_are_one_separator(quirky_run, tmp_path):
    source, output = predict_quirk(quirky_run, "mixed_tabs", tmp_path)
    assert_aligned(source, output)
    assert b"lives \t_\t_ " in output.read_bytes()


def test_spaces_in_a_tab_separated_file_name_the_line_and_the_separator_key(
    tmp_path, params, capsys
):
    data = write(tmp_path / "w.tsv", "anna\tB-PER\nlives O\n")
    config = dataset_config(tmp_path, train_data_path=str(data), separator="tab")
    error = one_error(capsys, train_cli(params, tmp_path / "logs", config))
    assert f"{data}, line 2: expected at least 2 columns" in error
    assert '"separator": "whitespace"' in error


def test_trailing_whitespace_is_ignored_and_kept(quirky_run, tmp_path):
    source, output = predict_quirk(quirky_run, "trailing_ws", tmp_path)
    assert_aligned(source, output)
    assert output.read_bytes().count(b"  \t\n") == source.read_bytes().count(b"  \t\n")


def test_a_trailing_tab_in_a_tab_separated_file_is_not_an_empty_label(quirky_run, tmp_path):
    source, output = predict_quirk(quirky_run, "trailing_tab", tmp_path)
    after = assert_aligned(source, output, separator="tab")
    assert [s.words for s in after] == [["anna", "lives"], ["berlin"]]
    assert output.read_bytes().endswith(b"\t\t\n")


def test_a_file_without_a_final_newline_trains_and_predicts_without_one(quirky_run, tmp_path):
    source, output = predict_quirk(quirky_run, "no_newline", tmp_path)
    assert_aligned(source, output)
    assert not output.read_bytes().endswith(b"\n")


def test_a_sentence_of_5000_words_trains_and_every_word_gets_a_label(quirky_run, tmp_path):
    source, output = predict_quirk(quirky_run, "long", tmp_path)
    after = assert_aligned(source, output)
    assert len(after[0].words) == 5000 and len(after[0].labels["ner"]) == 5000
    run, _, _ = quirky_run
    predicted = Predictor.load(run / "model", device="cpu").predict([LONG_WORDS], "long")
    assert len(predicted[0]["ner"]) == 5000


def test_zero_width_and_control_character_tokens_keep_their_lines(quirky_run, tmp_path):
    source, output = predict_quirk(quirky_run, "zero_width", tmp_path)
    after = assert_aligned(source, output)
    assert after[0].words == ZERO_WIDTH


def test_tokens_that_tokenize_to_nothing_still_get_one_label_each(quirky_run, tmp_path):
    run, _, _ = quirky_run
    predictor = Predictor.load(run / "model", device="cpu")
    tokenizer = predictor.model.encoder.tokenizer
    assert all(tokenizer(w, add_special_tokens=False)["input_ids"] == [] for w in NO_PIECES)
    source, output = predict_quirk(quirky_run, "no_pieces", tmp_path)
    after = assert_aligned(source, output)
    assert after[0].words == NO_PIECES
    assert len(predictor.predict([["anna", *NO_PIECES, ""]], "no_pieces")[0]["ner"]) == 7


def test_conllu_forms_with_spaces_keep_their_columns(quirky_run, tmp_path):
    source, output = predict_quirk(quirky_run, "conllu", tmp_path)
    old, new = file_lines(source), file_lines(output)
    assert len(new) == len(old)
    for a, b in zip(old, new):
        if a.startswith("#") or not a:
            assert a == b
        else:
            assert a.split("\t")[:9] == b.split("\t")[:9]
            assert bio_label_problem(b.split("\t")[9]) is None


def test_dev_labels_never_seen_in_training_warn_and_score_as_wrong(quirky_run):
    run, files, caught = quirky_run
    assert any(str(files["unseen_dev"]) in m and "'B-EVENT'" in m for m in caught)
    best = json.loads((run / "metrics.json").read_text(encoding="utf-8"))["best_dev"]
    assert best["unseen/ner"]["per_type"]["EVENT"]["recall"] == 0.0


def test_a_label_column_of_only_o_trains_and_predicts_o(tmp_path, params):
    only_o = write(tmp_path / "o.conll", sentences().replace("B-PER", "O").replace("B-LOC", "O"))
    config = dataset_config(tmp_path, train_data_path=str(only_o))
    run = machamp_lite.train([str(config)], str(params), output_dir=str(tmp_path / "logs"))
    output = tmp_path / "pred.conll"
    assert predict_cli(run / "model", only_o, output) == 0
    after = assert_aligned(only_o, output)
    assert {label for s in after for label in s.labels["ner"]} == {"O"}


def test_an_unlabelled_file_gets_labels_beside_its_words(quirky_run, tmp_path):
    run, _, _ = quirky_run
    source = write(tmp_path / "raw.conll", "anna\nlives\n\nberlin\n")
    output = tmp_path / "pred.conll"
    assert predict_cli(run / "model", source, output, "--dataset", "crlf") == 0
    assert [line.split()[0] for line in file_lines(output) if line] == ["anna", "lives", "berlin"]
    assert all(bio_label_problem(line.split()[1]) is None for line in file_lines(output) if line)


# ---- data files that fail with one clear error ----


@pytest.mark.parametrize("text", ["", "# id a\tdomain=x\n\n"], ids=["empty", "comments_only"])
def test_an_empty_dev_set_names_the_file_and_the_dev_key(tmp_path, params, capsys, text):
    dev = write(tmp_path / "dev.conll", text)
    config = dataset_config(tmp_path, dev_data_path=str(dev))
    error = one_error(capsys, train_cli(params, tmp_path / "logs", config))
    assert error.startswith(f"error: {dev}: ")
    assert "the dev_data_path of dataset 'small'" in error and "remove the key" in error
    assert not (tmp_path / "logs").exists()


def test_a_directory_given_as_a_data_file(tmp_path, params, capsys):
    config = dataset_config(tmp_path, train_data_path=str(tmp_path))
    error = one_error(capsys, train_cli(params, tmp_path / "logs", config))
    assert error == f"error: {tmp_path}: is a directory, not a data file; give the path of a file"


def test_a_label_that_is_not_bio_names_the_line(tmp_path, params, capsys):
    data = write(tmp_path / "t.conll", sentences().replace("B-LOC", "LOC", 1))
    config = dataset_config(tmp_path, train_data_path=str(data))
    error = one_error(capsys, train_cli(params, tmp_path / "logs", config))
    assert f"{data}, line 5: label 'LOC' of task 'ner': expected a BIO tag" in error


# ---- configs that fail with one clear error ----


def test_duplicate_dataset_names_name_both_files(tmp_path, params, capsys):
    first = dataset_config(tmp_path / "a")
    second = dataset_config(tmp_path / "b")
    error = one_error(capsys, train_cli(params, tmp_path / "logs", first, second))
    assert f"{second}: dataset name 'small' is also defined in {first}" in error


def test_a_missing_train_data_path(tmp_path, params, capsys):
    config = write(tmp_path / "d.json", json.dumps({"small": {"tasks": NER}}))
    error = one_error(capsys, train_cli(params, tmp_path / "logs", config))
    assert error == f"error: {config}, dataset 'small': missing required key 'train_data_path'"


@pytest.mark.parametrize(
    "where, value, expected",
    [
        ("dataset", {"max_sents": "10"}, "key 'max_sents' must be an integer, got \"10\""),
        ("dataset", {"train_data_path": ""}, "key 'train_data_path' is empty"),
        ("task", {"task_type": ["seq_bio"]}, "key 'task_type' must be a string"),
        ("task", {"column_idx": "-1"}, "key 'column_idx' must be an integer"),
        ("task", {"metric": 5}, "key 'metric' must be a string or null, got 5"),
        ("params", {"training": {"num_epochs": "3"}}, "'training.num_epochs' must be an integer"),
        ("params", {"encoder": {"dropout": 2}}, "'encoder.dropout' must be at least 0 and below 1"),
        ("params", {"training": {"num_epochs": 0}}, "'training.num_epochs' must be at least 1"),
        ("override", "training.optimizer.lr=fast", "'training.optimizer.lr' must be a number"),
        ("override", "training.optimizer.lr=NaN", "'training.optimizer.lr' must be a finite"),
        ("override", "batching.batch_size=0", "'batching.batch_size' must be at least 1, got 0"),
    ],
    ids=[
        "dataset_string_for_int",
        "dataset_empty_train_path",
        "task_type_list",
        "column_idx_string",
        "metric_number",
        "params_string_for_int",
        "params_dropout_2",
        "params_zero_epochs",
        "override_string_for_number",
        "override_nan",
        "override_zero_batch",
    ],
)
def test_a_config_value_of_the_wrong_type_or_range_names_the_file_and_the_key(
    tmp_path, params, capsys, where, value, expected
):
    config = dataset_config(tmp_path)
    extra: tuple[str, ...] = ()
    if where == "dataset":
        data = json.loads(config.read_text())
        data["small"].update(value)
        write(config, json.dumps(data))
        source = f"{config}, dataset 'small': "
    elif where == "task":
        data = json.loads(config.read_text())
        data["small"]["tasks"]["ner"].update(value)
        write(config, json.dumps(data))
        source = f"{config}, dataset 'small', task 'ner': "
    elif where == "params":
        params = write(tmp_path / "bad_params.json", json.dumps(value))
        source = f"{params}: "
    else:
        extra, source = ("--override", value), "--override: "
    error = one_error(capsys, train_cli(params, tmp_path / "logs", config, extra=extra))
    assert error.startswith(f"error: {source}") and expected in error
    assert not (tmp_path / "logs").exists()


def test_a_parameters_config_that_does_not_exist(tmp_path, capsys):
    missing = tmp_path / "nope" / "params.json"
    error = one_error(capsys, train_cli(missing, tmp_path / "logs", dataset_config(tmp_path)))
    assert error == f"error: config file not found: {missing}; check the path"


def test_an_override_without_an_equals_sign(tmp_path, params, capsys):
    config = dataset_config(tmp_path)
    code = train_cli(params, tmp_path / "logs", config, extra=("--override", "training.lr"))
    error = one_error(capsys, code)
    assert "--override 'training.lr': expected KEY=VALUE" in error


def test_a_task_type_that_does_not_exist_lists_the_registered_ones(tmp_path, params, capsys):
    config = dataset_config(tmp_path)
    write(config, config.read_text().replace('"seq_bio"', '"crf_bio"'))
    error = one_error(capsys, train_cli(params, tmp_path / "logs", config))
    assert f"unknown decoder 'crf_bio' (in {config}, dataset 'small', task 'ner')" in error
    assert "seq_bio" in error


def test_an_invalid_comment_regex_names_the_key(tmp_path, params, capsys):
    config = dataset_config(tmp_path, comment_regex="^#(")
    error = one_error(capsys, train_cli(params, tmp_path / "logs", config))
    assert f"{config}, dataset 'small': key 'comment_regex' is not a valid regular" in error


def test_a_max_input_length_without_room_for_subwords_names_the_key(tmp_path, params, capsys):
    config = dataset_config(tmp_path)
    code = train_cli(
        params, tmp_path / "logs", config, extra=("--override", "encoder.max_input_length=2")
    )
    error = one_error(capsys, code)
    assert "encoder.max_input_length" in error


def test_an_unknown_command_line_option_gives_the_usage_and_exit_code_2(capsys):
    assert main(["train", "--bogus"]) == 2
    stderr = capsys.readouterr().err
    assert "usage: machamp-lite" in stderr and "error: unrecognized arguments: --bogus" in stderr
    assert "Traceback" not in stderr


# ---- training that goes wrong ----


def test_a_nan_loss_stops_training_naming_the_dataset_and_sentences(tmp_path, params, capsys):
    data = write(tmp_path / "nan.conll", sentences(6))
    config = dataset_config(tmp_path, name="nan", train_data_path=str(data))
    overrides = ("training.optimizer.lr=1e30", "training.optimizer.decoder_lr=1e30")
    code = train_cli(
        params, tmp_path / "logs", config, extra=("--override", *overrides, "training.num_epochs=3")
    )
    error = one_error(capsys, code)
    assert re.search(
        rf"^error: {re.escape(str(data))}: the training loss became (nan|-?inf) ", error
    )
    assert "on a batch of dataset 'nan'" in error
    assert "(sentences s" in error and "lower the learning rate" in error.lower()
    [run] = (tmp_path / "logs" / "run").iterdir()
    checkpoints = run / "checkpoints"
    assert sorted(p.name for p in checkpoints.iterdir()) == ["epoch-001"]
    state = torch.load(checkpoints / "epoch-001" / "training_state.pt", weights_only=True)
    assert state["epoch"] == 1
    assert load_file(checkpoints / "epoch-001" / "model.safetensors")
    assert Predictor.load(run / "model", device="cpu").predict([["anna"]])[0]["ner"]


# ---- predict with a bad model folder or output ----


def test_predict_with_a_folder_that_is_not_a_model(tmp_path, capsys):
    source = write(tmp_path / "in.conll", sentences())
    error = one_error(capsys, predict_cli(tmp_path, source, tmp_path / "out.conll"))
    assert error.startswith(f"error: {tmp_path}: not a machamp-lite model directory")


def test_predict_refuses_a_model_folder_with_a_pickle_file(quirky_run, tmp_path, capsys):
    run, files, _ = quirky_run
    model = shutil.copytree(run / "model", tmp_path / "model")
    (model / "extra.bin").write_bytes(b"\x80\x04K\x01.")
    error = one_error(capsys, predict_cli(model, files["crlf"], tmp_path / "out.conll"))
    assert f"{model / 'extra.bin'}: model directories may not contain pickle files" in error
    assert not (tmp_path / "out.conll").exists()


def test_predict_refuses_to_write_over_its_input(quirky_run, tmp_path, capsys):
    run, _, _ = quirky_run
    source = write(tmp_path / "in.conll", sentences())
    before = source.read_bytes()
    link = tmp_path / "same.conll"
    link.hardlink_to(source)
    for output in (source, link):
        error = one_error(capsys, predict_cli(run / "model", source, output, "--dataset", "crlf"))
        assert error == (
            f"error: {output}: the output file is the input file; choose another output path "
            "so the input is kept"
        )
    assert source.read_bytes() == before


@pytest.mark.parametrize("where", ["directory", "under_a_file"])
def test_predict_to_an_output_that_cannot_be_a_file(quirky_run, tmp_path, capsys, where):
    run, _, _ = quirky_run
    source = write(tmp_path / "in.conll", sentences())
    output = tmp_path if where == "directory" else source / "out.conll"
    error = one_error(capsys, predict_cli(run / "model", source, output, "--dataset", "crlf"))
    if where == "directory":
        assert error == f"error: {output}: is a directory; give the output a file name"
    else:
        assert error == (
            f"error: {output}: {source} is a file, not a folder; choose another output path"
        )
    assert source.read_text(encoding="utf-8") == sentences()


def test_predict_a_missing_input_file(quirky_run, tmp_path, capsys):
    run, _, _ = quirky_run
    missing = tmp_path / "nope.conll"
    code = predict_cli(run / "model", missing, tmp_path / "o.conll", "--dataset", "crlf")
    error = one_error(capsys, code)
    assert error.startswith(f"error: {missing}: file not found")
    assert not (tmp_path / "o.conll").exists()


DAMAGE = {
    "garbage_weights": lambda m: (m / "model.safetensors").write_bytes(b"not safetensors"),
    "no_params_json": lambda m: (m / "params.json").unlink(),
    "edited_vocabularies": lambda m: (m / "vocabularies.json").write_text("[1]"),
    "no_encoder_folder": lambda m: shutil.rmtree(m / "encoder"),
}
DAMAGED_FILE = {
    "garbage_weights": "model.safetensors",
    "no_params_json": "params.json",
    "edited_vocabularies": "vocabularies.json",
    "no_encoder_folder": "encoder",
}


@pytest.mark.parametrize("damage", sorted(DAMAGE))
def test_predict_with_a_damaged_model_folder_names_the_file(quirky_run, tmp_path, capsys, damage):
    run, files, _ = quirky_run
    model = shutil.copytree(run / "model", tmp_path / "model")
    DAMAGE[damage](model)
    error = one_error(capsys, predict_cli(model, files["crlf"], tmp_path / "out.conll"))
    assert error.startswith(f"error: {model / DAMAGED_FILE[damage]}: ")
    assert "copy it again or retrain" in error or "copy the model directory again" in error
    assert not (tmp_path / "out.conll").exists()


def test_predict_with_a_dataset_name_the_model_does_not_know(quirky_run, tmp_path, capsys):
    run, files, _ = quirky_run
    code = predict_cli(run / "model", files["crlf"], tmp_path / "o.conll", "--dataset", "nope")
    error = one_error(capsys, code)
    assert error.startswith("error: unknown dataset 'nope'; this model knows: ")
    assert ", crlf, " in error


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without a CUDA GPU")
def test_predict_on_cuda_without_a_gpu(quirky_run, tmp_path, capsys):
    run, files, _ = quirky_run
    code = main(
        ["predict", str(run / "model"), str(files["crlf"]), str(tmp_path / "o"), "--device", "cuda"]
    )
    error = one_error(capsys, code)
    assert error == "error: --device cuda: no CUDA GPU is available here; use --device cpu"


def test_predict_with_a_device_that_does_not_exist(quirky_run, tmp_path, capsys):
    run, files, _ = quirky_run
    code = main(
        ["predict", str(run / "model"), str(files["crlf"]), str(tmp_path / "o"), "--device", "tpu"]
    )
    error = one_error(capsys, code)
    assert error == "error: --device tpu: not a device; use cpu, cuda or cuda:N"


def test_train_with_a_device_that_does_not_exist(tmp_path, params, capsys):
    config = dataset_config(tmp_path)
    code = main(
        [
            "train",
            "--dataset_configs",
            str(config),
            "--parameters_config",
            str(params),
            "--output_dir",
            str(tmp_path / "logs"),
            "--device",
            "tpu",
        ]
    )
    error = one_error(capsys, code)
    assert error == "error: --device tpu: not a device; use cpu, cuda or cuda:N"
