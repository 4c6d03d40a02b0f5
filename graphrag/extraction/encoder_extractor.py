"""The fine-tuned relation extractor: spaCy finds and resolves the entity mentions, and the pair classifier over
the packaged sentence encoder (relation_model.py) reads every pair of entities in each window of sentences.

Each relation it stores carries its Wikidata property id, a readable label and inverse phrase, a confidence (the
label's probability against the pair's learned threshold) and the offsets of the sentence the pair's attention
rests on most, its evidence.
"""

from __future__ import annotations

import bisect
from collections.abc import Sequence
from pathlib import Path

from graphrag.config import Settings
from graphrag.errors import ModelError
from graphrag.extraction.marked_input import MarkedWindow, mark_windows
from graphrag.extraction.pair_classifier import collate, predicted_labels
from graphrag.extraction.relation_model import LoadedClassifier, load_classifier
from graphrag.extraction.resolve import resolve_document
from graphrag.extraction.spacy_rules import SpacyRuleExtractor
from graphrag.ids import relation_id
from graphrag.text import sentence_spans
from graphrag.types import Chunk, Document, Extraction, Relation

__all__ = ["SHIPPED_CLASSIFIER", "EncoderRelationExtractor", "classifier_folder"]

SHIPPED_CLASSIFIER = "extractors/relations-minilm"  # under weights/
_WINDOW_TOKENS_PER_BATCH = 4096  # windows are batched up to about this many tokens (padding included)


def classifier_folder(settings: Settings) -> Path:
    """Where the settings' classifier lives; ModelError when it is not there."""
    from graphrag.offline import shipped_weights_dir

    folder = Path(settings.extractor_model) if settings.extractor_model else shipped_weights_dir() / SHIPPED_CLASSIFIER
    if not (folder / "relations.json").is_file():
        raise ModelError(
            f"no trained relation classifier in {folder}: train one with scripts/train_extractor.py, point "
            "extractor_model at one, or set extractor=rules"
        )
    return folder


class EncoderRelationExtractor:
    """Extractor: spaCy mentions and resolution, then the pair classifier's typed relations."""

    name = "encoder"

    def __init__(self, spacy: SpacyRuleExtractor, classifier: LoadedClassifier, min_confidence: float = 0.5) -> None:
        self.spacy = spacy
        self.classifier = classifier
        self.min_confidence = min_confidence

    @classmethod
    def load(cls, settings: Settings, spacy: SpacyRuleExtractor | None = None) -> EncoderRelationExtractor:
        """The extractor the settings name: their classifier (the shipped one by default) on their embedder's
        encoder, and their spaCy model unless one is given; ModelError says what is missing."""
        from graphrag.offline import default_embedder_path

        encoder = settings.embedder_model or str(default_embedder_path())
        classifier = load_classifier(classifier_folder(settings), encoder, settings.torch_threads)
        spacy = spacy or SpacyRuleExtractor.load(settings.spacy_model)
        return cls(spacy, classifier, settings.relation_min_confidence)

    def extract(self, document: Document, chunks: Sequence[Chunk]) -> Extraction:
        """Extract entities, mentions and typed relations from one document."""
        return self.extract_many([(document, chunks)])[0]

    def extract_many(self, items: Sequence[tuple[Document, Sequence[Chunk]]]) -> list[Extraction]:
        """Extract from many documents: one spaCy pass, then their windows batched through the encoder."""
        resolved = [
            resolve_document(document, mentions, [])
            for (document, _), mentions in zip(items, self.spacy.mentions(items))
        ]
        plans = []  # per document: (entity ids in order, windows)
        for (document, _), extraction in zip(items, resolved):
            spans: dict[str, list[tuple[int, int]]] = {}
            for mention in extraction.mentions:
                spans.setdefault(mention.entity_id, []).append((mention.start, mention.end))
            entity_ids = list(spans)
            windows = mark_windows(
                self.classifier.tokenizer,
                document.text,
                list(sentence_spans(document.text)),
                [spans[e] for e in entity_ids],
                self.classifier.max_tokens,
            )
            plans.append((entity_ids, windows))
        found = self._classify([w for _, windows in plans for w in windows])
        out, cursor = [], 0
        for (document, chunks), extraction, (entity_ids, windows) in zip(items, resolved, plans):
            relations: dict[str, Relation] = {}
            for window in windows:
                for relation in self._relations(document, chunks, entity_ids, window, found[cursor]):
                    kept = relations.get(relation.id)
                    if kept is None or relation.confidence > kept.confidence:
                        relations[relation.id] = relation
                cursor += 1
            out.append(Extraction(extraction.entities, tuple(relations.values()), extraction.mentions))
        return out

    def _classify(self, windows: Sequence[MarkedWindow]) -> list[list[tuple[int, int, int, float, int]]]:
        """Per window, (head, tail, label, confidence, evidence sentence) of every relation found, windows batched
        by length."""
        import torch

        order = sorted(range(len(windows)), key=lambda i: len(windows[i].input_ids))
        results: list[list[tuple[int, int, int, float, int]]] = [[] for _ in windows]
        start = 0
        while start < len(order):
            end = start + 1
            while (
                end < len(order) and (end - start + 1) * len(windows[order[end]].input_ids) <= _WINDOW_TOKENS_PER_BATCH
            ):
                end += 1
            group = [windows[i] for i in order[start:end]]
            batch = collate(group, self.classifier.tokenizer.pad_token_id)
            with torch.inference_mode():
                scores = self.classifier.model(batch.input_ids, batch.attention_mask, batch.positions, batch.pairs)
            rows = predicted_labels(scores.logits)
            row = 0
            for index, window, pairs, context in zip(order[start:end], group, batch.pairs, scores.context):
                for pair_row, (h, t) in enumerate(pairs.tolist()):
                    labels = rows[row]
                    row += 1
                    if not labels:
                        continue
                    mass = [float(context[pair_row, a:b].sum()) for a, b in window.sentence_tokens]
                    evidence = max(range(len(mass)), key=mass.__getitem__)
                    results[index].extend((h, t, label, confidence, evidence) for label, confidence in labels)
            start = end
        return results

    def _relations(self, document, chunks, entity_ids, window, found) -> list[Relation]:
        labels = self.classifier.labels
        chunk_starts = [c.start for c in chunks]
        out = []
        for h, t, label_index, confidence, evidence in found:
            if confidence < self.min_confidence:
                continue
            label = labels[label_index - 1]
            source, target = entity_ids[window.entities[h]], entity_ids[window.entities[t]]
            if source == target or not label.type:
                continue
            start, end = window.sentences[evidence]
            chunk = chunks[max(0, bisect.bisect_right(chunk_starts, start) - 1)] if chunks else None
            out.append(
                Relation(
                    id=relation_id(source, label.type, target),
                    source_id=source,
                    target_id=target,
                    type=label.type,
                    confidence=round(confidence, 3),
                    document_id=document.id,
                    evidence=(chunk.id,) if chunk else (),
                    sentence=document.text[start:end],
                    property_id=label.property_id,
                    label=label.label,
                    inverse_label=label.inverse,
                    sentence_start=start,
                    sentence_end=end,
                )
            )
        return out
