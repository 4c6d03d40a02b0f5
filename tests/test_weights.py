"""The trained weights the repo ships (weights/): each folder matches its manifest, the whole stays under the size
limit, the answer adapter is there, names its base model by hash and says how to reproduce it, and it loads."""

from __future__ import annotations

import json

import pytest

from graphrag import Settings
from graphrag.answering.prompt import ANSWER_SYSTEM, REPLY_PREFIX, user_message
from graphrag.answering.writers import BASE_ADAPTER, AnswerWriters
from graphrag.lm.adapters import AdapterRegistry
from graphrag.lm.packages import LM_PACKAGES
from graphrag.offline import (
    SHIPPED_WEIGHTS_MAX_BYTES,
    default_embedder_path,
    file_sha256,
    shipped_weights_dir,
    verify_shipped_weights,
)

WEIGHTS = shipped_weights_dir()
# every shipped folder (adapters at the top, probes under probes/, the relation classifier under extractors/), and
# the adapters alone
FOLDERS = sorted(p.parent for p in WEIGHTS.rglob("manifest.json")) if WEIGHTS.is_dir() else []
ADAPTERS = [f for f in FOLDERS if f.parent == WEIGHTS]
SCRIPTS = {
    "answerability": "train_answerability.py",
    "polar": "train_polar_probe.py",
    "relation-classifier": "train_extractor.py",
}


def test_the_repo_ships_an_answer_adapter_within_the_size_limit():
    kinds = [json.loads((folder / "manifest.json").read_text())["kind"] for folder in FOLDERS]
    assert {"answer", "answerability", "polar", "relation-classifier"} <= set(kinds)
    total = sum(p.stat().st_size for p in WEIGHTS.rglob("*") if p.is_file())
    assert total <= SHIPPED_WEIGHTS_MAX_BYTES


@pytest.mark.parametrize("folder", FOLDERS, ids=[f.name for f in FOLDERS])
def test_each_shipped_folder_matches_its_manifest(folder):
    manifest = verify_shipped_weights(folder)  # every file listed, with its sha256, and nothing else
    assert manifest["name"] == folder.name
    if manifest["kind"] == "relation-classifier":  # on the packaged embedder's encoder
        base_sha256 = file_sha256(default_embedder_path() / "model.safetensors")
    else:
        base_sha256 = LM_PACKAGES[manifest["base_model"]].sha256
    assert manifest["base_sha256"] == base_sha256  # trained on the packaged model the product loads
    assert manifest["training_data"]["file"] and len(manifest["training_data"]["sha256"]) == 64
    script = SCRIPTS.get(manifest["kind"], "finetune.py")
    assert manifest["command"].startswith(f"python scripts/{script} ") and "--ship" in manifest["command"]
    if manifest["kind"] == "relation-classifier":
        typed = manifest["metrics"]["heldout_gold_mentions"]["typed"]  # measured figures travel with the weights
        assert typed["f1"] > 0 and typed["gold"] > 0
        return
    validation = manifest["metrics"]["validation"]
    if manifest["kind"] == "answerability":
        assert validation["unanswerable_abstain_rate"] > validation["answerable_abstain_rate"]
    elif manifest["kind"] == "polar":  # better than the model's own yes / no on the same held-out questions
        assert validation["probe_accuracy"] > validation["model_accuracy"]
    else:
        assert validation["f1"] > 0


def test_a_shipped_adapter_is_offered_beside_saved_ones(tmp_path):
    registry = AdapterRegistry.for_settings(Settings.load(data_dir=tmp_path))
    shipped = [m for m in registry.list() if registry.is_shipped(m.name)]
    assert {m.name for m in shipped} == {f.name for f in ADAPTERS}
    writers = AnswerWriters(Settings.load(data_dir=tmp_path))
    assert writers.registry.is_shipped(shipped[0].name)


def test_the_shipped_answer_adapter_loads_on_its_base_model_and_answers(demo_engine, demo_questions):
    """The adapter as shipped, on the packaged model it was trained on (checked by hash), answers a demo question
    from the demo corpus and cites where the answer stands."""
    registry = demo_engine.writers.registry
    name = next(m.name for m in registry.list() if m.kind == "answer" and registry.is_shipped(m.name))
    record = next(q for q in demo_questions if q["id"] == "q01")
    writer = demo_engine.writers.pick(name)
    writer.graph = None  # the graph answers this question first; here the adapter itself must read and answer
    answer = writer.write(record["question"], demo_engine.retrieve(record["question"]))
    assert "generate" in answer.timings_ms and "lm_fallback" not in answer.timings_ms
    assert not answer.abstained and answer.text in record["answers"]
    assert any(answer.text in citation.text for citation in answer.citations)
    assert demo_engine.writers.language_model().resolved.sha256 == registry.get(name).base_sha256


