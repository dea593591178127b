"""Recordings: each shipped snapshot is reproduced byte for byte from its recording; the default one is the newest."""

from __future__ import annotations

import json

import pytest

from costing.pricing.defaults import DEFAULT_SNAPSHOT_ROOT
from costing.pricing.snapshot import latest_snapshot_dir

# (recording folder, the snapshot it builds): every shipped recording (tests/test_secrets.py relies on it:
# the secret scan reads the recordings, not the snapshots rebuilt from them)
RECORDINGS = [
    ("2025-06", "2025-06-01"),
    ("2025-06-02", "2025-06-02"),
    ("2026-12-01", "2026-12-01"),
    ("2026-12-02", "2026-12-02"),
    ("2026-12-03", "2026-12-03"),
    ("2026-12-04", "2026-12-04"),
    ("2026-12-07", "2026-12-07"),
]


def test_every_recording_is_rebuilt_below():
    from costing.pricing.recording import RECORDINGS_ROOT

    shipped = {
        (path.parent.name, json.loads(path.read_text())["snapshot_id"])
        for path in RECORDINGS_ROOT.glob("*/recording.json")
    }
    assert shipped == set(RECORDINGS)


@pytest.mark.parametrize(("recording", "snapshot_id"), RECORDINGS)
def test_shipped_snapshots_are_reproduced_by_their_recordings(tmp_path, recording, snapshot_id):
    from costing.pricing.recording import RECORDINGS_ROOT, record_snapshot

    shipped = DEFAULT_SNAPSHOT_ROOT / snapshot_id
    written = record_snapshot(RECORDINGS_ROOT / recording, root=tmp_path)
    assert written.name == snapshot_id
    shipped_files = sorted(p.relative_to(shipped) for p in shipped.rglob("*") if p.is_file())
    written_files = sorted(p.relative_to(written) for p in written.rglob("*") if p.is_file())
    assert written_files == shipped_files
    for relative in shipped_files:
        assert (written / relative).read_bytes() == (shipped / relative).read_bytes(), relative


def test_default_recording_is_the_newest_shipped_snapshot():
    from costing.pricing.recording import DEFAULT_RECORDING_DIR

    assert (
        json.loads((DEFAULT_RECORDING_DIR / "recording.json").read_text())["snapshot_id"]
        == latest_snapshot_dir().name
    )


def test_derived_rates_are_labelled_in_the_provenance():
    from costing.pricing.snapshot import load_snapshot

    snapshot = load_snapshot(latest_snapshot_dir())
    derived = {entry["what"]: entry for entry in snapshot.provenance.derived}
    assert set(derived) == {"ec2.reserved", "ec2.savings_plan"}
    assert derived["ec2.reserved"]["regions"] == ["eu-west-1", "us-east-1"]
    assert "us-east-1 r6i.xlarge 1yr/standard/No Upfront" in derived["ec2.reserved"]["except"]  # recorded
    assert snapshot.is_derived("ec2.reserved", "us-east-1", "r6i.xlarge 3yr/standard/No Upfront")
    assert not snapshot.is_derived("ec2.reserved", "us-east-1", "r6i.xlarge 1yr/standard/No Upfront")
    notes = " ".join(snapshot.provenance.notes)
    assert "DERIVED, not AWS's record" in notes and "Public IPv4" in notes
