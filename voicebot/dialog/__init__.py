"""The bridge to Rasa: a caller turn in, bot utterances or a hand-off out."""
