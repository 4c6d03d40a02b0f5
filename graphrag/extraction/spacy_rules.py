"""Rule-based extraction over spaCy's NER and dependency parse.

Patterns (each yields an UPPER_SNAKE relation typed from the verb or role words):

* subject-verb-object            "Lena Hartmann founded Bluefin Robotics"        -> FOUNDED
* subject-verb-preposition       "Okafor studied at the University of X"          -> STUDIED_AT
* passive with agent (to active) "Aster was founded by Gustav Lindqvist"          -> Gustav FOUNDED Aster
* passive with preposition       "Aster is headquartered in Lindmark"             -> HEADQUARTERED_IN
* copula / role                  "Hannah Brooks is the chief executive of Aster"  -> CHIEF_EXECUTIVE_OF
* reversed role, possessive      "The chief executive of X is Y", "Its president is Y"
* apposition                     "Y, the chief executive of X,"                   -> CHIEF_EXECUTIVE_OF
* "as" roles                     "Veltrix operates as a division of Helix"        -> DIVISION_OF

Coordinated subjects and objects ("A and B founded C") expand to one relation each. Pronouns and
"the company" resolve to the entity the document is about (its title), with lower confidence.
"""

from __future__ import annotations

from collections.abc import Sequence

from graphrag.extraction.base import relation_type_from_words
from graphrag.extraction.resolve import TOPIC, MentionCandidate, RelationCandidate, resolve_document
from graphrag.text import paragraph_spans
from graphrag.types import Chunk, Document, Extraction

__all__ = ["SPACY_LABELS", "SpacyRuleExtractor"]

SPACY_LABELS = {
    "PERSON": "Person",
    "ORG": "Organization",
    "GPE": "Location",
    "LOC": "Location",
    "FAC": "Facility",
    "NORP": "Group",
    "EVENT": "Event",
    "PRODUCT": "Product",
    "WORK_OF_ART": "Work",
    "LAW": "Law",
    "LANGUAGE": "Language",
}
_COPULAS = {"be", "become", "remain"}
_AS_VERBS = {"serve", "operate", "work", "act", "join", "function", "continue"}
_PERSON_PRONOUNS = {"he", "she", "him", "her", "his", "hers"}
_THING_PRONOUNS = {"it", "its"}
_ROLE_STOP = {"former", "current", "new", "later", "then", "first", "last", "own", "largest", "main", "only"}
_SKIP_VERBS = {"have", "do", "say", "make", "get", "take", "give"}
_MAX_SEGMENT_CHARS = 100_000


class SpacyRuleExtractor:
    """Extractor backed by a loaded spaCy pipeline (NER + parser). Construct with :meth:`load` or a pipeline."""

    name = "spacy"

    def __init__(self, nlp) -> None:
        self._nlp = nlp

    @classmethod
    def load(cls, model_name: str) -> SpacyRuleExtractor:
        """Load the spaCy model by package name (offline: models come from installed packages)."""
        from graphrag.offline import load_spacy

        return cls(load_spacy(model_name))

    def extract(self, document: Document, chunks: Sequence[Chunk]) -> Extraction:
        """Extract entities, relations and mentions from one document's chunks."""
        return self.extract_many([(document, chunks)])[0]

    def extract_many(self, items: Sequence[tuple[Document, Sequence[Chunk]]]) -> list[Extraction]:
        """Extract from many documents with one batched spaCy pass over all their paragraphs."""
        return [
            resolve_document(doc, mentions, relations)
            for (doc, _), (mentions, relations) in zip(items, self.candidates(items))
        ]

    def candidates(
        self, items: Sequence[tuple[Document, Sequence[Chunk]]]
    ) -> list[tuple[list[MentionCandidate], list[RelationCandidate]]]:
        """Per document, the raw entity mentions and relation candidates before resolution (the encoder extractor adds
        its classifier's relations between the same mentions)."""
        mentions: list[list[MentionCandidate]] = [[] for _ in items]
        relations: list[list[RelationCandidate]] = [[] for _ in items]
        for sdoc, (index, chunk_id, base) in self._nlp.pipe(_segments(items), as_tuples=True, batch_size=64):
            _SegmentReader(sdoc, chunk_id, base).read(mentions[index], relations[index])
        return list(zip(mentions, relations))


def _segments(items: Sequence[tuple[Document, Sequence[Chunk]]]) -> list[tuple[str, tuple[int, str, int]]]:
    """Every chunk's paragraphs (cut at the segment limit) with (document index, chunk id, document offset)."""
    segments = []
    for index, (_, chunks) in enumerate(items):
        for chunk in chunks:
            for para_start, para_end in paragraph_spans(chunk.text):
                for offset in range(para_start, para_end, _MAX_SEGMENT_CHARS):
                    text = chunk.text[offset : min(offset + _MAX_SEGMENT_CHARS, para_end)]
                    segments.append((text, (index, chunk.id, chunk.start + offset)))
    return segments


