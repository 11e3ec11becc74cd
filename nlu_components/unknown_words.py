"""Predict ``nlu_fallback`` for messages made only of words never seen in training.

DIET gives confident intents to gibberish ("zxqw vbnm" came out as `setuju`
with 0.73), because a message with no known feature still lands near some
intent. A message in which not one word was ever seen in the training data,
the region names or the category lexicon cannot have been understood, so it
becomes ``nlu_fallback`` and the bot asks to rephrase (twice: a person takes
over). Runs after the FallbackClassifier.
"""

from __future__ import annotations

import json
import logging
import re
from typing import Any, Optional

from rasa.engine.graph import ExecutionContext, GraphComponent
from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.engine.storage.resource import Resource
from rasa.engine.storage.storage import ModelStorage
from rasa.nlu.classifiers.classifier import IntentClassifier
from rasa.shared.nlu.constants import (
    INTENT,
    INTENT_NAME_KEY,
    INTENT_RANKING_KEY,
    PREDICTED_CONFIDENCE_KEY,
    TEXT,
)
from rasa.shared.nlu.training_data.message import Message
from rasa.shared.nlu.training_data.training_data import TrainingData

logger = logging.getLogger(__name__)

FALLBACK = "nlu_fallback"
_WORD = re.compile(r"[a-z]+")
_VOCAB_FILE = "vocabulary.json"


def words(text: str) -> list[str]:
    """Lower-case alphabetic words (digits and emoji carry no vocabulary)."""
    return _WORD.findall((text or "").lower())


def _project_words() -> set[str]:
    """Region names and the category lexicon: known words even if not in NLU data."""
    known: set[str] = set()
    try:
        from lapor import wilayah

        for kecamatan in wilayah.all_kecamatan():
            known.update(words(kecamatan.name))
            for desa in wilayah.desa_in(kecamatan.code):
                known.update(words(desa.name))
    except Exception:  # pragma: no cover - the gazetteer is optional here
        logger.warning("region names not added to the known vocabulary")
    try:
        import yaml

        from lapor.routing import table_path

        known.update(words(json.dumps(yaml.safe_load(table_path().read_text()))))
    except Exception:  # pragma: no cover
        logger.warning("routing keywords not added to the known vocabulary")
    return known


@DefaultV1Recipe.register(
    DefaultV1Recipe.ComponentType.INTENT_CLASSIFIER, is_trainable=True
)
class UnknownWordsFallback(GraphComponent, IntentClassifier):
    """Sets ``nlu_fallback`` when none of a message's words is known."""

    @staticmethod
    def get_default_config() -> dict[str, Any]:
        return {"min_known_words": 1}

    def __init__(
        self,
        config: dict[str, Any],
        model_storage: ModelStorage,
        resource: Resource,
        vocabulary: Optional[set[str]] = None,
    ) -> None:
        self.config = config
        self._model_storage = model_storage
        self._resource = resource
        self.vocabulary = vocabulary or set()

    @classmethod
    def create(
        cls,
        config: dict[str, Any],
        model_storage: ModelStorage,
        resource: Resource,
        execution_context: ExecutionContext,
    ) -> UnknownWordsFallback:
        return cls(config, model_storage, resource)

    def train(self, training_data: TrainingData) -> Resource:
        vocabulary = _project_words()
        for example in training_data.training_examples:
            vocabulary.update(words(example.get(TEXT) or ""))
        self.vocabulary = vocabulary
        with self._model_storage.write_to(self._resource) as directory:
            (directory / _VOCAB_FILE).write_text(json.dumps(sorted(vocabulary)))
        return self._resource

    @classmethod
    def load(
        cls,
        config: dict[str, Any],
        model_storage: ModelStorage,
        resource: Resource,
        execution_context: ExecutionContext,
        **kwargs: Any,
    ) -> UnknownWordsFallback:
        try:
            with model_storage.read_from(resource) as directory:
                vocabulary = set(json.loads((directory / _VOCAB_FILE).read_text()))
        except (ValueError, FileNotFoundError):
            vocabulary = set()
        return cls(config, model_storage, resource, vocabulary)

    def process(self, messages: list[Message]) -> list[Message]:
        if not self.vocabulary:
            return messages
        for message in messages:
            tokens = words(message.get(TEXT) or "")
            if not tokens:
                continue
            known = sum(1 for token in tokens if token in self.vocabulary)
            if known >= self.config["min_known_words"]:
                continue
            intent = message.get(INTENT) or {}
            if intent.get(INTENT_NAME_KEY) == FALLBACK:
                continue
            fallback = {INTENT_NAME_KEY: FALLBACK, PREDICTED_CONFIDENCE_KEY: 1.0}
            message.set(INTENT, fallback, add_to_output=True)
            ranking = message.get(INTENT_RANKING_KEY) or []
            message.set(INTENT_RANKING_KEY, [fallback] + ranking, add_to_output=True)
        return messages
