"""Picks the answer writer for each question: the extractive one, or the answer LM with a named adapter.

The LM is loaded once, on first use, and adapters are added to it as they are first asked for (peft keeps them
side by side), so switching adapters between requests never reloads the base model.
"""

from __future__ import annotations

import logging
import threading

from graphrag.answering.candidates import AnswerCandidates
from graphrag.answering.decoding.reply import ReplyDecoding
from graphrag.answering.evidence import EvidenceSelector
from graphrag.answering.extractive import AnswerWriter, ExtractiveAnswerWriter
from graphrag.answering.lm_reader import LMAnswerWriter, WriterStats
from graphrag.answering.probes import ANSWERABILITY, POLAR, LinearProbe, shipped_probe
from graphrag.config import Settings
from graphrag.errors import ModelError
from graphrag.lm.adapters import AdapterManifest, AdapterRegistry
from graphrag.lm.embedding import Embedder
from graphrag.lm.model import LanguageModel
from graphrag.lm.packages import default_package
from graphrag.offline import load_spacy

__all__ = ["BASE_ADAPTER", "DRAFT_TOKENS", "MERGED_ADAPTERS", "AnswerWriters"]

BASE_ADAPTER = "none"  # an ``adapter`` value that asks for the base model without any adapter
# Drafted decoding (graphrag/lm/greedy.py): up to this many reply tokens are drafted and checked in one forward pass.
DRAFT_TOKENS = 10
# Saved adapters served from merged weights, the most recently used kept (graphrag/lm/merging.py): an adapted layer
# then costs what a base one does, for a copy of each adapted matrix per kept adapter (Qwen 0.5B: 30 MB a layer).
MERGED_ADAPTERS = 2
_log = logging.getLogger(__name__)


class AnswerWriters:
    """The writers one Engine uses; ``pick`` is thread-safe. With an ``embedder`` the LM writers read only the
    evidence sentences most relevant to the question (graphrag/answering/evidence.py)."""

    def __init__(
        self, settings: Settings, extractive: AnswerWriter | None = None, embedder: Embedder | None = None
    ) -> None:
        self.settings = settings
        self.embedder = embedder
        self.extractive = extractive or ExtractiveAnswerWriter(settings.answer_threshold)
        # The graph answers before the model reads only when it is sure: on text, chains of 0.35-0.5 were mostly
        # walks past the answer ("... —LOCATED_IN→ Canberra —LOCATED_IN→ Australia" for "what Australian city?").
        self.graph = (
            ExtractiveAnswerWriter(settings.graph_answer_threshold)
            if isinstance(self.extractive, ExtractiveAnswerWriter)
            else None
        )
        self.registry = AdapterRegistry.for_settings(settings)
        self.stats = WriterStats()
        self._model: LanguageModel | None = None
        self._reply_decoding: ReplyDecoding | None = None
        self._selector: EvidenceSelector | None = None
        self._candidates: AnswerCandidates | None = None
        self._probes: dict[str, LinearProbe | None] = {}  # by kind, once looked for (None: none shipped)
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
                    self.settings.precision,
                    self.settings.torch_threads,
                    DRAFT_TOKENS,
                    MERGED_ADAPTERS,
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
            stats=self.stats,
            abstain_bias=bias,
            selector=self.evidence_selector(),
            decoding=self.reply_decoding(),
            candidates=self.answer_candidates(),
            graph=self.graph,
            gate=self.answerability_probe() if adapter is None else None,
            polar=self.polar_probe() if adapter is None else None,
        )

    def answerability_probe(self) -> LinearProbe | None:
        """The shipped answerability probe of the loaded base model (graphrag/answering/probes.py), found on first
        use; None when none was trained on this model."""
        return self._probe(ANSWERABILITY)

    def polar_probe(self) -> LinearProbe | None:
        """The shipped yes / no probe of the loaded base model (graphrag/answering/probes.py), found on first use;
        None when none was trained on this model, or when it reads another layer than the answerability probe (both
        are read from one hidden state; the model's own yes / no answers then, and a warning says so)."""
        polar, gate = self._probe(POLAR), self.answerability_probe()
        if polar is not None and gate is not None and polar.layer != gate.layer:
            with self._lock:
                if self._probes.get(POLAR) is polar:  # warn once
                    _log.warning(
                        "the yes / no probe reads decoder layer %d, the answerability probe layer %d: the yes / no "
                        "probe is not used (retrain it: scripts/train_polar_probe.py --ship)",
                        polar.layer,
                        gate.layer,
                    )
                    self._probes[POLAR] = None
            return None
        return polar

    def _probe(self, kind: str) -> LinearProbe | None:
        model = self.language_model()
        with self._lock:
            if kind not in self._probes:
                self._probes[kind] = shipped_probe(model.resolved.sha256, kind)
            return self._probes[kind]

    def answer_candidates(self) -> AnswerCandidates:
        """The candidate finder every LM writer shares, with its own spaCy pipeline (loaded on first use)."""
        with self._lock:
            if self._candidates is None:
                self._candidates = AnswerCandidates(load_spacy(self.settings.spacy_model))
            return self._candidates

    def evidence_selector(self) -> EvidenceSelector | None:
        """The sentence selection every LM writer shares (None without an embedder), built on first use: one, so
        that its kept sentence vectors serve the next question too."""
        if self.embedder is None:
            return None
        model = self.language_model()
        with self._lock:
            if self._selector is None:
                self._selector = EvidenceSelector(self.embedder, model.token_counts)
            return self._selector

    def reply_decoding(self) -> ReplyDecoding:
        """How the answer LM decodes (built on first use: the reply grammar reads the tokenizer's token texts, about
        a second for Qwen)."""
        model = self.language_model()
        with self._lock:
            if self._reply_decoding is None:
                self._reply_decoding = ReplyDecoding.for_tokenizer(model.tokenizer)
            return self._reply_decoding

    def pick(self, adapter: str | None = None) -> AnswerWriter:
        """``adapter`` None: the configured writer (for lm, the active adapter or the base); a name: the LM with
        that adapter; ``"none"``: the base LM without adapter."""
        if adapter == BASE_ADAPTER:
            return self._lm_writer(None)
        if adapter is not None:
            return self._lm_writer(adapter)
        if not self.writes_with_lm():
            return self.extractive
        return self._lm_writer(self.registry.active("answer"))

    def writes_with_lm(self) -> bool:
        """Whether the configured writer is the answer LM: ``lm``, or ``auto`` with an answer model installed (a
        packaged one) or configured (``answer_model``). The LM is the default because it answers far better
        (docs/benchmarks.md, Answers); the extractive writer needs no model."""
        if self.settings.answer_writer != "auto":
            return self.settings.answer_writer == "lm"
        return bool(self.settings.answer_model) or default_package() is not None
