"""scripts/calibrate_abstention.py on the small test LM: --tradeoff reports both halves' separation and frontier and
leaves the adapter's manifest alone; bad input is a clear error (the figures come from the Qwen run, not tests)."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from graphrag import Settings
from graphrag.lm.adapters import AdapterManifest, AdapterRegistry
from graphrag.lm.model import LanguageModel
from graphrag.lm.packages import SMOLLM2_135M
from tests.docred import company_document, write_docred
from tests.scripts import SCRIPTS

SCRIPT = SCRIPTS / "calibrate_abstention.py"
FIRST = ["Marta", "Jonas", "Lena", "Omar", "Ines", "Tomas", "Ada", "Rui", "Sven", "Nora"]
LAST = ["Kovac", "Berg", "Holm", "Said", "Duarte", "Weber"]
CITIES = ["Tallinn", "Porto", "Graz", "Lyon", "Aarhus", "Turin", "Ghent", "Bergen"]


def _documents() -> list[dict]:
    """60 documents of two facts each (a company's city and founder): enough for the held-out halves."""
    return [
        company_document(
            f"Firm{n} Systems",
            f"{FIRST[n % 10]} {LAST[n % 6]}",
            CITIES[n % 8],
            ["The company employs four hundred people ."],
        )
        for n in range(60)
    ]


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    """A DocRED file, its relation names, and a registry holding one freshly initialised answer adapter."""
    from peft import LoraConfig, get_peft_model

    root = tmp_path_factory.mktemp("calibrate")
    data = write_docred(root, _documents())
    (root / "rel_info.json").write_text(json.dumps({"P159": "headquarters location", "P112": "founded by"}))
    lm = LanguageModel.load(SMOLLM2_135M.key, Settings.load().lm_cache_dir)
    peft_model = get_peft_model(lm.model, LoraConfig(r=2, lora_alpha=4, target_modules=["q_proj"]))
    registry = AdapterRegistry(root / "adapters")
    registry.save(
        peft_model,
        "default",
        AdapterManifest(
            name="reader",
            kind="answer",
            base_model=lm.resolved.name,
            base_sha256=lm.resolved.sha256,
            training_data_sha256="0" * 64,
            abstain_bias=0.75,
        ),
    )
    return data, registry


def _run(*args: str, registry: AdapterRegistry) -> tuple[int, dict]:
    done = subprocess.run(
        [sys.executable, str(SCRIPT), *args],
        capture_output=True,
        text=True,
        timeout=600,
        env={**os.environ, "GRAPHRAG_ANSWER_MODEL": "smollm2-135m", "GRAPHRAG_ADAPTERS_DIR": str(registry.root)},
    )
    return done.returncode, json.loads(done.stdout[done.stdout.index("{") :] if "{" in done.stdout else "{}")


def test_tradeoff_reports_both_halves_and_leaves_the_manifest_alone(setup):
    data, registry = setup
    code, out = _run(
        "--data",
        str(data),
        "--adapter",
        "reader",
        "--tradeoff",
        "--calibration-examples",
        "12",
        "--validation-examples",
        "12",
        registry=registry,
    )
    assert code == 0, out
    for half in ("calibration", "validation"):
        found = out[half]
        assert 0 <= found["separation"] <= 100 and 0 <= found["best_unanswerable_rate"] <= 100
        rates = [(a, u) for _, a, u in found["frontier"]]
        assert rates and rates == sorted(rates)
        assert found["best_unanswerable_rate"] == max(u for a, u in rates if a <= 15.0)
    assert registry.get("reader").abstain_bias == 0.75


def test_bad_input_is_a_clear_error(setup, tmp_path):
    data, registry = setup
    code, out = _run("--data", str(data), "--adapter", "nosuch", "--tradeoff", registry=registry)
    assert code == 2 and "no adapter named 'nosuch'" in out["error"]
    code, out = _run("--data", str(data), "--adapter", "reader", "--calibration-examples", "3", registry=registry)
    assert code == 2 and "--calibration-examples" in out["error"]
    garbage = tmp_path / "garbage.json"
    garbage.write_bytes(b"\x00\xff not json")
    code, out = _run(
        "--data",
        str(garbage),
        "--relations",
        str(data.parent / "rel_info.json"),
        "--adapter",
        "reader",
        "--tradeoff",
        registry=registry,
    )
    assert code == 2 and "garbage.json" in out["error"]
