"""Which writer answers by default: the answer LM whenever one is installed or configured, else the extractive one."""

from __future__ import annotations

import pytest

from graphrag import Settings
from graphrag.answering import writers as writers_module
from graphrag.answering.lm_reader import LMAnswerWriter
from graphrag.answering.writers import AnswerWriters
from graphrag.lm.packages import SMOLLM2_135M


def test_the_default_setting_is_auto():
    assert Settings.model_fields["answer_writer"].default == "auto"


@pytest.mark.parametrize(
    ("writer", "model", "installed", "expected"),
    [
        ("auto", "", True, True),  # a packaged model is installed: the LM answers
        ("auto", "", False, False),  # nothing installed, nothing configured: the extractive writer
        ("auto", SMOLLM2_135M.key, False, True),  # a configured model counts as available
        ("lm", "", False, True),  # asked for by name: the LM (its load says what is missing)
        ("extractive", "", True, False),
    ],
)
def test_auto_answers_with_the_lm_when_a_model_is_there(monkeypatch, tmp_path, writer, model, installed, expected):
    monkeypatch.setattr(writers_module, "default_package", lambda: SMOLLM2_135M if installed else None)
    settings = Settings.load(data_dir=tmp_path, answer_writer=writer, answer_model=model)
    assert AnswerWriters(settings).writes_with_lm() is expected


def test_the_default_writer_is_the_lm_with_an_installed_model(tmp_path):
    """With the packaged models installed (scripts/setup.sh installs them), the configured writer is the LM."""
    settings = Settings.load(data_dir=tmp_path, answer_writer="auto", answer_model=SMOLLM2_135M.key)
    writer = AnswerWriters(settings).pick()
    assert isinstance(writer, LMAnswerWriter) and writer.adapter is None
