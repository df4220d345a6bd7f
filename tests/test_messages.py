"""Messages that fit the file and the command (issue 12, items 7-9): UTF-16 and compressed
files named with the fix for train, predict and evaluate, symbolic links that are not "file not
found", outputs that keep the user's umask, and a full disk while predict writes."""

from __future__ import annotations

import codecs
import errno
import gzip
import json
import os
import stat
from pathlib import Path

import pytest
from test_hostile_input import (  # noqa: F401  (params and the autouse fixture are used here)
    NER_TASK,
    dataset_config,
    no_stale_console_handler,
    predict_cli,
    sentences,
    train_cli,
)

import machamp_lite
from machamp_lite.cli import main
from machamp_lite.data import writers
from machamp_lite.data.readers import ColumnReader

from conftest import one_error, write

TEXT = sentences()

# A file that is not UTF-8 text, the words its message must hold and the encoding to give.
NOT_UTF8 = {
    "utf16_le_bom": (TEXT.encode("utf-16-le"), codecs.BOM_UTF16_LE, "UTF-16", "utf-16"),
    "utf16_be_bom": (TEXT.encode("utf-16-be"), codecs.BOM_UTF16_BE, "UTF-16", "utf-16"),
    "utf16_le_no_bom": (TEXT.encode("utf-16-le"), b"", "UTF-16 little-endian", "utf-16-le"),
    "utf16_be_no_bom": (TEXT.encode("utf-16-be"), b"", "UTF-16 big-endian", "utf-16-be"),
}


def not_utf8_file(folder: Path, kind: str) -> tuple[Path, str, str | None]:
    """(path, words the message names, the encoding to use or None for gzip)."""
    if kind == "gzip":
        path = folder / "data.conll.gz"
        path.write_bytes(gzip.compress(TEXT.encode()))
        return path, "is a gzip-compressed file (it starts with the bytes 1f 8b)", None
    body, bom, name, encoding = NOT_UTF8[kind]
    path = folder / f"{kind}.conll"
    path.write_bytes(bom + body)
    return path, name, encoding


KINDS = [*NOT_UTF8, "gzip"]


@pytest.fixture(scope="module")
def model(tmp_path_factory, params) -> Path:  # noqa: F811
    """A model trained for one epoch on four UTF-8 sentences (dataset 'small')."""
    folder = tmp_path_factory.mktemp("model")
    config = dataset_config(folder)
    run = machamp_lite.train([str(config)], str(params), output_dir=str(folder / "logs"))
    return run / "model"


# ---- UTF-16 and gzip: named, with the fix for each command ----


@pytest.mark.parametrize("kind", KINDS)
def test_train_names_utf16_and_gzip_and_the_dataset_key(tmp_path, params, capsys, kind):  # noqa: F811
    data, named, encoding = not_utf8_file(tmp_path, kind)
    config = dataset_config(tmp_path, train_data_path=str(data))
    error = one_error(capsys, train_cli(params, tmp_path / "logs", config))
    assert error.startswith(f"error: {data}: ")
    assert named in error
    if encoding is None:
        assert "decompress it first" in error and "encoding" not in error
    else:
        assert f'set the dataset\'s "encoding" key: "encoding": "{encoding}"' in error
        assert "latin-1" not in error
    assert not (tmp_path / "logs").exists()


@pytest.mark.parametrize("kind", KINDS)
def test_predict_names_utf16_and_gzip_and_its_encoding_option(model, tmp_path, capsys, kind):
    source, named, encoding = not_utf8_file(tmp_path, kind)
    output = tmp_path / "out.conll"
    error = one_error(capsys, predict_cli(model, source, output))
    assert error.startswith(f"error: {source}: ")
    assert named in error
    if encoding is None:
        assert "decompress it first" in error
    else:
        assert error.endswith(f"; run the command again with --encoding {encoding}")
    assert '"encoding"' not in error  # no dataset key: predict has the option
    assert list(tmp_path.iterdir()) == [source]


@pytest.mark.parametrize("kind", KINDS)
def test_evaluate_names_utf16_and_gzip_and_its_encoding_option(tmp_path, capsys, kind):
    gold, named, encoding = not_utf8_file(tmp_path, kind)
    error = one_error(capsys, main(["evaluate", str(gold), str(gold)]))
    assert error.startswith(f"error: {gold}: ")
    assert named in error
    if encoding is None:
        assert "decompress it first" in error
    else:
        assert error.endswith(f"; run the command again with --encoding {encoding}")
    assert '"encoding"' not in error


