"""Relation chains matched to a question by meaning: the answer to "Where was X's father born?" is the end of the
chain X -FATHER-> Y -PLACE_OF_BIRTH-> Z whose relations, in any order, say what the question's words say.

* Each relation type has a readable phrase (``PLACE_OF_BIRTH`` -> "place of birth") and an inverse phrase for a hop
  walked against the edge's direction ("place of birth of"); their vectors come from the product's embedder and are
  kept per engine (:class:`RelationVectors`), so a type is embedded once.
* The question's words outside the linked entities give candidate phrases: runs of up to four words that neither
  start nor end with a function word ("father", "place of birth", "born").
* A chain is scored by aligning each of its relations to its own phrase (no two relations share a word), best
  alignment first: ``precision`` is the geometric mean of the aligned phrases' similarities, ``recall`` the share of
  the question's content words the chain accounts for, and the score their product. A chain with a relation the
  question does not mention loses precision; a chain that leaves words of the question unexplained loses recall, so
  the number of hops is chosen by the question, not given.
* The search is a beam from each linked entity, one store read per hop for the whole beam. For two linked entities
  the entities one relation away from both are scored too, the two relations aligned together (conjunctions).
"""

from __future__ import annotations

import itertools
import logging
import math
import threading
import zipfile
from collections import OrderedDict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path as FsPath

import numpy as np

from graphrag.retrieval.question import QuestionInfo
from graphrag.types import Entity, Path, PathStep, Relation

_log = logging.getLogger(__name__)

__all__ = ["Chain", "RelationChainFinder", "RelationVectors", "name_modifiers", "relation_phrase", "tied_answers"]

_PREPOSITIONS = frozenset("of in on at to for by with from into".split())
# Words that say nothing about a relation: question words, auxiliaries, articles and the possessive.
_FUNCTION_WORDS = frozenset(
    """what which who whom whose where when why how is are was were be been do does did has have had the a an of s 's
    in on at to for by with from as that this these those and or it its their his her tell me name list give""".split()
)
_LONGEST_PHRASE = 4  # words
_INVERSE_WEIGHT = 0.97  # a hop against the edge's direction, where the same words fit both ways, comes second
_BEAM = 16  # relation sequences kept per hop
_FRONTIER = 1000  # chains kept per hop
_FETCH_LIMIT = 20_000  # relations read per hop
_CHAINS_KEPT = 200  # scored chains returned (the best of every hop together)
_TIE = 1e-6
_TYPES_PER_BATCH = 256
_PHRASES_KEPT = 50_000
_CONJUNCTION_ANCHORS = 3  # linked entities paired for conjunctive questions (three pairs at most)
_PAIRS_SCORED = 2500  # relation-type pairs scored for one pair of anchors
# The similarity unrelated short phrases still get from the embedder: a chain's confidence is how far its score
# rises above that. Related but different relations score as high as paraphrases ("employer" / PROFESSION 0.56,
# "job" / PROFESSION 0.55), which no threshold on this scale tells apart.
_UNRELATED = 0.3
# How similar the answer noun must be to the hop reaching the answer to name that relation by itself, so that the
# hop takes the question's verb too ("What faith does X follow?"): the same concept in other words ("faith" /
# RELIGION 0.68, "occupation" / PROFESSION 0.76) does; an associated one ("school" / PARENTS 0.58, "hobby" /
# PROFESSION 0.55) does not.
_NAMES_RELATION = 0.6
_LEAST_SIMILARITY = 0.05  # a hop with no phrase (or a phrase it contradicts) in the geometric mean
_PHRASING = "phrasing-3"  # names the way relation phrases are written (inverse_phrase); a change re-embeds them


@dataclass(frozen=True, slots=True)
class Chain:
    """A scored path from a linked entity to a candidate answer entity."""

    path: Path
    answer: Entity
    score: float


def relation_phrase(relation_type: str) -> str:
    """The readable words of a relation type: ``PLACE_OF_BIRTH`` -> "place of birth". A one-letter word other than
    "a" is a schema's plural mark, not a word (Freebase's ``spouse_s``, ``position_s``)."""
    words = relation_type.lower().split("_")
    kept = [w for w in words if w and (len(w) > 1 or w == "a")]
    return " ".join(kept or words)


def inverse_phrase(relation_type: str, past_forms: frozenset[str] = frozenset()) -> str:
    """What a hop against the edge's direction says: a noun's "place of birth of"; a verb reads the same both ways
    ("acquired", "founded" for ``FOUNDED_BY``: the word order of the question tells the direction apart); a phrase
    that ends in a preposition ("chief executive of", "born in") is kept as it is."""
    words = relation_phrase(relation_type).split()
    if not words:
        return ""
    if words[-1] == "by" and len(words) > 1:
        return " ".join(words[:-1])
    if _past_form(words[0], past_forms) or words[-1] in _PREPOSITIONS:
        return " ".join(words)
    return " ".join([*words, "of"])


