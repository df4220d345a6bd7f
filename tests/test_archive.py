"""The model archive (a run's ``model/`` folder): loading it runs no code the user did not allow,
a damaged or incomplete folder is one clear error (never a model that silently predicts
something else), and saving it cannot leave a half-written model or lose the previous one."""

from __future__ import annotations

import errno
import json
import os
import shutil
import stat
import sys
import uuid
import warnings
from pathlib import Path

import pytest

import machamp_lite.archive as archive
from machamp_lite.archive import (
    ARCHIVE_VERSION,
    ModelSaveError,
    file_sha256,
    load_archive,
    save_archive,
)
from machamp_lite.cli import main
from machamp_lite.errors import MachampError, ModelLoadError
from machamp_lite.predict import Predictor

from conftest import one_error, tiny_training_params, write

CONLL = "# id s{n}\tdomain=x\nanna _ _ B-PER\nlives _ _ O\nin _ _ O\nberlin _ _ B-LOC\n\n"
DAMAGED = "the model directory is damaged: copy it again or retrain"
INCOMPLETE = "the model directory is incomplete: copy it again or retrain"


def sentences(count: int = 6) -> str:
    return "".join(CONLL.format(n=i) for i in range(count))


@pytest.fixture(scope="module")
def trained(tmp_path_factory, tiny_model) -> Path:
    """The ``model`` folder of one CLI training run (one epoch of the tiny BERT)."""
    folder = tmp_path_factory.mktemp("archive")
    data = write(folder / "train.conll", sentences())
    config = {
        "small": {
            "train_data_path": str(data),
            "tasks": {"ner": {"task_type": "seq_bio", "column_idx": -1}},
        }
    }
    params = tiny_training_params(folder / "params.json", tiny_model, 1, batching={"batch_size": 8})
    code = main(
        [
            "train",
            "--dataset_configs",
            str(write(folder / "small.json", json.dumps(config))),
            "--parameters_config",
            str(params),
            "--output_dir",
            str(folder / "logs"),
            "--name",
            "small",
            "--seed",
            "1",
        ]
    )
    assert code == 0
    (model,) = (folder / "logs").glob("small/*/model")
    return model


@pytest.fixture
def model(trained, tmp_path) -> Path:
    """A copy of the trained model folder that a test may damage."""
    return Path(shutil.copytree(trained, tmp_path / "model"))


@pytest.fixture
def source(tmp_path) -> Path:
    return write(tmp_path / "in.conll", sentences(2))


def predict_cli(model: Path, source: Path, output: Path, *extra: str) -> int:
    return main(["predict", str(model), str(source), str(output), "--device", "cpu", *extra])


def reseal(model: Path) -> None:
    """Rewrite archive.json's file table for the files as they are now, as a tool that edits an
    archive and records the result would: only what the files say is then checked."""
    manifest = json.loads((model / "archive.json").read_text(encoding="utf-8"))
    manifest["files"] = {
        p.relative_to(model).as_posix(): {"sha256": file_sha256(p), "size": p.stat().st_size}
        for p in sorted(model.rglob("*"))
        if p.is_file() and p.name != "archive.json"
    }
    (model / "archive.json").write_text(json.dumps(manifest), encoding="utf-8")


def edit_json(path: Path, change) -> None:
    value = json.loads(path.read_text(encoding="utf-8"))
    change(value)
    path.write_text(json.dumps(value), encoding="utf-8")


def folder_bytes(folder: Path) -> dict[str, bytes]:
    return {
        p.relative_to(folder).as_posix(): p.read_bytes() for p in folder.rglob("*") if p.is_file()
    }


# ---- plugin modules are imported only with permission ----


@pytest.fixture
def marker_plugins(tmp_path, monkeypatch):
    """Two importable modules (in the working directory, which is on sys.path) that each write
    a marker file when imported: (names, markers). They are unimported afterwards."""
    folder = tmp_path / "cwd"
    folder.mkdir()
    names = [f"mlite_marker_{uuid.uuid4().hex[:8]}" for _ in range(2)]
    markers = [tmp_path / f"{name}.imported" for name in names]
    for name, marker in zip(names, markers):
        write(folder / f"{name}.py", f"open({str(marker)!r}, 'w').write('imported')\n")
    monkeypatch.chdir(folder)
    monkeypatch.syspath_prepend(str(folder))
    yield names, markers
    for name in names:
        sys.modules.pop(name, None)


