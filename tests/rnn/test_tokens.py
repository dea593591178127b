"""Character ids in bounded memory: the smallest dtype, vectorised encoding, the token file written once
per corpus, the disk-space refusal, and the fixed evaluation sample."""

from __future__ import annotations

import hashlib
import json
import shutil
from collections import namedtuple
from pathlib import Path

import numpy as np
import pytest
import torch

import rnn.corpus
import rnn.tokens
from rnn.config import ConfigError, TrainConfig
from rnn.corpus import CorpusError, CorpusSource, default_corpus_text, open_corpus
from rnn.data import Vocab, batchify, evaluation_chars, evaluation_streams, id_dtype
from rnn.evaluate import (
    EVAL_BATCH_SIZE,
    evaluate_on,
    evaluation_split,
    read_evaluation_split,
    scored_chars,
)
from rnn.model import CharLSTM
from rnn.tokens import load_corpus_ids, token_paths
from rnn.train import train

# every width of UTF-8, a CRLF, a combining mark and characters on both sides of the BMP
MIXED = "Héllo, wörld!\r\nCafé €5 — 漢字かな 😀🎉 e\u0301 tab\there\n" * 50


def old_encode(vocab: Vocab, text: str) -> torch.Tensor:
    """What Vocab.encode was: a Python list with one int per character."""
    unknown = sorted({ch for ch in text if ch not in vocab.index})
    if unknown:
        raise ValueError(f"characters not in the model's vocabulary: {unknown!r}")
    return torch.tensor([vocab.index[ch] for ch in text], dtype=torch.long)


# --- dtype and encoding -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "vocab_size,dtype",
    [
        (1, np.uint8),
        (256, np.uint8),
        (257, np.uint16),
        (3_001, np.uint16),
        (65_536, np.uint16),
        (65_537, np.int32),
    ],
)
def test_ids_take_the_smallest_integer_type_that_holds_the_vocabulary(vocab_size: int, dtype: type) -> None:
    assert id_dtype(vocab_size) == np.dtype(dtype)


@pytest.mark.parametrize(
    "chars,dtype",
    [
        (list("abc"), np.uint8),
        ([chr(c) for c in range(256)], np.uint8),
        ([chr(0x4E00 + i) for i in range(3_001)], np.uint16),  # a CJK-sized vocabulary
        ([chr(c) for c in range(0x20000, 0x20000 + 70_000)], np.int32),  # beyond 65,536 symbols
    ],
    ids=["ascii", "256", "cjk", "70k"],
)
def test_encoded_ids_round_trip_in_that_dtype(chars: list[str], dtype: type) -> None:
    vocab = Vocab(chars)
    text = "".join(chars[::-1]) + chars[-1] + chars[0]
    ids = vocab.encode_ids(text)
    assert ids.dtype == np.dtype(dtype) == vocab.dtype
    assert ids[0] == len(chars) - 1 and ids[-1] == 0
    assert vocab.decode(ids) == text


def test_vectorised_encoding_equals_the_per_character_encoding() -> None:
    text = MIXED + default_corpus_text()[:20_000]
    vocab = Vocab.from_text(text)
    assert vocab.chars == sorted(set(text))
    new = vocab.encode(text)
    assert new.dtype == torch.long
    assert torch.equal(new, old_encode(vocab, text))
    assert np.array_equal(vocab.encode_ids(text), old_encode(vocab, text).numpy())
    # the same error, naming the same characters in the same order
    foreign = "zebra 😺 ∑ q"
    with pytest.raises(ValueError) as new_error:
        Vocab(list("ebra ")).encode(foreign)
    with pytest.raises(ValueError) as old_error:
        old_encode(Vocab(list("ebra ")), foreign)
    assert str(new_error.value) == str(old_error.value)


def test_a_vocabulary_in_any_order_encodes_by_its_own_index() -> None:
    vocab = Vocab(list("zyx\n"))
    assert vocab.encode("xyz\n").tolist() == [2, 1, 0, 3]


# --- the token file ---------------------------------------------------------------------------------


@pytest.fixture
def corpus_file(tmp_path: Path) -> Path:
    path = tmp_path / "corpus.txt"
    path.write_bytes((MIXED * 20 + default_corpus_text()[:100_000]).encode("utf-8"))
    return path


