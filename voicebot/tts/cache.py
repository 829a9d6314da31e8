"""Cache of synthesized sentences: memory (LRU) in front of a folder of .npy files.

Keys are the SHA-256 of (voice, rate, settings, text), so a changed voice or rate never
serves stale audio. Fixed prompts (greeting, menus, reprompts) are synthesized once per
machine; the disk copy survives restarts.
"""

from __future__ import annotations

import hashlib
import logging
import os
import threading
from collections import OrderedDict
from pathlib import Path

import numpy as np
import numpy.typing as npt

log = logging.getLogger(__name__)

Int16Array = npt.NDArray[np.int16]


def cache_key(text: str, voice: str, rate: int, variant: str = "") -> str:
    """Stable hex key for a sentence rendered by ``voice`` at ``rate`` Hz."""
    raw = "\x1f".join((voice, str(rate), variant, text))
    return hashlib.sha256(raw.encode("utf-8")).hexdigest()


class AudioCache:
    """Thread-safe two-level cache of int16 audio.

    Attributes:
        folder: where the .npy files go (None = memory only).
        max_items: entries kept in memory.
        hits, misses: counters for benchmarks and tests.
    """

    def __init__(self, folder: Path | None, max_items: int = 512) -> None:
        self.folder = folder
        self.max_items = max_items
        self._mem: OrderedDict[str, Int16Array] = OrderedDict()
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0

    def get(self, key: str) -> Int16Array | None:
        with self._lock:
            pcm = self._mem.get(key)
            if pcm is not None:
                self._mem.move_to_end(key)
                self.hits += 1
                return pcm
        if self.folder is not None:
            path = self.folder / f"{key}.npy"
            try:
                loaded = np.load(path, allow_pickle=False)
            except (OSError, ValueError):
                loaded = None
            if loaded is not None and loaded.dtype == np.int16 and loaded.ndim == 1:
                self._remember(key, loaded)
                with self._lock:
                    self.hits += 1
                return loaded
        with self._lock:
            self.misses += 1
        return None

    def put(self, key: str, pcm: Int16Array) -> None:
        self._remember(key, pcm)
        if self.folder is None:
            return
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            tmp = self.folder / f".{key}.{os.getpid()}.{threading.get_ident()}.npy"
            np.save(tmp, pcm, allow_pickle=False)
            os.replace(tmp, self.folder / f"{key}.npy")
        except OSError as exc:  # a full disk must not stop the bot from talking
            log.warning("TTS cache write failed in %s: %s", self.folder, exc)

    def _remember(self, key: str, pcm: Int16Array) -> None:
        pcm.setflags(write=False)
        with self._lock:
            self._mem[key] = pcm
            self._mem.move_to_end(key)
            while len(self._mem) > self.max_items:
                self._mem.popitem(last=False)

    def __len__(self) -> int:
        return len(self._mem)
