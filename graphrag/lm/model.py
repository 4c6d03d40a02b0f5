"""A causal language model loaded offline, with LoRA adapters swapped in and out without reloading the base.

The base model is loaded once (from a converted package checkpoint or any local transformers directory); peft
keeps several adapters on it at once and one ``generate`` call names the adapter to use, or none for the base.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from contextlib import ExitStack, contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from graphrag.errors import ModelError
from graphrag.lm.batch_decoding import BatchRow, decode_greedy_batch
from graphrag.lm.greedy import PromptLookup, PromptPrefixCache, ReplyScores, decode_greedy, mean_probability
from graphrag.lm.merging import MergedAdapters
from graphrag.lm.packages import LM_PACKAGES, LMPackage, converted_checkpoint, default_package
from graphrag.lm.scoring import best_continuation_logprobs, scores_after_prompt
from graphrag.lm.vocabulary import WordTokens, restricted_output_head, vocabulary_token_ids
from graphrag.offline import cpu_bf16_is_faster, force_offline, freeze_loaded_objects

__all__ = ["Generation", "GenerationRequest", "LanguageModel", "PromptGate", "resolve_model"]


@dataclass(frozen=True, slots=True)
class Generation:
    """One generated reply and what it cost."""

    text: str
    prompt_tokens: int
    new_tokens: int
    ms: float
    mean_token_probability: float  # geometric mean over the generated tokens: a rough confidence
    token_ids: tuple[int, ...] = ()  # the reply's tokens as generated
    forward_passes: int = 0  # model calls: the prompt's, then one per step (drafted tokens ride along)
    reused_prompt_tokens: int = 0  # prompt tokens whose keys and values came from the prefix cache
    batch_size: int = 1  # the prompts decoded together with this one, itself included
    gated: bool = False  # the request's gate judged the prompt and no reply was decoded
    own: ReplyScores | None = None  # the model's own scores of the reply, before the logits processors


class PromptGate(Protocol):
    """Judges a prompt before any reply is decoded, from the hidden state that decoder layer ``layer`` gives the
    prompt's last token (a float tensor): True means decode no reply."""

    layer: int

    def __call__(self, hidden) -> bool: ...


@dataclass(frozen=True, slots=True)
class GenerationRequest:
    """One prompt to decode (``LanguageModel.generate`` explains each field)."""

    prompt: str
    max_new_tokens: int
    adapter: str | None = None
    stop_when: Callable[[str], bool] | None = None
    logits_processors: Sequence = ()
    vocabulary: Sequence[str] | None = None
    gate: PromptGate | None = None


@dataclass(frozen=True, slots=True)
class ResolvedModel:
    """Where a configured answer model lives: a packaged model (with its sha256) or a local directory."""

    name: str
    path: Path
    sha256: str
    package: LMPackage | None


def resolve_model(name: str, cache_dir: Path, dtype: str = "fp32") -> ResolvedModel:
    """Turn the ``answer_model`` setting into a loadable checkpoint: empty = the default package (Qwen2.5-Coder-0.5B
    when installed, else SmolLM2-135M), a package key (``smollm2-135m``), or a local transformers directory. A
    package's checkpoint is the cached copy for ``dtype`` (bf16 or else fp32)."""
    if not name:
        package = default_package()
        if package is None:
            raise ModelError(
                "no answer model is installed: run `graphrag models install` (Qwen2.5-Coder-0.5B) or "
                "set GRAPHRAG_ANSWER_MODEL to a local transformers model directory"
            )
    elif name in LM_PACKAGES:
        package = LM_PACKAGES[name]
    else:
        path = Path(name).expanduser()
        if not (path / "config.json").is_file():
            raise ModelError(
                f"answer model {name!r} is neither a packaged model ({', '.join(LM_PACKAGES)}) nor a "
                "local transformers directory with config.json"
            )
        return ResolvedModel(name=path.name, path=path, sha256="", package=None)
    path = converted_checkpoint(package, cache_dir, dtype)
    return ResolvedModel(name=package.key, path=path, sha256=package.sha256, package=package)