class RelationVectors:
    """Unit vectors of the relation types' phrases, forward and inverse, embedded once per type and kept in
    ``path`` (an ``.npz`` file beside the vector indexes, rewritten whole when types are added); thread-safe.

    The engine brings them up to date after every write (:meth:`sync`), so a question rarely embeds a type."""

    def __init__(
        self,
        embed: Callable[[list[str]], np.ndarray],
        path: FsPath | None = None,
        model: str = "",
        past_forms: frozenset[str] = frozenset(),
    ) -> None:
        self._embed = embed
        self._path = path
        # The embedder's name and the phrasing: vectors of another model or phrasing are not reused.
        self._model = f"{model}|{_PHRASING}"
        self.past_forms = past_forms
        self._vectors: dict[tuple[str, bool], np.ndarray] = {}
        self._far_ends: dict[tuple[str, bool], bool] = {}
        self._lock = threading.Lock()
        if path is not None and path.exists():
            self._load(path)

    def _load(self, path: FsPath) -> None:
        try:
            with np.load(path, allow_pickle=False) as saved:
                if str(saved["model"]) != self._model:
                    return
                types, forward, inverse = list(saved["types"]), saved["forward"], saved["inverse"]
        except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile):
            return  # unreadable (torn, foreign): the types are embedded again as they are needed
        for index, relation_type in enumerate(types):
            self._vectors[(str(relation_type), True)] = forward[index]
            self._vectors[(str(relation_type), False)] = inverse[index]

    def sync(self, types: Iterable[str]) -> int:
        """Embed the types not yet known and save; the number embedded."""
        with self._lock:
            added = self._add(types)
            if added and self._path is not None:
                try:
                    self._save(self._path)
                except OSError as exc:  # a cache: a write that stored its data must not fail for want of it
                    _log.warning("relation type vectors not saved to %s: %s", self._path, exc)
            return added

    def _add(self, types: Iterable[str]) -> int:
        missing = sorted({t for t in types if (t, True) not in self._vectors})
        for start in range(0, len(missing), _TYPES_PER_BATCH):
            part = missing[start : start + _TYPES_PER_BATCH]
            inverse = [inverse_phrase(t, self.past_forms) for t in part]
            vectors = self._embed([relation_phrase(t) for t in part] + inverse)
            for index, relation_type in enumerate(part):
                self._vectors[(relation_type, True)] = vectors[index]
                self._vectors[(relation_type, False)] = vectors[len(part) + index]
        return len(missing)

    def _save(self, path: FsPath) -> None:
        types = sorted({t for t, _ in self._vectors})
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_name(path.name + ".partial")
        with partial.open("wb") as handle:
            np.savez(
                handle,
                model=np.array(self._model),
                types=np.array(types),
                forward=np.stack([self._vectors[(t, True)] for t in types]),
                inverse=np.stack([self._vectors[(t, False)] for t in types]),
            )
        partial.replace(path)  # a reader never sees half a file

    def names_far_end(self, step: tuple[str, bool]) -> bool:
        """:func:`_names_far_end` of a (relation type, forward) step, worked out once per step. Kept here, not in a
        module-wide cache keyed by the past forms too: every engine has its own equal set of them, and each hit
        of such a cache compared two sets of thousands of words (a second engine's graph stage took 1.5x)."""
        found = self._far_ends.get(step)
        if found is None:
            found = self._far_ends[step] = _names_far_end(*step, self.past_forms)
        return found

    def get(self, steps: Sequence[tuple[str, bool]]) -> dict[tuple[str, bool], np.ndarray]:
        """The vector of each ``(relation type, forward)``, embedding the types not seen before in one batch."""
        with self._lock:
            self._add(t for t, _ in steps)
            return {step: self._vectors[step] for step in steps}


@dataclass(frozen=True, slots=True)
class _Phrase:
    words: frozenset[int]  # positions in the question
    content: frozenset[tuple[int, float]]  # of those, the content words with their weight in the recall
    verbal: bool = False  # its first word is a past participle or past tense ("acquired", "founded")
    # The named entity's role for this phrase's verb: (it does what the verb says, it undergoes it), from the word
    # order: "X acquired ..." / "... acquired by X" against "Who acquired X?" / "X was acquired".
    roles: tuple[bool, bool] = (False, False)

    @property
    def says_more(self) -> bool:
        """Whether it holds a word that counts, beyond the noun naming what is asked for."""
        return any(weight > 0 for _, weight in self.content)


