"""Audio in and out of the phone line: G.711 codecs, resampling, WAV/raw file reading and
writing, and voice-activity detection with endpointing.

Modules:
    codecs     G.711 µ-law / A-law <-> PCM16 (bit-exact with the ITU tables), PCM16 bytes
    resample   rate conversion (8000 / 16000 / 22050 / any Hz), int16 <-> float32
    wavio      load what phones and QA have (WAV of any kind, raw G.711), write WAV
    segmenter  a pure speech segmenter: per-frame speech scores in, SpeechStarted/Ended out
    scorers    per-frame speech scores: adaptive energy, or the Silero VAD ONNX model
    vad        VadConfig and SpeechDetector: PCM in, segment events and segment audio out
    vad_eval   measures the segmenter on the shared eval speech mixed with noise (a script)
"""
