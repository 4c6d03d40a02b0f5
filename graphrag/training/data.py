"""Training and validation examples for the answer adapter, built from Re-DocRED (DocRED-format) documents.

Each relation fact (head, relation, tail) becomes a question whose answer is a mention of the tail; the evidence is
numbered passages (the document's sentences in small groups, with its title) mixed with distractor passages from
other documents, and sometimes the fact as a rendered graph path. Besides those:

* unanswerable examples: the same question with every passage that mentions the tail removed ("I don't know");
* multi-hop examples: two facts chained through a shared entity (the tail of one is the head of the other), and
  optionally three ("What is the country of the birthplace of the founder of X?");
* yes/no examples: "Is T the <relation> of H?" (yes, or no with another entity of the tail's type from the same
  document) and "Do A and B have the same <relation>?" across two documents;
* comparison examples: "Which was founded first, A or B?" from two documents' dated facts (born, died, founded,
  published), answered with the name of the earlier (or later) one;
* replay examples: continuing held text, so the adapter keeps the base model's plain language modelling (they
  guard against forgetting; forgetting itself is measured as held-out perplexity before and after).

Passages are the document's sentences in groups of two by default; ``passage_sentences=(2, 3, 4)`` gives each
document one of those sizes (by a hash of its title), so the model also reads paragraph-sized passages like the
Wikipedia paragraphs it answers from in the product. Documents are split by a hash of their title, so validation
documents never appear in training.
"""

from __future__ import annotations

import hashlib
import json
import random
import re
from dataclasses import asdict, dataclass
from pathlib import Path

from graphrag.answering.prompt import ANSWER_SYSTEM, EvidenceItem, format_reply, user_message
from graphrag.errors import InputError

__all__ = [
    "MIX_KINDS",
    "Example",
    "RedocredDocument",
    "build_examples",
    "data_sha256",
    "heldout_question_sets",
    "load_redocred",
    "load_relation_names",
    "parse_mix",
    "split_documents",
]