class _Alignment:
    """Scores multisets of (relation type, forward) against one question's phrases (memoised per multiset)."""

    def __init__(
        self,
        phrases: list[_Phrase],
        phrase_vectors: np.ndarray,
        content: float,
        vectors: RelationVectors,
    ):
        self.phrases = phrases
        self.phrase_vectors = phrase_vectors
        self.content = content
        self.vectors = vectors
        self.first_excusable = False  # the first hop may go without a phrase ("a club with a player from Y", _free_hop)
        # Per step: its similarity to each phrase as an inner hop and as the hop reaching the answer, each with and
        # without the second place of a hop walked backwards (see _row).
        self._rows: dict[tuple[str, bool], tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]] = {}
        self._answer_noun_only = np.array([not phrase.says_more for phrase in phrases])
        self._nouns = [int(p) for p in np.flatnonzero(self._answer_noun_only)]
        self._words = [phrase.words for phrase in phrases]
        # What _best reads, per step, made once: rows as lists (it reads single values, which numpy serves slowly)
        # and the phrases an inner hop may take, best first (never one of nothing but the answer noun).
        self._lists: dict[tuple[tuple[str, bool], bool, bool], list[float]] = {}
        self._ranked: dict[tuple[tuple[str, bool], bool], list[int]] = {}
        self._directions: dict[tuple[str, bool], float] = {}
        self._takes: dict[tuple, tuple[float, tuple[int, ...]]] = {}
        self._scores: dict[tuple, float] = {}

    def similarities(self, steps: Sequence[tuple[str, bool]]) -> None:
        """Work out the phrase similarities of every step type not yet seen (one matrix product)."""
        new = sorted({s for s in steps if s not in self._rows})
        if not new:
            return
        found = self.vectors.get(new)
        # A phrase of nothing but the noun naming what is asked for matches only the hop that reaches the answer,
        # and only when its relation is a noun for the entity it leads to ("What religion does X practice?":
        # RELIGION walked forward). Any other hop takes its next phrase ("Which country is X a citizen of?":
        # NATIONALITY takes "citizen"; "Which city is X based in?" does not walk on X -BASED_IN-> city -CITY_IN->
        # region, since "city in" names its near end).
        # Whole matrices at once: around a hub a question meets thousands of new steps, and four small array
        # operations per step cost more than the product itself.
        matrix = np.stack([found[s] for s in new]) @ self.phrase_vectors.T
        inner = np.where(self._answer_noun_only, 0.0, matrix)
        far = np.array([self.vectors.names_far_end(step) for step in new])
        outer = np.where(far[:, None], matrix, inner)
        weights = np.array([1.0 if forward else _INVERSE_WEIGHT for _, forward in new], dtype=matrix.dtype)[:, None]
        weighted_inner, weighted_outer = inner * weights, outer * weights
        for index, step in enumerate(new):
            self._rows[step] = (weighted_inner[index], weighted_outer[index], inner[index], outer[index])

    def _row(self, step: tuple[str, bool], last: bool, plain: bool) -> np.ndarray:
        return self._rows[step][(2 if plain else 0) + (1 if last else 0)]

    def _row_list(self, step: tuple[str, bool], last: bool, plain: bool) -> list[float]:
        found = self._lists.get((step, last, plain))
        if found is None:
            found = self._lists[(step, last, plain)] = self._row(step, last, plain).tolist()
        return found

    def _phrases_ranked(self, step: tuple[str, bool], plain: bool) -> list[int]:
        found = self._ranked.get((step, plain))
        if found is None:
            only_noun = self._answer_noun_only
            order = np.argsort(-self._row(step, False, plain), kind="stable")
            found = self._ranked[(step, plain)] = [int(p) for p in order if not only_noun[p]]
        return found

    def score(self, steps: tuple[tuple[str, bool], ...]) -> float:
        # The last hop keeps its place (it reaches the answer), and so does the first when it may go without a
        # phrase; the others align in any order (one memo entry for all their orders).
        if self.first_excusable and len(steps) > 1:
            key = (steps[0], *sorted(steps[1:-1]), steps[-1])
        else:
            key = (*sorted(steps[:-1]), steps[-1])
        found = self._scores.get(key)
        if found is None:
            excusable = (self.first_excusable and len(key) > 1,) + (False,) * (len(key) - 1)
            found = self._scores[key] = self._best(key, excusable, last=(len(key) - 1,))
        direction = self._directions.get(steps[0])
        if direction is None:
            direction = self._directions[steps[0]] = self._direction(steps[0])
        return found * direction

    def _direction(self, step: tuple[str, bool]) -> float:
        """0.75 when the first hop walks a verb's relation against what the question's word order says: "Who
        acquired X?" walks ACQUIRED into X, "What did X acquire?" out of it; ``..._BY`` types the other way round.
        Noun relations ("place of birth") read the same either way and keep 1.0."""
        relation_type, forward = step
        row = self._row(step, last=False, plain=False)
        best = int(np.argmax(row)) if len(row) else -1
        if best < 0 or not self.phrases[best].verbal:
            return 1.0
        does, undergoes = self.phrases[best].roles
        if does == undergoes:
            return 1.0
        passive_type = relation_type.endswith("_BY")
        source_does = not passive_type
        expected_forward = does if source_does else undergoes
        return 1.0 if forward == expected_forward else 0.75

    def _best(
        self,
        steps: tuple[tuple[str, bool], ...],
        excusable: tuple[bool, ...] = (),
        plain: bool = False,
        last: tuple[int, ...] = (),
    ) -> float:
        """precision x recall of the best alignment of ``steps`` to phrases; a step marked in ``excusable`` that is
        left without a phrase does not count against the precision; the steps at ``last`` reach the answer.
        ``plain`` leaves out the second place of hops walked against their edge (for conjunctions, whose two
        anchors fix every hop's direction)."""
        best = 0.0
        takes, phrases = self._takes, self.phrases
        for order in itertools.permutations(range(len(steps))):
            used: frozenset[int] = frozenset()
            covered: set[tuple[int, float]] = set()
            logs = 0.0  # the precision is the geometric mean: one weak hop is not carried by a strong one
            counted = len(steps)
            for index in order:
                # the memo read here, not in a call: a question's ranking reads it tens of thousands of times
                found = takes.get((steps[index], index in last, plain, used))
                if found is None:
                    found = self._take(steps[index], index in last, plain, used)
                similarity, taken = found
                if not taken and excusable and excusable[index]:
                    counted -= 1
                    continue
                logs += math.log(max(similarity, _LEAST_SIMILARITY))
                for phrase in taken:
                    used |= self._words[phrase]
                    covered |= phrases[phrase].content
            if not counted:
                continue
            recall = sum(weight for _, weight in covered) / self.content if self.content else 1.0
            score = math.exp(logs / counted) * recall
            best = max(best, score)
        return best

    def _take(
        self, step: tuple[str, bool], last: bool, plain: bool, used: frozenset[int]
    ) -> tuple[float, tuple[int, ...]]:
        """The phrases one hop takes, those holding a word in ``used`` being taken already, and its similarity to
        them; kept in ``_takes``, since a question's sequences share their steps and the phrases their other steps
        took."""
        words = self._words
        choice = next((p for p in self._phrases_ranked(step, plain) if not words[p] & used), None)
        similarity = self._row_list(step, False, plain)[choice] if choice is not None else 0.0
        taken: tuple[int, ...] = () if choice is None else (choice,)
        if last:
            # A hop reaching the answer may take the answer noun besides its own phrase, when the noun fits it
            # better: in "What religion does X practice?" the hop RELIGION says both "religion" and "practice".
            noun_row = self._row_list(step, True, plain)
            free = [p for p in self._nouns if not words[p] & used]
            noun = max(free, key=noun_row.__getitem__, default=None)
            # Alone, the noun is the hop's phrase; beside another phrase it must name the relation itself.
            if noun is not None and noun_row[noun] > (max(similarity, _NAMES_RELATION) if taken else 0.0):
                similarity = noun_row[noun]
                taken = (*taken, noun)
        found = self._takes[(step, last, plain, used)] = (similarity, taken)
        return found


