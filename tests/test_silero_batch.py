"""Silero runs batched over the calls of one event loop give the calls exactly what one run
per frame gives them: the same scores (bit for bit), the same segment events and audio.

Real components: the Silero ONNX model of the silero-vad package and recordings from
tests/audio through a G.711 µ-law round trip, fed in 20 ms frames as the SIP line does, by
several concurrent tasks (the calls of a worker) starting at different offsets."""

from __future__ import annotations

import asyncio
from pathlib import Path

import numpy as np
import soundfile as sf

from voicebot.audio import codecs
from voicebot.audio.scorers import SileroScorer
from voicebot.audio.silero_batch import batcher_for
from voicebot.audio.vad import SpeechChunk, SpeechDetector, VadConfig

AUDIO = Path(__file__).resolve().parent / "audio"
RECORDINGS = ["hours_us_male/01.wav", "silence_then_request/02.wav"]


def call_stream(index: int) -> np.ndarray:
    """A call: silence (a different length per call), speech, pause, speech, silence."""
    rng = np.random.default_rng(index)
    parts: list[np.ndarray] = [np.zeros(160 * (7 * index + 3), np.int16)]
    for name in RECORDINGS:
        speech, rate = sf.read(str(AUDIO / name), dtype="int16")
        assert rate == 8000
        parts += [speech, np.zeros(8000, np.int16)]
    x = np.concatenate(parts).astype(np.float64) + rng.standard_normal(sum(map(len, parts))) * 3
    pcm = np.clip(np.rint(x), -32768, 32767).astype(np.int16)
    pcm = codecs.ulaw_decode(codecs.ulaw_encode(pcm))
    return pcm[: len(pcm) // 160 * 160]


def summary(outputs: list) -> list:
    """Events as values, chunks as (time, bytes): comparable across runs."""
    return [(o.time_s, o.samples.tobytes()) if isinstance(o, SpeechChunk) else o for o in outputs]


def test_batched_calls_get_the_same_scores_and_events_as_single_runs() -> None:
    config = VadConfig(scorer="silero")
    streams = [call_stream(i) for i in range(4)]
    expected = []
    for stream in streams:
        det = SpeechDetector(config, 8000, SileroScorer(8000))
        outs = [o for f in stream.reshape(-1, 160) for o in det.feed(f)] + det.flush()
        expected.append((list(det.scores), summary(outs)))
    assert all(any(o for o in e[1] if not isinstance(o, tuple)) for e in expected)

    clock = [0]  # media clock ticks so far (one 20 ms frame per call each)

    async def call(stream: np.ndarray, done: list) -> None:
        det = SpeechDetector(config, 8000, SileroScorer(8000))
        outs = []
        for frame in stream.reshape(-1, 160):
            outs += await det.feed_async(frame)
            tick = clock[0]
            while clock[0] == tick:  # the next tick, as the line gives frames
                await asyncio.sleep(0)
        done.append((list(det.scores), summary(outs + det.flush())))

    async def worker() -> list:
        results: list[list] = [[] for _ in streams]
        tasks = [asyncio.create_task(call(s, r)) for s, r in zip(streams, results, strict=True)]
        while not all(t.done() for t in tasks):
            clock[0] += 1
            for _ in range(12):  # every call takes its frame (batched runs included)
                await asyncio.sleep(0)
        await asyncio.gather(*tasks)
        return [r[0] for r in results]

    batcher = batcher_for(SileroScorer(8000)._session)
    runs, frames = batcher.runs, batcher.frames
    got = asyncio.run(worker())
    assert batcher.frames - frames == sum(len(e[0]) for e in expected)
    assert (batcher.frames - frames) / (batcher.runs - runs) > 3.0  # really batched
    for mine, theirs in zip(got, expected, strict=True):
        assert mine[0] == theirs[0]  # every score, bit for bit
        assert mine[1] == theirs[1]  # events and segment audio


def test_a_failing_model_run_fails_every_request_of_the_batch() -> None:
    scorer = SileroScorer(8000)

    class Broken:
        def run(self, *args: object, **kwargs: object) -> None:
            raise RuntimeError("model run failed")

    scorer._session = Broken()
    others = [SileroScorer(8000) for _ in range(2)]
    for other in others:
        other._session = scorer._session

    async def main() -> list:
        frame = np.zeros(256, np.int16)
        return await asyncio.gather(
            *(s.score_async(frame) for s in [scorer, *others]), return_exceptions=True
        )

    results = asyncio.run(main())
    assert [str(r) for r in results] == ["model run failed"] * 3
