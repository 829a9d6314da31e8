"""Retention: call records and recordings older than ``records.retention_days`` go.

Run by the dashboard at start and every hour, and by each process that writes records
(at most hourly, from the recorder's writer thread), so records do not pile up when no
dashboard runs. Calls a crash left "live" are closed with the outcome ``error`` first.
"""

from __future__ import annotations

import logging
from datetime import timedelta
from pathlib import Path

from voicebot.records.store import RecordsConfig, RecordStore, utcnow

log = logging.getLogger(__name__)


def run_retention(store: RecordStore, cfg: RecordsConfig) -> tuple[int, int]:
    """Close stale calls and delete old records and their recording files.
    Returns (calls deleted, files deleted)."""
    stale = store.close_stale(cfg.stale_after_s)
    if stale:
        log.warning("call records: %d call(s) cut off mid-call closed as errors", stale)
    if cfg.retention_days <= 0:
        return 0, 0
    cutoff = utcnow() - timedelta(days=cfg.retention_days)
    paths = store.delete_before(cutoff)
    from voicebot.records.acd import delete_stays_before  # the ACD's queue stays go too

    delete_stays_before(store, cutoff)
    files = 0
    for path in paths:
        if not path:
            continue
        try:
            Path(path).unlink()
            files += 1
        except FileNotFoundError:
            pass
        except OSError as exc:
            log.error("call records: cannot delete recording %s: %s", path, exc)
    return len(paths), files
