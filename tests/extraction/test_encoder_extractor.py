"""The fine-tuned relation extractor as shipped: spaCy's mentions, the pair classifier on the packaged encoder, and
relations that carry their Wikidata property, readable labels, a confidence and the offsets of their evidence."""

from __future__ import annotations

import pytest
import torch

from graphrag import Settings
from graphrag.errors import ModelError
from graphrag.extraction.encoder_extractor import EncoderRelationExtractor, classifier_folder
from graphrag.extraction.marked_input import mark_windows
from graphrag.extraction.pair_classifier import collate
from graphrag.extraction.relation_labels import RelationLabel
from graphrag.extraction.relation_model import build_classifier, load_classifier, save_classifier
from graphrag.indexing.loaders import SentenceChunker, document_from_text
from graphrag.offline import default_embedder_path
from graphrag.text import sentence_spans

TEXT = (
    "Bluefin Robotics is a Norwegian robotics company. It was founded by Lena Hartmann in Oslo. "
    "Lena Hartmann was born in Berlin, Germany, and studied at the Technical University of Munich. "
    "Her brother, Jonas Hartmann, plays for FC Bayern Munich."
)


@pytest.fixture(scope="module")
def extractor(spacy_extractor, tmp_path_factory):
    return EncoderRelationExtractor.load(Settings.load(data_dir=tmp_path_factory.mktemp("enc")), spacy_extractor)


def extract(extractor, text: str = TEXT, title: str = "Bluefin Robotics"):
    doc = document_from_text(text, key=title, title=title, source="test", tenant="default", max_bytes=10**6)
    chunks = SentenceChunker(1200, 200).chunk(doc)
    return doc, chunks, extractor.extract(doc, chunks)


def test_relations_carry_property_labels_confidence_and_their_evidence_sentence(extractor, spacy_extractor):
    doc, chunks, result = extract(extractor)
    names = {e.id: e.name for e in result.entities}
    classified = [r for r in result.relations if r.property_id]
    assert classified, "the classifier found no relation in a text that states several"
    for relation in classified:
        label = next(x for x in extractor.classifier.labels if x.property_id == relation.property_id)
        assert (relation.label, relation.inverse_label, relation.type) == (label.label, label.inverse, label.type)
        assert 0.5 <= relation.confidence <= 1.0
        assert doc.text[relation.sentence_start : relation.sentence_end] == relation.sentence
        assert relation.sentence in {doc.text[a:b] for a, b in sentence_spans(doc.text)}
        assert relation.evidence == (chunks[0].id,) and relation.source_id in names and relation.target_id in names
    facts = {(names[r.source_id], r.property_id, names[r.target_id]) for r in classified}
    # plainly stated facts: founded by (P112), educated at (P69)
    assert ("Bluefin Robotics", "P112", "Lena Hartmann") in facts
    assert ("Lena Hartmann", "P69", "Technical University of Munich") in facts
    # beside them, the rules' verb relations between the same entities, as the rules alone store them
    rules = spacy_extractor.extract(doc, chunks)
    assert rules.relations and {r.id for r in result.relations if not r.property_id} == {r.id for r in rules.relations}


def test_a_higher_confidence_floor_keeps_only_the_surer_relations(extractor):
    _, _, everything = extract(extractor)
    strict = EncoderRelationExtractor(extractor.spacy, extractor.classifier, min_confidence=0.9)
    _, _, sure = extract(strict)
    kept = {r.id for r in everything.relations if r.confidence >= 0.9 or not r.property_id}  # the floor is the
    assert {r.id for r in sure.relations} == kept  # classifier's: the rules' relations carry no probability
    assert len(sure.relations) < len(everything.relations)