REPLAY_SYSTEM = "You are a helpful assistant."
_SENTENCES_PER_PASSAGE = 2
# Natural wording for the commonest relations; the rest use "What is the <relation name> of <head>?".
_TEMPLATES = {
    "P17": "Which country is {h} in?",
    "P131": "In which administrative region is {h} located?",
    "P27": "What is the country of citizenship of {h}?",
    "P569": "When was {h} born?",
    "P570": "When did {h} die?",
    "P19": "Where was {h} born?",
    "P20": "Where did {h} die?",
    "P577": "When was {h} published?",
    "P571": "When was {h} founded?",
    "P175": "Who performed {h}?",
    "P50": "Who wrote {h}?",
    "P57": "Who directed {h}?",
    "P26": "Who is the spouse of {h}?",
    "P112": "Who founded {h}?",
    "P159": "Where is the headquarters of {h}?",
    "P264": "Which record label released {h}?",
    "P127": "Who owns {h}?",
    "P108": "Who employed {h}?",
    "P69": "Where was {h} educated?",
    "P22": "Who is the father of {h}?",
    "P25": "Who is the mother of {h}?",
    "P40": "Who is a child of {h}?",
    "P3373": "Who is a sibling of {h}?",
    "P54": "Which sports team did {h} play for?",
    "P161": "Who was a cast member of {h}?",
    "P170": "Who created {h}?",
    "P36": "What is the capital of {h}?",
    "P495": "What is the country of origin of {h}?",
    "P30": "On which continent is {h}?",
    "P102": "Which political party is {h} a member of?",
    "P400": "On which platform was {h} released?",
    "P178": "Who developed {h}?",
    "P123": "Who published {h}?",
    "P740": "Where was {h} formed?",
    "P86": "Who composed {h}?",
    "P58": "Who wrote the screenplay of {h}?",
    "P162": "Who produced {h}?",
    "P272": "Which company produced {h}?",
    "P449": "Which network first aired {h}?",
    "P206": "Which body of water is {h} located in or next to?",
    "P276": "Where is {h} located?",
}
# Relations whose name reads as a noun ("the country of X"), usable as the inner hop of a two-hop question.
_NOUN_RELATIONS = {
    "P17",
    "P27",
    "P19",
    "P20",
    "P26",
    "P22",
    "P25",
    "P50",
    "P57",
    "P112",
    "P159",
    "P264",
    "P127",
    "P108",
    "P36",
    "P495",
    "P175",
    "P178",
    "P123",
    "P170",
    "P86",
    "P162",
    "P272",
    "P449",
}
_NOUNS = {
    "P17": "country",
    "P27": "country of citizenship",
    "P19": "birthplace",
    "P20": "place of death",
    "P26": "spouse",
    "P22": "father",
    "P25": "mother",
    "P50": "author",
    "P57": "director",
    "P112": "founder",
    "P159": "headquarters",
    "P264": "record label",
    "P127": "owner",
    "P108": "employer",
    "P36": "capital",
    "P495": "country of origin",
    "P175": "performer",
    "P178": "developer",
    "P123": "publisher",
    "P170": "creator",
    "P86": "composer",
    "P162": "producer",
    "P272": "production company",
    "P449": "original network",
}
# "Do A and B have the same ...?" wording per relation (yes/no questions across two documents).
_SAME = {
    "P17": "Are {a} and {b} in the same country?",
    "P27": "Were {a} and {b} of the same nationality?",
    "P495": "Are {a} and {b} from the same country?",
    "P131": "Are {a} and {b} in the same region?",
    "P264": "Were {a} and {b} released by the same record label?",
    "P30": "Are {a} and {b} on the same continent?",
    "P102": "Are {a} and {b} members of the same political party?",
    "P175": "Were {a} and {b} performed by the same artist?",
    "P159": "Do {a} and {b} have their headquarters in the same place?",
    "P19": "Were {a} and {b} born in the same place?",
}
# Dated relations for comparison questions: (wording asking for the earlier one, wording asking for the later one).
_COMPARE = {
    "P569": ("Who was born first, {a} or {b}?", "Who was born later, {a} or {b}?"),
    "P570": ("Who died first, {a} or {b}?", "Who died later, {a} or {b}?"),
    "P571": ("Which was founded first, {a} or {b}?", "Which was formed more recently, {a} or {b}?"),
    "P577": ("Which was published first, {a} or {b}?", "Which was released more recently, {a} or {b}?"),
}
_YEAR = re.compile(r"\b(1\d{3}|20\d{2})\b")


@dataclass(frozen=True, slots=True)
class RedocredDocument:
    """One Re-DocRED document: title, sentences (detokenised), entity clusters and relation facts."""

    title: str
    sentences: tuple[str, ...]
    entities: tuple[tuple[tuple[str, int], ...], ...]  # per entity: (mention text, sentence index)
    facts: tuple[tuple[int, str, int, tuple[int, ...]], ...]  # (head, relation id, tail, evidence sentences)
    entity_types: tuple[str, ...] = ()  # per entity: PER, ORG, LOC, TIME, NUM or MISC


@dataclass(frozen=True, slots=True)
class Example:
    """One chat example: system, user, the target reply; ``kind`` is answer / unanswerable / multihop / replay."""

    kind: str
    system: str
    user: str
    reply: str
    answers: tuple[str, ...] = ()  # accepted answers (empty for unanswerable and replay)


def _detokenize(tokens: list[str]) -> str:
    text = " ".join(tokens)
    text = re.sub(r"(\w) - (?=\w)", r"\1-", text)  # the tokeniser split hyphenated words: "Anti - Oedipus"
    text = re.sub(r"(\d) , (?=\d{3}\b)", r"\1,", text)  # and thousands: "6 , 960"
    text = re.sub(r" ([,.;:!?%)\]])", r"\1", text)
    text = re.sub(r"([(\[$]) ", r"\1", text)
    text = re.sub(r" (n't|'s|'re|'ve|'ll|'d)\b", r"\1", text)
    return re.sub(r'" (.*?) "', r'"\1"', text)


