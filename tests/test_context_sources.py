"""Where context comes from (issue 18): document neighbours, a context file keyed by sentence
id, and built-in retrieval (BM25, and an embedding model with its cached index), each read
through a real dataset config and the real readers."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest

from machamp_lite.config import load_dataset_configs
from machamp_lite.data import retrieval
from machamp_lite.data.bm25 import BM25Index, terms
from machamp_lite.data.dataset import read_dataset_file
from machamp_lite.data.retrieval import RetrievalSettings, Retriever
from machamp_lite.errors import ConfigError, DataError

from conftest import write

NER = {"ner": {"task_type": "seq_bio", "column_idx": 1}}


def dataset(tmp_path: Path, train: str, context: dict, **keys) -> dict:
    """The validated dataset of a config file written to ``tmp_path`` (paths relative to it)."""
    config = {"d": {"train_data_path": train, "tasks": NER, "context": context, **keys}}
    path = write(tmp_path / "config.json", json.dumps(config))
    return load_dataset_configs([str(path)], data_dir=str(tmp_path))["d"]


def conll(*sentences: str, comments: dict[int, str] | None = None) -> str:
    """A two-column file: each sentence's words, tagged O."""
    blocks = []
    for i, sentence in enumerate(sentences):
        head = f"{comments[i]}\n" if comments and i in comments else ""
        blocks.append(head + "".join(f"{w}\tO\n" for w in sentence.split()))
    return "\n".join(blocks)


@pytest.mark.parametrize(
    ("context", "expected"),
    [
        ({"source": "web"}, "'source' must be one of 'neighbours', 'file', 'retrieval'"),
        ({"source": "neighbours", "k": 2}, "unknown key 'k' for source 'neighbours'"),
        ({"source": "neighbours", "before": 0, "after": 0}, "not both 0"),
        ({"source": "neighbours", "before": -1}, "0 or more"),
        ({"source": "neighbours", "after": "2"}, "'after' has the wrong type"),
        ({"source": "file"}, "source 'file' needs 'path'"),
        ({"source": "retrieval", "method": "bm25"}, "needs 'corpus'"),
        ({"source": "retrieval", "corpus": "c.txt", "k": 0, "method": "bm25"}, "1 or more"),
        ({"source": "retrieval", "corpus": "c.txt"}, "method 'embedding' needs 'model'"),
        ({"source": "retrieval", "corpus": "c.txt", "method": "tfidf"}, "'embedding' or 'bm25'"),
        (
            {"source": "retrieval", "corpus": "c.txt", "method": "bm25", "model": "m"},
            "'model' is for method 'embedding'",
        ),
    ],
)
def test_a_bad_context_key_is_one_error_naming_the_file_dataset_and_key(
    tmp_path, context, expected
):
    write(tmp_path / "train.conll", conll("a b"))
    with pytest.raises(ConfigError) as error:
        dataset(tmp_path, "train.conll", context)
    message = str(error.value)
    assert "config.json" in message and "dataset 'd'" in message and "key 'context'" in message
    assert expected in message


def test_context_with_sentence_pairs_is_refused_when_the_config_is_read(tmp_path):
    write(tmp_path / "train.tsv", "a b\tc d\tX\n")
    config = {
        "d": {
            "train_data_path": "train.tsv",
            "sent_idxs": [0, 1],
            "tasks": {"label": {"task_type": "classification", "column_idx": 2}},
            "context": {"source": "neighbours"},
        }
    }
    path = write(tmp_path / "config.json", json.dumps(config))
    with pytest.raises(ConfigError, match="'context' cannot be combined with text in several"):
        load_dataset_configs([str(path)], data_dir=str(tmp_path))