def test_bf16_arithmetic_finds_the_relations_fp32_finds_with_near_the_same_confidence(extractor):
    """precision=auto computes in bf16 where the CPU's bf16 products are faster; it must not change what is found."""

    def facts(bf16: bool) -> dict[tuple[str, str, str], float]:
        _, _, result = extract(EncoderRelationExtractor(extractor.spacy, extractor.classifier, bf16=bf16))
        names = {e.id: e.name for e in result.entities}
        return {(names[r.source_id], r.property_id, names[r.target_id]): r.confidence for r in result.relations}

    full, half = facts(False), facts(True)
    assert full, "fp32 found nothing to compare"
    clear = {fact for fact, confidence in full.items() if confidence >= 0.6}  # not a near-tie with the threshold
    assert clear <= set(half)
    assert all(abs(half[fact] - full[fact]) < 0.05 for fact in clear)


def test_a_text_with_no_entities_gives_no_relations(extractor):
    _, _, result = extract(extractor, "nothing here but lower case words, again and again.", "notes")
    assert result.relations == ()


@pytest.mark.parametrize("encoder_layers", [0, 3])
def test_a_saved_classifier_loads_and_scores_as_it_did(tmp_path, encoder_layers):
    """Saved and loaded again, on the whole encoder or on its first three layers."""
    encoder = str(default_embedder_path())
    model, tokenizer = build_classifier(encoder, labels=3, lora_rank=2, encoder_layers=encoder_layers)
    with torch.no_grad():  # a trained adapter is not zero: make it count
        for name, param in model.encoder.named_parameters():
            if "lora_B" in name:
                param.normal_(0, 0.02)
    model.eval()
    labels = (RelationLabel("P1", "one", "one of"), RelationLabel("P2", "two", "two of"))
    config = {"lora_rank": 2, "block_size": 32, "max_tokens": 128, "encoder_layers": encoder_layers}
    save_classifier(model, labels, tmp_path, config)
    loaded = load_classifier(tmp_path, encoder)
    assert loaded.labels == labels and loaded.max_tokens == 128
    assert len(loaded.model.encoder.encoder.layer) == (encoder_layers or 6)
    text = "Ada Lovelace met Charles Babbage in London."
    windows = mark_windows(tokenizer, text, [(0, len(text))], [[(0, 12)], [(17, 32)], [(36, 42)]], 128)
    batch = collate(windows, tokenizer.pad_token_id)
    with torch.inference_mode():
        before = model(batch.input_ids, batch.attention_mask, batch.positions, batch.pairs).logits
        after = loaded.model(batch.input_ids, batch.attention_mask, batch.positions, batch.pairs).logits
    assert torch.allclose(before, after, atol=0.05)  # saved in fp16, adapter merged


def test_settings_name_the_rules_and_a_missing_classifier_is_a_clear_error(tmp_path):
    assert Settings.load(data_dir=tmp_path, extractor="spacy").extractor == "rules"
    settings = Settings.load(data_dir=tmp_path, extractor_model=str(tmp_path / "nowhere"))
    with pytest.raises(ModelError, match="no trained relation classifier"):
        classifier_folder(settings)


def test_a_large_document_read_in_steps_gets_the_same_relations_as_read_whole(tmp_path):
    """An ingest job reads a large document a few chunks a step (the encoder's relations are resolved at the
    end); it finds the plainly stated facts as reading it whole does."""
    from graphrag import Engine
    from graphrag.indexing.pipeline import IndexReport
    from tests.doubles import HashingEmbedder

    others = [
        ("Aster Pharmaceuticals", "Gustav Lindqvist", "Stockholm"),
        ("Meridian Bank", "Priya Natarajan", "Madrid"),
        ("Orbis Analytics", "Daniel Okafor", "Lagos"),
        ("Northwind Capital", "Hannah Brooks", "Toronto"),
    ]
    paragraphs = [TEXT] + [
        f"{company} is a company based in {city}. It was founded by {founder}, who was born in {city}."
        for company, founder, city in others
    ]
    text = "\n\n".join(paragraphs)
    doc = document_from_text(text, key="big", title="Bluefin Robotics", source="t", tenant="default", max_bytes=10**6)
    found = []
    for name, stepped in (("whole", False), ("steps", True)):
        settings = Settings.load(data_dir=tmp_path / name, extractor="encoder", chunk_size=300, chunk_overlap=0)
        engine = Engine.from_settings(settings, embedder=HashingEmbedder())
        try:
            if stepped:
                assert len(list(engine.ingest_steps([doc], IndexReport(), step_chunks=2))) > 3
            else:
                engine.ingest_documents([doc])
            ids = [e.id for n in ("Bluefin Robotics", "Lena Hartmann") for e in engine.store.find_entities(n)]
            relations = engine.store.neighbors(ids, 1)
            ends = {r.source_id for r in relations} | {r.target_id for r in relations}
            names = {e.id: e.name for e in engine.store.get_entities(sorted(ends))}
            found.append({(names[r.source_id], r.property_id, names[r.target_id]) for r in relations})
        finally:
            engine.close()
    for facts in found:  # windows differ (a step reads two chunks), the plainly stated facts do not
        assert {("Bluefin Robotics", "P112", "Lena Hartmann"), ("Lena Hartmann", "P19", "Berlin")} <= facts


