"""Reading a corpus: compressed files, and what a failure says when the storage behind it fails.

Local files, a local HTTP server (and an https:// URL pointed at it, for a TLS failure), a closed
port, and moto's S3 on loopback, with and without credentials.
"""

from __future__ import annotations

import bz2
import functools
import gzip
import lzma
import re
import threading
from collections.abc import Iterator
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from aws_fakes import running_moto_server
from helpers import free_port

from rnn.corpus import CorpusError, compression_of, decode_utf8, default_corpus_text, read_corpus_bytes
from rnn.corpus_validation import validate_corpus

TEXT = default_corpus_text()[:40_000]


@pytest.mark.parametrize(
    "compress,kind",
    [(gzip.compress, "gzip"), (bz2.compress, "bz2"), (lzma.compress, "xz")],
)
def test_compressed_corpora_are_read_as_their_text(tmp_path: Path, compress, kind: str) -> None:
    path = tmp_path / "corpus.txt"  # the name says nothing: the first bytes do
    path.write_bytes(compress(TEXT.encode("utf-8")))
    assert compression_of(path.read_bytes()) == kind
    data = read_corpus_bytes(str(path))
    assert data == TEXT.encode("utf-8")
    assert validate_corpus(data).success  # validated after decompression


def test_plain_text_is_not_mistaken_for_bzip2(tmp_path: Path) -> None:
    path = tmp_path / "bzh.txt"
    path.write_text("BZh9 is how a bzip2 file starts; this one is text.\n" + TEXT)
    assert compression_of(path.read_bytes()) is None
    assert read_corpus_bytes(str(path)).startswith(b"BZh9 is how")


def test_truncated_gzip_says_so(tmp_path: Path) -> None:
    path = tmp_path / "corpus.txt.gz"
    path.write_bytes(gzip.compress(TEXT.encode("utf-8"))[:-100])
    with pytest.raises(CorpusError, match=r"is gzip-compressed \(it starts with 1f 8b .*truncated") as info:
        read_corpus_bytes(str(path))
    assert not info.value.transient


def test_a_utf8_error_names_the_byte_and_what_the_file_looks_like() -> None:
    with pytest.raises(CorpusError) as info:
        decode_utf8("\ufeffhello".encode("utf-16"), "c.txt")
    assert "byte 0 is 0xFF; the file starts with a UTF-16 byte order mark" in str(info.value)
    with pytest.raises(CorpusError) as info:
        decode_utf8(("naïve text " * 100).encode("latin-1"), "c.txt")
    assert "byte 2 is 0xEF; it looks like Latin-1 / Windows-1252 text (that byte is 'ï' there)" in str(
        info.value
    )


def test_missing_local_file_is_not_found_and_not_transient() -> None:
    with pytest.raises(CorpusError, match=re.escape("corpus not found: '/no/such/corpus.txt'")) as info:
        read_corpus_bytes("/no/such/corpus.txt")
    assert not info.value.transient


# -- http(s) ------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def http_root(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    root = tmp_path_factory.mktemp("served")
    (root / "corpus.txt").write_text(TEXT, encoding="utf-8")

    class Quiet(SimpleHTTPRequestHandler):
        def log_message(self, *args) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(Quiet, directory=str(root)))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"127.0.0.1:{server.server_address[1]}", root
    finally:
        server.shutdown()


@pytest.mark.integration
def test_http_corpus_is_read(http_root) -> None:
    host, _ = http_root
    assert read_corpus_bytes(f"http://{host}/corpus.txt") == TEXT.encode("utf-8")


@pytest.mark.integration
def test_http_404_is_not_found(http_root) -> None:
    host, _ = http_root
    with pytest.raises(CorpusError, match="corpus not found") as info:
        read_corpus_bytes(f"http://{host}/missing.txt")
    assert not info.value.transient


def test_refused_connection_is_could_not_reach_and_transient() -> None:
    uri = f"http://127.0.0.1:{free_port()}/corpus.txt"
    with pytest.raises(CorpusError) as info:
        read_corpus_bytes(uri)
    assert f"could not reach {uri}" in str(info.value) and "not found" not in str(info.value)
    assert info.value.transient


@pytest.mark.integration
def test_tls_failure_is_could_not_reach_and_transient(http_root) -> None:
    host, _ = http_root
    uri = f"https://{host}/corpus.txt"  # a plain-HTTP server: the TLS handshake fails
    with pytest.raises(CorpusError) as info:
        read_corpus_bytes(uri)
    assert f"could not reach {uri}: the TLS handshake failed" in str(info.value)
    assert info.value.transient


# -- s3 (moto server) ---------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def moto_endpoint() -> Iterator[str]:
    import boto3

    with running_moto_server() as endpoint:
        s3 = boto3.client(
            "s3",
            endpoint_url=endpoint,
            region_name="us-east-1",
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
        )
        s3.create_bucket(Bucket="corpora")
        s3.put_object(Bucket="corpora", Key="tiny.txt.gz", Body=gzip.compress(TEXT.encode("utf-8")))
        yield endpoint


@pytest.fixture
def s3_env(moto_endpoint: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> pytest.MonkeyPatch:
    import s3fs

    monkeypatch.setenv("AWS_ENDPOINT_URL", moto_endpoint)
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "1")
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-credentials"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-config"))
    s3fs.S3FileSystem.clear_instance_cache()
    yield monkeypatch
    s3fs.S3FileSystem.clear_instance_cache()


@pytest.mark.integration
def test_s3_corpus_is_read_and_decompressed(s3_env) -> None:
    assert read_corpus_bytes("s3://corpora/tiny.txt.gz") == TEXT.encode("utf-8")


@pytest.mark.integration
def test_s3_missing_key_is_not_found(s3_env) -> None:
    with pytest.raises(CorpusError, match=re.escape("corpus not found: 's3://corpora/nope.txt'")) as info:
        read_corpus_bytes("s3://corpora/nope.txt")
    assert not info.value.transient


@pytest.mark.integration
def test_s3_without_credentials_is_one_line_and_not_transient(s3_env) -> None:
    s3_env.delenv("AWS_ACCESS_KEY_ID")
    s3_env.delenv("AWS_SECRET_ACCESS_KEY")
    with pytest.raises(CorpusError) as info:
        read_corpus_bytes("s3://corpora/tiny.txt.gz")
    message = str(info.value)
    assert "\n" not in message
    assert "cannot read s3://corpora/tiny.txt.gz: no AWS credentials found" in message
    assert "AWS_ACCESS_KEY_ID" in message
    assert not info.value.transient


@pytest.mark.integration
def test_s3_endpoint_down_is_transient(s3_env) -> None:
    s3_env.setenv("AWS_ENDPOINT_URL", f"http://127.0.0.1:{free_port()}")
    with pytest.raises(CorpusError, match=re.escape("could not reach s3://corpora/tiny.txt.gz")) as info:
        read_corpus_bytes("s3://corpora/tiny.txt.gz")
    assert info.value.transient
