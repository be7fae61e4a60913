"""The example graph's steps: plain classes, as a data scientist writes them."""

from __future__ import annotations

import logging
from typing import Any

SPAM_WORDS = {"free", "winner", "prize", "cash", "urgent"}
TRUSTED = {"alice@example.com", "bob@example.com"}


class SpamScorer:
    """Scores a message's text; the methods run in the order the graph lists them."""

    def __init__(self, threshold: float, logger: logging.Logger) -> None:
        self.threshold = threshold
        self.logger = logger

    def preprocess(self, message: dict[str, Any]) -> dict[str, Any]:
        words = str(message["text"]).lower().split()
        return {**message, "words": words, "trace": [*message.get("trace", []), "preprocess"]}

    def predict(self, context: Any, message: dict[str, Any]) -> dict[str, Any]:
        # the seed's (context, message) form: context.logger is the step's logger
        words = message.pop("words")
        score = sum(word.strip(".,!") in SPAM_WORDS for word in words) / max(len(words), 1)
        context.logger.debug("scored %s: %.2f", message["PartitionKey"], score)
        return {**message, "score": round(score, 3), "trace": [*message["trace"], "predict"]}

    def postprocess(self, message: dict[str, Any]) -> dict[str, Any]:
        label = "spam" if message["score"] >= self.threshold else "ham"
        return {**message, "label": label, "trace": [*message["trace"], "postprocess"]}


class SenderLookup:
    """Adds what is known about the sender."""

    def lookup(self, message: dict[str, Any]) -> dict[str, Any]:
        trusted = message.get("sender") in TRUSTED
        return {"PartitionKey": message["PartitionKey"], "trusted_sender": trusted}