def test_predict_and_evaluate_word_the_latin1_advice_as_their_option(model, tmp_path, capsys):
    source = write(tmp_path / "l1.conll", TEXT.replace("berlin", "münchen"), "latin-1")
    error = one_error(capsys, predict_cli(model, source, tmp_path / "out.conll"))
    assert error == (
        f"error: {source}, line 5: bytes that are not valid utf-8 (invalid start byte); if the "
        "file uses another encoding, run the command again with --encoding, e.g. --encoding "
        "latin-1"
    )
    error = one_error(capsys, main(["evaluate", str(source), str(source)]))
    assert error.startswith(f"error: {source}, line 5: bytes that are not valid utf-8")
    assert error.endswith("e.g. --encoding latin-1")
    assert predict_cli(model, source, tmp_path / "out.conll", "--encoding", "latin-1") == 0
    assert b"m\xfcnchen _ _ " in (tmp_path / "out.conll").read_bytes()


def test_an_unknown_encoding_option_names_the_option(model, tmp_path, capsys):
    source = write(tmp_path / "in.conll", TEXT)
    error = one_error(capsys, predict_cli(model, source, tmp_path / "o", "--encoding", "klingon"))
    assert error == (
        "error: --encoding 'klingon': not an encoding Python knows; e.g. utf-8, utf-16, latin-1"
    )
    error = one_error(capsys, main(["evaluate", str(source), str(source), "--encoding", "x-y"]))
    assert error.startswith("error: --encoding 'x-y': not an encoding Python knows")


@pytest.mark.parametrize(
    "kind, encoding",
    [
        ("utf16_le_bom", "utf-16"),
        ("utf16_be_bom", "utf-16"),
        ("utf16_le_no_bom", "utf-16-le"),
        ("utf16_be_no_bom", "utf-16-be"),
    ],
)
def test_predict_and_evaluate_with_encoding_utf16_work_end_to_end(
    model, tmp_path, capsys, kind, encoding
):
    """The output is in the input's encoding, with its byte-order mark (or none) and byte
    order, the lines and words kept; evaluate reads both with the same option."""
    source, _, _ = not_utf8_file(tmp_path, kind)
    output = tmp_path / "pred.conll"
    assert predict_cli(model, source, output, "--encoding", encoding) == 0
    raw_in, raw_out = source.read_bytes(), output.read_bytes()
    bom = NOT_UTF8[kind][1]
    assert raw_out[: len(bom) + 2] == raw_in[: len(bom) + 2]  # the BOM and "#" in its order
    codec = {"utf16_le_bom": "utf-16-le", "utf16_be_bom": "utf-16-be"}.get(kind, encoding)
    text_in = raw_in[len(bom) :].decode(codec)
    text_out = raw_out[len(bom) :].decode(codec)
    assert "\ufeff" not in text_out
    assert text_out.count("\n") == text_in.count("\n")
    reader = ColumnReader(encoding=encoding)
    after = reader.read(str(output), NER_TASK)
    assert [s.words for s in after] == [s.words for s in reader.read(str(source), NER_TASK)]
    capsys.readouterr()
    code = main(["evaluate", str(source), str(output), "--encoding", encoding, "--json"])
    out, err = capsys.readouterr()
    assert code == 0, err
    assert json.loads(out)["counts"]["tokens"] == 16


# ---- symbolic links: said what they are ----


def links(folder: Path) -> dict[str, tuple[Path, str]]:
    """A link loop and a link to nothing, with the words their messages start with."""
    loop_a, loop_b = folder / "loop_a.conll", folder / "loop_b.conll"
    loop_a.symlink_to(loop_b)
    loop_b.symlink_to(loop_a)
    dangling = folder / "dangling.conll"
    dangling.symlink_to(folder / "gone.conll")
    return {
        "loop": (loop_a, "is a symbolic link loop (a link on this path points, through other "
                 "links, back to itself); fix the link or give the data file's own path"),
        "dangling": (dangling, f"is a symbolic link to {folder / 'gone.conll'}, which does not "
                     "exist; fix the link or give the data file's own path"),
    }  # fmt: skip