def restride_output_head_input(model) -> None:
    """Give the output head's input standard strides, so the head runs as one matrix product.

    A causal LM applies its head to ``hidden[:, -k:, :]`` (``logits_to_keep``). For a [1, k, d] slice of a longer
    sequence the batch stride is the full sequence's, and torch.matmul then does not fold the input into a matrix
    when the head's weight needs no gradient (as under peft, which freezes the base): it broadcasts a batched
    product and copies the transposed 151,936 x 896 weight on every call. That copy was about 0.5 s of a 0.4 s
    prefill once an adapter was loaded, and half of each training example's forward pass. Copying the k rows
    instead costs microseconds."""
    import torch

    head = model.get_output_embeddings() if hasattr(model, "get_output_embeddings") else None
    if head is None or getattr(head, "_restrided_input", False):  # a second LanguageModel on the same model
        return
    head._restrided_input = True

    def restride(_module, args):
        hidden, *rest = args
        return (hidden.clone(memory_format=torch.contiguous_format), *rest)

    head.register_forward_pre_hook(restride)


class LanguageModel:
    """A chat model on CPU (or a given device) with named LoRA adapters. Thread-safe: one generation at a time."""

    def __init__(
        self, resolved: ResolvedModel, model, tokenizer, device: str, draft_tokens: int = 0, merged_adapters: int = 0
    ) -> None:
        self.resolved = resolved
        self.model = model
        self.tokenizer = tokenizer
        self.device = device
        # Prompt-lookup decoding (transformers' prompt_lookup_num_tokens): replies mostly copy the evidence, and on
        # a CPU a forward pass over a few drafted tokens costs little more than over one, since decoding is bound by
        # reading the weights, not by arithmetic. Greedy verification keeps the tokens greedy decoding would pick,
        # up to rounding: in bf16 a forward pass over several tokens can round differently, so a near-tie may go
        # the other way (1 reply in 100 on the gold-mode benchmark).
        self.draft_tokens = draft_tokens
        self.adapters: dict[str, Path] = {}
        # saved adapters served from merged weights (graphrag/lm/merging.py); 0 keeps peft's separate products
        self._merged = MergedAdapters(merged_adapters)
        self._lock = threading.Lock()
        self._prefix_cache = PromptPrefixCache()  # the last prompt's keys and values per adapter
        self._words = WordTokens(tokenizer)  # the reply vocabulary's word spellings, tokenized once
        # What ends a reply: the tokenizer's end token and the model's generation config's (the same for the
        # packaged models), as transformers' generate would stop.
        configured = getattr(getattr(model, "generation_config", None), "eos_token_id", None)
        self._end_ids = {*_ids(tokenizer.eos_token_id), *_ids(configured)}
        restride_output_head_input(model)

    @classmethod
    def load(
        cls,
        name: str,
        cache_dir: Path,
        device: str = "cpu",
        dtype: str = "auto",
        torch_threads: int = 0,
        draft_tokens: int = 0,
        merged_adapters: int = 0,
    ) -> LanguageModel:
        """Load the tokenizer and base model offline. ``dtype`` auto: bf16 on a GPU or on a CPU where bf16 matrix
        products time clearly faster than fp32 (AMX: about 3x; AVX-512 BF16 alone can be slower), else fp32.
        ``draft_tokens``: prompt-lookup decoding's draft length (0: one token a forward pass).
        ``merged_adapters``: how many saved adapters keep merged weights for serving (0: none)."""
        import torch

        if torch_threads:
            torch.set_num_threads(torch_threads)  # before the dtype is timed: the timing uses these threads
        if dtype == "auto":
            dtype = "bf16" if device.startswith("cuda") or cpu_bf16_is_faster() else "fp32"
        resolved = resolve_model(name, cache_dir, dtype)
        force_offline()
        try:
            import transformers
            from transformers import AutoModelForCausalLM, AutoTokenizer

            transformers.utils.logging.disable_progress_bar()  # per-load bars are noise in logs and CLI output
            torch_dtype = {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}[dtype]
            tokenizer = AutoTokenizer.from_pretrained(str(resolved.path))
            model = AutoModelForCausalLM.from_pretrained(str(resolved.path), dtype=torch_dtype).to(device)
        except (OSError, ValueError, RuntimeError, KeyError) as exc:
            raise ModelError(f"cannot load answer model {resolved.name} from {resolved.path}: {exc}") from exc
        if tokenizer.pad_token is None:
            tokenizer.pad_token = tokenizer.eos_token
        model.eval()
        freeze_loaded_objects()
        return cls(resolved, model, tokenizer, device, draft_tokens, merged_adapters)

    def add_adapter(self, name: str, path: Path) -> None:
        """Load a saved LoRA adapter under ``name`` beside those already loaded (the base stays in memory)."""
        if name in self.adapters:
            return
        try:
            from peft import PeftModel

            with self._lock:
                self._prefix_cache.clear()  # peft wraps the model anew
                self._merged.restore()  # peft injects the new adapter's layers into the packaged weights' layers
                if isinstance(self.model, PeftModel):
                    self.model.load_adapter(str(path), adapter_name=name)
                else:
                    self.model = PeftModel.from_pretrained(self.model, str(path), adapter_name=name)
                self.model.eval()
                self._compute_adapter_in_base_dtype(name)
        except (OSError, ValueError, RuntimeError, KeyError) as exc:
            raise ModelError(f"cannot load adapter {name!r} from {path}: {exc}") from exc
        self.adapters[name] = Path(path)

    def _compute_adapter_in_base_dtype(self, name: str) -> None:
        """Cast a loaded adapter's weights to the base model's dtype (peft keeps them in fp32). In fp32 every
        adapted projection casts its bf16 input up and its output back: a 624-token prefill with a 10-layer adapter
        took 0.68 s against 0.52 s in bf16 on 2 cores (0.42 s without adapter). The sum with the base output is
        rounded to bf16 either way. Saved adapters only: a training run keeps its adapter in fp32."""
        base_dtype = next(p.dtype for n, p in self.model.named_parameters() if "lora_" not in n)
        for parameter_name, parameter in self.model.named_parameters():
            if "lora_" in parameter_name and f".{name}." in parameter_name and parameter.dtype != base_dtype:
                parameter.data = parameter.data.to(base_dtype)

    def chat_prompt(self, system: str, user: str) -> str:
        """The model's own chat template around one system and one user message, ready for the reply."""
        messages = [{"role": "system", "content": system}, {"role": "user", "content": user}]
        return self.tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)

    def count_tokens(self, text: str) -> int:
        return len(self.tokenizer(text, add_special_tokens=False)["input_ids"])

    def token_counts(self, texts: Sequence[str]) -> list[int]:
        """Token counts of several texts in one tokenizer call."""
        if not texts:
            return []
        return [len(ids) for ids in self.tokenizer(list(texts), add_special_tokens=False)["input_ids"]]

    def next_token_logits(self, prompt: str, adapter: str | None = None, vocabulary: Sequence[str] | None = None):
        """The logits (a float vector over the vocabulary) of the token after ``prompt``: one forward pass.
        ``vocabulary``: as in ``generate``, tokens outside it get -inf."""
        import torch

        token_ids = vocabulary_token_ids(self.tokenizer, vocabulary, self._words) if vocabulary is not None else None
        with self.using(adapter) as model, torch.inference_mode(), restricted_output_head(model, token_ids):
            inputs = self.tokenizer(prompt, return_tensors="pt", add_special_tokens=False).to(self.device)
            logits = model(**inputs, logits_to_keep=1).logits
        return logits[0, -1].float()

    def hidden_states(self, prompt: str, layers: Sequence[int], adapter: str | None = None):
        """The hidden states decoder layers ``layers`` give the prompt's last token: a float tensor [len(layers),
        hidden size], from one forward pass that stops after the last of those layers (what a PromptGate of each
        layer would see)."""
        import torch

        with self.using(adapter) as model, torch.inference_mode(), ExitStack() as stack:
            readers = [stack.enter_context(_LayerReader(model, _Layer(layer))) for layer in layers]
            last = model.get_decoder().layers[max(layers)]
            stack.callback(last.register_forward_hook(_stop_forward).remove)  # the layers above are not needed
            inputs = self.tokenizer(prompt, return_tensors="pt", add_special_tokens=False).to(self.device)
            with suppress(_ForwardStopped):
                model(**inputs, logits_to_keep=1)
            return torch.stack([reader.hidden[0] for reader in readers])  # one prompt: its row

    def read_prompt(self, prompt: str, layer: int, adapter: str | None = None):
        """What one forward pass over ``prompt`` gives its last token: (the hidden state of decoder layer ``layer``,
        the next token's logits over the whole vocabulary), both float tensors (what a PromptGate of that layer sees,
        and what the reply's first step chooses from)."""
        import torch

        with self.using(adapter) as model, torch.inference_mode(), _LayerReader(model, _Layer(layer)) as reader:
            inputs = self.tokenizer(prompt, return_tensors="pt", add_special_tokens=False).to(self.device)
            logits = model(**inputs, logits_to_keep=1).logits[0, -1].float()
            return reader.hidden[0], logits

    def score_continuations(
        self,
        prompt: str,
        continuations: Sequence[str],
        adapter: str | None = None,
        vocabulary: Sequence[str] | None = None,
        margin: float | None = None,
        reply: ReplyScores | None = None,
    ) -> list[float | None]:
        """The log-probability of each continuation (text) after ``prompt``, summed over its tokens, read from the
        prompt's kept keys and values (graphrag/lm/scoring.py). ``vocabulary``: as in ``generate``, scores are
        normalised over its tokens. Without ``margin`` every continuation is read, all in one forward pass.

        With ``margin`` the first continuation is a reference, and what is sought is the best continuation at least
        ``margin`` above it: continuations are read likeliest first token first, a few a pass, and one whose first
        token scores below the reference's total plus ``margin``, or below the best total read so far, is not read
        and gets None (a sum of log-probabilities never exceeds its first term). The reference is read in the
        prompt's own pass or, given ``reply`` (``Generation.own`` of a reply decoded for this very prompt and
        vocabulary) that starts with it, taken from the reply's own scores: then nothing to read costs no pass."""
        import torch

        token_ids = vocabulary_token_ids(self.tokenizer, vocabulary, self._words) if vocabulary is not None else None
        prompt_ids = self.tokenizer(prompt, add_special_tokens=False)["input_ids"]
        encoded = [self.tokenizer(text, add_special_tokens=False)["input_ids"] for text in continuations]
        reference = encoded[0] if margin is not None and encoded and encoded[0] else []
        known = reply.score_of(reference) if reply is not None and reference else None
        if known is not None and not any(ids and float(reply.first[ids[0]]) >= known + margin for ids in encoded[1:]):
            return [known] + [None] * (len(encoded) - 1)
        with self.using(adapter) as model, torch.inference_mode(), restricted_output_head(model, token_ids):
            state = (adapter, self._merged.active)  # as generate keys the prompt it kept
            cache, reused = self._prefix_cache.start(state, prompt_ids)
            unread = prompt_ids[reused:]
            if known is not None:
                floor = known + margin
                best = best_continuation_logprobs(
                    model, cache, reply.first, len(prompt_ids), encoded[1:], floor, token_ids, self.device, unread
                )
                scored = [known, *best]
            else:
                scored = scores_after_prompt(
                    model, cache, len(prompt_ids), unread, encoded, margin, token_ids, self.device
                )
            if cache.get_seq_length() >= len(prompt_ids):  # nothing read (one-token lines): the prompt is not whole
                self._prefix_cache.keep(state, prompt_ids, cache)
        return scored

    @contextmanager
    def using(self, adapter: str | None):
        """Hold the model (one caller at a time) with the named adapter switched on (None: every adapter switched
        off, the base alone); yields the torch model to call."""
        if adapter is not None and adapter not in self.adapters:
            raise ModelError(f"adapter {adapter!r} is not loaded (loaded: {', '.join(self.adapters) or 'none'})")
        with self._lock:
            if self.adapters and adapter is None:
                self._merged.restore()  # before peft's disable_adapter, which would unmerge in place
                with self.model.disable_adapter():
                    yield self.model
            else:
                if adapter is not None and self._merged.active != adapter:
                    self._merged.restore()  # set_adapter on merged layers would unmerge them in place
                    self.model.set_adapter(adapter)
                    self._merged.apply(self.model, adapter)
                yield self.model

    def unmerge_adapters(self) -> None:
        """Put the packaged weights back into the base layers and drop every adapter's merged copy: before training,
        which changes an adapter's weights (a merged copy of them would go stale)."""
        with self._lock:
            self._merged.clear()
            self._prefix_cache.clear()

    def forget_prompts(self) -> None:
        """Drop the keys and values kept of earlier prompts: after anything that changes the weights (training)."""
        with self._lock:
            self._prefix_cache.clear()

    def generate(
        self,
        prompt: str,
        max_new_tokens: int,
        adapter: str | None = None,
        stop_when: Callable[[str], bool] | None = None,
        logits_processors: Sequence = (),
        vocabulary: Sequence[str] | None = None,
        gate: PromptGate | None = None,
    ) -> Generation:
        """Greedy decoding of one prompt with the named adapter (None: the base model alone), drafting
        ``draft_tokens`` a step (graphrag/lm/greedy.py). ``stop_when`` is asked after each new token with the
        reply so far and ends generation when it answers True; ``logits_processors`` (transformers LogitsProcessor
        objects, fresh for this call) adjust the scores; ``vocabulary`` (texts) restricts the reply to tokens of
        their words (graphrag/lm/vocabulary.py), None: any token. ``gate`` judges the prompt once it is read and can
        stop decoding before the first token (``Generation.gated``)."""
        import torch

        started = time.perf_counter()
        token_ids = vocabulary_token_ids(self.tokenizer, vocabulary, self._words) if vocabulary is not None else None
        prompt_ids = self.tokenizer(prompt, add_special_tokens=False)["input_ids"]
        stop = self._stop(stop_when)
        with (
            self.using(adapter) as model,
            torch.inference_mode(),
            restricted_output_head(model, token_ids),
            _LayerReader(model, gate) as reader,
        ):
            decoded = decode_greedy(
                model,
                prompt_ids,
                max_new_tokens,
                self._end_ids,
                processors=logits_processors,
                lookup=PromptLookup(prompt_ids) if self.draft_tokens else None,
                draft_limit=self.draft_tokens,
                stop_when=stop,
                prefix_cache=self._prefix_cache,
                cache_state=(adapter, self._merged.active),
                device=self.device,
                after_prompt=reader.judge if gate is not None else None,
            )
        return Generation(
            text=self.tokenizer.decode(decoded.token_ids, skip_special_tokens=True),
            prompt_tokens=len(prompt_ids),
            new_tokens=len(decoded.token_ids),
            ms=round((time.perf_counter() - started) * 1000, 2),
            mean_token_probability=mean_probability(decoded.logprobs),
            token_ids=decoded.token_ids,
            forward_passes=decoded.forward_passes,
            reused_prompt_tokens=decoded.reused_prompt_tokens,
            gated=decoded.gated,
            own=decoded.own,
        )

    def generate_batch(self, requests: Sequence[GenerationRequest]) -> list[Generation]:
        """Greedy decoding of several prompts, those with the same adapter together: one forward pass a step serves
        all of their next tokens (graphrag/lm/batch_decoding.py). Each reply is the one ``generate`` would write,
        up to rounding. A single request is ``generate``. Every Generation's ``ms`` is its group's wall time."""
        import torch

        if len(requests) == 1:
            request = requests[0]
            return [
                self.generate(
                    request.prompt,
                    request.max_new_tokens,
                    request.adapter,
                    request.stop_when,
                    request.logits_processors,
                    request.vocabulary,
                    request.gate,
                )
            ]
        out: list[Generation | None] = [None] * len(requests)
        groups: dict[str | None, list[int]] = {}
        for index, request in enumerate(requests):
            groups.setdefault(request.adapter, []).append(index)
        for adapter, indices in groups.items():
            started = time.perf_counter()
            group = [requests[i] for i in indices]
            prompt_ids = self.tokenizer([r.prompt for r in group], add_special_tokens=False)["input_ids"]
            allowed = [
                vocabulary_token_ids(self.tokenizer, r.vocabulary, self._words) if r.vocabulary is not None else None
                for r in group
            ]
            # the head scores every token some row may use; each row masks the rest
            union = None if any(ids is None for ids in allowed) else sorted({t for ids in allowed for t in ids})
            with (
                self.using(adapter) as model,
                torch.inference_mode(),
                restricted_output_head(model, union),
                ExitStack() as readers,
            ):
                size = model.get_output_embeddings().weight.shape[0]
                rows = [
                    BatchRow(
                        ids,
                        r.max_new_tokens,
                        r.logits_processors,
                        self._stop(r.stop_when),
                        None if vocabulary is None else _token_mask(vocabulary, size),
                        readers.enter_context(_LayerReader(model, r.gate)).judge if r.gate is not None else None,
                    )
                    for r, ids, vocabulary in zip(group, prompt_ids, allowed)
                ]
                decoded = decode_greedy_batch(
                    model,
                    rows,
                    self._end_ids,
                    draft_limit=self.draft_tokens,
                    prefix_cache=self._prefix_cache,
                    cache_state=(adapter, self._merged.active),
                    device=self.device,
                )
            ms = round((time.perf_counter() - started) * 1000, 2)
            for index, ids, result in zip(indices, prompt_ids, decoded):
                out[index] = Generation(
                    text=self.tokenizer.decode(result.token_ids, skip_special_tokens=True),
                    prompt_tokens=len(ids),
                    new_tokens=len(result.token_ids),
                    ms=ms,
                    mean_token_probability=mean_probability(result.logprobs),
                    token_ids=result.token_ids,
                    forward_passes=result.forward_passes,
                    reused_prompt_tokens=result.reused_prompt_tokens,
                    batch_size=len(group),
                    gated=result.gated,
                    own=result.own,
                )
        return [generation for generation in out if generation is not None]

    def _stop(self, stop_when: Callable[[str], bool] | None) -> Callable[[list[int]], bool] | None:
        """``stop_when`` (asked with the reply's text) as a test of the new tokens."""
        if stop_when is None:
            return None
        return lambda new: bool(stop_when(self.tokenizer.decode(new, skip_special_tokens=True)))


