"""LoRA fine-tuning of the answer model with peft, resumable from checkpoints, and its evaluation.

Loss is taken on the reply tokens only, and logits are computed only where the reply is (``logits_to_keep``): the
vocabulary projection is a large share of a small model's compute, and the prompt positions need none.
"""

from __future__ import annotations

import json
import math
import random
import shutil
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from graphrag.answering.decoding.reply import ReplyDecoding
from graphrag.answering.prompt import parse_reply
from graphrag.errors import ConfigError, ModelOutputError
from graphrag.lm.model import LanguageModel
from graphrag.training.data import Example
from graphrag.training.qa_metrics import exact_match, token_f1

__all__ = [
    "LoraOptions",
    "TrainResult",
    "bar_interval",
    "evaluate",
    "heldout_perplexity",
    "tokenize_example",
    "train_lora",
]


@dataclass(frozen=True, slots=True)
class LoraOptions:
    """LoRA and optimisation hyperparameters (recorded in the adapter manifest)."""

    rank: int = 16
    alpha: int = 32
    dropout: float = 0.05
    target_modules: tuple[str, ...] = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")
    # Share of the top transformer layers that get LoRA. Backpropagation stops below the lowest adapted layer, so
    # fewer adapted layers train faster (Qwen2.5-0.5B bf16 on 2 cores: 0.345 examples/s with every layer adapted,
    # 0.475 with the top half); the top fifth (5 of 24) keeps a 2,000-example run within an hour on 2 cores.
    layer_share: float = 0.2
    epochs: float = 1.0
    learning_rate: float = 4e-4
    batch_size: int = 8  # examples per optimiser step (gradient accumulation over single examples: no padding)
    max_length: int = 1024
    warmup_share: float = 0.05
    seed: int = 13

    def check(self) -> LoraOptions:
        if self.rank < 1 or self.alpha < 1 or not 0 <= self.dropout < 1 or self.epochs <= 0:
            raise ConfigError("LoRA options: rank and alpha must be >= 1, dropout in [0, 1), epochs > 0")
        if not 0 < self.layer_share <= 1:
            raise ConfigError("LoRA options: layer_share must be in (0, 1]")
        if self.batch_size < 1 or self.learning_rate <= 0 or self.max_length < 32 or not self.target_modules:
            raise ConfigError("LoRA options: batch_size >= 1, learning_rate > 0, max_length >= 32, target modules")
        return self


@dataclass
class TrainResult:
    """What a training run did."""

    steps: int  # optimiser steps done so far (with earlier runs it resumed)
    planned_steps: int
    examples_seen: int  # in this run
    skipped_too_long: int
    seconds: float
    losses: list[float] = field(default_factory=list)  # mean loss per optimiser step
    resumed_from_step: int = 0

    @property
    def first_loss(self) -> float:
        return self.losses[0] if self.losses else math.nan

    @property
    def last_loss(self) -> float:
        return self.losses[-1] if self.losses else math.nan


def bar_interval() -> float:
    """Seconds between progress-bar updates: live on a terminal, every half minute in a log file (a run under nohup
    or CI still shows how far it is without filling the log)."""
    return 0.1 if sys.stderr.isatty() else 30.0


def tokenize_example(tokenizer, example: Example, max_length: int) -> tuple[list[int], int] | None:
    """Token ids of the whole chat (system, user, reply, end of turn) and how many trailing tokens are the reply;
    None when it is longer than ``max_length``."""
    messages = [{"role": "system", "content": example.system}, {"role": "user", "content": example.user}]
    prompt = tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
    full = tokenizer.apply_chat_template(messages + [{"role": "assistant", "content": example.reply}], tokenize=False)
    if not full.startswith(prompt):
        raise ConfigError("the model's chat template does not extend the prompt with the reply")
    prompt_ids = tokenizer(prompt, add_special_tokens=False)["input_ids"]
    reply_ids = tokenizer(full[len(prompt) :].rstrip("\n"), add_special_tokens=False)["input_ids"]
    if len(prompt_ids) + len(reply_ids) > max_length:
        return None
    return prompt_ids + reply_ids, len(reply_ids)


def reply_loss_sum(model, ids: list[int], reply_tokens: int, device: str):
    """Summed cross-entropy of one example's reply tokens (the prompt is context, not a target).

    The caller divides by the batch's reply-token count, so every reply token weighs the same: averaging per example
    instead gave a 3-token reply (an extractor's ``[]``) twenty times the per-token weight of a 60-token fact list,
    and the model learned to answer ``[]`` to everything."""
    import torch

    input_ids = torch.tensor([ids], device=device)
    logits = model(input_ids=input_ids, logits_to_keep=reply_tokens + 1, use_cache=False).logits[0, :-1].float()
    targets = input_ids[0, -reply_tokens:]
    return torch.nn.functional.cross_entropy(logits, targets, reduction="sum")