class _Joint:
    """Scores pairs of first hops, one from each of two anchors, that meet at one entity."""

    def __init__(self, alignment: _Alignment, excusable: tuple[bool, bool]) -> None:
        self.alignment = alignment
        self.excusable = excusable  # per anchor, whether its hop may go without a phrase (_free_hop)
        self._scores: dict[tuple[tuple[str, bool], tuple[str, bool]], float] = {}

    def score(self, first: tuple[str, bool], second: tuple[str, bool]) -> float:
        key = (first, second)
        if key not in self._scores:
            self._scores[key] = self.alignment._best(key, self.excusable, plain=True, last=(0, 1))
        return self._scores[key]


class _Adjacency:
    """One hop's relations around the beam's ends, grouped per entity by (relation type, walked forward)."""

    def __init__(self, relations: list[Relation], ends: set[str]) -> None:
        # entity -> (type, forward) -> [(position, relation, other end)]; an entity's relations keep the order they
        # were read in, so the position of each is its place in ``relations``. Only the beam's ``ends`` are ever
        # walked from, so the far ends of the hop (half the work, around hubs) are not grouped.
        self._groups: dict[str, dict[tuple[str, bool], list[tuple[int, Relation, str]]]] = {}
        for position, rel in enumerate(relations):
            source, target = rel.source_id, rel.target_id
            if source in ends:
                self._groups.setdefault(source, {}).setdefault((rel.type, True), []).append((position, rel, target))
            if target != source and target in ends:
                self._groups.setdefault(target, {}).setdefault((rel.type, False), []).append((position, rel, source))

    @staticmethod
    def _walkable(rel: Relation, steps: tuple[PathStep, ...]) -> bool:
        # A path never walks an edge back the way it came (a loop, which leads nowhere else, may repeat).
        return rel.source_id == rel.target_id or all(s.relation.id != rel.id for s in steps)

    def groups(self, entity: str, steps: tuple[PathStep, ...]) -> list[tuple[str, bool]]:
        """The (type, forward) steps a path ending at ``entity`` after ``steps`` can take, in the order of their
        first walkable relation."""
        firsts = []
        for step, members in self._groups.get(entity, {}).items():
            position = next((p for p, rel, _ in members[: len(steps) + 1] if self._walkable(rel, steps)), None)
            if position is not None:
                firsts.append((position, step))
        return [step for _, step in sorted(firsts)]

    def first_hops(self, start: str) -> list[tuple[str, str, tuple[PathStep, ...]]]:
        """Every one-step chain from ``start``, in the order its relations were read."""
        members = sorted(
            (position, rel, other, step[1])
            for step, group in self._groups.get(start, {}).items()
            for position, rel, other in group
        )
        return [(start, other, (PathStep(rel, forward),)) for _, rel, other, forward in members]

    def extend(
        self, entry: tuple[str, str, tuple[PathStep, ...]], step: tuple[str, bool]
    ) -> list[tuple[str, str, tuple[PathStep, ...]]]:
        """The chains that follow ``entry`` (start, end, steps) one ``step`` further."""
        start, entity, steps = entry
        return [
            (start, other, (*steps, PathStep(rel, step[1])))
            for _, rel, other in self._groups.get(entity, {}).get(step, ())
            if self._walkable(rel, steps)
        ]