class _ForwardStopped(Exception):
    """Raised by a forward hook to end a forward pass early (its remaining layers are not needed)."""


def _stop_forward(_module, _args, _output) -> None:
    raise _ForwardStopped


@dataclass(frozen=True, slots=True)
class _Layer:
    """A gate that only names its layer (``hidden_states`` reads layers with it); it never stops a reply."""

    layer: int

    def __call__(self, hidden) -> bool:
        return False


class _LayerReader:
    """Within the block, keeps the hidden state one decoder layer gives the last token of each forward pass (a
    forward hook), so that ``judge`` can ask a PromptGate about the prompt just read. Without a gate it does
    nothing."""

    def __init__(self, model, gate: PromptGate | None) -> None:
        self.model = model
        self.gate = gate
        self.hidden = None
        self._handle = None

    def __enter__(self) -> _LayerReader:
        if self.gate is not None:
            layers = self.model.get_decoder().layers
            if not 0 <= self.gate.layer < len(layers):
                raise ModelError(f"the gate reads decoder layer {self.gate.layer}; the model has {len(layers)}")
            self._handle = layers[self.gate.layer].register_forward_hook(self._keep)
        return self

    def _keep(self, _module, _args, output) -> None:
        hidden = output[0] if isinstance(output, tuple) else output
        self.hidden = hidden[:, -1].float()  # every row's: several prompts' last tokens can be read in one pass

    def judge(self, row: int = 0) -> bool:
        """The gate's verdict on the prompt whose last token was row ``row`` of the last pass."""
        return self.gate is not None and self.hidden is not None and bool(self.gate(self.hidden[row]))

    def __exit__(self, *exc) -> None:
        if self._handle is not None:
            self._handle.remove()


def _token_mask(token_ids: Sequence[int], size: int):
    """A bool tensor over a vocabulary of ``size`` tokens, True at ``token_ids``."""
    import torch

    mask = torch.zeros(size, dtype=torch.bool)
    mask[list(token_ids)] = True
    return mask


def _ids(value) -> list[int]:
    """A token id or a list of them (or None) as a list."""
    if value is None:
        return []
    return [int(v) for v in value] if isinstance(value, (list, tuple)) else [int(value)]