def test_the_shipped_probe_gates_the_default_model_and_lets_the_demos_answerable_questions_through(
    demo_engine, demo_questions
):
    """The base model's shipped answerability probe, as the default writer uses it: every answerable demo question
    the model reads gets through and is answered (the graph, which answers them first in the product, is set aside
    so the model reads them), and the probe judges the demo's unanswerable questions far likelier unanswerable than
    the answerable ones. (Its threshold is set on Re-DocRED questions; on the demo's prompts it refuses none of the
    unanswerable questions that reach the model: docs/answer-model.md.)"""
    writer = demo_engine.writers.pick(BASE_ADAPTER)
    probe = writer.gate
    assert probe is not None and probe.base_sha256 == writer.model.resolved.sha256
    writer.graph = None

    def read(record: dict):
        retrieval = demo_engine.retrieve(record["question"])
        items = [n.item for n in writer.numbered_evidence(retrieval, record["question"])]
        prompt = writer.model.chat_prompt(ANSWER_SYSTEM, user_message(record["question"], items)) + REPLY_PREFIX
        return writer.write(record["question"], retrieval), probe.probability(
            writer.model.hidden_states(prompt, [probe.layer])[0]
        )

    answerable = [read(q) + (q,) for q in demo_questions if q["answerable"] and q["hops"] == 1][:6]
    unanswerable = [read(q) for q in demo_questions if not q["answerable"]]
    assert all("unanswerable" not in answer.timings_ms for answer, _, _ in answerable)
    assert sum(answer.text in record["answers"] for answer, _, record in answerable) >= 5
    mean = lambda values: sum(values) / len(values)  # noqa: E731
    assert mean([p for _, p in unanswerable]) > 2 * mean([p for _, p, _ in answerable])


def test_the_shipped_yes_no_probe_reads_the_gates_layer_and_answers_the_default_models_polar_questions(demo_engine):
    """The base model's shipped yes / no probe, as the default writer uses it: it reads the answerability probe's
    layer (one hidden state serves both), and a polar question's answer is its verdict on the prompt."""
    from graphrag.answering.probes import PolarReading

    writer = demo_engine.writers.pick(BASE_ADAPTER)
    assert writer.polar is not None and writer.gate is not None and writer.polar.layer == writer.gate.layer
    assert writer.polar.base_sha256 == writer.model.resolved.sha256
    writer.graph = None
    question = "Did Tomas Reyes found Veltrix Systems?"
    retrieval = demo_engine.retrieve(question)
    reading = writer.prepare(question, retrieval)
    assert isinstance(reading.request.gate, PolarReading)
    answer = writer.read_all([reading])[0]
    assert reading.request.gate.yes is not None
    assert answer.text == ("Yes" if reading.request.gate.yes else "No")


def test_a_yes_no_probe_on_another_layer_than_the_answerability_probe_is_set_aside_with_a_warning(demo_engine, caplog):
    """Both probes are read from one hidden state: a yes / no probe trained on another layer (an answerability probe
    retrained since) is not used, the log says why, and the base model's writer still answers without it."""
    from dataclasses import replace

    from graphrag.answering.probes import ANSWERABILITY, POLAR

    shipped = demo_engine.writers
    writers = AnswerWriters(shipped.settings)
    writers._model = shipped.language_model()  # the loaded base model, not a second load
    gate = shipped.answerability_probe()
    writers._probes = {ANSWERABILITY: gate, POLAR: replace(shipped.polar_probe(), layer=gate.layer + 2)}
    with caplog.at_level("WARNING", logger="graphrag.answering.writers"):
        assert writers.polar_probe() is None and writers.polar_probe() is None
    assert sum("yes / no probe reads decoder layer" in r.message for r in caplog.records) == 1
    writer = writers.pick(BASE_ADAPTER)
    assert writer.gate is gate and writer.polar is None
