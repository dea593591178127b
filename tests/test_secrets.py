"""The tracked tree holds no secret and no default password (what `git ls-files` would publish).

Two nets: Yelp's detect-secrets with its default plugins (keys, tokens, high-entropy strings,
password assignments), allowing only the placeholders listed below; and the default credentials
this project used to ship or that its services are known for, wherever they appear.
"""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
BINARY_SUFFIXES = (".png", ".jpg", ".whl", ".gz", ".pt")

# What detect-secrets flags but is no secret: (value, why it is allowed).
ALLOWED = {
    "testing": "moto's documented fake AWS credentials, used by tests against 127.0.0.1",
    "aws": "the name of a secrets backend (devtools.production --secrets-backend aws)",
    "airflow/connections": "the Secrets Manager prefix of Airflow connections",
}
# detect-secrets' inline allowlist, honoured here too: for a test that tries a default login on purpose.
ALLOWLIST_PRAGMA = "pragma: allowlist secret"
# Default or well-known credentials, as they would appear in compose files, env files, URLs or JSON.
DEFAULT_CREDENTIALS = {
    "admin/admin login": re.compile(r"\badmin\s*/\s*admin\b"),
    '{"admin": "admin"} passwords file': re.compile(r"""["']admin["']\s*:\s*["']admin["']"""),
    "user = password in a URL": re.compile(r"://(\w+):\1@"),
    "MinIO's example secret": re.compile(r"minio-?secret|minioadmin"),
    "MLflow's old default admin password": re.compile(r"password1234"),
    "a literal password in compose or env style (NAME_PASSWORD: value)": re.compile(
        r"\b[A-Z0-9_]*(PASSWORD|SECRET_KEY|FERNET_KEY|JWT_SECRET|SECRET_ACCESS_KEY)[A-Z0-9_]*[\"']?\s*[:=]\s*"
        r"(?![\"']?(\$|testing\b))[\"']?[A-Za-z0-9+/_-]{4,}[\"']?\s*(,|#|$)"
    ),
    "a literal password as a JSON value": re.compile(
        r"""["']password["']\s*:\s*["'](?!testing["'])[^"'$]{3,}["']"""
    ),
}


def tracked_text_files() -> list[str]:
    listed = subprocess.run(["git", "ls-files"], cwd=REPO, capture_output=True, text=True, check=True)
    return [
        name
        for name in listed.stdout.splitlines()
        if not name.endswith(BINARY_SUFFIXES) and (REPO / name).is_file()
    ]


def recorded_snapshots() -> set[str]:
    """The shipped pricing snapshots built by ``python -m costing record`` from a recording's tables.

    tests/costing/pricing/test_recording.py rebuilds each from its recording and compares them file for
    file, so a secret could only enter one through its recording (scanned here) or the code (scanned):
    the secret scan reads the recordings, not the 6 MB of documents built from them.
    """
    return {
        json.loads(path.read_text())["snapshot_id"]
        for path in (REPO / "include" / "pricing" / "recorded").glob("*/recording.json")
    }


def scanned_files() -> list[str]:
    rebuilt = tuple(f"include/pricing/snapshots/{snapshot}/" for snapshot in recorded_snapshots())
    return [name for name in tracked_text_files() if not name.startswith(rebuilt)]


def test_no_file_of_generated_secrets_is_tracked() -> None:
    names = {Path(name).name for name in tracked_text_files()}
    assert not names & {".env", "secrets.env", "passwords.json", "mlflow-auth.ini"}
    ignored = subprocess.run(
        ["git", "check-ignore", ".local/prod/secrets.env", ".env"], cwd=REPO, capture_output=True, text=True
    )
    assert set(ignored.stdout.split()) == {".local/prod/secrets.env", ".env"}


def test_detect_secrets_finds_nothing_but_placeholders() -> None:
    from detect_secrets import SecretsCollection
    from detect_secrets.settings import default_settings

    collection = SecretsCollection(root=str(REPO))
    with default_settings():
        # One file at a time, in this process: `scan_files` forks a multiprocessing pool, and a fork
        # of a pytest process that already runs other tests' threads can deadlock (it hung CI once).
        for name in scanned_files():
            collection.scan_file(name)
    found = []
    for filename, secret in collection:
        line = (REPO / filename).read_text(errors="replace").splitlines()[secret.line_number - 1]
        if secret.secret_value in ALLOWED:
            continue
        if secret.type == "Hex High Entropy String" and '"sha256"' in line:
            continue  # a dataset checksum in reference metrics
        if secret.type == "Hex High Entropy String" and '"git_commit"' in line:
            continue  # the commit the reference metrics were measured at
        found.append(f"{filename}:{secret.line_number} {secret.type}: {line.strip()[:120]}")
    assert found == []


@pytest.mark.parametrize("what", sorted(DEFAULT_CREDENTIALS))
def test_no_default_credentials_anywhere(what: str) -> None:
    pattern = DEFAULT_CREDENTIALS[what]
    hits = []
    for name in tracked_text_files():
        if name == "tests/test_secrets.py":
            continue  # the patterns themselves
        for number, line in enumerate((REPO / name).read_text(errors="replace").splitlines(), 1):
            if pattern.search(line) and ALLOWLIST_PRAGMA not in line:
                hits.append(f"{name}:{number}: {line.strip()[:120]}")
    assert hits == []