def load_redocred(path: Path) -> list[RedocredDocument]:
    """Read a DocRED-format JSON file; InputError names the problem if it is not one."""
    try:
        raw = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise InputError(f"cannot read Re-DocRED file {path}: {exc}") from exc
    if not isinstance(raw, list):
        raise InputError(f"{path}: expected a JSON list of documents")
    documents = []
    for number, doc in enumerate(raw):
        try:
            sentences = tuple(_detokenize(s) for s in doc["sents"])
            entities = tuple(
                tuple(
                    (_detokenize(doc["sents"][m["sent_id"]][m["pos"][0] : m["pos"][1]]), m["sent_id"]) for m in cluster
                )
                for cluster in doc["vertexSet"]
            )
            facts = tuple((f["h"], f["r"], f["t"], tuple(f.get("evidence", ()))) for f in doc.get("labels", ()))
            types = tuple(str(cluster[0].get("type", "")) if cluster else "" for cluster in doc["vertexSet"])
            documents.append(RedocredDocument(doc["title"], sentences, entities, facts, types))
        except (KeyError, IndexError, TypeError) as exc:
            raise InputError(f"{path}: document {number} is not in DocRED format ({exc!r})") from exc
    return documents


def load_relation_names(path: Path) -> dict[str, str]:
    """Read rel_info.json (relation id -> Wikidata property name); InputError names the problem."""
    try:
        names = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise InputError(f"cannot read relation names {path}: {exc}") from None
    if not isinstance(names, dict) or not all(isinstance(v, str) for v in names.values()):
        raise InputError(f"{path}: expected a JSON object of relation id -> name")
    return names


def split_documents(
    documents: list[RedocredDocument], validation_share: float = 0.2, salt: str = ""
) -> tuple[list[RedocredDocument], list[RedocredDocument]]:
    """(train, validation) by a hash of the title: stable across runs and machines, never mixing a document.
    A ``salt`` gives an independent split (to cut the validation documents again)."""

    def bucket(doc: RedocredDocument) -> float:
        return _title_bucket(doc.title, salt) / 0xFFFFFFFF

    train = [d for d in documents if bucket(d) >= validation_share]
    validation = [d for d in documents if bucket(d) < validation_share]
    return train, validation


def _title_bucket(title: str, salt: str = "") -> int:
    return int(hashlib.sha256((salt + title).encode("utf-8")).hexdigest()[:8], 16)


def _passages(
    doc: RedocredDocument, sizes: tuple[int, ...] = (_SENTENCES_PER_PASSAGE,)
) -> list[tuple[EvidenceItem, set[int]]]:
    """The document as numbered-evidence passages with their sentence ids; the size (sentences per passage) is one
    of ``sizes``, the same for every example of the document."""
    size = sizes[_title_bucket(doc.title, salt="passage") % len(sizes)]
    out = []
    for first in range(0, len(doc.sentences), size):
        ids = set(range(first, min(first + size, len(doc.sentences))))
        out.append((EvidenceItem(doc.title, " ".join(doc.sentences[i] for i in sorted(ids))), ids))
    return out


def _question(relation: str, head: str, relation_names: dict[str, str]) -> str:
    template = _TEMPLATES.get(relation) or f"What is the {relation_names.get(relation, relation)} of {{h}}?"
    return template.format(h=head)


def _name(doc: RedocredDocument, entity: int, sentences: set[int] | None = None) -> str:
    """The entity's longest mention, preferring one inside the given sentences (the answer as the text says it)."""
    mentions = doc.entities[entity]
    inside = [m for m, s in mentions if sentences and s in sentences]
    return max(inside or [m for m, _ in mentions], key=len)