def test_a_classifier_trained_on_another_encoder_is_refused_by_name(tmp_path, spacy_extractor):
    import json
    import shutil

    folder = tmp_path / "mine"
    shutil.copytree(classifier_folder(Settings.load(data_dir=tmp_path)), folder)
    manifest = json.loads((folder / "manifest.json").read_text())
    (folder / "manifest.json").write_text(json.dumps({**manifest, "base_sha256": "0" * 64}))
    settings = Settings.load(data_dir=tmp_path, extractor="encoder", extractor_model=str(folder))
    with pytest.raises(ModelError, match="trained on another encoder"):
        EncoderRelationExtractor.load(settings, spacy_extractor)


def test_an_ingest_with_a_mention_worker_stores_what_one_process_stores(tmp_path):
    """With a worker, spaCy finds the mentions there and this process reads the relations with the classifier: the
    store ends up as an ingest without a worker leaves it."""
    from graphrag import Engine
    from tests.doubles import HashingEmbedder

    texts = [TEXT] + [
        f"{company} is a company based in {city}. It was founded by {founder}, who was born in {city}."
        for company, founder, city in (("Aster Pharmaceuticals", "Gustav Lindqvist", "Stockholm"),)
    ]
    docs = [
        document_from_text(text, key=f"d{i}", title=f"d{i}", source="t", tenant="default", max_bytes=10**6)
        for i, text in enumerate(texts)
    ]
    stored = []
    for workers in (0, 1):
        settings = Settings.load(data_dir=tmp_path / str(workers), extractor="encoder", ingest_batch_size=1)
        engine = Engine.from_settings(settings, embedder=HashingEmbedder())
        try:
            engine.indexer.index_documents(docs, workers=workers)
            relations = engine.store.neighbors([e.id for e in engine.store.find_entities("Lena Hartmann")], 2)
            stored.append(sorted((r.source_id, r.property_id, r.target_id, round(r.confidence, 3)) for r in relations))
        finally:
            engine.close()
    assert stored[0] and stored[0] == stored[1]


def test_the_classifier_gives_a_core_up_for_each_batch_that_starts_while_the_worker_computes(extractor):
    """``threads(2, taken)``: batches that start while a worker computes run on one thread, the others on two, the
    relations are the same, and torch's count is back afterwards."""
    import itertools

    from tests.doubles import thread_counts_seen

    before = torch.get_num_threads()
    texts = [TEXT.replace("Lena", name) for name in ("Anna", "Berit", "Clara", "Dora", "Elin", "Frida")] * 8
    docs = [
        document_from_text(text, key=f"d{i}", title=f"d{i}", source="t", tenant="default", max_bytes=10**6)
        for i, text in enumerate(texts)
    ]
    items = [(doc, SentenceChunker(1200, 200).chunk(doc)) for doc in docs]
    alone = extractor.extract_many(items)
    flips = itertools.cycle([1, 0])
    with thread_counts_seen(extractor.classifier.model) as seen, extractor.threads(2, lambda: next(flips)):
        shared = extractor.extract_many(items)
    assert len(seen) >= 2 and set(seen) == {1, 2}
    assert [sorted(r.id for r in x.relations) for x in shared] == [sorted(r.id for r in x.relations) for x in alone]
    assert any(x.relations for x in shared)
    assert torch.get_num_threads() == before