class RelationChainFinder:
    """Finds the relation chains from the linked entities that best say what the question asks."""

    def __init__(self, vectors: RelationVectors, embed: Callable[[list[str]], np.ndarray]) -> None:
        self.vectors = vectors
        self._embed = embed
        # Question phrases recur ("place of birth", "founded"): their vectors are kept, least recently used out.
        self._phrases: OrderedDict[str, np.ndarray] = OrderedDict()
        self._lock = threading.Lock()

    def _phrase_vectors(self, texts: list[str]) -> dict[str, np.ndarray]:
        with self._lock:
            missing = [t for t in texts if t not in self._phrases]
        found = dict(zip(missing, self._embed(missing))) if missing else {}  # one batch for every new phrase
        with self._lock:
            for text in texts:
                if text in found:
                    self._phrases[text] = found[text]
                else:
                    self._phrases.move_to_end(text)
                    found[text] = self._phrases[text]
            while len(self._phrases) > _PHRASES_KEPT:
                self._phrases.popitem(last=False)
        return found

    def prepare(self, info: QuestionInfo) -> None:
        """Embed every phrase the question's chains may read (each span of up to ``_LONGEST_PHRASE`` words that
        starts and ends on a content word; :meth:`chains` reads a subset, chosen once the names are linked), so
        that they are cached when :meth:`chains` needs them. The planner runs it beside the question's own
        embedding and linking: on two cores, both forward passes on one thread each side by side."""
        words = _phrase_words(info)
        content = [i for i, word in enumerate(words) if word not in _FUNCTION_WORDS]
        texts = sorted(
            {
                " ".join(words[first : last + 1])
                for first in content
                for last in range(first, min(len(words), first + _LONGEST_PHRASE))
                if words[last] not in _FUNCTION_WORDS
            }
        )
        if texts:
            self._phrase_vectors(texts)

    def chains(
        self,
        info: QuestionInfo,
        linked: Sequence[tuple[str, int, int]],
        neighbors: Callable[[list[str], int], list[Relation]],
        entities: Callable[[list[str]], dict[str, Entity]],
        max_hops: int,
    ) -> list[Chain]:
        """Chains from each ``(entity id, first word, last word)`` of ``linked``, best first, and for two linked
        entities the entities one relation away from both ("Which film directed by X stars Y?"). ``neighbors(ids,
        limit)`` reads the relations of the given entities; ``entities(ids)`` the entities by id."""
        alignments = self._alignments(info, linked)
        joints = {} if info.wants_connection else self._joint_alignments(info, linked)
        if not alignments and not joints:
            return []
        linked_ids = {entity_id for entity_id, _, _ in linked}
        starts = sorted(set(alignments) | {anchor for pair in joints for anchor in pair})
        beam: list[tuple[str, str, tuple[PathStep, ...]]] = [(e, e, ()) for e in starts]
        # (score, start, answer, steps): a chain's answer is its end; a conjunction's is its middle.
        found: list[tuple[float, str, str, tuple[PathStep, ...]]] = []
        for hop in range(max_hops):
            ends = {node for _, node, _ in beam}
            adjacency = _Adjacency(neighbors(sorted(ends), _FETCH_LIMIT), ends)
            if hop == 0 and joints:
                first_hops = [chain for start, _, _ in beam for chain in adjacency.first_hops(start)]
                found.extend(self._conjunctions(joints, first_hops, linked_ids))
            beam = [entry for entry in beam if entry[0] in alignments]
            # The chains of one relation sequence score alike, so sequences are ranked before any chain is built:
            # around a hub (a country with thousands of relations) the chains are many and the sequences few.
            groups: dict[tuple, list[int]] = {}  # (start, sequence) -> the beam entries it follows
            for index, (start, node, steps) in enumerate(beam):
                sequence = tuple((s.relation.type, s.forward) for s in steps)
                for step in adjacency.groups(node, steps):
                    groups.setdefault((start, (*sequence, step)), []).append(index)
            if not groups:
                break
            new_steps = sorted({key[1][-1] for key in groups})
            for alignment in alignments.values():
                alignment.similarities(new_steps)
            ranked = sorted(groups, key=lambda key: -alignments[key[0]].score(key[1]))
            # The beam keeps the best sequences, each with every chain that follows it (only some of the people
            # born in a place have a recorded gender); of the rest only the chains that can still be kept are built.
            next_beam: list[tuple[str, str, tuple[PathStep, ...]]] = []
            answers = 0
            for rank, key in enumerate(ranked):
                if rank >= _BEAM and answers >= _CHAINS_KEPT:
                    break
                score = alignments[key[0]].score(key[1])
                chains = [chain for index in groups[key] for chain in adjacency.extend(beam[index], key[1][-1])]
                for start, end, steps in chains:
                    # An entity the question names is not its answer, unless a relation leads from it to itself.
                    if answers < _CHAINS_KEPT and (
                        end not in linked_ids or steps[-1].relation.source_id == steps[-1].relation.target_id
                    ):
                        found.append((score, start, end, steps))
                        answers += 1
                if len(next_beam) < _FRONTIER and rank < _BEAM:
                    next_beam.extend(chains[: _FRONTIER - len(next_beam)])
            beam = next_beam
        found.sort(key=lambda item: (-item[0], len(item[3])))
        return self._as_chains(found[:_CHAINS_KEPT], entities)

    @staticmethod
    def _conjunctions(
        joints: dict[tuple[str, str], _Joint],
        first_hops: list[tuple[str, str, tuple[PathStep, ...]]],
        linked_ids: set[str],
    ) -> list[tuple[float, str, str, tuple[PathStep, ...]]]:
        """The entities one relation away from both anchors of each pair, scored by how well the two relations
        together say what the question says; the path runs from the first anchor through the answer to the
        second."""
        reached: dict[str, dict[str, list[PathStep]]] = {}
        for start, end, steps in first_hops:
            if end not in linked_ids:
                reached.setdefault(start, {}).setdefault(end, []).append(steps[0])
        found = []
        for (first, second), joint in joints.items():
            ends_first, ends_second = reached.get(first, {}), reached.get(second, {})
            common = sorted(ends_first.keys() & ends_second.keys())[:_FRONTIER]
            if not common:
                continue
            types_first = sorted({(s.relation.type, s.forward) for steps in ends_first.values() for s in steps})
            types_second = sorted({(s.relation.type, s.forward) for steps in ends_second.values() for s in steps})
            if len(types_first) * len(types_second) > _PAIRS_SCORED:
                continue  # hubs with hundreds of relation types: their pairs say nothing by meeting
            joint.alignment.similarities(types_first + types_second)
            # The question's words choose the two relations; where they meet is the answer. When the pair they
            # choose meets nowhere, a lesser pair that does is not the answer ("Which film directed by X stars Y?"
            # when Y only produced one of X's films).
            best = max((joint.score(a, b) for a in types_first for b in types_second), default=0.0)
            for end in common:
                for step_first in ends_first[end]:
                    for step_second in ends_second[end]:
                        score = joint.score(
                            (step_first.relation.type, step_first.forward),
                            (step_second.relation.type, step_second.forward),
                        )
                        if score < best - _TIE:
                            continue
                        back = PathStep(step_second.relation, not step_second.forward)
                        found.append((score, first, end, (step_first, back)))
        return found

    def _alignments(self, info: QuestionInfo, linked: Sequence[tuple[str, int, int]]) -> dict[str, _Alignment]:
        """One alignment per linked entity: the question's words outside that entity's name are what its chains
        must say (another linked name among them may be a relation's words: "place of birth" is also a title)."""
        words = _phrase_words(info)
        modifiers = name_modifiers(info)
        plans: dict[str, tuple[list[_Phrase], list[str], float]] = {}
        excused: set[str] = set()
        for entity_id, first_word, last_word in linked:
            if entity_id in plans:
                continue
            spans = [(first, last) for _, first, last in linked if (first, last) != (first_word, last_word)]
            plan = self._plan(words, [(first_word, last_word)], spans, answer_nouns=False, modifiers=modifiers)
            if plan is not None:
                plans[entity_id] = plan
                if _free_hop(words, first_word):
                    excused.add(entity_id)
        alignments = self._aligned(plans)
        for entity_id in excused:
            alignments[entity_id].first_excusable = True
        return alignments

    def _joint_alignments(
        self, info: QuestionInfo, linked: Sequence[tuple[str, int, int]]
    ) -> dict[tuple[str, str], _Joint]:
        """One joint alignment per pair of linked entities with names apart: the question's words outside both
        names are what the two relations that meet at the answer must say together."""
        words = _phrase_words(info)
        modifiers = name_modifiers(info)
        anchors: list[tuple[str, int, int]] = []
        for anchor in linked:
            # a name qualifying the asked noun ("what Australian city") describes the answer, it is no second
            # thing the answer is joined to
            qualifies = all(i in modifiers for i in range(anchor[1], anchor[2] + 1))
            if not qualifies and all(anchor[0] != kept[0] for kept in anchors) and len(anchors) < _CONJUNCTION_ANCHORS:
                anchors.append(anchor)
        plans: dict[tuple[str, str], tuple[list[_Phrase], list[str], float]] = {}
        excusable: dict[tuple[str, str], tuple[bool, bool]] = {}
        for (a, a_first, a_last), (b, b_first, b_last) in itertools.combinations(anchors, 2):
            if a_first <= b_last and b_first <= a_last:
                continue  # overlapping names: two readings of the same words, not two things
            names = [(a_first, a_last), (b_first, b_last)]
            spans = [(first, last) for _, first, last in linked if (first, last) not in names]
            plan = self._plan(words, names, spans, answer_nouns=True, modifiers=modifiers)
            if plan is not None:
                plans[(a, b)] = plan
                excusable[(a, b)] = (_free_hop(words, a_first), _free_hop(words, b_first))
        return {pair: _Joint(alignment, excusable[pair]) for pair, alignment in self._aligned(plans).items()}

    def _plan(
        self,
        words: list[str],
        names: list[tuple[int, int]],
        other_spans: list[tuple[int, int]],
        answer_nouns: bool,
        modifiers: frozenset[int] = frozenset(),
    ) -> tuple[list[_Phrase], list[str], float] | None:
        """The candidate phrases of the words outside ``names``, with the weight of each content word; None when
        nothing is left to say. The noun that names what is asked for counts only with ``answer_nouns`` and nothing
        else left ("Which player of X is from Y?")."""
        past_forms = self.vectors.past_forms
        name = {i for first, last in names for i in range(first, last + 1)}
        others = {i for first, last in other_spans for i in range(first, last + 1)} - name
        other_names = {frozenset(range(first, last + 1)) for first, last in other_spans}
        content = {i for i, w in enumerate(words) if i not in name and w not in _FUNCTION_WORDS}
        # The noun that names what is asked for ("Which company acquired X?", "the company that X acquired")
        # may be matched by a relation but need not be.
        nouns = {i for i in content if _answer_noun(words, i, past_forms, modifiers)} - others
        required = content - nouns - others
        if not required and answer_nouns:
            required = content - others
        if not required and not nouns:
            return None  # nothing but names: "What nationality is X?" keeps its noun, "X and Y?" has nothing
        anchor = names[0] if len(names) == 1 else None
        phrases: list[_Phrase] = []
        texts: list[str] = []
        for first in sorted(content):
            for last in range(first, min(len(words), first + _LONGEST_PHRASE)):
                if last in name:
                    break
                if last not in content:
                    continue
                span = frozenset(range(first, last + 1))
                if span & others and not any(span <= other for other in other_names):
                    continue  # another name's words make phrases only among themselves ("place of birth")
                weights = {i: _weight(words, i, i in required, others) for i in span & content}
                roles = _roles(words, anchor[0], anchor[1], first, last) if anchor else (False, False)
                phrases.append(_Phrase(span, frozenset(weights.items()), _past_form(words[first], past_forms), roles))
                texts.append(" ".join(words[first : last + 1]))
        if not phrases:
            return None
        return phrases, texts, sum(_weight(words, i, i in required, others) for i in content)

    def _aligned(self, plans: dict) -> dict:
        """An :class:`_Alignment` per plan, the phrases of all of them embedded in one batch."""
        if not plans:
            return {}
        distinct = sorted({text for _, texts, _ in plans.values() for text in texts})
        vectors = self._phrase_vectors(distinct)
        return {
            key: _Alignment(phrases, np.stack([vectors[t] for t in texts]), content, self.vectors)
            for key, (phrases, texts, content) in plans.items()
        }

    @staticmethod
    def _as_chains(found, entities: Callable[[list[str]], dict[str, Entity]]) -> list[Chain]:
        ids = sorted({n for _, start, end, steps in found for n in _nodes(start, steps)})
        known = entities(ids)
        chains = []
        for score, start, end, steps in found:
            if end not in known:
                continue
            nodes = tuple(known.get(n) or Entity(n, n, "Other") for n in _nodes(start, steps))
            confidence = round(max(0.0, (score - _UNRELATED) / (1 - _UNRELATED)), 4)
            path = Path(nodes=nodes, steps=steps, score=confidence)
            chains.append(Chain(path=path, answer=known[end], score=confidence))
        return chains


