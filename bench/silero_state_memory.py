#!/usr/bin/env python3
"""Does Silero's recurrent state forget? Why the quiet gate cannot be exact.

The quiet gate (``vad.silero_quiet_dbfs``) skips the model on line silence, so the model's
state after a skipped stretch differs from the state the model would have made. If the state
forgot its past (two different states, fed the same frames, becoming equal), the gate could
catch up by running the last few skipped frames before the next loud one and give exactly
the scores of the ungated model. This runs two copies of the model on the same frames: one
from the state left by a real utterance (tests/audio/hours_us_male/01.wav), one from a fresh
state, and prints how far apart their states and scores still are after 1, 10, 100 and 400
frames (32 ms each) of digital silence, of -65 dBFS noise and of -50 dBFS noise.

Usage: ``.venv/bin/python bench/silero_state_memory.py``; writes
``bench/results/silero_state_memory.json``.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np
import soundfile as sf

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from voicebot.audio.scorers import SileroScorer  # noqa: E402

MARKS = (1, 10, 100, 400)


def main() -> int:
    speech, rate = sf.read(str(ROOT / "tests/audio/hours_us_male/01.wav"), dtype="int16")
    rng = np.random.default_rng(0)
    inputs: dict[str, Callable[[], np.ndarray]] = {
        "digital_silence": lambda: np.zeros(256, np.int16),
        "noise_-65dBFS": lambda: rng.normal(0, 18, 256).astype(np.int16),
        "noise_-50dBFS": lambda: rng.normal(0, 100, 256).astype(np.int16),
    }
    rows = {}
    for name, make in inputs.items():
        after_speech, fresh = SileroScorer(rate), SileroScorer(rate)
        for i in range(0, len(speech) - 256, 256):
            after_speech.score(speech[i : i + 256])
        row = {}
        for k in range(1, max(MARKS) + 1):
            frame = make()
            a, b = after_speech.score(frame), fresh.score(frame)
            if k in MARKS:
                gap = float(np.abs(after_speech._state - fresh._state).max())
                row[str(k)] = {"state_max_abs_diff": round(gap, 4), "scores": [a, b]}
        rows[name] = row
        print(name, json.dumps(row), flush=True)
    out = {
        "what": __doc__.splitlines()[0],
        "frames_after": "state distance after N frames of the input (32 ms each)",
        "rows": rows,
        "states_equal_ever": any(
            r[str(m)]["state_max_abs_diff"] == 0.0 for r in rows.values() for m in MARKS
        ),
    }
    path = ROOT / "bench" / "results" / "silero_state_memory.json"
    path.write_text(json.dumps(out, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