def test_neighbours_stay_inside_their_document_and_docstart_gets_none(tmp_path):
    text = conll("-DOCSTART-", "a1 a2", "b1", "c1 c2", "-DOCSTART-", "d1", "e1")
    write(tmp_path / "train.conll", text)
    config = dataset(tmp_path, "train.conll", {"source": "neighbours", "before": 1, "after": 1})
    sentences = read_dataset_file(config, config["train_data_path"], limit=-1)
    assert [s.context for s in sentences] == [
        None,
        ["b1"],
        ["a1", "a2", "c1", "c2"],
        ["b1"],
        None,
        ["e1"],
        ["d1"],
    ]
    # Cut to its first sentences, the last kept one still reads the next (unkept) one.
    config = dataset(tmp_path, "train.conll", {"source": "neighbours", "after": 2, "before": 0})
    kept = read_dataset_file(config, config["train_data_path"], limit=2)
    assert [s.context for s in kept] == [None, ["b1", "c1", "c2"]]


def test_conllu_newdoc_comments_start_documents(tmp_path):
    row = "{i}\t{w}\t_\tX\t_\t_\t0\troot\t_\t_\n"
    blocks = []
    for number, (comment, words) in enumerate(
        [("# newdoc id = one", "p q"), ("# sent_id = 2", "r"), ("# newdoc id = two", "s")]
    ):
        rows = "".join(row.format(i=i, w=w) for i, w in enumerate(words.split(), 1))
        blocks.append(f"{comment}\n# sent_id = s{number}\n{rows}")
    write(tmp_path / "train.conllu", "\n".join(blocks))
    upos = {"upos": {"task_type": "seq", "column_idx": 3}}
    config = {
        "d": {"train_data_path": "train.conllu", "tasks": upos, "context": {"source": "neighbours"}}
    }
    path = write(tmp_path / "config.json", json.dumps(config))
    loaded = load_dataset_configs([str(path)], data_dir=str(tmp_path))["d"]
    sentences = read_dataset_file(loaded, loaded["train_data_path"], limit=-1)
    assert [s.context for s in sentences] == [["r"], ["p", "q"], None]


def test_a_context_file_is_keyed_by_multiconer_ids(tmp_path, caplog):
    ids = {0: "# id 11\tdomain=en", 1: "# id 22\tdomain=en", 2: "# id 33\tdomain=en"}
    write(tmp_path / "train.conll", conll("a b", "c", "d", comments=ids))
    write(tmp_path / "ctx.tsv", "22\tBonn is a city\n11\tfirst part\n11\tsecond\n\n99\tunused\n")
    config = dataset(tmp_path, "train.conll", {"source": "file", "path": "ctx.tsv"})
    with caplog.at_level(logging.WARNING):
        sentences = read_dataset_file(config, config["train_data_path"], limit=-1)
    assert [s.context for s in sentences] == [
        ["first", "part", "second"],
        ["Bonn", "is", "a", "city"],
        None,
    ]
    assert "no context for 1 of 3 sentences" in caplog.text
    # Other columns: the context in column 0, the id in column 2.
    write(tmp_path / "cols.tsv", "text of 33\tx\t33\n")
    context = {"source": "file", "path": "cols.tsv", "id_column": 2, "context_column": 0}
    config = dataset(tmp_path, "train.conll", context)
    sentences = read_dataset_file(config, config["train_data_path"], limit=-1)
    assert [s.context for s in sentences] == [None, None, ["text", "of", "33"]]


def test_a_damaged_context_file_is_one_error_with_its_line(tmp_path):
    write(tmp_path / "train.conll", conll("a b", comments={0: "# id 1\tdomain=en"}))
    write(tmp_path / "ctx.tsv", "1\tfine\nno tab here\n")
    config = dataset(tmp_path, "train.conll", {"source": "file", "path": "ctx.tsv"})
    with pytest.raises(DataError, match=r"ctx.tsv, line 2: 1 tab-separated field"):
        read_dataset_file(config, config["train_data_path"])
    config = dataset(tmp_path, "train.conll", {"source": "file", "path": "missing.tsv"})
    with pytest.raises(DataError, match="missing.tsv: context file not found"):
        read_dataset_file(config, config["train_data_path"])


CORPUS = [
    "the river rhine flows through basel and cologne",
    "paris is the capital of france",
    "berlin is the capital of germany",
    "the cat sat on the mat",
    "北京 是 中国 的 首都",
]