@pytest.fixture
def plugin_model(trained, tmp_path, marker_plugins) -> Path:
    """The trained model saved again with the first marker module in params.json's "plugins"
    list and the second in its dataset's: a shared model folder that names modules."""
    (first, second), markers = marker_plugins
    model, params, datasets, vocabularies, _ = load_archive(trained, "cpu")
    datasets = {name: {**d, "plugins": [second]} for name, d in datasets.items()}
    path = save_archive(
        tmp_path / "plugin-model", model, {**params, "plugins": [first]}, datasets, vocabularies
    )
    assert not any(m.exists() for m in markers)
    return path


def test_predict_refuses_a_model_that_names_plugin_modules_without_importing_them(
    plugin_model, marker_plugins, source, tmp_path, capsys
):
    (first, second), markers = marker_plugins
    output = tmp_path / "out.conll"
    error = one_error(capsys, predict_cli(plugin_model, source, output))
    assert error == (
        f"error: {plugin_model}: this model needs plugin modules '{first}' (in "
        f"{plugin_model / 'params.json'}), '{second}' (in {plugin_model / 'datasets.json'}), and "
        "importing a module runs its code; machamp-lite imports a plugin module that a config "
        "or a model folder names only when you allow it. If you trust it, pass "
        f"--plugins {first} {second} to machamp-lite predict, or "
        f"allow_plugins=['{first}', '{second}'] to Predictor.load"
    )
    assert not any(m.exists() for m in markers)  # their code never ran
    assert first not in sys.modules and second not in sys.modules
    assert not output.exists()
    with pytest.raises(ModelLoadError, match="allow_plugins"):
        Predictor.load(plugin_model, device="cpu", allow_plugins=[first])  # one is not enough
    assert not any(m.exists() for m in markers)


def test_predict_imports_the_plugin_modules_the_user_allows(
    plugin_model, marker_plugins, source, tmp_path, capsys
):
    (first, second), markers = marker_plugins
    output = tmp_path / "out.conll"
    # --plugins may be repeated (action="extend").
    assert predict_cli(plugin_model, source, output, "--plugins", first, "--plugins", second) == 0
    assert all(m.read_text() == "imported" for m in markers)
    assert len(output.read_text(encoding="utf-8").split("\n")) == len(
        source.read_text(encoding="utf-8").split("\n")
    )


def test_the_api_loads_with_allow_plugins_and_an_imported_module_counts_as_allowed(
    plugin_model, marker_plugins
):
    (first, second), markers = marker_plugins
    predictor = Predictor.load(plugin_model, device="cpu", allow_plugins=[first, second])
    assert predictor.predict([["anna", "lives"]])[0]["ner"]
    assert all(m.exists() for m in markers)
    for marker in markers:
        marker.unlink()
    # Imported already (here by the load above; equally by the caller's own code or an
    # installed entry point): naming them runs no code, so no permission is needed.
    assert Predictor.load(plugin_model, device="cpu").predict([["anna"]])[0]["ner"]
    assert not any(m.exists() for m in markers)


# ---- a damaged or incomplete folder is an error ----


@pytest.mark.parametrize("version", [1, ARCHIVE_VERSION])
def test_predict_without_the_tokenizer_files_is_an_error(model, source, tmp_path, capsys, version):
    if version == 1:  # as an earlier release wrote it: no file table, no checksums
        (model / "archive.json").write_text('{"version": 1, "format": "machamp-lite"}')
    (model / "encoder" / "tokenizer.json").unlink()
    (model / "encoder" / "tokenizer_config.json").unlink()
    output = tmp_path / "out.conll"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        error = one_error(capsys, predict_cli(model, source, output))
    why = "archive.json lists it" if version >= 2 else "the tokenizer and encoder need it"
    assert error == (
        f"error: {model / 'encoder' / 'tokenizer.json'}: missing ({why}) (also missing: "
        f"encoder/tokenizer_config.json); {INCOMPLETE}"
    )
    assert not output.exists()


