"""The LoRA relation extractor: its reply schema, its training data, how it turns a reply into stored relations
(made-up names dropped, malformed replies falling back to the spaCy rules), and an extractor adapter trained on the
real SmolLM2-135M, saved, activated and used by ``graphrag ingest --extractor lora``."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from graphrag import Engine, Settings
from graphrag.errors import ModelOutputError
from graphrag.extraction.lora_extractor import LoraRelationExtractor
from graphrag.extraction.lora_prompt import (
    FactTriple,
    facts_from_reply,
    format_facts,
    parse_facts,
    passage_windows,
    read_fact_stream,
    stop_generating,
)
from graphrag.indexing.loaders import SentenceChunker, document_from_text
from graphrag.lm.adapters import AdapterManifest, AdapterRegistry
from graphrag.lm.model import Generation, LanguageModel
from graphrag.lm.packages import SMOLLM2_135M
from graphrag.training.data import build_extraction_examples, data_sha256, load_redocred
from graphrag.training.fact_metrics import score_fact_sets
from graphrag.training.finetune import LoraOptions, reply_loss_sum, tokenize_example, train_lora
from tests.lm.test_lm import PEOPLE, RELATIONS, _docred_documents


@pytest.fixture(scope="module")
def extraction_examples(tmp_path_factory):
    path = tmp_path_factory.mktemp("redocred-x") / "docs.json"
    path.write_text(json.dumps(_docred_documents()))
    return build_extraction_examples(load_redocred(path), RELATIONS, 12, empty_share=0.25)


def test_parse_facts_accepts_the_schema_and_rejects_everything_else():
    facts = [FactTriple("Helix Dynamics", "headquarters location", "Tallinn")]
    assert parse_facts(format_facts(facts)) == facts
    assert parse_facts("  []\n") == []
    assert (
        parse_facts('[{"head": " Helix  Dynamics", "relation": "founded by", "tail": "Marta"}]')[0].head
        == "Helix Dynamics"
    )
    for bad in (
        "Helix Dynamics is in Tallinn",
        '{"head": "a", "relation": "b", "tail": "c"}',
        '[{"head": "a", "relation": "b"}]',
        '[{"head": "a", "relation": "b", "tail": "c", "why": "d"}]',
        '[{"head": "", "relation": "b", "tail": "c"}]',
        '[{"head": 1, "relation": "b", "tail": "c"}]',
        '[["a", "b", "c"]]',
        "[] trailing",
        json.dumps([{"head": "a", "relation": "b", "tail": "c"}] * 33),
        json.dumps([{"head": "a" * 161, "relation": "b", "tail": "c"}]),
    ):
        with pytest.raises(ModelOutputError):
            parse_facts(bad)


def test_a_generated_reply_is_read_as_a_stream_that_ends_at_a_repeated_fact():
    one = '{"head": "Helix Dynamics", "relation": "founded by", "tail": "Marta Kovac"}'
    two = '{"head": "Helix Dynamics", "relation": "headquarters location", "tail": "Tallinn"}'
    facts = [
        FactTriple("Helix Dynamics", "founded by", "Marta Kovac"),
        FactTriple("Helix Dynamics", "headquarters location", "Tallinn"),
    ]
    looping = f"[{one}, {two}, {two}, {two}, {two[:20]}"  # greedy decoding stuck, cut at the token limit
    assert read_fact_stream(looping).repeated and facts_from_reply(looping) == facts
    assert stop_generating(f"[{one}, {two}, {two}") and not stop_generating(f"[{one}, {two}, {two[:30]}")
    assert facts_from_reply(f" [{one}, {two}] ") == facts and facts_from_reply("[]") == []
    unfinished = read_fact_stream(f"[{one}, {two[:30]}")
    assert unfinished.facts == tuple(facts[:1]) and not unfinished.finished and not stop_generating(f"[{one}, ")
    for bad in (
        f"[{one}, {two[:30]}",
        f"[{one}] and more",
        f"Facts: [{one}]",
        f"[{one} {two}]",
        '[["a", "b"]]',
        '[{"head": "a", "relation": "b"}]',
        "[" + ", ".join(f'{{"head": "a{i}", "relation": "b", "tail": "c"}}' for i in range(33)) + "]",
    ):
        with pytest.raises(ModelOutputError):
            facts_from_reply(bad)
        if bad != f"[{one}, {two[:30]}":
            assert stop_generating(bad)  # a reply already broken stops generating at once


def test_extraction_examples_state_only_facts_their_passage_contains(extraction_examples):
    assert {e.kind for e in extraction_examples} == {"extract"}
    with_facts = [e for e in extraction_examples if e.reply != "[]"]
    assert with_facts and len(with_facts) < len(extraction_examples)  # some passages state nothing
    relations = set(RELATIONS.values())
    for example in with_facts:
        for fact in parse_facts(example.reply):
            assert fact.head in example.user and fact.tail in example.user and fact.relation in relations
    founded = [f for e in with_facts for f in parse_facts(e.reply) if f.relation == "founded by"]
    companies = {d["title"] for d in _docred_documents()}
    assert founded and all(f.head in companies and f.tail in PEOPLE for f in founded)


def test_fact_scores():
    score = score_fact_sets(
        [("The Helix", "Founded by", "Marta"), ("x", "y", "z")],
        [("helix", "founded by", "marta."), ("a", "b", "c"), ("d", "e", "f")],
    )
    assert (score.matched_predicted, score.predicted, score.gold) == (1, 2, 3)
    assert score.precision == 50.0 and round(score.recall, 2) == 33.33 and round(score.f1, 2) == 40.0


class _ScriptedModel:
    """Stands in for the LM in a test of the extractor's reply handling only (the LM is the real one below)."""

    def __init__(self, *replies: str) -> None:
        self.replies = replies
        self.prompts: list[str] = []

    def chat_prompt(self, system: str, user: str) -> str:
        return user

    def generate(self, prompt: str, max_new_tokens: int, adapter=None, stop_when=None) -> Generation:
        self.prompts.append(prompt)
        reply = self.replies[min(len(self.prompts), len(self.replies)) - 1]  # in order; the last one repeats
        return Generation(text=reply, prompt_tokens=10, new_tokens=5, ms=1.0, mean_token_probability=0.9)