def test_bm25_ranks_by_shared_rare_terms_and_splits_cjk():
    assert terms("Köln, 北京!") == ["köln", "北", "京"]
    index = BM25Index(CORPUS)
    scores = index.scores("capital of germany")
    assert scores.argmax() == 2
    assert scores[1] > scores[0] == 0.0  # "capital of" only, and nothing shared
    assert index.scores("首都").argmax() == 4
    assert not index.scores("zzz").any()


def test_bm25_retrieval_returns_the_k_nearest_and_never_the_sentence_itself(tmp_path):
    write(tmp_path / "corpus.txt", "\n".join(CORPUS) + "\n\n")
    write(tmp_path / "train.conll", conll("berlin is the capital of germany", "cat on a mat"))
    context = {"source": "retrieval", "corpus": "corpus.txt", "k": 2, "method": "bm25"}
    config = dataset(tmp_path, "train.conll", context)
    first, second = read_dataset_file(config, config["train_data_path"])
    # The sentence is in the corpus: it is left out, and the next two come, best first.
    assert first.context == [*CORPUS[1].split(), *CORPUS[3].split()]
    assert second.context[:6] == CORPUS[3].split()


def test_a_conll_corpus_gives_one_passage_per_sentence(tmp_path):
    write(tmp_path / "corpus.conll", conll("paris is nice", "bonn is small"))
    write(tmp_path / "train.conll", conll("bonn"))
    context = {"source": "retrieval", "corpus": ["corpus.conll"], "k": 1, "method": "bm25"}
    config = dataset(tmp_path, "train.conll", context)
    (sentence,) = read_dataset_file(config, config["train_data_path"])
    assert sentence.context == ["bonn", "is", "small"]
    config = dataset(tmp_path, "train.conll", {**context, "corpus": "nowhere.txt"})
    with pytest.raises(DataError, match="nowhere.txt: corpus file not found"):
        read_dataset_file(config, config["train_data_path"])


@pytest.fixture
def counted_embed(monkeypatch):
    """Counts the texts ``retrieval.embed`` encodes, by prefix."""
    calls: list[tuple[str, int]] = []
    real = retrieval.embed

    def spy(texts, embedder, prefix, max_length, batch_size):
        calls.append((prefix, len(texts)))
        return real(texts, embedder, prefix, max_length, batch_size)

    monkeypatch.setattr(retrieval, "embed", spy)
    return calls


def test_the_embedding_index_is_cached_reused_and_rebuilt_when_the_corpus_changes(
    tmp_path, tiny_model, monkeypatch, counted_embed
):
    monkeypatch.setenv("MACHAMP_LITE_CACHE", str(tmp_path / "cache"))
    corpus = write(tmp_path / "corpus.txt", "\n".join(CORPUS))
    settings = RetrievalSettings(
        (str(corpus),), 2, "embedding", str(tiny_model), "query: ", "passage: "
    )
    built = Retriever(settings)
    assert counted_embed == [("passage: ", len(CORPUS))]
    (index,) = (tmp_path / "cache" / "retrieval").glob("*/index-*.npy")
    queries = ["berlin is the capital of germany", "a cat"]
    found = built.retrieve(queries)

    counted_embed.clear()
    again = Retriever(settings)
    assert counted_embed == []  # read from the cache, not encoded again
    assert again.retrieve(queries) == found
    assert 2 not in found[0]  # the sentence itself is never its own context

    write(corpus, "\n".join([*CORPUS, "a new passage"]))
    counted_embed.clear()
    Retriever(settings)
    assert counted_embed == [("passage: ", len(CORPUS) + 1)]
    (rebuilt,) = (tmp_path / "cache" / "retrieval").glob("*/index-*.npy")
    assert rebuilt != index and not index.exists()  # the stale index is removed


def test_an_unwritable_cache_warns_and_still_retrieves(tmp_path, tiny_model, monkeypatch, caplog):
    monkeypatch.setenv("MACHAMP_LITE_CACHE", str(write(tmp_path / "a-file", "x")))
    corpus = write(tmp_path / "corpus.txt", "\n".join(CORPUS))
    settings = RetrievalSettings((str(corpus),), 1, "embedding", str(tiny_model))
    with caplog.at_level(logging.WARNING):
        hits = Retriever(settings).retrieve(["the cat"])
    assert len(hits) == 1 and len(hits[0]) == 1
    assert "could not cache the index" in caplog.text


