"""The fine-tuned relation extractor: spaCy finds and resolves the entity mentions, and the pair classifier over
the packaged sentence encoder (relation_model.py) reads every pair of entities in each window of sentences.

Each relation it stores carries its Wikidata property id, a readable label and inverse phrase, a confidence (the
label's probability against the pair's learned threshold) and the offsets of the sentence the pair's attention
rests on most, its evidence.
"""

from __future__ import annotations

import bisect
import contextlib
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from graphrag.config import Settings
from graphrag.errors import ModelError
from graphrag.extraction.marked_input import MarkedWindow, mark_windows
from graphrag.extraction.pair_classifier import collate, predicted_labels
from graphrag.extraction.relation_model import LoadedClassifier, load_classifier
from graphrag.extraction.resolve import MentionCandidate, RelationCandidate, resolve_document
from graphrag.extraction.spacy_rules import SpacyRuleExtractor
from graphrag.text import sentence_spans
from graphrag.threads import CoreShare
from graphrag.types import Chunk, Document, Extraction

__all__ = ["SHIPPED_CLASSIFIER", "EncoderRelationExtractor", "classifier_folder"]

SHIPPED_CLASSIFIER = "extractors/relations-minilm"  # under weights/
_WINDOW_TOKENS_PER_BATCH = 2048  # windows are batched up to about this many tokens (padding included)


def classifier_folder(settings: Settings) -> Path:
    """Where the settings' classifier lives; ModelError when it is not there (or, shipped, not whole)."""
    from graphrag.offline import shipped_weights_dir, verify_shipped_weights

    folder = Path(settings.extractor_model) if settings.extractor_model else shipped_weights_dir() / SHIPPED_CLASSIFIER
    if not (folder / "relations.json").is_file():
        raise ModelError(
            f"no trained relation classifier in {folder}: train one with scripts/train_extractor.py, point "
            "extractor_model at one, or set extractor=rules"
        )
    if not settings.extractor_model:
        verify_shipped_weights(folder)  # a partial checkout or an LFS pointer is named, not loaded
    return folder


def _check_encoder(folder: Path, encoder: Path) -> None:
    """ModelError when the classifier's manifest names another encoder than the one it would be loaded onto."""
    import json

    from graphrag.offline import file_sha256

    try:
        expected = json.loads((folder / "manifest.json").read_text(encoding="utf-8")).get("base_sha256")
    except (OSError, ValueError, AttributeError):
        return  # a folder saved without a manifest: nothing to check against
    weights = encoder / "model.safetensors"
    if expected and weights.is_file() and file_sha256(weights) != expected:
        raise ModelError(
            f"the relation classifier in {folder} was trained on another encoder than {encoder} "
            "(embedder_model): retrain it on this one with scripts/train_extractor.py"
        )