def _names_far_end(relation_type: str, forward: bool, past_forms: frozenset[str]) -> bool:
    """Whether a hop's relation, read in its direction, is a noun for the entity it leads to: X's "religion" or
    "place of birth" (walked forward), or the "city in" X or "son of" X (walked backward). A verb names none."""
    words = relation_phrase(relation_type).split()
    if not words or _past_form(words[0], past_forms):
        return False
    return forward != (words[-1] in _PREPOSITIONS)


def _free_hop(words: list[str], index: int) -> bool:
    """Whether the name at ``index`` follows a preposition other than "of" ("from Y", "with Y", "by Y"): all the
    question says of the relation that joins it, so its hop may go without a phrase. "of" always follows the
    relation's own words ("the spouse of Y")."""
    return index > 0 and words[index - 1] in _PREPOSITIONS - {"of"}


def _phrase_words(info: QuestionInfo) -> list[str]:
    return [w.lower().removesuffix("'s").removesuffix("’s") for w in info.words]


_AUXILIARY = frozenset("is are was were be been being has have had".split())


def name_modifiers(info: QuestionInfo) -> frozenset[int]:
    """Positions of a capitalised word between "what" / "which" and a lower-case noun: "what Australian city" asks
    for a city, "Australian" only says which."""
    words = info.words
    return frozenset(
        i
        for i in range(1, len(words) - 1)
        if words[i - 1].lower() in ("what", "which")
        and words[i][:1].isupper()
        and words[i + 1][:1].islower()
        and words[i + 1].lower() not in _FUNCTION_WORDS
    )