class _Builder:
    def __init__(
        self,
        documents: list[RedocredDocument],
        relation_names: dict[str, str],
        seed: int,
        passage_sentences: tuple[int, ...] = (_SENTENCES_PER_PASSAGE,),
    ) -> None:
        self.documents = documents
        self.relation_names = relation_names
        self.rng = random.Random(seed)
        self.passage_sentences = passage_sentences

    def _passages(self, doc: RedocredDocument) -> list[tuple[EvidenceItem, set[int]]]:
        return _passages(doc, self.passage_sentences)

    def _distractors(self, doc: RedocredDocument, count: int) -> list[EvidenceItem]:
        others = [d for d in self.rng.sample(self.documents, min(len(self.documents), count + 1)) if d is not doc]
        return [self.rng.choice(self._passages(d))[0] for d in others[:count]]

    def _assemble(
        self,
        question: str,
        gold: list[EvidenceItem],
        others: list[EvidenceItem],
        answer: str | None,
        answers: tuple[str, ...],
        kind: str,
    ) -> Example:
        items = gold + [item for item in others if item not in gold]  # a repeated passage would be cited wrongly
        self.rng.shuffle(items)
        cited = [items.index(g) + 1 for g in gold] if answer is not None else []
        return Example(kind, ANSWER_SYSTEM, user_message(question, items), format_reply(answer, cited), answers)

    def _path_item(self, doc: RedocredDocument, head: int, relation: str, tail: int) -> EvidenceItem:
        label = self.relation_names.get(relation, relation).upper().replace(" ", "_")
        return EvidenceItem("Graph path", f"{_name(doc, head)} —{label}→ {_name(doc, tail)}")

    def single(self, doc: RedocredDocument, fact, unanswerable: bool) -> Example | None:
        head, relation, tail, evidence = fact
        if not evidence:
            return None
        passages = self._passages(doc)
        tail_sentences = {s for _, s in doc.entities[tail]}
        question = _question(relation, _name(doc, head), self.relation_names)
        distractors = self._distractors(doc, self.rng.randint(1, 2))
        if unanswerable:
            kept = [p for p, ids in passages if not ids & tail_sentences]
            if not kept:
                return None
            same_doc = self.rng.sample(kept, min(len(kept), 2))
            return self._assemble(question, [], same_doc + distractors, None, (), "unanswerable")
        gold = [p for p, ids in passages if ids & set(evidence)]
        answer = _name(doc, tail, set(evidence))
        answers = tuple(sorted({m for m, _ in doc.entities[tail]}))
        if not any(answer in p.text for p in gold):
            return None
        if self.rng.random() < 0.3:
            gold = gold + [self._path_item(doc, head, relation, tail)]
        other = [p for p, ids in passages if not ids & set(evidence)]
        same_doc = self.rng.sample(other, min(len(other), 1))
        return self._assemble(question, gold, same_doc + distractors, answer, answers, "answer")

    def _gold(self, doc: RedocredDocument, fact) -> list[EvidenceItem]:
        return [p for p, ids in self._passages(doc) if ids & set(fact[3])]

    def check(self, doc: RedocredDocument, fact, truthful: bool) -> Example | None:
        """ "Is T the <relation> of H?": yes with the fact's tail; no with another entity of the tail's type from the
        same document (never one the document states as a tail of the same head and relation)."""
        head, relation, tail, evidence = fact
        if not evidence or relation not in _NOUNS or not doc.entity_types:
            return None
        candidate = tail
        if not truthful:
            true_names = {
                m.lower() for h, r, t, _ in doc.facts if h == head and r == relation for m, _ in doc.entities[t]
            }
            others = [
                e
                for e in range(len(doc.entities))
                if e != head
                and doc.entity_types[e] == doc.entity_types[tail]
                and not {m.lower() for m, _ in doc.entities[e]} & true_names
            ]
            if not others:
                return None
            candidate = self.rng.choice(others)
        answer = "yes" if truthful else "no"
        question = f"Is {_name(doc, candidate)} the {_NOUNS[relation]} of {_name(doc, head)}?"
        return self._assemble(
            question, self._gold(doc, fact), self._distractors(doc, self.rng.randint(1, 2)), answer, (answer,), "yesno"
        )

    def same(self, first, second) -> Example | None:
        """ "Do A and B have the same <relation>?" from one fact in each of two documents."""
        (doc_a, fact_a), (doc_b, fact_b) = first, second
        a, b = _name(doc_a, fact_a[0]), _name(doc_b, fact_b[0])
        if doc_a is doc_b or not fact_a[3] or not fact_b[3] or a.lower() == b.lower():
            return None
        tails_a = {m.lower() for m, _ in doc_a.entities[fact_a[2]]}
        tails_b = {m.lower() for m, _ in doc_b.entities[fact_b[2]]}
        answer = "yes" if tails_a & tails_b else "no"
        gold = self._gold(doc_a, fact_a) + self._gold(doc_b, fact_b)
        return self._assemble(
            _SAME[fact_a[1]].format(a=a, b=b), gold, self._distractors(doc_a, 1), answer, (answer,), "yesno"
        )

    def compare(self, first, second, earlier: bool) -> Example | None:
        """ "Which was founded first, A or B?" from one dated fact in each of two documents; the answer is the
        name of the earlier (``earlier``) or later one, as the question writes it."""
        (doc_a, fact_a), (doc_b, fact_b) = first, second
        a, b = _name(doc_a, fact_a[0]), _name(doc_b, fact_b[0])
        if doc_a is doc_b or not fact_a[3] or not fact_b[3] or a.lower() == b.lower():
            return None
        year_a = _YEAR.search(_name(doc_a, fact_a[2], set(fact_a[3])))
        year_b = _YEAR.search(_name(doc_b, fact_b[2], set(fact_b[3])))
        if year_a is None or year_b is None or year_a.group(1) == year_b.group(1):
            return None
        a_first = int(year_a.group(1)) < int(year_b.group(1))
        winner, winner_doc, winner_fact = (a, doc_a, fact_a) if a_first == earlier else (b, doc_b, fact_b)
        question = _COMPARE[fact_a[1]][0 if earlier else 1].format(a=a, b=b)
        gold = self._gold(doc_a, fact_a) + self._gold(doc_b, fact_b)
        return self._assemble(
            question,
            gold,
            self._distractors(doc_a, 1),
            winner,
            (winner, *sorted({m for m, _ in winner_doc.entities[winner_fact[0]]} - {winner})),
            "comparison",
        )

    def multihop(self, doc: RedocredDocument, *chain, unanswerable: bool = False) -> Example | None:
        """ "Who founded the company that acquired C?" from two (or three) chained facts, each fact's tail the next
        one's head. ``unanswerable``: the passages of every hop but the last stay and every passage with the last
        hop or the answer goes (a broken chain, not a missing fact: the model learns to tell it from a chain it must
        follow across passages)."""
        *inner_facts, last = chain
        entities = [chain[0][0]] + [fact[2] for fact in chain]
        if (
            not all(fact[3] for fact in chain)
            or len(set(entities)) != len(entities)
            or any(fact[1] not in _NOUN_RELATIONS for fact in inner_facts)
        ):
            return None
        subject = _name(doc, entities[0])
        for fact in inner_facts:
            subject = f"the {_NOUNS[fact[1]]} of {subject}"
        question = _question(last[1], subject, self.relation_names)
        passages = self._passages(doc)
        answer_entity = last[2]
        if unanswerable:
            gone = set(last[3]) | {s for _, s in doc.entities[answer_entity]}
            hops = set().union(*(fact[3] for fact in inner_facts))
            kept = [p for p, ids in passages if ids & hops]
            if not kept or any(ids & gone for p, ids in passages if p in kept):
                return None
            return self._assemble(question, [], kept + self._distractors(doc, 2), None, (), "unanswerable")
        evidence = set().union(*(fact[3] for fact in chain))
        gold = [p for p, ids in passages if ids & evidence]
        answer = _name(doc, answer_entity, set(last[3]))
        if not any(answer in p.text for p in gold):
            return None
        return self._assemble(
            question,
            gold,
            self._distractors(doc, 2),
            answer,
            tuple(sorted({m for m, _ in doc.entities[answer_entity]})),
            "multihop",
        )

    def replay(self, doc: RedocredDocument) -> Example | None:
        if len(doc.sentences) < 3:
            return None
        start = self.rng.randrange(0, len(doc.sentences) - 2)
        return Example(
            "replay",
            REPLAY_SYSTEM,
            f"Continue this text: {doc.sentences[start]}",
            " ".join(doc.sentences[start + 1 : start + 3]),
        )