def test_an_embedding_model_that_is_not_a_model_folder_is_one_error(tmp_path):
    corpus = write(tmp_path / "corpus.txt", "a\n")
    empty = tmp_path / "empty-model"
    empty.mkdir()
    for model in (tmp_path / "missing", empty):
        settings = RetrievalSettings((str(corpus),), 1, "embedding", str(model))
        with pytest.raises(ConfigError, match="context retrieval"):
            Retriever(settings)


@pytest.mark.slow
def test_multilingual_e5_retrieves_the_passage_about_the_sentence(
    tmp_path, real_models, monkeypatch
):
    """With the real multilingual-e5-small and its prefixes, across languages."""
    monkeypatch.setenv("MACHAMP_LITE_CACHE", str(tmp_path / "cache"))
    corpus = write(tmp_path / "corpus.txt", "\n".join(CORPUS))
    settings = RetrievalSettings(
        (str(corpus),), 1, "embedding", real_models["ME5_SMALL"], "query: ", "passage: "
    )
    found = Retriever(settings).retrieve(
        ["welche stadt ist die hauptstadt deutschlands", "le chat dort sur le tapis", "中国的首都"]
    )
    assert found == [[2], [3], [4]]


def test_a_damaged_cached_index_is_rebuilt_and_long_passages_are_cut_to_the_model(
    tmp_path, tiny_model, monkeypatch, counted_embed, caplog
):
    monkeypatch.setenv("MACHAMP_LITE_CACHE", str(tmp_path / "cache"))
    long_passage = " ".join(["berlin"] * 3000)  # more subwords than the model has positions
    corpus = write(tmp_path / "corpus.txt", "\n".join([*CORPUS, long_passage]))
    settings = RetrievalSettings((str(corpus),), 1, "embedding", str(tiny_model), max_length=10**9)
    Retriever(settings)
    (index,) = (tmp_path / "cache" / "retrieval").glob("*/index-*.npy")
    index.write_bytes(index.read_bytes()[:100])  # cut short, as by a full disk or a kill
    counted_embed.clear()
    with caplog.at_level(logging.WARNING):
        rebuilt = Retriever(settings)
    assert counted_embed == [("", len(CORPUS) + 1)]
    assert "unreadable" in caplog.text
    assert rebuilt.matrix is not None and rebuilt.matrix.shape[0] == len(CORPUS) + 1


def test_a_context_path_that_is_a_folder_is_one_error(tmp_path):
    write(tmp_path / "train.conll", conll("a b", comments={0: "# id 1\tdomain=en"}))
    (tmp_path / "folder").mkdir()
    config = dataset(tmp_path, "train.conll", {"source": "file", "path": "folder"})
    with pytest.raises(DataError, match="folder: context file not found"):
        read_dataset_file(config, config["train_data_path"])
    context = {"source": "retrieval", "corpus": "folder", "method": "bm25"}
    config = dataset(tmp_path, "train.conll", context)
    with pytest.raises(DataError, match="folder: corpus file not found"):
        read_dataset_file(config, config["train_data_path"])


def test_a_full_disk_leaves_no_partial_index_and_still_retrieves(
    tmp_path, tiny_model, monkeypatch, tmpfs, caplog
):
    cache = tmpfs("64k")
    monkeypatch.setenv("MACHAMP_LITE_CACHE", str(cache))
    passages = [f"passage number {i} about berlin" for i in range(1500)]  # 96 kB of vectors
    corpus = write(tmp_path / "corpus.txt", "\n".join(passages))
    settings = RetrievalSettings((str(corpus),), 2, "embedding", str(tiny_model))
    with caplog.at_level(logging.WARNING):
        hits = Retriever(settings).retrieve(["passage number 7 about berlin"])
    assert len(hits[0]) == 2 and passages.index("passage number 7 about berlin") not in hits[0]
    assert "could not cache the index" in caplog.text
    assert not [p for p in cache.rglob("*") if p.is_file()]  # no half-written index or temp file