@pytest.mark.parametrize("which", ["loop", "dangling"])
def test_a_symlink_loop_or_a_dangling_link_is_not_file_not_found(
    model,
    tmp_path,
    params,  # noqa: F811
    capsys,
    which,
):
    path, message = links(tmp_path)[which]
    config = dataset_config(tmp_path, train_data_path=str(path))
    assert one_error(capsys, train_cli(params, tmp_path / "logs", config)) == (
        f"error: {path}: {message}"
    )
    assert one_error(capsys, predict_cli(model, path, tmp_path / "out.conll")) == (
        f"error: {path}: {message}"
    )
    good = write(tmp_path / "gold.conll", TEXT)
    for argv in ([str(good), str(path)], [str(path), str(good)]):
        error = one_error(capsys, main(["evaluate", *argv]))
        assert error == f"error: {path}: {message}"


# ---- umask: predictions as open() would make them ----


@pytest.fixture
def umask():
    """Set the process umask for a test and put the old one back."""
    old = os.umask(0o022)
    yield os.umask
    os.umask(old)


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.mark.parametrize("mask, expected", [(0o022, 0o644), (0o002, 0o664), (0o077, 0o600)])
@pytest.mark.parametrize("how", ["in_place", "labels_only", "raw_text"])
def test_predict_writes_with_the_umask_mode(model, tmp_path, umask, mask, expected, how):
    source = write(tmp_path / "in.conll", TEXT)
    extra = {"in_place": (), "labels_only": ("--labels_only",), "raw_text": ("--raw_text",)}
    umask(mask)
    assert predict_cli(model, source, tmp_path / "out.conll", *extra[how]) == 0
    assert mode(tmp_path / "out.conll") == expected


def test_predict_over_an_existing_output_keeps_its_mode(model, tmp_path, umask):
    source = write(tmp_path / "in.conll", TEXT)
    output = write(tmp_path / "out.conll", "old\n")
    output.chmod(0o640)
    umask(0o077)
    assert predict_cli(model, source, output) == 0
    assert mode(output) == 0o640
    assert output.read_text(encoding="utf-8") != "old\n"


# ---- a full disk while predict writes ----


def test_predict_on_a_full_disk_names_the_output_and_keeps_the_old_one(
    model, tmp_path, capsys, monkeypatch
):
    """Simulated: the output's writes fail with ENOSPC after the first chunk."""
    source = write(tmp_path / "in.conll", TEXT)
    out_dir = tmp_path / "out"
    output = write(out_dir / "pred.conll", "the old prediction\n")
    real_fdopen = os.fdopen

    class FullDisk:
        def __init__(self, handle):
            self.handle, self.writes = handle, 0

        def write(self, text: str) -> int:
            self.writes += 1
            if self.writes > 1:
                raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
            self.handle.write(text)
            self.handle.flush()
            return len(text)

        def close(self) -> None:
            self.handle.close()

    monkeypatch.setattr(writers.os, "fdopen", lambda *a, **k: FullDisk(real_fdopen(*a, **k)))
    error = one_error(capsys, predict_cli(model, source, output))
    monkeypatch.undo()
    assert error == (
        f"error: {output}: cannot write the output: the disk is full (no space left on device); "
        "the file was not written (a file that was there is unchanged): free some space or "
        "choose another output path"
    )
    assert sorted(p.name for p in out_dir.iterdir()) == ["pred.conll"]
    assert output.read_text(encoding="utf-8") == "the old prediction\n"


def test_predict_on_a_real_full_disk_names_the_output_and_keeps_the_old_one(
    model, tmp_path, capsys, tmpfs
):
    tiny_disk = tmpfs("64k")
    source = write(tmp_path / "in.conll", sentences(1200))  # about 100 KB of input
    assert source.stat().st_size > 64 * 1024
    output = write(tiny_disk / "pred.conll", "the old prediction\n")
    error = one_error(capsys, predict_cli(model, source, output))
    assert error.startswith(f"error: {output}: cannot write the output: the disk is full")
    assert sorted(p.name for p in tiny_disk.iterdir()) == ["pred.conll"]
    assert output.read_text(encoding="utf-8") == "the old prediction\n"
