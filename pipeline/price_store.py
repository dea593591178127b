"""Where the pipeline keeps its pricing snapshots, and what the last refresh said.

Snapshots live under ``settings.pricing_root`` (a folder by default, ``s3://...`` in production).
The first use seeds it with the newest snapshot shipped in ``include/pricing/snapshots`` (and a
newer release's shipped snapshot is added when the root has nothing as new), so there is always a
last good snapshot to fall back to. ``pricing_refresh`` (``pipeline.tasks.pricing``)
records its outcome in ``<pricing_root>/.refresh-status.json``; the analyses and the report read it.
"""

from __future__ import annotations

import json
import logging
import shutil
import tempfile
from pathlib import Path
from typing import Any

from costing.pricing import (
    download_snapshot,
    is_remote,
    latest_snapshot_dir,
    list_snapshot_ids,
    publish_snapshot,
)
from pipeline.settings import SHIPPED_PRICING_ROOT, Settings, load_settings
from toolkit import storage

log = logging.getLogger(__name__)

STATUS_FILE = ".refresh-status.json"


def seed_pricing_root(settings: Settings | None = None) -> None:
    """Copy the newest shipped snapshot into the pricing root when the root has nothing as new (an empty
    root, or one seeded by an older release); snapshots are immutable: never overwrite."""
    settings = settings or load_settings()
    shipped = latest_snapshot_dir(SHIPPED_PRICING_ROOT)
    present = list_snapshot_ids(settings.pricing_root)
    if present and present[-1] >= shipped.name:
        return
    if is_remote(settings.pricing_root):
        publish_snapshot(shipped, settings.pricing_root)
    else:
        target = Path(settings.pricing_root, shipped.name)
        target.parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=f".{shipped.name}.", dir=target.parent))
        shutil.copytree(shipped, staging, dirs_exist_ok=True)
        staging.rename(target)
    log.info("seeded %s with the shipped snapshot %s", settings.pricing_root, shipped.name)


def local_snapshot_dir(settings: Settings, snapshot_id: str) -> Path:
    """The folder of snapshot ``snapshot_id`` under the pricing root (downloaded once when it is remote)."""
    if is_remote(settings.pricing_root):
        return download_snapshot(settings.pricing_root, snapshot_id, settings.home / "cache" / "pricing")
    return Path(settings.pricing_root, snapshot_id)


def newest_snapshot_dir(settings: Settings | None = None) -> Path:
    """A local folder holding the newest snapshot of the pricing root (seeded first if empty)."""
    settings = settings or load_settings()
    seed_pricing_root(settings)
    return local_snapshot_dir(settings, list_snapshot_ids(settings.pricing_root)[-1])


def refresh_status(settings: Settings | None = None) -> dict[str, Any] | None:
    """What the last refresh said (fresh/stale, kept snapshot, age, reason), or None before the first."""
    settings = settings or load_settings()
    uri = storage.join(settings.pricing_root, STATUS_FILE)
    if not storage.exists(uri):
        return None
    return json.loads(storage.read_bytes(uri))
