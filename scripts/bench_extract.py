"""Benchmark relation extraction on held-out Re-DocRED documents: precision, recall and F1 of (head, relation, tail).

The validation documents are the ones fine-tuning never trains on (the same split by title hash). Each document is
ingested the product's way (chunked, extracted, entities resolved) and every extracted relation is matched
against the gold facts: its head and tail must each name a gold entity (any of that entity's mentions, normalised)
and its relation must be the gold Wikidata property. Two scores per extractor:

* ``typed``: (head, relation, tail) as above. The encoder extractor writes Wikidata property ids; the spaCy rules
  write verb/role types, mapped generously to properties by ``SPACY_TO_WIKIDATA`` (a type not in it cannot match);
* ``pair``: the relation type ignored, head and tail in either order (what the rules find at all).

Any DocRED-format file works (``--data``; relation names from ``rel_info.json`` beside it or ``--relations``).
``entity_recall`` is, per gold entity type, the share of gold entities that some extracted entity names (any
mention), the ceiling mention finding puts on relation recall.

Prints (and with --out writes) {"documents", "gold_facts", "default_extractor", "extractors": {"default": {"typed":
{...}, "pair": {...}, "entity_recall", "seconds", "documents_per_s", "extractor"}, "rules": {...}}}.
Example: python scripts/bench_extract.py --data ../shared/data/redocred/dev_revised.json --extractors default,rules
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

from tqdm import tqdm

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_common import run_reporting  # noqa: E402

from graphrag import Settings
from graphrag.indexing.loaders import SentenceChunker, document_from_text
from graphrag.indexing.pipeline import ExtractionStream, worker_count
from graphrag.training.data import RedocredDocument, load_redocred, load_relation_names, split_documents
from graphrag.training.fact_metrics import FactScore
from graphrag.training.qa_metrics import normalize_answer

# spaCy rule types -> Wikidata properties they can state, and whether the rule's subject is the gold tail.
SPACY_TO_WIKIDATA: dict[str, tuple[tuple[str, ...], bool]] = {
    "BORN_IN": (("place of birth", "date of birth"), False),
    "DIED_IN": (("place of death", "date of death"), False),
    "SON_OF": (("father", "mother"), False),
    "DAUGHTER_OF": (("father", "mother"), False),
    "CHILD_OF": (("father", "mother"), False),
    "THIRD_CHILD_OF": (("father", "mother"), False),
    "FATHER_OF": (("child",), False),
    "MOTHER_OF": (("child",), False),
    "WIFE_OF": (("spouse",), False),
    "HUSBAND_OF": (("spouse",), False),
    "MARRIED": (("spouse",), False),
    "MARRIED_TO": (("spouse",), False),
    "BROTHER_OF": (("sibling",), False),
    "SISTER_OF": (("sibling",), False),
    "EDUCATED_AT": (("educated at",), False),
    "GRADUATED_FROM": (("educated at",), False),
    "STUDIED_AT": (("educated at",), False),
    "ATTENDED": (("educated at",), False),
    "MEMBER_OF": (("member of", "member of political party", "member of sports team"), False),
    "JOINED": (("member of", "member of political party", "member of sports team"), False),
    "PLAYED_FOR": (("member of sports team",), False),
    "SIGNED_WITH": (("member of sports team", "record label"), False),
    "PART_OF": (("part of",), False),
    "CAPITAL_OF": (("capital of",), False),
    "CAPITAL": (("capital",), False),
    "LOCATED_IN": (("located in the administrative territorial entity", "country", "location"), False),
    "BASED_IN": (("headquarters location", "location"), False),
    "HEADQUARTERED_IN": (("headquarters location",), False),
    "MOVED_TO": (("residence",), False),
    "LIVED_IN": (("residence",), False),
    "WORKED_FOR": (("employer",), False),
    "EMPLOYED_BY": (("employer",), False),
    "FOUNDED": (("founded by",), True),
    "FOUNDED_BY": (("founded by",), False),
    "CREATED": (("creator",), True),
    "WROTE": (("author",), True),
    "WRITTEN": (("author",), False),
    "WRITTEN_BY": (("author",), False),
    "DIRECTED": (("director",), True),
    "DIRECTED_BY": (("director",), False),
    "PRODUCED": (("producer",), True),
    "PRODUCED_BY": (("producer",), False),
    "COMPOSED": (("composer",), True),
    "RELEASED_BY": (("record label", "publisher"), False),
    "PUBLISHED_BY": (("publisher",), False),
    "DEVELOPED_BY": (("developer",), False),
    "DEVELOPED": (("developer",), True),
    "OWNED_BY": (("owned by",), False),
    "OWNS": (("owned by",), True),
    "ACQUIRED": (("owned by", "parent organization"), True),
    "SUBSIDIARY_OF": (("parent organization", "owned by"), False),
    "DIVISION_OF": (("parent organization",), False),
    "CEO_OF": (("employer",), False),
    "PRESIDENT_OF": (("position held", "head of state"), False),
    "BORDERED": (("located in or next to body of water",), False),
    "FLOWS_INTO": (("mouth of the watercourse",), False),
    "PERFORMED": (("performer",), True),
    "PERFORMED_BY": (("performer",), False),
    "SUNG": (("performer",), False),
    "CAST": (("cast member",), False),
    "STARRED_IN": (("cast member",), True),
    "VOICED": (("cast member",), True),
    "SUCCEEDED": (("replaces", "follows"), False),
    "PRECEDED": (("followed by", "replaced by"), False),
}


def _documents(path: Path, limit: int | None) -> list[RedocredDocument]:
    _, validation = split_documents(load_redocred(path))
    return validation[:limit] if limit else validation


def _gold(doc: RedocredDocument, relation_names: dict[str, str]) -> tuple[list[set[str]], set[tuple[int, str, int]]]:
    mentions = [{normalize_answer(m) for m, _ in cluster} for cluster in doc.entities]
    facts = {(h, relation_names.get(r, r), t) for h, r, t, _ in doc.facts}
    return mentions, facts


def _clusters(entity, mentions: list[set[str]]) -> set[int]:
    names = {normalize_answer(n) for n in (entity.name, *entity.aliases)}
    return {i for i, cluster in enumerate(mentions) if names & cluster}


def _score_document(extraction, mentions, facts, relation_of) -> tuple[FactScore, FactScore]:
    entities = {e.id: e for e in extraction.entities}
    typed_hits, pair_hits = set(), set()
    typed_ok = pair_ok = 0
    predicted_typed, predicted_pairs = set(), set()
    for relation in extraction.relations:
        heads = _clusters(entities[relation.source_id], mentions)
        tails = _clusters(entities[relation.target_id], mentions)
        names, swapped = relation_of(relation)
        if swapped:
            heads, tails = tails, heads
        key = (relation.source_id, relation.type, relation.target_id)
        if key in predicted_typed:
            continue
        predicted_typed.add(key)
        matches = {f for f in facts if f[0] in heads and f[2] in tails and f[1] in names}
        typed_hits |= matches
        typed_ok += bool(matches)
        pair = frozenset((relation.source_id, relation.target_id))
        if pair not in predicted_pairs:
            predicted_pairs.add(pair)
            pair_matches = {
                (f[0], f[2]) for f in facts if (f[0] in heads and f[2] in tails) or (f[0] in tails and f[2] in heads)
            }
            pair_hits |= pair_matches
            pair_ok += bool(pair_matches)
    gold_pairs = {(h, t) for h, _, t in facts}
    return (
        FactScore(typed_ok, len(predicted_typed), len(typed_hits), len(facts)),
        FactScore(pair_ok, len(predicted_pairs), len(pair_hits), len(gold_pairs)),
    )


def _run(extractor, documents, relation_names, settings, relation_of, batch: int, workers: int) -> dict:
    """Extract every document as ingest does (``batch`` documents at a time, with ``workers`` extraction processes
    arranged as ingest arranges them) and score it."""
    chunker = SentenceChunker(settings.chunk_size, settings.chunk_overlap)
    typed = pair = FactScore(0, 0, 0, 0)
    found: dict[str, list[int]] = {}  # gold entity type -> [entities, of which some extracted entity names one]
    items = [(doc, _document(doc, settings)) for doc in documents]
    started = time.perf_counter()
    extractions = []
    bar = tqdm(
        total=len(items), desc=getattr(extractor, "name", "extract"), unit="doc", disable=not sys.stderr.isatty()
    )
    batches = [
        [(document, chunker.chunk(document)) for _, document in items[start : start + batch]]
        for start in range(0, len(items), batch)
    ]
    cores = (os.cpu_count() or 1) if workers else 0  # the classifier's threads beside the worker, as at ingest
    for group, extracted in ExtractionStream(settings, batches, workers, lambda: extractor, cores):
        extractions.extend(extracted())
        bar.update(len(group))
    bar.close()
    seconds = time.perf_counter() - started
    for (doc, _), extraction in zip(items, extractions):
        mentions, facts = _gold(doc, relation_names)
        t, p = _score_document(extraction, mentions, facts, relation_of)
        typed, pair = typed + t, pair + p
        named = set().union(*(_clusters(e, mentions) for e in extraction.entities)) if extraction.entities else set()
        for index, entity_type in enumerate(doc.entity_types):
            counts = found.setdefault(entity_type or "?", [0, 0])
            counts[0] += 1
            counts[1] += index in named
    return {
        "typed": typed.as_dict(),
        "pair": pair.as_dict(),
        "entity_recall": {
            kind: {"gold": n, "found": k, "recall": round(100.0 * k / n, 1)} for kind, (n, k) in sorted(found.items())
        },
        "seconds": round(seconds, 1),
        "documents_per_s": round(len(documents) / seconds, 3) if seconds else None,
    }


def _document(doc: RedocredDocument, settings):
    return document_from_text(
        " ".join(doc.sentences),
        key=f"redocred:{doc.title}",
        title=doc.title,
        source="redocred",
        tenant=settings.tenant,
        max_bytes=settings.max_document_bytes,
    )


def _measure(args, wanted: list[str]) -> dict:
    """Precision, recall and F1 per extractor for the parsed arguments (raises on bad input)."""
    relation_names = load_relation_names(args.relations or args.data.parent / "rel_info.json")
    documents = _documents(args.data, args.documents)
    settings = Settings.load()
    from graphrag.extraction.spacy_rules import SpacyRuleExtractor

    spacy = SpacyRuleExtractor.load(settings.spacy_model)
    result: dict = {
        "documents": len(documents),
        "gold_facts": sum(len(_gold(d, relation_names)[1]) for d in documents),
        "default_extractor": settings.extractor,
        "extractors": {},
    }
    for name in wanted:
        kind = settings.extractor if name == "default" else name
        if kind == "rules":
            extractor = spacy
            relation_of = lambda r: SPACY_TO_WIKIDATA.get(r.type, ((), False))  # noqa: E731
        else:
            from graphrag.extraction.encoder_extractor import EncoderRelationExtractor

            extractor = EncoderRelationExtractor.load(settings, spacy)
            relation_of = lambda r: ((relation_names.get(r.property_id, ""),), False)  # noqa: E731
        workers = worker_count(args.workers, -(-len(documents) // args.batch))
        scores = _run(
            extractor,
            documents,
            relation_names,
            settings.model_copy(update={"extractor": kind}),
            relation_of,
            args.batch,
            workers,
        )
        scores["workers"] = workers
        scores["extractor"] = kind
        result["extractors"][name] = scores
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, required=True, help="Re-DocRED (DocRED-format) JSON file")
    parser.add_argument("--relations", type=Path, help="rel_info.json (default: next to --data)")
    parser.add_argument(
        "--extractors",
        default="default,rules",
        help="comma-separated: default (the extractor setting), encoder, rules (or spacy) (default: default,rules)",
    )
    parser.add_argument("--documents", type=int, help="use only the first N validation documents")
    parser.add_argument("--batch", type=int, default=64, help="documents per extraction call, as ingest (default 64)")
    parser.add_argument(
        "--workers",
        type=int,
        default=0,
        help="extraction processes beside this one, arranged as ingest arranges them (default 0: this process "
        "alone, the extractor's own speed; -1: as `graphrag ingest` chooses, one on two or more cores)",
    )
    parser.add_argument("--out", type=Path, help="also write the JSON result here")
    args = parser.parse_args()
    wanted = [{"spacy": "rules"}.get(e.strip(), e.strip()) for e in args.extractors.split(",") if e.strip()]
    if not wanted or set(wanted) - {"default", "encoder", "rules"}:
        parser.error("--extractors takes default, encoder and/or rules")
    if args.documents is not None and args.documents < 1:
        parser.error("--documents must be at least 1")
    if args.batch < 1:
        parser.error("--batch must be at least 1")
    return run_reporting(lambda: _measure(args, wanted), args.out)


if __name__ == "__main__":
    sys.exit(main())