MIX_KINDS = ("unanswerable", "broken_chain", "multihop", "three_hop", "yesno", "comparison", "replay")


def parse_mix(text: str) -> dict[str, float]:
    """``"unanswerable=0.12,broken_chain=0.08"`` as ``build_examples`` keyword arguments (``unanswerable_share``...);
    kinds left out keep their defaults; the rest of the mix is single-fact questions. ValueError naming the problem."""
    shares: dict[str, float] = {}
    for part in (p.strip() for p in text.split(",") if p.strip()):
        kind, _, value = part.partition("=")
        kind = kind.strip()
        if kind not in MIX_KINDS:
            raise ValueError(f"--mix: unknown kind {kind!r} (kinds: {', '.join(MIX_KINDS)})")
        try:
            share = float(value)
        except ValueError:
            raise ValueError(f"--mix: {kind} needs a share between 0 and 1, got {value.strip()!r}") from None
        if not 0 <= share <= 1:
            raise ValueError(f"--mix: {kind} needs a share between 0 and 1, got {share}")
        shares[f"{kind}_share"] = share
    return shares


def build_examples(
    documents: list[RedocredDocument],
    relation_names: dict[str, str],
    count: int,
    seed: int = 13,
    unanswerable_share: float = 0.25,
    multihop_share: float = 0.2,
    replay_share: float = 0.08,
    yesno_share: float = 0.1,
    comparison_share: float = 0.07,
    broken_chain_share: float = 0.0,
    three_hop_share: float = 0.0,
    passage_sentences: tuple[int, ...] = (_SENTENCES_PER_PASSAGE,),
) -> list[Example]:
    """``count`` examples in the given mix (the rest single-fact questions), drawn without repeating a (document,
    fact) where possible; a kind the documents cannot supply enough of comes out short. ``broken_chain_share``:
    unanswerable two-hop questions whose first hop is in the evidence and second is not (on top of
    ``unanswerable_share``, whose questions lose the answer's passages outright). ``three_hop_share``: questions
    chaining three facts (kind ``multihop``, on top of ``multihop_share``'s two-fact ones). ``passage_sentences``:
    the passage sizes (sentences) documents are cut into, one per document."""
    if not passage_sentences or any(size < 1 for size in passage_sentences):
        raise ValueError("passage sizes must be whole numbers of sentences, at least 1")
    builder = _Builder(documents, relation_names, seed, tuple(passage_sentences))
    rng = random.Random(seed + 1)
    facts = [(doc, fact) for doc in documents for fact in doc.facts]
    rng.shuffle(facts)
    chains = [
        (doc, f1, f2) for doc in documents for f1 in doc.facts for f2 in doc.facts if f1[2] == f2[0] and f1[0] != f2[2]
    ]
    rng.shuffle(chains)
    wanted = {
        "unanswerable": round(count * unanswerable_share),
        "multihop": round(count * multihop_share),
        "broken_chain": round(count * broken_chain_share),
        "three_hop": round(count * three_hop_share),
        "replay": round(count * replay_share),
        "yesno": round(count * yesno_share),
        "comparison": round(count * comparison_share),
    }
    if (
        unanswerable_share
        + multihop_share
        + replay_share
        + yesno_share
        + comparison_share
        + broken_chain_share
        + three_hop_share
        > 1 + 1e-9
    ):
        raise ValueError("the shares of the example mix add up to more than 1")
    wanted["answer"] = count - sum(wanted.values())
    out: dict[str, list[Example]] = {kind: [] for kind in wanted}
    for doc, fact in facts:
        if len(out["answer"]) < wanted["answer"]:
            made = builder.single(doc, fact, unanswerable=False)
            if made:
                out["answer"].append(made)
        elif len(out["unanswerable"]) < wanted["unanswerable"]:
            made = builder.single(doc, fact, unanswerable=True)
            if made:
                out["unanswerable"].append(made)
        else:
            break
    for doc, first, second in chains:
        if len(out["multihop"]) < wanted["multihop"]:
            kind, made = "multihop", builder.multihop(doc, first, second)
        elif len(out["broken_chain"]) < wanted["broken_chain"]:
            kind, made = "broken_chain", builder.multihop(doc, first, second, unanswerable=True)
        else:
            break
        if made:
            out[kind].append(made)
    if wanted["three_hop"]:
        _add_three_hop(builder, chains, rng, wanted["three_hop"], out["three_hop"])
    _add_pair_questions(builder, facts, rng, wanted, out)
    for doc in rng.sample(documents, len(documents)) * 4:
        if len(out["replay"]) >= wanted["replay"]:
            break
        made = builder.replay(doc)
        if made:
            out["replay"].append(made)
    examples = [e for kind in out.values() for e in kind]
    rng.shuffle(examples)
    return examples