def _answer_noun(
    words: list[str], index: int, past_forms: frozenset[str], modifiers: frozenset[int] = frozenset()
) -> bool:
    """Whether the word at ``index`` names the kind of thing asked for: right after "which" / "what" (or after a
    name modifying it there: ``modifiers``, "what Australian city"), or the head of a relative clause ("the company
    that ...", "the film directed by ...", but not "X's father born ...")."""
    if index in modifiers:
        return False
    if index - 1 in modifiers:
        return True
    before = words[index - 1] if index > 0 else ""
    after = words[index + 1] if index + 1 < len(words) else ""
    relative = after in ("that", "which", "who", "whom", "where")
    reduced = _past_form(after, past_forms) and (before in ("the", "a", "an") or words[index + 2 : index + 3] == ["by"])
    return before in ("which", "what") or relative or reduced


def _past_form(word: str, past_forms: frozenset[str]) -> bool:
    """A verb's past form: regular ("acquired") or listed by the language's lemmatizer ("bought", "won")."""
    return (len(word) > 4 and word.endswith("ed")) or word in past_forms


def _roles(words: list[str], first: int, last: int, phrase_first: int, phrase_last: int) -> tuple[bool, bool]:
    """Whether the entity named at ``first..last`` does what the verb of the phrase at ``phrase_first..`` says, and
    whether it undergoes it: before an active verb it does ("X acquired"), before a passive one it undergoes ("X
    was acquired", "X acquired by"); after the verb it undergoes ("acquired X") unless "by" comes right before it
    ("acquired by X")."""
    if phrase_first > last:
        between = words[last + 1 : phrase_first]
        passive = any(w in _AUXILIARY for w in between) or words[phrase_last + 1 : phrase_last + 2] == ["by"]
        return (not passive, passive)
    by_agent = first > 0 and words[first - 1] == "by"
    return (by_agent, not by_agent)


def _weight(words: list[str], index: int, required: bool, others: set[int]) -> float:
    """How much a content word counts in a chain's recall: 1; half for the words of another linked name (what the
    question says of it may be another chain's business); nothing for the noun naming what is asked for (a relation
    may match it, but a chain need not)."""
    if index in others:
        return 0.5
    return 1.0 if required else 0.0


def _nodes(start: str, steps: tuple[PathStep, ...]) -> list[str]:
    nodes = [start]
    for step in steps:
        nodes.append(step.relation.target_id if step.forward else step.relation.source_id)
    return nodes


def tied_answers(chains: Sequence[Chain]) -> list[Chain]:
    """The chains as good as the best one, one per answer entity: as high a score with no more hops (a longer chain
    scoring the same explains nothing more)."""
    if not chains:
        return []
    top, hops = chains[0].score, len(chains[0].path.steps)
    seen: dict[str, Chain] = {}
    for chain in chains:
        if chain.score < top - _TIE:
            break
        if len(chain.path.steps) <= hops:
            seen.setdefault(chain.answer.id, chain)
    return list(seen.values())