def test_a_changed_byte_in_the_weights_is_an_error(model, source, tmp_path, capsys):
    weights = model / "model.safetensors"
    data = bytearray(weights.read_bytes())
    data[len(data) // 2] ^= 0x01  # inside a tensor: safetensors itself would load it
    weights.write_bytes(bytes(data))
    output = tmp_path / "out.conll"
    error = one_error(capsys, predict_cli(model, source, output))
    assert error == (
        f"error: {weights}: changed since the model was saved (its SHA-256 differs from the "
        f"one in archive.json); {DAMAGED}"
    )
    assert not output.exists()


def test_a_file_added_to_the_encoder_folder_is_an_error(model, source, tmp_path, capsys):
    added = write(model / "encoder" / "added_tokens.json", '{"anna": 399}')
    error = one_error(capsys, predict_cli(model, source, tmp_path / "out.conll"))
    assert error == (
        f"error: {added}: not part of the model as saved (archive.json does not list it), and a "
        "file in encoder/ can change how the tokenizer or config loads; remove it, or copy the "
        "model directory again"
    )


def test_an_archive_from_a_newer_release_is_refused(model, source, tmp_path, capsys):
    edit_json(model / "archive.json", lambda m: m.update(version=99, written_by="machamp-lite 9"))
    error = one_error(capsys, predict_cli(model, source, tmp_path / "out.conll"))
    assert error == (
        f"error: {model / 'archive.json'}: archive format version 99 was written by a newer "
        f"machamp-lite (machamp-lite 9); this release (0.1.0) reads versions 1 to 3. Upgrade "
        "machamp-lite (pip install --upgrade machamp-lite) to load this model"
    )


def test_an_archive_of_format_1_loads_with_a_warning_and_can_be_upgraded(model):
    (model / "archive.json").write_text('{"version": 1, "format": "machamp-lite"}')
    with pytest.warns(UserWarning, match="archive format 1, without checksums"):
        Predictor.load(model, device="cpu")
    archive.upgrade_archive(model)
    manifest = json.loads((model / "archive.json").read_text(encoding="utf-8"))
    assert manifest["version"] == ARCHIVE_VERSION and "encoder/tokenizer.json" in manifest["files"]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert Predictor.load(model, device="cpu").predict([["anna"]])[0]["ner"]


@pytest.mark.parametrize(
    ("file", "change", "message"),
    [
        (
            "params.json",
            lambda p: p.pop("encoder"),
            "missing required key 'encoder'",
        ),
        (
            "datasets.json",
            lambda d: d["small"]["tasks"]["ner"].pop("task_type"),
            "missing required key 'small.tasks.ner.task_type'",
        ),
        (
            "vocabularies.json",
            lambda v: v.pop("ner"),
            "missing required key 'ner' (the labels of task 'ner' of dataset 'small')",
        ),
        (
            "params.json",
            lambda p: p["prediction"].update(chunk_sentences=0),
            "key 'prediction.chunk_sentences' must be at least 1, got 0",
        ),
    ],
    ids=["params_without_encoder", "task_without_task_type", "no_vocabulary", "zero_chunk"],
)
def test_configs_without_a_required_key_name_the_file_and_key(
    model, source, tmp_path, capsys, file, change, message
):
    edit_json(model / file, change)
    reseal(model)  # the checksums agree: only the content is wrong
    error = one_error(capsys, predict_cli(model, source, tmp_path / "out.conll"))
    assert error == f"error: {model / file}: {message}; {DAMAGED}"


# ---- saving ----


def _enospc(*args, **kwargs):
    raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), "vocabularies.json")


def _safetensors_full(*args, **kwargs):
    from safetensors import SafetensorError

    raise SafetensorError(
        "Error while serializing: I/O error: No space left on device (os error 28)"
    )


def _tokenizers_full(*args, **kwargs):
    raise Exception("No space left on device (os error 28)")  # what tokenizers raises


# (what to patch, its stand-in, the reason the message gives)
WRITERS = {
    "json_oserror": ("machamp_lite.archive.write_json", _enospc, "No space left on device"),
    "safetensors_error": (
        "safetensors.torch.save_model",
        _safetensors_full,
        "Error while serializing: I/O error: No space left on device (os error 28)",
    ),
    "tokenizers_exception": (
        "machamp_lite.modules.encoder.TransformerEncoder.save_tokenizer",
        _tokenizers_full,
        "No space left on device (os error 28)",
    ),
}