class EncoderRelationExtractor:
    """Extractor: spaCy mentions, resolution and rule relations, then the pair classifier's typed relations."""

    name = "encoder"

    def __init__(
        self,
        spacy: SpacyRuleExtractor,
        classifier: LoadedClassifier,
        min_confidence: float = 0.5,
        bf16: bool = False,
    ) -> None:
        self.spacy = spacy
        self.classifier = classifier
        self.min_confidence = min_confidence
        self.bf16 = bf16  # the classifier's arithmetic: bf16 autocast, scores and attention read back in fp32
        self._share: CoreShare | None = None  # None: torch's thread count as it is

    @classmethod
    def load(cls, settings: Settings, spacy: SpacyRuleExtractor | None = None) -> EncoderRelationExtractor:
        """The extractor the settings name: their classifier (the shipped one by default) on their embedder's
        encoder, and their spaCy model unless one is given; ModelError says what is missing."""
        from graphrag.offline import cpu_computes_bf16, default_embedder_path

        encoder = settings.embedder_model or str(default_embedder_path())
        folder = classifier_folder(settings)
        _check_encoder(folder, Path(encoder))
        classifier = load_classifier(folder, encoder, settings.torch_threads)
        spacy = spacy or SpacyRuleExtractor.load(settings.spacy_model)
        return cls(spacy, classifier, settings.relation_min_confidence, cpu_computes_bf16(settings.precision))

    @contextlib.contextmanager
    def threads(self, count: int, taken: Callable[[], int] | None = None) -> Iterator[None]:
        """Within the block, the classifier runs on ``count`` torch threads, less ``taken()`` (the cores an ingest's
        mention workers are computing on) as each batch starts; torch's count comes back after."""
        import torch

        before, threads_before = self._share, torch.get_num_threads()
        self._share = CoreShare(count, taken) if taken else CoreShare(count)
        try:
            yield
        finally:
            self._share = before
            torch.set_num_threads(threads_before)

    def extract(self, document: Document, chunks: Sequence[Chunk]) -> Extraction:
        """Extract entities, mentions and typed relations from one document."""
        return self.extract_many([(document, chunks)])[0]

    def extract_many(self, items: Sequence[tuple[Document, Sequence[Chunk]]]) -> list[Extraction]:
        """Extract from many documents: one spaCy pass, then all their windows batched through the encoder."""
        return self.extract_with_candidates(items, self.spacy.candidates(items))

    def candidates(
        self, items: Sequence[tuple[Document, Sequence[Chunk]]]
    ) -> list[tuple[list[MentionCandidate], list[RelationCandidate]]]:
        """Per document, the raw mentions and the relations between them (the rules' and the classifier's), before
        resolution. Only the text the given chunks cover is read, so a large document can be read a few chunks at a
        time."""
        return self.read_relations(items, self.spacy.candidates(items))

    def extract_with_candidates(
        self,
        items: Sequence[tuple[Document, Sequence[Chunk]]],
        found: Sequence[tuple[list[MentionCandidate], list[RelationCandidate]]],
    ) -> list[Extraction]:
        """:meth:`extract_many` for documents whose spaCy candidates were already found (by
        ``SpacyRuleExtractor.candidates``, in an ingest worker that holds spaCy alone)."""
        return [
            resolve_document(document, mentions, relations)
            for (document, _), (mentions, relations) in zip(items, self.read_relations(items, found))
        ]

    def read_relations(
        self,
        items: Sequence[tuple[Document, Sequence[Chunk]]],
        found: Sequence[tuple[list[MentionCandidate], list[RelationCandidate]]],
    ) -> list[tuple[list[MentionCandidate], list[RelationCandidate]]]:
        """Per document, its mentions, and the rules' relations with the classifier's between their entities. The
        rules' verb-typed relations (``ACQUIRED``, ``INVESTS_IN``) are kept beside the classifier's: its 96 Wikidata
        properties have no type for many of the verbs users ask about."""
        regions = [_Region.of(document, chunks, mentions) for (document, chunks), (mentions, _) in zip(items, found)]
        windows = [w for region in regions for w in region.windows(self.classifier)]
        classified = iter(self._classify(windows))
        out = []
        for region, (mentions, rule_relations) in zip(regions, found):
            relations = list(rule_relations)
            for window in region.marked:
                relations.extend(self._relations(region, window, next(classified)))
            out.append((list(mentions), relations))
        return out

    def _classify(self, windows: Sequence[MarkedWindow]) -> list[list[tuple[int, int, int, float, int]]]:
        """Per window, (head, tail, label, confidence, evidence sentence) of every relation found, windows batched
        by length."""
        import torch

        paired = [i for i, window in enumerate(windows) if len(window.entities) >= 2]  # else nothing to classify
        order = sorted(paired, key=lambda i: len(windows[i].input_ids))
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
            if self._share is not None:
                self._share.apply()
            with torch.inference_mode(), torch.autocast("cpu", dtype=torch.bfloat16, enabled=self.bf16):
                scores = self.classifier.model(batch.input_ids, batch.attention_mask, batch.positions, batch.pairs)
            rows = predicted_labels(scores.logits.float())
            row = 0
            contexts = [context.float() for context in scores.context]
            for index, window, pairs, context in zip(order[start:end], group, batch.pairs, contexts):
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

    def _relations(self, region: _Region, window: MarkedWindow, found) -> list[RelationCandidate]:
        out = []
        for h, t, label_index, confidence, evidence in found:
            if confidence < self.min_confidence:
                continue
            label = self.classifier.labels[label_index - 1]
            head, tail = region.keys[window.entities[h]], region.keys[window.entities[t]]
            if not label.type:
                continue
            start, end = (region.start + offset for offset in window.sentences[evidence])
            out.append(
                RelationCandidate(
                    subject=head,
                    type=label.type,
                    object=tail,
                    confidence=confidence,
                    chunk_id=region.chunk_at(start),
                    sentence=region.document.text[start:end],
                    property_id=label.property_id,
                    label=label.label,
                    inverse_label=label.inverse,
                    sentence_start=start,
                    sentence_end=end,
                )
            )
        return out


@dataclass
class _Region:
    """The text a document's chunks cover, its entities (resolved within it) as mention spans relative to it, and
    one mention key per entity for the relations (resolution maps any of an entity's keys to the entity)."""

    document: Document
    chunks: Sequence[Chunk]
    start: int
    text: str
    spans: list[list[tuple[int, int]]]
    keys: list[tuple[int, int]]
    marked: list[MarkedWindow] = field(default_factory=list)

    @classmethod
    def of(cls, document: Document, chunks: Sequence[Chunk], mentions: Sequence[MentionCandidate]) -> _Region:
        start = min((c.start for c in chunks), default=0)
        end = max((c.end for c in chunks), default=0)
        by_entity: dict[str, list[tuple[int, int]]] = {}
        for mention in resolve_document(document, mentions, []).mentions:
            by_entity.setdefault(mention.entity_id, []).append((mention.start, mention.end))
        spans = [sorted(set(found)) for found in by_entity.values()]
        return cls(
            document,
            chunks,
            start,
            document.text[start:end],
            [[(a - start, b - start) for a, b in entity] for entity in spans],
            [entity[0] for entity in spans],
        )

    def windows(self, classifier: LoadedClassifier) -> list[MarkedWindow]:
        if self.text and len(self.spans) >= 2:
            sentences = list(sentence_spans(self.text))
            self.marked = mark_windows(classifier.tokenizer, self.text, sentences, self.spans, classifier.max_tokens)
        return self.marked

    def chunk_at(self, offset: int) -> str:
        """The id of the chunk an offset of the document falls in (the last that starts at or before it)."""
        starts = [c.start for c in self.chunks]
        return self.chunks[max(0, bisect.bisect_right(starts, offset) - 1)].id