def _document(text: str):
    document = document_from_text(
        text, key="doc", title="Helix Dynamics", source="test", tenant="default", max_bytes=10_000
    )
    return document, SentenceChunker(1200, 200).chunk(document)


def test_reply_becomes_relations_between_names_found_in_the_chunk(spacy_extractor):
    document, chunks = _document(
        "Helix Dynamics is a software company based in Tallinn. It was founded by Marta Kovac in 2004."
    )
    reply = format_facts(
        [
            FactTriple("Helix Dynamics", "headquarters location", "tallinn"),
            FactTriple("Helix Dynamics", "founded by", "Marta Kovac"),
            FactTriple("Helix Dynamics", "founded by", "Jonas Berg"),
        ]
    )  # not in the text: dropped
    extractor = LoraRelationExtractor(spacy_extractor, _ScriptedModel(reply), "x")
    extraction = extractor.extract(document, chunks)
    names = {e.id: e.name for e in extraction.entities}
    found = {(names[r.source_id], r.type, names[r.target_id]) for r in extraction.relations}
    assert found == {
        ("Helix Dynamics", "HEADQUARTERS_LOCATION", "Tallinn"),
        ("Helix Dynamics", "FOUNDED_BY", "Marta Kovac"),
    }
    assert all(r.evidence == (chunks[0].id,) and r.sentence in document.text for r in extraction.relations)
    assert extractor.fallbacks == 0 and extractor.chunks_read == 1


def test_malformed_reply_falls_back_to_the_rules_and_is_counted(spacy_extractor):
    document, chunks = _document("Marta Kovac founded Helix Dynamics in Tallinn.")
    extractor = LoraRelationExtractor(spacy_extractor, _ScriptedModel("Marta founded Helix, I think."), "x")
    extraction = extractor.extract(document, chunks)
    rules = spacy_extractor.extract(document, chunks)
    assert extractor.fallbacks == 1
    assert {r.id for r in extraction.relations} == {r.id for r in rules.relations} != set()


def test_passage_windows_cut_text_into_three_sentence_pieces():
    text = "One is here. Two is here! Three? Four is here.  Five ends without a stop"
    windows = passage_windows(text)
    assert [w for _, w in windows] == ["One is here. Two is here! Three?", "Four is here.  Five ends without a stop"]
    assert all(text[offset : offset + len(w)] == w for offset, w in windows)
    assert passage_windows("") == [] and passage_windows("No stop at all") == [(0, "No stop at all")]


def test_a_chunk_is_read_window_by_window_and_a_malformed_window_falls_back_alone(spacy_extractor):
    document, chunks = _document(
        "Helix Dynamics is a software company based in Tallinn. It was founded by Marta "
        "Kovac in 2004. It makes tools. Jonas Berg founded Cobalt Forge in Porto."
    )
    assert len(chunks) == 1
    model = _ScriptedModel(
        format_facts(
            [
                FactTriple("Helix Dynamics", "headquarters location", "Tallinn"),
                FactTriple("Cobalt Forge", "founded by", "Jonas Berg"),
            ]
        ),  # not in window 1
        "Jonas founded Cobalt, I think.",
    )
    extractor = LoraRelationExtractor(spacy_extractor, model, "x")
    extraction = extractor.extract(document, chunks)
    assert len(model.prompts) == extractor.windows_read == 2 and extractor.chunks_read == 1
    assert "Marta Kovac" in model.prompts[0] and "Jonas" not in model.prompts[0] and "Jonas" in model.prompts[1]
    names = {e.id: e.name for e in extraction.entities}
    found = {(names[r.source_id], r.type, names[r.target_id]) for r in extraction.relations}
    rules = spacy_extractor.extract(document, chunks)
    rule_names = {e.id: e.name for e in rules.entities}
    window_two_rules = {
        (rule_names[r.source_id], r.type, rule_names[r.target_id]) for r in rules.relations if "Cobalt" in r.sentence
    }
    assert extractor.fallbacks == 1 and window_two_rules  # the rules find Jonas Berg founding Cobalt Forge
    assert found == {("Helix Dynamics", "HEADQUARTERS_LOCATION", "Tallinn")} | window_two_rules


