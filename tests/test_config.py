"""Settings: defaults, TOML file, environment precedence, and clear errors."""

from __future__ import annotations

import pytest

from graphrag import Settings
from graphrag.errors import ConfigError


def test_env_beats_file_and_overrides_beat_env(tmp_path, monkeypatch):
    config = tmp_path / "graphrag.toml"
    config.write_text("top_k = 7\nchunk_size = 900\n", encoding="utf-8")
    monkeypatch.setenv("GRAPHRAG_CHUNK_SIZE", "800")
    settings = Settings.load(config)
    assert (settings.top_k, settings.chunk_size) == (7, 800)
    assert Settings.load(config, top_k=9).top_k == 9


def test_config_env_var_names_the_file(tmp_path, monkeypatch):
    config = tmp_path / "c.toml"
    config.write_text("[graphrag]\nmax_hops = 2\n", encoding="utf-8")
    monkeypatch.setenv("GRAPHRAG_CONFIG", str(config))
    assert Settings.load().max_hops == 2


def test_bad_settings_are_config_errors(tmp_path, monkeypatch):
    with pytest.raises(ConfigError, match="chunk_overlap"):
        Settings.load(chunk_size=200, chunk_overlap=500)
    with pytest.raises(ConfigError, match="top_kk"):
        Settings.load(top_kk=3)
    with pytest.raises(ConfigError, match="top_k must not exceed top_k_limit"):
        Settings.load(top_k=20, top_k_limit=10)
    with pytest.raises(ConfigError, match="answer_reply_vocabulary"):  # a deleted setting is refused, not ignored
        Settings.load(answer_reply_vocabulary="any")
    broken = tmp_path / "broken.toml"
    broken.write_text("top_k = = 3", encoding="utf-8")
    with pytest.raises(ConfigError, match="broken.toml"):
        Settings.load(broken)
    monkeypatch.setenv("GRAPHRAG_PORT", "not-a-port")
    with pytest.raises(ConfigError, match="port"):
        Settings.load()


def test_every_setting_is_documented_in_docs_settings():
    from pathlib import Path

    from server.schemas import settings_table

    page = (Path(__file__).resolve().parent.parent / "docs" / "settings.md").read_text(encoding="utf-8")
    assert settings_table() in page, "docs/settings.md's settings table drifted: run python scripts/gen_schemas.py"
