"""Picks the answer writer for each question: the extractive one, or the answer LM with a named adapter.

The LM is loaded once, on first use, and adapters are added to it as they are first asked for (peft keeps them
side by side), so switching adapters between requests never reloads the base model.
"""

from __future__ import annotations

import threading

from graphrag.answering.decoding.reply import ReplyDecoding
from graphrag.answering.evidence import EvidenceSelector
from graphrag.answering.extractive import AnswerWriter, ExtractiveAnswerWriter
from graphrag.answering.lm_reader import LMAnswerWriter, WriterStats
from graphrag.config import Settings
from graphrag.errors import ModelError
from graphrag.lm.adapters import AdapterManifest, AdapterRegistry
from graphrag.lm.embedding import Embedder
from graphrag.lm.model import LanguageModel

__all__ = ["BASE_ADAPTER", "AnswerWriters"]

BASE_ADAPTER = "none"  # an ``adapter`` value that asks for the base model without any adapter


class AnswerWriters:
    """The writers one Engine uses; ``pick`` is thread-safe. With an ``embedder`` the LM writers read only the
    evidence sentences most relevant to the question (the ``answer_reader_tokens`` setting)."""

    def __init__(
        self, settings: Settings, extractive: AnswerWriter | None = None, embedder: Embedder | None = None
    ) -> None:
        self.settings = settings
        self.embedder = embedder
        self.extractive = extractive or ExtractiveAnswerWriter(settings.answer_threshold)
        self.registry = AdapterRegistry(settings.adapters_root)
        self.stats = WriterStats()
        self._model: LanguageModel | None = None
        self._reply_decoding: ReplyDecoding | None = None
        self._selector: EvidenceSelector | None = None
        self._lock = threading.Lock()

    def language_model(self) -> LanguageModel:
        """The answer LM, loaded on first use."""
        with self._lock:
            if self._model is None:
                device = self.settings.answer_device
                if device == "auto":
                    import torch

                    device = "cuda" if torch.cuda.is_available() else "cpu"
                self._model = LanguageModel.load(
                    self.settings.answer_model,
                    self.settings.lm_cache_dir,
                    device,
                    self.settings.answer_dtype,
                    self.settings.torch_threads,
                    self.settings.answer_draft_tokens,
                    self.settings.answer_merged_adapters,
                )
            return self._model

    def _with_adapter(self, adapter: str, kind: str) -> tuple[LanguageModel, AdapterManifest]:
        """The LM with a saved adapter of ``kind`` loaded (checked against the loaded base model), and the
        adapter's manifest."""
        # The manifest is checked before the base model loads: an unknown or wrong-kind name is refused at once
        # rather than after a model load of several seconds (which outlasted an HTTP client's timeout).
        manifest = self.registry.get(adapter)
        if manifest.kind != kind:
            raise ModelError(f"adapter {adapter!r} is a {manifest.kind} adapter, not an {kind} adapter")
        model = self.language_model()
        if model.resolved.sha256 and manifest.base_sha256 != model.resolved.sha256:
            raise ModelError(
                f"adapter {adapter!r} was trained on {manifest.base_model} "
                f"(sha256 {manifest.base_sha256[:12]}), not on the loaded {model.resolved.name}"
            )
        with self._lock:
            model.add_adapter(adapter, self.registry.path(adapter))
        return model, manifest

    def lora_extractor(self, spacy):
        """The LoRA relation extractor on this LM: the ``extractor_adapter`` setting, else the active extractor
        adapter; ModelError when there is neither."""
        from graphrag.extraction.lora_extractor import LoraRelationExtractor

        adapter = self.settings.extractor_adapter or self.registry.active("extractor")
        if not adapter:
            raise ModelError(
                "extractor=lora needs an extractor adapter: train one with scripts/finetune.py --task "
                "extract, then `graphrag adapters activate NAME` (or set GRAPHRAG_EXTRACTOR_ADAPTER)"
            )
        model, _ = self._with_adapter(adapter, "extractor")
        return LoraRelationExtractor(spacy, model, adapter)

    def _lm_writer(self, adapter: str | None) -> LMAnswerWriter:
        if adapter is None:
            model, bias = self.language_model(), 0.0
        else:
            model, manifest = self._with_adapter(adapter, "answer")
            bias = manifest.abstain_bias
        return LMAnswerWriter(
            model,
            self.extractive,
            adapter,
            self.settings.answer_max_new_tokens,
            self.settings.answer_evidence_tokens,
            self.stats,
            bias,
            self.evidence_selector(),
            self.reply_decoding(),
            self.settings.answer_graph_paths,
        )

    def evidence_selector(self) -> EvidenceSelector | None:
        """The sentence selection every LM writer shares (None without an embedder or with answer_reader_tokens
        0), built on first use: one, so that its kept sentence vectors serve the next question too (a selector
        made per question kept nothing)."""
        reader_tokens = self.settings.answer_reader_tokens
        if self.embedder is None or not reader_tokens:
            return None
        model = self.language_model()
        with self._lock:
            if self._selector is None:
                self._selector = EvidenceSelector(self.embedder, model.token_counts, reader_tokens)
            return self._selector

    def reply_decoding(self) -> ReplyDecoding:
        """How the answer LM decodes, as the settings say (built on first use: the reply grammar reads the
        tokenizer's token texts, about a second for Qwen)."""
        model = self.language_model()
        with self._lock:
            if self._reply_decoding is None:
                self._reply_decoding = ReplyDecoding.from_settings(self.settings, model.tokenizer)
            return self._reply_decoding

    def pick(self, adapter: str | None = None) -> AnswerWriter:
        """``adapter`` None: the configured writer (for lm, the active adapter or the base); a name: the LM with
        that adapter; ``"none"``: the base LM without adapter."""
        if adapter == BASE_ADAPTER:
            return self._lm_writer(None)
        if adapter is not None:
            return self._lm_writer(adapter)
        if self.settings.answer_writer == "extractive":
            return self.extractive
        return self._lm_writer(self.registry.active("answer"))