def train_lora(
    lm: LanguageModel,
    adapter_name: str,
    examples: list[Example],
    options: LoraOptions,
    checkpoint_dir: Path,
    data_sha256: str,
    progress: bool = True,
    max_steps: int | None = None,
) -> TrainResult:
    """Train a new LoRA adapter on ``lm``'s base model; the adapter stays loaded on ``lm`` under ``adapter_name``.

    A checkpoint (adapter, optimiser, scheduler, step) is written every few steps; a later run with the same
    adapter name, data and options resumes from it. ``max_steps`` stops early (the run can be resumed)."""
    import torch
    from peft import LoraConfig, PeftModel, get_peft_model, set_peft_model_state_dict
    from tqdm import tqdm

    options.check()
    lm.unmerge_adapters()  # training must see the packaged weights, and merged copies of this adapter go stale
    torch.manual_seed(options.seed)
    tokenized = [tokenize_example(lm.tokenizer, e, options.max_length) for e in examples]
    usable = [t for t in tokenized if t is not None]
    if not usable:
        raise ConfigError("no training example fits max_length")
    layers = int(lm.model.config.num_hidden_layers) if hasattr(lm.model, "config") else 0
    adapted = list(range(layers - max(1, round(layers * options.layer_share)), layers)) if layers else None
    config = LoraConfig(
        r=options.rank,
        lora_alpha=options.alpha,
        lora_dropout=options.dropout,
        target_modules=list(options.target_modules),
        task_type="CAUSAL_LM",
        layers_to_transform=adapted if adapted and len(adapted) < layers else None,
    )
    if isinstance(lm.model, PeftModel):
        lm.model.add_adapter(adapter_name, config)
        model = lm.model
    else:
        model = get_peft_model(lm.model, config, adapter_name=adapter_name)
        lm.model = model
    model.set_adapter(adapter_name)
    lm.adapters[adapter_name] = checkpoint_dir
    total_steps = max(1, math.ceil(len(usable) * options.epochs / options.batch_size))
    trainable = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(trainable, lr=options.learning_rate, weight_decay=0.0)
    warmup = max(1, int(total_steps * options.warmup_share))
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda s: min(1.0, (s + 1) / warmup) * max(0.0, (total_steps - s) / max(1, total_steps - warmup))
    )

    state_file = checkpoint_dir / "state.json"
    fingerprint = {"data_sha256": data_sha256, "options": asdict(options), "adapter": adapter_name}
    start, losses = 0, []
    if state_file.is_file():
        state = json.loads(state_file.read_text())
        if state.get("fingerprint") == json.loads(json.dumps(fingerprint)):
            from safetensors.torch import load_file

            set_peft_model_state_dict(
                model, load_file(str(checkpoint_dir / "adapter.safetensors")), adapter_name=adapter_name
            )
            optimizer.load_state_dict(torch.load(checkpoint_dir / "optimizer.pt", weights_only=True))
            scheduler.load_state_dict(torch.load(checkpoint_dir / "scheduler.pt", weights_only=True))
            start, losses = state["step"], state["losses"]

    shuffler = random.Random(options.seed)
    order = [i for _ in range(math.ceil(options.epochs)) for i in shuffler.sample(range(len(usable)), len(usable))]
    order = order[: total_steps * options.batch_size]
    every = max(1, min(25, total_steps // 10))
    model.train()
    started = time.perf_counter()
    bar = tqdm(
        total=total_steps,
        initial=start,
        desc=f"LoRA {adapter_name}",
        unit="step",
        disable=not progress,
        mininterval=bar_interval(),
    )
    last = max(start, total_steps if max_steps is None else min(total_steps, max_steps))
    for step in range(start, last):
        batch = order[step * options.batch_size : (step + 1) * options.batch_size]
        step_loss = 0.0
        batch_tokens = sum(usable[index][1] for index in batch)
        for index in batch:
            ids, reply_tokens = usable[index]
            loss = reply_loss_sum(model, ids, reply_tokens, lm.device) / batch_tokens
            loss.backward()
            step_loss += float(loss.detach())
        torch.nn.utils.clip_grad_norm_(trainable, 1.0)
        optimizer.step()
        scheduler.step()
        optimizer.zero_grad(set_to_none=True)
        losses.append(round(step_loss, 5))
        bar.update(1)
        bar.set_postfix(loss=f"{step_loss:.3f}")
        if (step + 1) % every == 0 or step + 1 == last:
            _checkpoint(
                model,
                adapter_name,
                optimizer,
                scheduler,
                checkpoint_dir,
                {"fingerprint": fingerprint, "step": step + 1, "losses": losses},
            )
    bar.close()
    model.eval()
    lm.forget_prompts()  # keys and values read with the adapter's earlier weights
    return TrainResult(
        steps=last,
        planned_steps=total_steps,
        examples_seen=(last - start) * options.batch_size,
        skipped_too_long=len(tokenized) - len(usable),
        seconds=round(time.perf_counter() - started, 1),
        losses=losses,
        resumed_from_step=start,
    )


def _checkpoint(model, adapter_name: str, optimizer, scheduler, directory: Path, state: dict) -> None:
    """Write adapter weights, optimiser and scheduler state, then the step (last, so a crash mid-write resumes
    from the previous complete checkpoint)."""
    import torch
    from peft import get_peft_model_state_dict
    from safetensors.torch import save_file

    partial = directory.with_name(directory.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    partial.mkdir(parents=True)
    weights = {
        k: v.detach().contiguous().cpu() for k, v in get_peft_model_state_dict(model, adapter_name=adapter_name).items()
    }
    save_file(weights, str(partial / "adapter.safetensors"))
    torch.save(optimizer.state_dict(), partial / "optimizer.pt")
    torch.save(scheduler.state_dict(), partial / "scheduler.pt")
    (partial / "state.json").write_text(json.dumps(state))
    shutil.rmtree(directory, ignore_errors=True)
    partial.rename(directory)


def evaluate(
    lm: LanguageModel,
    examples: list[Example],
    adapter: str | None,
    max_new_tokens: int = 48,
    progress: bool = False,
    abstain_bias: float = 0.0,
    decoding: ReplyDecoding | None = None,
    answers_out: list[str] | None = None,
    gate=None,
) -> dict:
    """Generate for each question example and score: EM/F1 on answerable ones, abstention on both kinds,
    malformed replies (counted as wrong, and as not abstaining). ``abstain_bias``: see graphrag/answering/abstention.py;
    ``decoding``: the reply's vocabulary, schema and copying as the answer writer's
    (graphrag/answering/decoding/reply.py;
    None: the whole vocabulary, no grammar); ``answers_out``: gets each answerable question's answer as scored
    ("" for "I don't know" or a malformed reply); ``gate``: the answer writer's answerability probe (a gated prompt
    is an "I don't know")."""
    from tqdm import tqdm

    from graphrag.answering.abstention import FORBIDDEN, AbstainBias

    answerable = {"em": [], "f1": [], "abstained": []}
    unanswerable_abstained, malformed = [], 0
    questions = [e for e in examples if e.kind != "replay"]
    for example in tqdm(
        questions, desc=f"evaluate {adapter or 'base'}", disable=not progress, mininterval=bar_interval()
    ):
        forced = decoding.reply_prefix(adapter) if decoding else ""
        prompt = lm.chat_prompt(example.system, example.user) + forced
        bias = FORBIDDEN if gate is not None else abstain_bias  # as the writer: with a gate, the gate decides
        processors = [AbstainBias(lm.tokenizer, bias, prefix_in_prompt=bool(forced))] if bias else []
        evidence_count = example.user.count("\n[")
        if decoding:
            processors += decoding.processors(evidence_count, forced, example.user, max_new_tokens)
        generation = lm.generate(
            prompt,
            max_new_tokens,
            adapter=adapter,
            logits_processors=processors,
            vocabulary=decoding.vocabulary(prompt) if decoding else None,
            gate=gate,
        )
        text = forced + generation.text
        if generation.gated:
            reply = None
        else:
            try:
                reply = parse_reply(text, evidence_count)
            except ModelOutputError:
                reply, malformed = None, malformed + 1
        said_idk = generation.gated or (reply is not None and reply.answer is None)
        if example.kind == "unanswerable":
            unanswerable_abstained.append(float(said_idk))
        else:
            text = reply.answer if reply is not None and reply.answer is not None else ""
            answerable["em"].append(exact_match(text, example.answers))
            answerable["f1"].append(token_f1(text, example.answers))
            answerable["abstained"].append(float(said_idk))
            if answers_out is not None:
                answers_out.append(text)

    def pct(values: list[float]) -> float:
        return round(100 * sum(values) / len(values), 1) if values else 0.0

    return {
        "questions": len(questions),
        "em": pct(answerable["em"]),
        "f1": pct(answerable["f1"]),
        "answerable_abstain_rate": pct(answerable["abstained"]),
        "unanswerable_abstain_rate": pct(unanswerable_abstained),
        "malformed_rate": round(100 * malformed / len(questions), 1) if questions else 0.0,
    }


def heldout_perplexity(lm: LanguageModel, texts: list[str], adapter: str | None, max_tokens: int = 512) -> float:
    """Perplexity of plain held-out text: forgetting shows as a rise between the base model and the adapter."""
    import torch

    total, count = 0.0, 0
    with lm.using(adapter) as model, torch.inference_mode():
        for text in texts:
            ids = lm.tokenizer(text, return_tensors="pt", add_special_tokens=False)["input_ids"][:, :max_tokens]
            if ids.shape[1] < 2:
                continue
            ids = ids.to(lm.device)
            loss = model(input_ids=ids, labels=ids).loss
            total += float(loss) * (ids.shape[1] - 1)
            count += ids.shape[1] - 1
    return round(math.exp(total / count), 3) if count else math.nan