def _add_three_hop(builder: _Builder, chains: list, rng: random.Random, wanted: int, out: list[Example]) -> None:
    """Extend two-fact chains by a third fact from the same document whose head is the second one's tail."""
    for doc, first, second in chains:
        if len(out) >= wanted:
            return
        thirds = [f for f in doc.facts if f[0] == second[2] and f[2] not in (first[0], first[2])]
        if thirds and (made := builder.multihop(doc, first, second, rng.choice(thirds))):
            out.append(made)


def _add_pair_questions(
    builder: _Builder, facts: list, rng: random.Random, wanted: dict[str, int], out: dict[str, list[Example]]
) -> None:
    """Yes/no and comparison questions: half the yes/no ones about one fact (true or swapped tail), half about two
    documents' facts of the same relation (same tail or not, in equal parts); comparisons alternate earlier/later."""
    for doc, fact in facts:
        if len(out["yesno"]) >= wanted["yesno"] // 2:
            break
        made = builder.check(doc, fact, truthful=len(out["yesno"]) % 2 == 0)
        if made:
            out["yesno"].append(made)
    by_relation: dict[str, list] = {}
    for doc, fact in facts:
        by_relation.setdefault(fact[1], []).append((doc, fact))
    same_pool = [r for r in _SAME if len(by_relation.get(r, ())) > 1]
    compare_pool = [r for r in _COMPARE if len(by_relation.get(r, ())) > 1]
    for _ in range(20 * (wanted["yesno"] + wanted["comparison"])):
        if len(out["yesno"]) < wanted["yesno"] and same_pool:
            relation = rng.choice(same_pool)
            first, second = rng.sample(by_relation[relation], 2)
            if len(out["yesno"]) % 2 == 0:  # a "yes" pair: a second document with the same tail, when there is one
                tails = {m.lower() for m, _ in first[0].entities[first[1][2]]}
                matching = [
                    p
                    for p in by_relation[relation]
                    if p[0] is not first[0] and {m.lower() for m, _ in p[0].entities[p[1][2]]} & tails
                ]
                second = rng.choice(matching) if matching else second
            made = builder.same(first, second)
            yes_count = sum(e.answers == ("yes",) for e in out["yesno"])
            if made and (made.answers == ("yes",)) == (2 * yes_count <= len(out["yesno"])):  # keep yes/no even
                out["yesno"].append(made)
        elif len(out["comparison"]) < wanted["comparison"] and compare_pool:
            relation = rng.choice(compare_pool)
            made = builder.compare(*rng.sample(by_relation[relation], 2), earlier=rng.random() < 0.5)
            if made:
                out["comparison"].append(made)
        else:
            break


def heldout_question_sets(
    validation_documents: list[RedocredDocument],
    relation_names: dict[str, str],
    validation_count: int,
    calibration_count: int,
    seed: int = 13,
) -> tuple[list[Example], list[Example]]:
    """(validation, calibration) question sets from two disjoint halves of the held-out documents (40%
    unanswerable, no replay): the abstain bias is chosen on one half and reported on the other."""
    report_docs, calibration_docs = split_documents(validation_documents, 0.5, salt="calibration")
    shape = dict(unanswerable_share=0.4, multihop_share=0.15, replay_share=0.0)
    return (
        build_examples(report_docs, relation_names, validation_count, seed=seed + 1, **shape),
        build_examples(calibration_docs, relation_names, calibration_count, seed=seed + 2, **shape),
    )


def data_sha256(examples: list[Example]) -> str:
    """Content hash of an example set (recorded in the adapter manifest)."""
    digest = hashlib.sha256()
    for example in examples:
        digest.update(json.dumps(asdict(example), sort_keys=True).encode("utf-8"))
    return digest.hexdigest()
