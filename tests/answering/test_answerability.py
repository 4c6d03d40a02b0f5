"""The answerability probe's parts without a model: its threshold choice, its rates, training on states where one
layer carries the signal, and saving, shipping and finding it by its base model's hash."""

from __future__ import annotations

import json

import numpy as np
import pytest

from graphrag.answering.probes import PROBES_DIR, LinearProbe, shipped_probe
from graphrag.errors import ModelError
from graphrag.offline import verify_shipped_weights
from graphrag.training.answerability import abstain_rates, choose_threshold, train_probe


def test_the_threshold_refuses_at_most_the_allowed_share_of_answerable_questions():
    answerable = [i / 100 for i in range(100)]
    for rate in (0.0, 5.0, 12.0, 50.0):
        threshold = choose_threshold(answerable, rate)
        refused = sum(p > threshold for p in answerable)
        assert refused <= rate and refused >= rate - 1  # as many as allowed, no more
    assert abstain_rates([0.9, 0.1, 0.8, 0.2], [1, 0, 0, 1], 0.5) == (50.0, 50.0)


def _states(rng, count: int):
    """States [count, 3 layers, 16]: layer 1 carries the label, the others are noise."""
    labels = rng.integers(0, 2, count)
    states = rng.normal(size=(count, 3, 16)).astype(np.float32)
    states[:, 1, 0] += 3.0 * labels
    return states, labels


def test_training_picks_the_layer_that_carries_the_signal_and_keeps_to_the_rate():
    rng = np.random.default_rng(0)
    train, train_labels = _states(rng, 300)
    calibration, calibration_labels = _states(rng, 200)
    probe, choices = train_probe(train, train_labels, calibration, calibration_labels, [4, 9, 14], strengths=(0.1,))
    assert probe.layer == 9 and len(choices) == 3
    best = next(c for c in choices if c.layer == 9)
    assert best.answerable_abstain_rate <= 12.0 and best.unanswerable_abstain_rate > 80
    assert all(c.unanswerable_abstain_rate < best.unanswerable_abstain_rate for c in choices if c.layer != 9)
    validation, validation_labels = _states(rng, 400)
    refused = [probe(v) for v in validation[:, 1]]
    answerable, unanswerable = abstain_rates([float(r) for r in refused], validation_labels, 0.5)
    assert answerable < 20 and unanswerable > 80  # it holds on states it never saw


def _probe(sha: str = "ab" * 32) -> LinearProbe:
    rng = np.random.default_rng(1)
    return LinearProbe(
        layer=12,
        mean=rng.normal(size=8).astype(np.float32),
        scale=np.abs(rng.normal(size=8)).astype(np.float32) + 0.5,
        weights=rng.normal(size=8).astype(np.float32),
        bias=-0.3,
        threshold=0.4,
        base_sha256=sha,
    )


def test_a_saved_probe_loads_as_it_was_and_is_found_by_its_base_models_hash(tmp_path):
    probe = _probe()
    folder = tmp_path / "weights" / PROBES_DIR / "answerability-test"
    probe.save(folder, {"name": folder.name, "kind": "answerability", "base_model": "test"})
    verify_shipped_weights(folder)  # the manifest lists the vectors' file with its sha256
    loaded = shipped_probe(probe.base_sha256, weights=tmp_path / "weights")
    assert loaded is not None and loaded.layer == 12 and loaded.threshold == 0.4
    hidden = np.linspace(-1, 1, 8)
    assert loaded.probability(hidden) == pytest.approx(probe.probability(hidden))
    expected = 1 / (1 + np.exp(-(((hidden - probe.mean) / probe.scale) @ probe.weights + probe.bias)))
    assert probe.probability(hidden) == pytest.approx(float(expected), rel=1e-5)
    assert loaded(hidden) == (loaded.probability(hidden) > 0.4)
    assert shipped_probe("cd" * 32, weights=tmp_path / "weights") is None  # another model: no probe
    assert shipped_probe("", weights=tmp_path / "weights") is None


def test_a_damaged_probe_is_refused_with_a_clear_error(tmp_path):
    probe = _probe()
    folder = tmp_path / "weights" / PROBES_DIR / "answerability-test"
    probe.save(folder, {"name": folder.name, "kind": "answerability", "base_model": "test"})
    (folder / "probe.safetensors").write_bytes(b"version https://git-lfs.github.com/spec/v1\n")
    with pytest.raises(ModelError, match="sha256"):
        shipped_probe(probe.base_sha256, weights=tmp_path / "weights")
    manifest = folder / "manifest.json"
    manifest.write_text("{not json", encoding="utf-8")
    with pytest.raises(ModelError, match="unreadable"):
        shipped_probe(probe.base_sha256, weights=tmp_path / "weights")
    manifest.write_text(json.dumps({"kind": "answerability", "base_sha256": "ef" * 32}), encoding="utf-8")
    assert shipped_probe(probe.base_sha256, weights=tmp_path / "weights") is None


def test_a_polar_reading_keeps_the_yes_no_verdict_and_answers_as_its_gate():
    from graphrag.answering.probes import PolarReading

    polar = _probe()
    hidden = np.linspace(-1, 1, 8)
    gate = LinearProbe(12, polar.mean, polar.scale, -polar.weights, -polar.bias, threshold=0.5)
    reading = PolarReading(polar, gate)
    assert reading.layer == 12 and reading.yes is None
    assert reading(hidden) == gate(hidden)
    assert reading.probability == pytest.approx(polar.probability(hidden))
    assert reading.yes == (polar.probability(hidden) > polar.threshold)
    assert PolarReading(polar)(hidden) is False  # without an answerability gate it never stops a reply
    with pytest.raises(ModelError, match="layer"):
        PolarReading(polar, LinearProbe(8, polar.mean, polar.scale, polar.weights, 0.0, 0.5))


def test_the_yes_no_probe_learns_the_direction_that_carries_the_answer():
    from graphrag.training.polarity import accuracy, train_polar_probe

    rng = np.random.default_rng(3)

    def states(count: int):
        labels = rng.integers(0, 2, count)
        found = rng.normal(size=(count, 16)).astype(np.float32)
        found[:, 3] += 2.5 * (2 * labels - 1)
        return found, labels

    train, train_labels = states(300)
    calibration, calibration_labels = states(100)
    probe, choices = train_polar_probe(train, train_labels, calibration, calibration_labels, layer=12)
    assert probe.layer == 12 and probe.threshold == 0.5 and len(choices) == 3
    validation, validation_labels = states(300)
    assert accuracy([probe(v) for v in validation], validation_labels) > 90
    assert accuracy([True] * 300, validation_labels) < 60  # always yes is no better than a coin here
    with pytest.raises(ValueError, match="both yes and no"):
        train_polar_probe(train, np.ones(300, dtype=int), calibration, calibration_labels, layer=12)
