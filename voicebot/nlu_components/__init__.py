"""Custom Rasa 3.6 graph components used by voicebot's NLU pipeline.

Use them in a pipeline by their full module path, e.g.
``- name: voicebot.nlu_components.MiniLMFeaturizer``. Importing this package registers them.
"""

from voicebot.nlu_components.classifier import LinearIntentClassifier
from voicebot.nlu_components.featurizer import MiniLMFeaturizer

__all__ = ["LinearIntentClassifier", "MiniLMFeaturizer"]