def test_a_large_corpus_is_encoded_once_into_a_token_file_and_mapped(
    tmp_path: Path, corpus_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(rnn.corpus, "CHUNK_BYTES", 1_001)  # many chunks, cut inside multibyte characters
    cache = tmp_path / "cache"
    text = corpus_file.read_bytes().decode("utf-8")  # no newline translation
    first = load_corpus_ids(open_corpus(str(corpus_file)), cache_dir=cache, in_memory_max_bytes=0)
    assert first.encoded and first.token_file is not None and first.token_file.parent == cache
    assert isinstance(first.ids, np.memmap) and first.ids.dtype == np.uint8
    expected = Vocab.from_text(text)
    assert first.vocab == expected
    assert np.array_equal(first.ids, expected.encode_ids(text))
    sha256 = hashlib.sha256(corpus_file.read_bytes()).hexdigest()
    assert first.stats.sha256 == sha256 and first.stats.chars == len(text)
    assert first.stats.size_bytes == corpus_file.stat().st_size and first.stats.vocab_size == len(expected)
    tokens, description = token_paths(cache, sha256)
    assert tokens == first.token_file and tokens.stat().st_size == len(text)
    assert json.loads(description.read_text())["vocab"] == expected.chars
    assert sorted(p.name for p in cache.iterdir()) == sorted([tokens.name, description.name])  # no temp files
    written_ns = tokens.stat().st_mtime_ns

    def must_not_encode(self: Vocab, text: str) -> np.ndarray:
        raise AssertionError("the corpus was encoded again")

    monkeypatch.setattr(Vocab, "encode_ids", must_not_encode)
    again = load_corpus_ids(open_corpus(str(corpus_file)), cache_dir=cache, in_memory_max_bytes=0)
    assert not again.encoded
    assert tokens.stat().st_mtime_ns == written_ns
    assert again.vocab == first.vocab and again.stats == first.stats
    assert np.array_equal(again.ids, first.ids)


def test_the_token_cache_folder_comes_from_the_argument_then_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(rnn.tokens.TOKEN_CACHE_ENV, str(tmp_path / "env"))
    assert rnn.tokens.token_cache_dir() == tmp_path / "env"
    assert rnn.tokens.token_cache_dir(str(tmp_path / "arg")) == tmp_path / "arg"
    monkeypatch.delenv(rnn.tokens.TOKEN_CACHE_ENV)
    assert rnn.tokens.token_cache_dir() == Path("~/.cache/rnn-pipeline/tokens").expanduser()


def test_a_token_file_that_does_not_fit_on_the_disk_is_refused_before_encoding(
    tmp_path: Path, corpus_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    usage = namedtuple("usage", "total used free")
    monkeypatch.setattr(shutil, "disk_usage", lambda path: usage(10**9, 10**9 - 1_000, 1_000))

    def must_not_encode(self: Vocab, text: str) -> np.ndarray:
        raise AssertionError("encoding started")

    monkeypatch.setattr(Vocab, "encode_ids", must_not_encode)
    cache = tmp_path / "cache"
    chars = len(corpus_file.read_bytes().decode("utf-8"))
    with pytest.raises(CorpusError) as info:
        load_corpus_ids(open_corpus(str(corpus_file)), cache_dir=cache, in_memory_max_bytes=0)
    message = str(info.value)
    assert f"({corpus_file.stat().st_size:,} bytes) needs a {chars:,}-byte token file" in message
    assert "has only 1,000 bytes free" in message and "RNN_TOKEN_CACHE_DIR" in message
    assert list(cache.iterdir()) == []


def test_a_corpus_that_changed_since_it_was_validated_is_not_encoded(
    tmp_path: Path, corpus_file: Path
) -> None:
    stale = CorpusSource(uri=str(corpus_file), path=str(corpus_file), known_sha256="0" * 64)
    with pytest.raises(CorpusError, match="changed since it was validated"):
        load_corpus_ids(stale, cache_dir=tmp_path / "cache", in_memory_max_bytes=0)
    with pytest.raises(CorpusError, match="changed since it was validated"):
        load_corpus_ids(stale, cache_dir=tmp_path / "cache")  # small: in memory
    assert not (tmp_path / "cache").exists() or list((tmp_path / "cache").iterdir()) == []


def test_a_corpus_that_is_not_utf8_names_the_byte_when_streamed(tmp_path: Path) -> None:
    path = tmp_path / "latin1.txt"
    path.write_bytes(("naïve text " * 2_000).encode("latin-1"))
    with pytest.raises(CorpusError) as info:
        load_corpus_ids(open_corpus(str(path)), cache_dir=tmp_path / "cache", in_memory_max_bytes=0)
    assert "is not valid UTF-8: byte 2 is 0xEF; it looks like Latin-1 / Windows-1252" in str(info.value)


def test_training_on_the_token_file_is_training_in_memory(
    tmp_path: Path, tiny_corpus: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = TrainConfig(
        corpus_uri=str(tiny_corpus),
        seq_len=16,
        batch_size=4,
        embedding_dim=8,
        hidden_size=16,
        epochs=1,
        max_steps_per_epoch=4,
        eval_chars=256,
    )
    quiet = dict(progress=False, log=lambda _: None)
    in_memory = train(config, str(tmp_path / "memory"), **quiet)
    monkeypatch.setattr(rnn.tokens, "IN_MEMORY_MAX_BYTES", 0)
    mapped = train(config, str(tmp_path / "mapped"), token_cache_dir=str(tmp_path / "cache"), **quiet)
    assert len(list((tmp_path / "cache").glob("tokens-*.bin"))) == 1
    a = torch.load(mapped.model_uri, weights_only=True)["model"]
    b = torch.load(in_memory.model_uri, weights_only=True)["model"]
    assert all(torch.equal(a[name], b[name]) for name in a)
    assert mapped.metrics["training"]["final_val_loss"] == in_memory.metrics["training"]["final_val_loss"]
    assert mapped.metrics["dataset"] == in_memory.metrics["dataset"]
    # the validation loss scored the configured sample: 4 streams x 4 windows of 16 characters
    assert mapped.metrics["training"]["val_chars"] == 256


# --- the evaluation sample --------------------------------------------------------------------------


def test_the_evaluation_sample_is_fixed_evenly_spread_and_of_the_configured_size() -> None:
    ids = (np.arange(100_000) % 251).astype(np.uint8)
    streams = evaluation_streams(ids, batch_size=4, seq_len=16, max_chars=4_096)
    assert streams.shape == (4, 1_025)
    assert evaluation_chars(streams, 16) == 4_096  # 4 streams x 64 windows x 16 characters
    starts = [0, 32_992, 65_983, 98_975]  # evenly spaced from the start to the end of the split
    assert all(np.array_equal(streams[i], ids[start : start + 1_025]) for i, start in enumerate(starts))
    assert np.array_equal(streams, evaluation_streams(ids, batch_size=4, seq_len=16, max_chars=4_096))
    # at most the configured size, in whole windows
    for max_chars in (1_000, 4_095, 10_000):
        chars = evaluation_chars(evaluation_streams(ids, batch_size=4, seq_len=16, max_chars=max_chars), 16)
        assert max_chars - 4 * 16 < chars <= max_chars
    # 0, or a budget as large as the split: the whole split, as before
    for whole in (0, 100_000):
        assert np.array_equal(
            evaluation_streams(ids, batch_size=4, seq_len=16, max_chars=whole), batchify(ids, 4)
        )


def test_eval_chars_is_a_non_negative_integer() -> None:
    assert TrainConfig().eval_chars == 524_288  # 32 streams x 128 windows x 128 characters
    with pytest.raises(ConfigError, match=r"eval_chars.*-1"):
        TrainConfig(eval_chars=-1)


def test_the_gate_score_records_the_characters_it_covers(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    text = default_corpus_text()
    vocab = Vocab.from_text(text)
    torch.manual_seed(0)
    model = CharLSTM.from_config(TrainConfig(hidden_size=16, embedding_dim=8, num_layers=1), len(vocab))
    split = evaluation_split(text, 0.1, max_chars=20_000)
    evaluation = evaluate_on(model, vocab, split)
    assert evaluation.chars == scored_chars(len(split)) == EVAL_BATCH_SIZE * 9 * 128
    assert evaluation.budget_chars == 500_000

    path = tmp_path / "corpus.txt"
    path.write_bytes((MIXED + text).encode("utf-8"))
    monkeypatch.setattr(rnn.corpus, "CHUNK_BYTES", 997)
    streamed = read_evaluation_split(CorpusSource(uri=str(path), path=str(path)), 0.1, max_chars=20_000)
    assert streamed == evaluation_split(MIXED + text, 0.1, max_chars=20_000)


@pytest.mark.parametrize("chars", [list("\nabc"), list("\nabc€")], ids=["small-table", "table-past-255"])
def test_ascii_bytes_encode_like_their_text(chars: list[str]) -> None:
    vocab = Vocab(chars)
    text = "abc\ncab\n"
    assert np.array_equal(
        vocab.ids_of_code_points(np.frombuffer(text.encode(), np.uint8)), vocab.encode_ids(text)
    )
    with pytest.raises(ValueError, match="'z'"):
        vocab.ids_of_code_points(np.frombuffer(b"abz", np.uint8))


def test_a_corpus_of_one_distinct_character_has_a_token_file_too(tmp_path: Path) -> None:
    path = tmp_path / "a.txt"
    path.write_bytes(b"a" * 1_000)
    found = load_corpus_ids(open_corpus(str(path)), cache_dir=tmp_path / "cache", in_memory_max_bytes=0)
    assert found.vocab.chars == ["a"] and found.ids.dtype == np.uint8
    assert len(found.ids) == 1_000 and not found.ids.any()
