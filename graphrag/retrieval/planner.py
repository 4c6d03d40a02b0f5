"""The query planner: link entities, pick a strategy, traverse the graph, search vectors and keywords, fuse.

Strategies (recorded in the QueryPlan):
* ``paths``         two or more linked entities: k shortest paths between each pair, plus chains from each;
* ``neighborhood``  one linked entity: relation chains around it, ranked by how well they match the question;
* ``hybrid``        nothing linked: vector + keyword hits, expanded through the graph by personalised PageRank.
Vector and keyword hits are always fused in, so graph evidence adds to text evidence rather than replacing it.
"""

from __future__ import annotations

import math
import time
from concurrent.futures import Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from itertools import combinations

from graphrag.config import Settings
from graphrag.graph_store.nx_view import RelationGraph
from graphrag.lm.lexicon import irregular_verb_forms
from graphrag.retrieval.fusion import reciprocal_rank_fusion
from graphrag.retrieval.linking import EntityLinker, LinkSpan
from graphrag.retrieval.passage_walk import PassageWalk, TitleIndex
from graphrag.retrieval.question import STOPWORDS, QuestionInfo, analyze_question
from graphrag.retrieval.relation_chains import Chain, RelationChainFinder, RelationVectors
from graphrag.retrieval.traversal import personalized_pagerank
from graphrag.types import Community, Entity, Evidence, Path, QueryPlan, Relation

__all__ = ["CANDIDATE_POOL", "PATHS_PER_PAIR", "Planner", "Retrieval"]

_FUSION_WEIGHTS = {"chains": 2.0, "paths": 2.0, "vector": 1.0, "keyword": 1.0, "pagerank": 0.5}
_NEIGHBOR_LIMIT = 1500


# Tuned on the multi-hop dev halves (docs/benchmarks.md, Retrieval); fixed here rather than settings: they tune the
# method, and no deployment has a reason to move them.
# Vector and keyword hits each gathered before fusion; shortest paths kept between each pair of linked entities.
CANDIDATE_POOL = 30
PATHS_PER_PAIR = 5
# Linking: the least fuzzy score (0-100) and embedding cosine that link a question's words to an entity.
FUZZY_LINK_THRESHOLD = 88.0
EMBEDDING_LINK_THRESHOLD = 0.80
# The passage walk: the best vector hits seed it, a seed weighing exp((cosine - best cosine) / temperature); the
# best keyword hits join (the n-th weighing KEYWORD_WEIGHT / n: an exact rare word is what BM25 finds and cosine
# blurs); DAMPING of the mass follows shared entities at each step, the rest returns to the seeds; entities in more
# than HUB_LIMIT passages are left out.
WALK_SEEDS = 10
WALK_TEMPERATURE = 0.05
WALK_KEYWORD_SEEDS = 2
WALK_KEYWORD_WEIGHT = 0.5
WALK_DAMPING = 0.7
WALK_HUB_LIMIT = 200


@dataclass(frozen=True, slots=True)
class Retrieval:
    """Everything retrieved for one question: the plan, ranked evidence, answer chains and connecting paths."""

    plan: QueryPlan
    info: QuestionInfo
    evidence: tuple[Evidence, ...]
    chains: tuple[Chain, ...]
    connections: tuple[Path, ...]
    unlinked_names: tuple[str, ...]
    chunk_entities: dict = field(default_factory=dict, hash=False)  # evidence chunk id -> entities it mentions
    timings_ms: dict = field(default_factory=dict, hash=False)
    communities: tuple[Community, ...] = ()  # the global strategy's answer material, largest first
    # The titles of the records that loaded the chains' structured facts ("triples: kb.jsonl"), by document id.
    record_titles: dict = field(default_factory=dict, hash=False)


