"""Relation extraction by the fine-tuned language model: a LoRA adapter of kind "extractor" turns each chunk into
JSON facts (see :mod:`.lora_prompt`); spaCy still finds the entity mentions.

The model reads each chunk a few sentences at a time (``passage_windows``: the passage length it was trained on).
Each fact's head and tail must be found in that window (case-insensitively): a name the model made up is dropped,
never stored. A reply that does not parse falls back to the spaCy rules' relations in that window and is counted
(``fallbacks``), like the LM answer writer's malformed replies.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from graphrag.errors import ModelOutputError
from graphrag.extraction.base import relation_type_from_words
from graphrag.extraction.lora_prompt import (
    EXTRACT_SYSTEM,
    extract_user_message,
    facts_from_reply,
    passage_windows,
    stop_generating,
)
from graphrag.extraction.resolve import MentionCandidate, RelationCandidate, resolve_document
from graphrag.extraction.spacy_rules import SpacyRuleExtractor
from graphrag.text import sentence_spans
from graphrag.types import Chunk, Document, Extraction

__all__ = ["LoraRelationExtractor"]

_CONFIDENCE = 0.7  # the model gives no calibrated score; below "structured" (1.0), above pronoun-resolved rules


class LoraRelationExtractor:
    """Relations from an extractor adapter on the shared language model; mentions and fallbacks from spaCy."""

    name = "lora"

    def __init__(self, spacy: SpacyRuleExtractor, model, adapter: str, max_new_tokens: int = 256) -> None:
        self.spacy = spacy
        self.model = model  # graphrag.lm.model.LanguageModel with ``adapter`` loaded
        self.adapter = adapter
        self.max_new_tokens = max_new_tokens
        self.fallbacks = 0  # windows whose reply was malformed
        self.chunks_read = 0
        self.windows_read = 0

    def extract(self, document: Document, chunks: Sequence[Chunk]) -> Extraction:
        """Extract from one document's chunks."""
        return self.extract_many([(document, chunks)])[0]

    def extract_many(self, items: Sequence[tuple[Document, Sequence[Chunk]]]) -> list[Extraction]:
        """One generation per window of each chunk; spaCy's pass over all the documents is batched."""
        out = []
        for (doc, chunks), (mentions, rule_relations) in zip(items, self.spacy.candidates(items)):
            mentions = list(mentions)
            relations: list[RelationCandidate] = []
            for chunk in chunks:
                relations.extend(
                    self.chunk_relations(doc, chunk, mentions, [r for r in rule_relations if r.chunk_id == chunk.id])
                )
            out.append(resolve_document(doc, mentions, relations))
        return out

    def chunk_relations(
        self,
        doc: Document,
        chunk: Chunk,
        mentions: list[MentionCandidate],
        rule_relations: Sequence[RelationCandidate] = (),
    ) -> list[RelationCandidate]:
        """The model's relations for one chunk, read a window of a few sentences at a time (the length it was
        trained on); new mentions are appended to ``mentions``. A window whose reply is malformed is counted in
        ``fallbacks`` and contributes the rules' relations whose sentence lies in it instead."""
        self.chunks_read += 1
        relations = []
        for offset, window in passage_windows(chunk.text):
            self.windows_read += 1
            prompt = self.model.chat_prompt(EXTRACT_SYSTEM, extract_user_message(doc.title, window))
            reply = self.model.generate(
                prompt, self.max_new_tokens, adapter=self.adapter, stop_when=stop_generating
            ).text
            try:
                facts = facts_from_reply(reply)
            except ModelOutputError:
                self.fallbacks += 1
                relations.extend(r for r in rule_relations if r.sentence and r.sentence in window)
                continue
            for fact in facts:
                relation_type = relation_type_from_words(fact.relation)
                head = self._locate(fact.head, chunk, offset, window, mentions)
                tail = self._locate(fact.tail, chunk, offset, window, mentions)
                if not relation_type or head is None or tail is None or head == tail:
                    continue
                relations.append(
                    RelationCandidate(
                        head,
                        relation_type,
                        tail,
                        _CONFIDENCE,
                        chunk.id,
                        _sentence_around(window, head[0] - chunk.start - offset),
                    )
                )
        return relations

    @staticmethod
    def _locate(
        name: str, chunk: Chunk, offset: int, window: str, mentions: list[MentionCandidate]
    ) -> tuple[int, int] | None:
        """Document offsets of ``name`` in the window (which starts ``offset`` characters into the chunk): spaCy's
        mention there when one covers it, else a new mention (type Other); None when the window lacks the name."""
        found = re.search(re.escape(name), window, re.IGNORECASE)  # offsets into the original text, unlike casefold
        if found is None:
            return None
        position = found.start()
        start = chunk.start + offset + position
        end = start + len(name)
        for mention in mentions:
            if mention.chunk_id == chunk.id and mention.start <= start and end <= mention.end:
                return mention.start, mention.end
        text = chunk.text[offset + position : offset + position + len(name)]
        mentions.append(MentionCandidate(text, "Other", start, end, chunk.id))
        return start, end


def _sentence_around(text: str, offset: int) -> str:
    """The sentence of ``text`` containing ``offset`` (the evidence sentence stored with the relation)."""
    found = ""
    for start, end in sentence_spans(text):
        found = text[start:end]
        if end >= offset:
            break
    return found