class _SegmentReader:
    """Reads one parsed paragraph: its entity spans, then relation patterns sentence by sentence."""

    def __init__(self, sdoc, chunk_id: str, base: int) -> None:
        self.sdoc = sdoc
        self.chunk_id = chunk_id
        self.base = base
        self.token_span: dict[int, object] = {}
        self.span_type: dict[tuple[int, int], str] = {}

    def read_mentions(self, mentions: list[MentionCandidate]) -> None:
        for span, entity_type in self._entity_spans():
            key = (self.base + span.start_char, self.base + span.end_char)
            mentions.append(MentionCandidate(span.text, entity_type, key[0], key[1], self.chunk_id))
            for tok in span:
                self.token_span[tok.i] = span

    def read(self, mentions: list[MentionCandidate], relations: list[RelationCandidate]) -> None:
        self.read_mentions(mentions)
        self.out = relations
        for sent in self.sdoc.sents:
            self.sentence = sent.text.strip()
            for tok in sent:
                if tok.pos_ in ("VERB", "AUX"):
                    self._verb(tok)
                if tok.dep_ == "appos":
                    self._apposition(tok)

    # entity spans -----------------------------------------------------------------------------------------
    def _entity_spans(self):
        taken: set[int] = set()
        spans = []
        for ent in self.sdoc.ents:
            entity_type = SPACY_LABELS.get(ent.label_)
            if entity_type is None:
                taken.update(range(ent.start, ent.end))  # "November 1983" is a DATE, not a proper-noun entity
                continue
            span = _trim(ent)
            if span is not None:
                spans.append((span, entity_type))
                taken.update(range(span.start, span.end))
        # Proper-noun runs the NER missed still become (untyped) entities.
        run: list = []
        for tok in [*self.sdoc, None]:
            if tok is not None and tok.pos_ == "PROPN" and tok.i not in taken and tok.text[:1].isupper():
                run.append(tok)
                continue
            if run:
                span = _trim(self.sdoc[run[0].i : run[-1].i + 1])
                if span is not None and len(span.text) > 1:
                    spans.append((span, "Other"))
                run = []
        return spans

    # references -------------------------------------------------------------------------------------------
    def _ref(self, tok) -> tuple[tuple[int, int], str, float] | None:
        """Key of the entity a token stands for, the topic kind for pronouns, and a confidence factor."""
        span = self.token_span.get(tok.i)
        if span is not None:
            return (self.base + span.start_char, self.base + span.end_char), "", 1.0
        lower = tok.lower_
        if lower in _PERSON_PRONOUNS:
            return TOPIC, "person", 0.75
        if lower in _THING_PRONOUNS:
            return TOPIC, "thing", 0.75
        if (
            tok.pos_ == "NOUN"
            and tok.dep_ in ("nsubj", "nsubjpass")
            and any(c.dep_ == "det" and c.lower_ == "the" for c in tok.children)
            and not any(c.dep_ == "prep" for c in tok.children)
        ):
            return TOPIC, "thing", 0.7
        return None

    def _refs(self, tok) -> list[tuple[tuple[int, int], str, float]]:
        items = [tok, *tok.conjuncts]
        # "Marta Kowalski and Tomas Reyes" is often parsed with the first name as an nmod of the second.
        if any(c.dep_ == "cc" for t in tok.subtree for c in [t]):
            for child in tok.children:
                if child.dep_ in ("nmod", "compound") and self.token_span.get(child.i) is not self.token_span.get(
                    tok.i
                ):
                    items.extend([child, *child.conjuncts])
        found = []
        for item in items:
            ref = self._ref(item)
            if ref is not None and ref not in found:
                found.append(ref)
        return found

    def _implicit_subjects(self, verb) -> list:
        """A subject the parser did not attach: the noun an 'acl' participle modifies (or that noun's copula
        subject), else the nearest entity left of the verb ("In 2015 Helix acquired ..." misparses)."""
        if verb.dep_ == "acl":
            head = verb.head
            if self.token_span.get(head.i) is not None:
                return [head]
            if head.dep_ == "attr":
                return [c for c in head.head.children if c.dep_ == "nsubj"]
            return []
        sentence = verb.sent
        for tok in reversed(list(self.sdoc[sentence.start : verb.i])):
            if self.token_span.get(tok.i) is not None and tok.dep_ not in ("dobj", "attr"):
                return [self.token_span[tok.i].root]
        return []

    def _emit(self, subject, words: Sequence[str], obj, confidence: float) -> None:
        rel_type = relation_type_from_words(*words)
        if not rel_type:
            return
        (s_key, s_kind, s_factor), (o_key, o_kind, o_factor) = subject, obj
        if s_key == o_key:
            return
        self.out.append(
            RelationCandidate(
                subject=s_key,
                type=rel_type,
                object=o_key,
                confidence=confidence * s_factor * o_factor,
                chunk_id=self.chunk_id,
                sentence=self.sentence,
                topic_kind=s_kind or o_kind,
            )
        )

    # patterns ---------------------------------------------------------------------------------------------
    def _verb(self, verb) -> None:
        lemma = verb.lemma_.lower()
        if lemma in _SKIP_VERBS:
            return
        subjects = [c for c in verb.children if c.dep_ == "nsubj"]
        passive = [c for c in verb.children if c.dep_ == "nsubjpass"]
        implicit = 1.0
        if not subjects and not passive and verb.dep_ == "conj" and verb.head.pos_ in ("VERB", "AUX"):
            subjects = [c for c in verb.head.children if c.dep_ == "nsubj"]
        if not subjects and not passive and verb.dep_ in ("ROOT", "acl") and lemma not in _COPULAS:
            subjects = self._implicit_subjects(verb)
            implicit = 0.8
        if lemma in _COPULAS:
            self._copula(verb, subjects)
            return
        verb_words = [verb.text.lower()] + [c.text.lower() for c in verb.children if c.dep_ == "prt"]
        objects = [c for c in verb.children if c.dep_ == "dobj"]
        preps = [(p, o) for p in verb.children if p.dep_ == "prep" for o in p.children if o.dep_ == "pobj"]
        agents = [o for p in verb.children if p.dep_ == "agent" for o in p.children if o.dep_ == "pobj"]
        for s_tok in subjects:
            for subject in self._refs(s_tok):
                for o_tok in objects:
                    for obj in self._refs(o_tok):
                        self._emit(subject, verb_words, obj, 0.9 * implicit)
                for prep, o_tok in preps:
                    if prep.lower_ == "as" and lemma in _AS_VERBS:
                        self._role_object(subject, o_tok, 0.8 * implicit)
                        continue
                    for obj in self._refs(o_tok):
                        self._emit(subject, [*verb_words, prep.lower_], obj, 0.85 * implicit)
        for s_tok in passive:
            for subject in self._refs(s_tok):
                for a_tok in agents:
                    for agent in self._refs(a_tok):
                        self._emit(agent, verb_words, subject, 0.9)
                for prep, o_tok in preps:
                    for obj in self._refs(o_tok):
                        self._emit(subject, [*verb_words, prep.lower_], obj, 0.85)

    def _copula(self, verb, subjects) -> None:
        complements = [c for c in verb.children if c.dep_ in ("attr", "acomp")]
        for s_tok in subjects:
            s_refs = self._refs(s_tok)
            for comp in complements:
                if s_refs and self.token_span.get(comp.i) is None:
                    for subject in s_refs:
                        self._role_object(subject, comp, 0.85)
                elif not s_refs:
                    # "The chief executive of X is Y" / "Its president is Y": the role sits on the subject.
                    for obj in self._refs(comp):
                        self._role_object(obj, s_tok, 0.85)

    def _role_object(self, holder, role_tok, confidence: float) -> None:
        """``holder`` has the role named by ``role_tok`` "of"/"in"/"at" some entity (or its possessor)."""
        if self.token_span.get(role_tok.i) is not None:
            return
        role = _role_words(role_tok)
        if not role:
            return
        for prep in role_tok.children:
            if prep.dep_ == "prep":
                for o_tok in prep.children:
                    if o_tok.dep_ == "pobj":
                        for obj in self._refs(o_tok):
                            self._emit(holder, [role, prep.lower_], obj, confidence)
            elif prep.dep_ == "poss":
                for obj in self._refs(prep):
                    self._emit(holder, [role, "of"], obj, confidence)

    def _apposition(self, tok) -> None:
        head = tok.head
        if self.token_span.get(head.i) is not None and self.token_span.get(tok.i) is None:
            self._role_object(self._ref(head), tok, 0.85)
        elif self.token_span.get(tok.i) is not None and self.token_span.get(head.i) is None:
            self._role_object(self._ref(tok), head, 0.85)


def _trim(span):
    """Drop leading determiners, possessive markers and punctuation from an entity span."""
    start, end = span.start, span.end
    doc = span.doc
    while start < end and (doc[start].dep_ == "det" or doc[start].is_punct or doc[start].is_space):
        start += 1
    while end > start and (doc[end - 1].is_punct or doc[end - 1].is_space or doc[end - 1].dep_ == "case"):
        end -= 1
    return doc[start:end] if end > start else None


def _role_words(tok) -> str:
    if tok.pos_ not in ("NOUN", "ADJ", "VERB") or tok.like_num:
        return ""
    modifiers = [
        c.text.lower()
        for c in tok.lefts
        if c.dep_ in ("amod", "compound") and c.tag_ not in ("JJS", "CD") and c.lower_ not in _ROLE_STOP
    ]
    return " ".join([*modifiers, tok.text.lower()])