def test_training_weighs_every_reply_token_equally(extraction_examples, tmp_path):
    """The training loss is the mean over all reply tokens of a batch, not the mean of per-example means: with the
    latter a 3-token ``[]`` reply outweighed a long fact list token for token and the extractor learned to answer
    ``[]`` to everything. One step over the whole set; LoRA starts as the identity, so that step's loss is the base
    model's."""
    import torch

    lm = LanguageModel.load(SMOLLM2_135M.key, Settings.load().lm_cache_dir)
    sums, counts = [], []
    with torch.inference_mode():
        for example in extraction_examples:
            ids, reply_tokens = tokenize_example(lm.tokenizer, example, 768)
            sums.append(float(reply_loss_sum(lm.model, ids, reply_tokens, lm.device)))
            counts.append(reply_tokens)
    assert min(counts) <= 4 < 20 <= max(counts)  # "[]" beside fact lists
    token_mean = sum(sums) / sum(counts)
    example_mean = sum(s / c for s, c in zip(sums, counts)) / len(counts)
    assert abs(token_mean - example_mean) > 0.1 * token_mean  # the two weightings really differ here
    options = LoraOptions(
        rank=4,
        alpha=8,
        dropout=0.0,
        target_modules=("q_proj",),
        epochs=1,
        learning_rate=1e-4,
        batch_size=len(extraction_examples),
        max_length=768,
    )
    result = train_lora(
        lm, "weights", extraction_examples, options, tmp_path / "ckpt", data_sha256(extraction_examples), progress=False
    )
    assert result.steps == 1 and result.losses[0] == pytest.approx(token_mean, rel=0.02)


def test_extractor_adapter_trains_saves_and_ingests_with_the_real_model(extraction_examples, real_embedder, tmp_path):
    lm = LanguageModel.load(SMOLLM2_135M.key, Settings.load().lm_cache_dir)
    options = LoraOptions(
        rank=4,
        alpha=8,
        dropout=0.0,
        target_modules=("q_proj", "v_proj"),
        epochs=1,
        learning_rate=1e-3,
        batch_size=4,
        max_length=768,
    )
    result = train_lora(
        lm,
        "extract-test",
        extraction_examples,
        options,
        tmp_path / "ckpt",
        data_sha256(extraction_examples),
        progress=False,
    )
    assert result.steps == result.planned_steps >= 3
    settings = Settings.load(data_dir=tmp_path / "data", answer_model=SMOLLM2_135M.key, extractor="lora")
    registry = AdapterRegistry(settings.adapters_root)
    registry.save(
        lm.model,
        "extract-test",
        AdapterManifest(
            name="extract-test",
            kind="extractor",
            base_model=lm.resolved.name,
            base_sha256=lm.resolved.sha256,
            training_data_sha256=data_sha256(extraction_examples),
        ),
    )
    registry.activate("extract-test")
    assert registry.active("extractor") == "extract-test" and registry.active("answer") is None

    path = tmp_path / "helix.txt"
    path.write_text(
        "Helix Dynamics is a software company based in Tallinn. It was founded by Marta Kovac.", encoding="utf-8"
    )
    engine = Engine.from_settings(settings, embedder=real_embedder)
    try:
        report = engine.ingest([path])
        extractor = engine._get_extractor()
        assert isinstance(extractor, LoraRelationExtractor) and extractor.adapter == "extract-test"
        assert extractor.chunks_read == 1 and not report.problems
        assert engine.stats().documents == 1 and engine.store.find_entities("Helix Dynamics")
        assert set(engine.writers.language_model().adapters) == {"extract-test"}
    finally:
        engine.close()


def test_cli_names_a_missing_extractor_adapter_and_a_bad_choice(tmp_path):
    env = {**os.environ, "GRAPHRAG_DATA_DIR": str(tmp_path / "data"), "GRAPHRAG_ANSWER_MODEL": SMOLLM2_135M.key}
    path = tmp_path / "a.txt"
    path.write_text("Helix Dynamics is based in Tallinn.", encoding="utf-8")
    for option, message in (("lora", "needs an extractor adapter"), ("bogus", "--extractor must be encoder, rules or lora")):
        result = subprocess.run(
            [sys.executable, "-m", "graphrag", "ingest", str(path), "--extractor", option],
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert result.returncode != 0 and message in result.stderr + result.stdout
        assert "Traceback" not in result.stderr