class Planner:
    """Builds a QueryPlan and the evidence for it from a graph store, an embedder and two vector indexes."""

    def __init__(self, settings: Settings, store, embedder, chunk_index, entity_index, communities=None) -> None:
        self.settings = settings
        self.store = store
        # Where the global strategy gets communities: the engine's, which are recomputed when stale.
        self._communities = communities or store.list_communities
        self.embedder = embedder
        self.chunk_index = chunk_index
        self.entity_index = entity_index
        self._linker: EntityLinker | None = None
        self._titles: TitleIndex | None = None
        self._walk = PassageWalk(WALK_DAMPING, hub_limit=WALK_HUB_LIMIT)
        self._linker_version: object = None
        # Relation-type phrase vectors, embedded once per type for the life of the engine.
        self.relation_vectors = RelationVectors(
            self._embed_phrases,
            settings.vectors_dir / "relation_types.npz",
            getattr(embedder, "name", ""),
            irregular_verb_forms(settings.spacy_model),
        )
        self._chain_finder = RelationChainFinder(self.relation_vectors, self._embed_phrases)
        # Independent store reads (keyword search, connecting paths, ...) run here beside the planner's own work.
        self._background = ThreadPoolExecutor(max_workers=2, thread_name_prefix="graphrag-reads")

    def _embed_phrases(self, texts: list[str]):
        # One thread: the phrases are embedded beside the question (RelationChainFinder.prepare).
        return self.embedder.embed(texts, query=True)

    def close(self) -> None:
        """Stop the background worker."""
        self._background.shutdown(wait=True)

    def invalidate(self) -> None:
        """Forget cached name dictionaries (call after writes)."""
        self._linker = None

    def sync_relation_types(self) -> int:
        """Embed the phrases of relation types the store holds and the planner does not know yet (after writes)."""
        return self.relation_vectors.sync(self.store.relation_types())

    def _get_linker(self, version_at_start) -> EntityLinker:
        """The name dictionaries (entity names, document titles), rebuilt when the store's version changes."""
        version = version_at_start()
        if self._linker is None or version != self._linker_version:
            self._linker = EntityLinker(self.store.entity_names())
            self._titles = TitleIndex(self.store.document_heads())
            self._linker_version = version
        return self._linker

    def retrieve(self, question: str, max_hops: int | None = None, top_k: int | None = None) -> Retrieval:
        """Plan and run retrieval for one question (one cached-reads block of the store)."""
        pending: list[Future] = []

        def submit(function, *args) -> Future:
            pending.append(self._background.submit(function, *args))
            return pending[-1]

        with self.store.cached_reads() as version_at_start:
            try:
                return self._retrieve(question, version_at_start, submit, max_hops, top_k)
            finally:
                wait(pending)  # none may outlive the cached block, even when retrieval failed

    def _retrieve(self, question: str, version_at_start, submit, max_hops: int | None, top_k: int | None) -> Retrieval:
        max_hops = max_hops or self.settings.max_hops
        top_k = top_k or self.settings.top_k
        timings: dict[str, float] = {}
        clock = time.perf_counter()

        def lap(name: str) -> None:
            nonlocal clock
            now = time.perf_counter()
            timings[name] = round((now - clock) * 1000, 2)
            clock = now

        # Store reads that depend only on what is already known run in the background, beside the work that
        # follows them (a remote store works while this thread does); each is collected where it is needed.
        # They start after the question is embedded: on two cores, a read's work in the server and in the driver
        # took the core the forward pass needed and slowed it more than the read's overlap saved.
        pool = CANDIDATE_POOL
        info = analyze_question(question)
        # The relation chains' phrases are embedded on the other core while this thread embeds the question and
        # links its names: bench_query p50 / p95 90 / 164 -> 81 / 145 ms (2-core AMX Xeon).
        phrases = submit(self._chain_finder.prepare, info)
        query_vector = self.embedder.embed([question], query=True)
        keyword_search = submit(self.store.keyword_search, question, pool)
        vector_hits = self.chunk_index.search(query_vector, pool)[0]
        top_chunk_entities = submit(self.store.entities_in_chunks, [h.id for h in vector_hits[: max(5, WALK_SEEDS)]])
        lap("embed")
        links = self._get_linker(version_at_start).link(
            info,
            self.store,
            FUZZY_LINK_THRESHOLD,
            self._embedding_candidates,
            EMBEDDING_LINK_THRESHOLD,
        )
        linked_ids = [s.link.entity.id for s in links]
        lap("link")
        if info.wants_overview and not links:
            communities = self._communities(top_k)
            if communities:
                return self._global(question, info, communities, max_hops, top_k, timings, lap)

        pairs = list(combinations(linked_ids[:4], 2))
        relations: list[Relation] = self.store.neighbors(linked_ids, max_hops, limit=_NEIGHBOR_LIMIT) if links else []
        entities = self._entities_of(relations, links)
        phrases.result()
        chains = (
            self._chain_finder.chains(
                info,
                [(s.link.entity.id, s.first, s.last) for s in links],
                lambda ids, limit: self.store.neighbors(ids, 1, limit=limit),
                lambda ids: {e.id: e for e in self.store.get_entities(ids)},
                max_hops,
            )
            if links
            else []
        )
        connections = self._connections(pairs, relations, entities, max_hops)
        lap("graph")

        keyword_hits = keyword_search.result()
        lap("search")

        top5 = {h.id for h in vector_hits[:5]}
        pagerank_chunks = self._pagerank_chunks(
            linked_ids, list(dict.fromkeys(e for c, e in top_chunk_entities.result() if c in top5)), relations
        )
        lap("pagerank")

        walked = self._walked_passages(info, vector_hits, keyword_hits, entities)
        lap("walk")

        ranked = {
            "chains": [c for chain in chains[:10] for s in reversed(chain.path.steps) for c in s.relation.evidence],
            "paths": [c for path in connections for s in path.steps for c in s.relation.evidence],
            "vector": [h.id for h in vector_hits],
            "keyword": [h.id for h in keyword_hits],
            "pagerank": pagerank_chunks,
        }
        fused = reciprocal_rank_fusion(ranked, _FUSION_WEIGHTS)
        if walked:
            # The walk's order leads (it already starts from the vector and keyword hits and the named titles); the
            # fused lists add what the walk did not reach. Mixed into the fusion instead, its order was diluted:
            # Recall@5 88 -> 82 on the HotpotQA dev half.
            sources = {item: found for item, _, found in fused}
            reached = {item for item, _ in walked}
            fused = [(item, round(score, 6), ("walk", *sources.get(item, ()))) for item, score in walked] + [
                f for f in fused if f[0] not in reached
            ]
        # The best chain's own evidence is always kept, so the answer built from it can be cited.
        pinned = {c for chain in chains[:1] for s in chain.path.steps for c in s.relation.evidence[:1]}
        fused = fused[:top_k] + [f for f in fused[top_k:] if f[0] in pinned]
        evidence = self._evidence(fused, chains, connections)
        lap("fusion")

        strategy = "paths" if len(links) >= 2 else "neighborhood" if links else "hybrid"
        steps = [
            f"linked {len(links)} entit{'y' if len(links) == 1 else 'ies'}",
            f"{len(relations)} relations within {max_hops} hops",
            f"{len(chains)} answer chains",
            f"{len(connections)} connecting paths",
            f"{len(vector_hits)} vector hits",
            f"{len(keyword_hits)} keyword hits",
            f"{len(pagerank_chunks)} PageRank chunks",
            f"{len(walked)} passages reached by the passage walk",
        ]
        plan = QueryPlan(
            question=question,
            strategy=strategy,
            linked=tuple(s.link for s in links),
            max_hops=max_hops,
            top_k=top_k,
            steps=tuple(steps),
        )
        linked_words = {i for s in links for i in range(s.first, s.last + 1)}
        unlinked = tuple(
            w
            for i, w in enumerate(info.words)
            if i > 0 and w[:1].isupper() and i not in linked_words and w in info.content
        )
        records = sorted(
            {s.relation.document_id for p in [c.path for c in chains[:20]] + connections for s in p.steps}
            - {""}
            - {e.chunk.document_id for e in evidence}
        )
        return Retrieval(
            plan,
            info,
            tuple(evidence),
            tuple(chains[:20]),
            tuple(connections),
            unlinked,
            self._chunk_entities(evidence),
            timings,
            record_titles=self.store.document_titles(records) if records else {},
        )

    def _connections(
        self, pairs: list[tuple[str, str]], relations: list[Relation], entities: dict[str, Entity], max_hops: int
    ) -> list[Path]:
        """k shortest paths between each pair of linked entities, found in the relations already fetched: every
        path of at most ``max_hops`` between two of them lies inside their ``max_hops`` neighbourhood, so no store
        query is needed (a remote store's path query cost a round trip and tens of milliseconds). Only when that
        neighbourhood was cut at its limit does the store search its whole graph."""
        if not pairs:
            return []
        k = PATHS_PER_PAIR
        if len(relations) >= _NEIGHBOR_LIMIT:
            return [p for found in self.store.connecting_paths(pairs, max_hops, k) for p in found]
        graph = RelationGraph(relations)
        return [p for source, target in pairs for p in graph.paths(source, target, max_hops, k, entities)]

    def _global(
        self,
        question: str,
        info: QuestionInfo,
        communities: list[Community],
        max_hops: int,
        top_k: int,
        timings: dict,
        lap,
    ) -> Retrieval:
        """A question about the whole collection: the largest communities answer it, each cited by the evidence of
        the facts its summary quotes."""
        # Each community's first evidence chunk in rank order, then the rest of their evidence.
        order = [
            (c, chunk)
            for depth in (0, 1)
            for c in communities
            for chunk in (c.evidence[:1] if depth == 0 else c.evidence[1:])
        ]
        chosen: dict[str, tuple[str, float, tuple[str, ...]]] = {}
        for community, chunk in order:
            chosen.setdefault(chunk, (chunk, round(1.0 / community.rank, 6), (f"community {community.rank}",)))
        evidence = self._evidence(list(chosen.values())[:top_k], [], [])
        lap("global")
        plan = QueryPlan(
            question=question,
            strategy="global",
            linked=(),
            max_hops=max_hops,
            top_k=top_k,
            steps=(f"global question: {len(communities)} largest communities of the entity graph",),
        )
        return Retrieval(
            plan, info, tuple(evidence), (), (), (), self._chunk_entities(evidence), timings, tuple(communities)
        )

    def _walked_passages(
        self, info: QuestionInfo, vector_hits, keyword_hits, entities: dict[str, Entity]
    ) -> list[tuple[str, float]]:
        """Passages ranked by the passage-entity walk (passage_walk.py), seeded by the best vector hits and by the
        documents whose titles the question names."""
        if not vector_hits:
            return []
        best = vector_hits[0].score
        seeds = {h.id: math.exp((h.score - best) / WALK_TEMPERATURE) for h in vector_hits[:WALK_SEEDS]}
        # The best keyword hits join them: an exact rare word ("Faversham") is what BM25 finds and cosine blurs.
        for rank, hit in enumerate(keyword_hits[:WALK_KEYWORD_SEEDS]):
            seeds[hit.id] = seeds.get(hit.id, 0.0) + WALK_KEYWORD_WEIGHT / (rank + 1)
        if self._titles is not None:
            # A one-word title counts only as a name: capitalised, not the question's first word, not a stopword.
            words = info.words
            for head in self._titles.heads_in(
                words, lambda i: i > 0 and words[i][:1].isupper() and words[i].lower() not in STOPWORDS
            ):
                seeds[head] = max(seeds.get(head, 0.0), 1.0)
        names = {e.id: e.name for e in entities.values()}
        return self._walk.rank(self.store, seeds, self._titles, names)

    def _embedding_candidates(self, surfaces: list[str]) -> list[list[tuple[str, float]]]:
        """Nearest entity names for each surface, all surfaces in one forward pass."""
        if len(self.entity_index) == 0 or not surfaces:
            return [[] for _ in surfaces]
        found = self.entity_index.search(self.embedder.embed(surfaces, query=True), 3)
        return [[(h.id, h.score) for h in hits] for hits in found]

    def _entities_of(self, relations: list[Relation], links: list[LinkSpan]) -> dict[str, Entity]:
        ids = {s.link.entity.id for s in links}
        for rel in relations:
            ids.add(rel.source_id)
            ids.add(rel.target_id)
        return {e.id: e for e in self.store.get_entities(sorted(ids))}

    def _pagerank_chunks(
        self, linked_ids: list[str], top_chunk_entities: list[str], relations: list[Relation]
    ) -> list[str]:
        seeds: dict[str, float] = {e: 1.0 for e in linked_ids}
        for entity_id in top_chunk_entities:
            seeds.setdefault(entity_id, 0.5)
        if not seeds:
            return []
        local = relations if linked_ids else self.store.neighbors(list(seeds), 1, limit=_NEIGHBOR_LIMIT)
        scores = personalized_pagerank(local, seeds)
        top_entities = [e for e, _ in sorted(scores.items(), key=lambda kv: -kv[1])[:10]]
        rank = {e: i for i, e in enumerate(top_entities)}
        pairs = self.store.chunks_mentioning(top_entities, limit=200)
        return [c for _, c in sorted(pairs, key=lambda p: rank.get(p[0], 99))]

    def _chunk_entities(self, evidence: list[Evidence]) -> dict[str, tuple[Entity, ...]]:
        pairs = self.store.entities_in_chunks([e.chunk.id for e in evidence])
        entities = {e.id: e for e in self.store.get_entities(sorted({entity_id for _, entity_id in pairs}))}
        found: dict[str, list[Entity]] = {}
        for chunk_id, entity_id in pairs:
            if entity_id in entities:
                found.setdefault(chunk_id, []).append(entities[entity_id])
        return {chunk_id: tuple(items) for chunk_id, items in found.items()}

    def _evidence(self, fused, chains: list[Chain], connections: list[Path]) -> list[Evidence]:
        chunks = {c.id: c for c in self.store.get_chunks([item for item, _, _ in fused])}
        titles = self.store.document_titles(sorted({c.document_id for c in chunks.values()}))
        supporting: dict[str, dict[str, Relation]] = {}
        for path in [c.path for c in chains[:10]] + connections:
            for step in path.steps:
                for chunk_id in step.relation.evidence:
                    supporting.setdefault(chunk_id, {})[step.relation.id] = step.relation
        return [
            Evidence(
                chunk=chunks[item],
                document_title=titles.get(chunks[item].document_id, ""),
                score=score,
                reasons=sources,
                relations=tuple(supporting.get(item, {}).values()),
            )
            for item, score, sources in fused
            if item in chunks
        ]
