"""Where the pipeline keeps its snapshots: seeded from include/, and a newer shipped snapshot is added."""

from __future__ import annotations

import shutil
from pathlib import Path

from costing.pricing import latest_snapshot_dir, list_snapshot_ids
from pipeline.price_store import newest_snapshot_dir, seed_pricing_root
from pipeline.settings import SHIPPED_PRICING_ROOT, load_settings


def test_an_empty_root_is_seeded_and_an_older_release_root_gets_the_newer_snapshot(
    pipeline_home: Path,
) -> None:
    settings = load_settings()
    newest = latest_snapshot_dir(SHIPPED_PRICING_ROOT)
    seed_pricing_root(settings)
    assert list_snapshot_ids(settings.pricing_root) == [newest.name]

    # a root seeded by an older release holds only an older snapshot: the newer shipped one is added
    shutil.rmtree(settings.pricing_root)
    Path(settings.pricing_root).mkdir(parents=True)
    shutil.copytree(SHIPPED_PRICING_ROOT / "2025-06-02", Path(settings.pricing_root) / "2025-06-02")
    assert newest_snapshot_dir(settings).name == newest.name
    assert list_snapshot_ids(settings.pricing_root) == ["2025-06-02", newest.name]
    seed_pricing_root(settings)  # nothing newer to add: nothing changes
    assert list_snapshot_ids(settings.pricing_root) == ["2025-06-02", newest.name]