@pytest.mark.parametrize("writer", sorted(WRITERS))
def test_a_full_disk_while_saving_keeps_the_old_archive(trained, tmp_path, monkeypatch, writer):
    model, params, datasets, vocabularies, _ = load_archive(trained, "cpu")
    target = Path(shutil.copytree(trained, tmp_path / "runs" / "model"))
    before = folder_bytes(target)
    where, stand_in, reason = WRITERS[writer]
    monkeypatch.setattr(where, stand_in)
    with pytest.raises(ModelSaveError) as caught:
        save_archive(target, model, params, datasets, vocabularies)
    assert isinstance(caught.value, MachampError)
    assert str(caught.value) == (
        f"{target}: cannot save the model ({reason}); nothing was written there, and a model "
        "saved there before is kept. Free disk space or choose another output folder and "
        "try again"
    )
    assert sorted(p.name for p in target.parent.iterdir()) == ["model"]  # no temporary folder
    assert folder_bytes(target) == before
    Predictor.load(target, device="cpu")


def pages(size: int, page: int = 4096) -> int:
    return -(-size // page) * page


@pytest.mark.parametrize("room", ["for_no_weights", "for_weights_not_tokenizer"])
def test_a_really_full_disk_while_saving_keeps_the_old_archive(trained, tmpfs, room):
    disk = tmpfs("1m")
    model, params, datasets, vocabularies, _ = load_archive(trained, "cpu")
    target = disk / "model"
    save_archive(target, model, params, datasets, vocabularies)
    before = folder_bytes(target)
    # Fill the file system but for what is left: less than the weights need (safetensors
    # fails), or the weights and the small JSON files but not tokenizer.json (tokenizers fails).
    left = 8192
    if room == "for_weights_not_tokenizer":
        fits = ("model.safetensors", "encoder/config.json", "encoder/tokenizer_config.json")
        left = sum(pages(len(before[name])) for name in fits)
        assert len(before["encoder/tokenizer.json"]) > 4096
    stats = os.statvfs(disk)
    filler = disk / "filler"
    filler.write_bytes(b"\0" * (stats.f_bavail * stats.f_frsize - left))
    with pytest.raises(ModelSaveError, match="No space left on device") as caught:
        save_archive(target, model, params, datasets, vocabularies)
    reason = {
        "for_no_weights": "Error while serializing: I/O error: No space left on device",
        "for_weights_not_tokenizer": "No space left on device (os error 28)",
    }[room]
    assert str(caught.value).startswith(f"{target}: cannot save the model ({reason}")
    assert sorted(p.name for p in disk.iterdir()) == ["filler", "model"]
    assert folder_bytes(target) == before
    filler.unlink()
    Predictor.load(target, device="cpu")


@pytest.mark.parametrize(
    ("umask", "file_mode", "dir_mode"), [(0o022, 0o644, 0o755), (0o002, 0o664, 0o775)]
)
def test_archive_files_get_the_modes_of_the_umask(trained, tmp_path, umask, file_mode, dir_mode):
    model, params, datasets, vocabularies, _ = load_archive(trained, "cpu")
    previous = os.umask(umask)
    try:
        target = save_archive(tmp_path / "model", model, params, datasets, vocabularies)
    finally:
        os.umask(previous)
    assert stat.S_IMODE(target.stat().st_mode) == dir_mode
    for path in target.rglob("*"):
        expected = dir_mode if path.is_dir() else file_mode
        assert stat.S_IMODE(path.stat().st_mode) == expected, path


def test_an_archive_before_format_3_keeps_writing_its_label_columns_where_it_did():
    """Before format 3 a two-column label (HEAD, DEPREL) was named by its last column; it now
    names its first, as MaChAmp does: loading an older archive moves column_idx one left."""
    datasets = {
        "ud": {
            "tasks": {
                "dependency": {"task_type": "dependency", "column_idx": 7},
                "tail": {"task_type": "dependency", "column_idx": -1},
                "upos": {"task_type": "seq", "column_idx": 3},
            }
        }
    }
    archive.convert_label_columns(datasets)
    tasks = datasets["ud"]["tasks"]
    assert [tasks[t]["column_idx"] for t in ("dependency", "tail", "upos")] == [6, -2, 3]
