"""The generation loop (graphrag/lm/greedy.py) with the real SmolLM2 in fp32: it writes what transformers'
greedy generate writes, drafting and the prompt prefix cache change nothing but the number of forward passes, and
the reply grammar's drafts are replies it allows."""

from __future__ import annotations

import pytest
import torch

from graphrag import Settings
from graphrag.answering.decoding.grammar import ReplyGrammar, ReplyTokens
from graphrag.answering.decoding.reply import ReplyDecoding
from graphrag.answering.prompt import ANSWER_SYSTEM, EvidenceItem, parse_reply, user_message
from graphrag.lm.greedy import PromptLookup
from graphrag.lm.model import LanguageModel
from graphrag.lm.packages import SMOLLM2_135M

EVIDENCE = [
    EvidenceItem(
        "Ada Quint",
        "Ada Quint was a Scottish engineer. She studied in Glasgow and built the Forth "
        "Crossing pumping station in 1931.",
    ),
    EvidenceItem("Forth Crossing", "The Forth Crossing is a bridge near Edinburgh, opened in 1936."),
    EvidenceItem("Glasgow", "Glasgow is the largest city in Scotland."),
]


@pytest.fixture(scope="module")
def smollm2():
    return LanguageModel.load(SMOLLM2_135M.key, Settings.load().lm_cache_dir, dtype="fp32")


@pytest.fixture(scope="module")
def reply_tokens(smollm2):
    return ReplyTokens(smollm2.tokenizer)


def _prompt(lm: LanguageModel, question: str) -> tuple[str, str]:
    user = user_message(question, EVIDENCE)
    return lm.chat_prompt(ANSWER_SYSTEM, user) + "Answer:", user


def test_the_loop_writes_what_transformers_greedy_generate_writes(smollm2):
    prompt, _ = _prompt(smollm2, "Where did Ada Quint study?")
    smollm2.draft_tokens = 0
    smollm2.forget_prompts()
    ours = smollm2.generate(prompt, 24)
    inputs = smollm2.tokenizer(prompt, return_tensors="pt", add_special_tokens=False)
    with torch.inference_mode():
        theirs = smollm2.model.generate(
            **inputs,
            max_new_tokens=24,
            do_sample=False,
            temperature=None,
            top_p=None,
            top_k=None,
            pad_token_id=smollm2.tokenizer.pad_token_id,
        )
    assert ours.new_tokens > 0
    assert list(ours.token_ids) == theirs[0, inputs["input_ids"].shape[1] :].tolist()
    assert ours.forward_passes == ours.new_tokens  # one token a pass without drafting


@pytest.mark.parametrize(
    "question", ["Where did Ada Quint study?", "When did the Forth Crossing open?", "Who painted the Mona Lisa?"]
)
def test_drafting_and_the_prefix_cache_change_only_the_number_of_passes(smollm2, reply_tokens, question):
    prompt, user = _prompt(smollm2, question)
    decoding = ReplyDecoding(grammar=reply_tokens, copy_spans=True)

    def reply(draft_tokens: int):
        smollm2.draft_tokens = draft_tokens
        return smollm2.generate(
            prompt,
            40,
            logits_processors=decoding.processors(len(EVIDENCE), "Answer:", user, 40),
            vocabulary=decoding.vocabulary(prompt),
        )

    smollm2.forget_prompts()
    plain = reply(0)
    drafted = reply(10)  # also starts from the prompt's keys and values, kept by the first call
    assert plain.reused_prompt_tokens == 0
    assert drafted.reused_prompt_tokens == plain.prompt_tokens - 1  # all but the last token, read for its logits
    assert drafted.text == plain.text and drafted.token_ids == plain.token_ids
    assert drafted.mean_token_probability == pytest.approx(plain.mean_token_probability, abs=1e-3)
    assert drafted.forward_passes < plain.forward_passes
    parse_reply("Answer:" + drafted.text, len(EVIDENCE))  # the grammar still holds


def test_a_new_question_reuses_the_shared_start_of_the_prompt(smollm2):
    smollm2.draft_tokens = 0
    smollm2.forget_prompts()
    first, _ = _prompt(smollm2, "Where did Ada Quint study?")
    second, _ = _prompt(smollm2, "When did the Forth Crossing open?")
    smollm2.generate(first, 2)
    again = smollm2.generate(second, 8)
    fresh = smollm2.tokenizer(second, add_special_tokens=False)["input_ids"]
    shared = next(
        i
        for i, (a, b) in enumerate(zip(smollm2.tokenizer(first, add_special_tokens=False)["input_ids"], fresh))
        if a != b
    )
    assert again.reused_prompt_tokens == shared > 0
    smollm2.forget_prompts()
    alone = smollm2.generate(second, 8)
    assert alone.reused_prompt_tokens == 0 and alone.token_ids == again.token_ids


def test_bad_lengths_are_refused_with_a_clear_error(smollm2):
    prompt, _ = _prompt(smollm2, "Where did Ada Quint study?")
    for bad in (0, -3):
        with pytest.raises(ValueError, match="max_new_tokens must be at least 1"):
            smollm2.generate(prompt, bad)
    with pytest.raises(ValueError, match="empty prompt"):
        smollm2.generate("", 4)


def test_prompt_lookup_drafts_what_follows_the_last_words_in_the_prompt():
    lookup = PromptLookup([5, 6, 7, 8, 9, 6, 7, 3])
    assert lookup.first([1, 6, 7], 3) == [8, 9, 6]  # the two-token match, first place
    assert lookup.candidates([1, 6, 7], 2) == [[8, 9], [3]]
    assert lookup.first([1, 9], 2) == [6, 7]  # one-token match
    assert lookup.first([1, 4], 2) == []


@pytest.mark.parametrize(
    "reply, count, expected",
    [
        ("Answer: Glasgow\n", 3, "Evidence: 1, 2"),
        ("Answer: Glasgow\nEvidence: 2", 3, ", 3"),
        ("Answer: Glasgow\nEvidence: 3", 3, ""),
        ("Answer: Glasgow\nEvidence: 1,", 1, ""),
        ("Answer: Glasgow\nEvid", 1, "ence: 1"),
        ("Answer: I don't know\n", 3, "Evidence: none"),
    ],
)
def test_the_grammar_drafts_the_evidence_line(smollm2, reply_tokens, reply, count, expected):
    tokenizer = smollm2.tokenizer
    prompt = tokenizer("Question: where?", add_special_tokens=False)["input_ids"]
    grammar = ReplyGrammar(reply_tokens, count, prefix="Answer:")
    grammar(torch.tensor([prompt]), torch.zeros(1, len(reply_tokens.texts)))  # the first call marks the prompt
    ids = prompt + tokenizer(reply[len("Answer:") :], add_special_tokens=False)["input_ids"]
    draft = grammar.draft(ids, 16)
    assert tokenizer.decode(draft) == expected
    for end in range(len(draft)):
        assert grammar.permits(ids + draft[:end], draft[end])


def test_answer_line_drafts_are_copied_spans_the_grammar_allows(smollm2, reply_tokens):
    prompt, user = _prompt(smollm2, "Where did Ada Quint study?")
    prompt_ids = smollm2.tokenizer(prompt, add_special_tokens=False)["input_ids"]
    grammar = ReplyDecoding(grammar=reply_tokens, copy_spans=True).processors(len(EVIDENCE), "Answer:", user, 40)[0]
    grammar(torch.tensor([prompt_ids]), torch.zeros(1, len(reply_tokens.texts)))
    ids = prompt_ids + smollm2.tokenizer(" the Forth", add_special_tokens=False)["input_ids"]
    draft = grammar.draft(ids, 16, PromptLookup(prompt_ids))
    # The name runs on to its end ("pumping" is lower case), then the line ends and the Evidence line is guessed.
    assert smollm2.tokenizer.decode(draft) == " Crossing\nEvidence: 1, 2"
    assert all(grammar.permits(ids + draft[:end], draft[end]) for end in range(len(draft)))
    assert smollm2.tokenizer.decode(grammar.draft(ids, 2, PromptLookup(prompt_ids))) == " Crossing\n"
    abstaining = prompt_ids + smollm2.tokenizer(" I don't know", add_special_tokens=False)["input_ids"]
    assert smollm2.tokenizer.decode(grammar.draft(abstaining, 16, PromptLookup(prompt_ids))) == "\nEvidence: none"


def _sequential_logprob(lm: LanguageModel, prompt: str, continuation: str, token_ids: list[int] | None) -> float:
    """A continuation's log-probability the slow way: one forward pass over prompt and continuation together."""
    prompt_ids = lm.tokenizer(prompt, add_special_tokens=False)["input_ids"]
    ids = lm.tokenizer(continuation, add_special_tokens=False)["input_ids"]
    with torch.inference_mode():
        logits = lm.model(input_ids=torch.tensor([prompt_ids + ids])).logits[0].float()
    if token_ids is not None:
        allowed = torch.full_like(logits, float("-inf"))
        allowed[:, token_ids] = 0
        logits = logits + allowed
    logprobs = torch.log_softmax(logits, dim=-1)
    return sum(float(logprobs[len(prompt_ids) - 1 + i, token]) for i, token in enumerate(ids))


def test_continuations_scored_in_one_pass_match_scoring_each_alone(smollm2):
    """The tree of candidates read as one sequence (graphrag/lm/scoring.py) gives each the log-probability it has
    when read alone after the prompt, over the whole vocabulary and over a reply vocabulary."""
    from graphrag.answering.prompt import reply_vocabulary
    from graphrag.lm.vocabulary import vocabulary_token_ids

    prompt, _ = _prompt(smollm2, "Where did Ada Quint study?")
    continuations = [" Glasgow\n", " the Forth Crossing pumping station\n", " Edinburgh\n", " Scotland\n"]
    smollm2.forget_prompts()
    scores = smollm2.score_continuations(prompt, continuations)
    expected = [_sequential_logprob(smollm2, prompt, c, None) for c in continuations]
    assert scores == pytest.approx(expected, abs=1e-3)
    assert len(set(scores)) == len(scores)  # not one number for all
    vocabulary = reply_vocabulary(prompt)
    token_ids = vocabulary_token_ids(smollm2.tokenizer, vocabulary, smollm2._words)
    restricted = smollm2.score_continuations(prompt, continuations, vocabulary=vocabulary)  # from the kept prompt
    assert restricted == pytest.approx(
        [_sequential_logprob(smollm2, prompt, c, token_ids) for c in continuations], abs=1e-3
    )
    # with a reference and a margin, only what could beat the reference by the margin is read
    best = restricted.index(max(restricted))
    order = [best] + [i for i in range(len(continuations)) if i != best]
    against = smollm2.score_continuations(prompt, [continuations[i] for i in order], vocabulary=vocabulary, margin=0.5)
    assert against[0] == pytest.approx(restricted[best], abs=1e-3)
    alone = [restricted[i] for i in order]
    assert all(score is None or score == pytest.approx(a, abs=1e-3) for score, a in zip(against, alone))
    assert against[1:].count(None) >= 1  # none of them can beat the best, and some are not even read
    loose = smollm2.score_continuations(prompt, [continuations[i] for i in order], vocabulary=vocabulary, margin=-100)
    assert loose == pytest.approx([restricted[i] for i in order], abs=1e-3)  # a low bar: everything read, as alone


@pytest.fixture
def decoder_calls(smollm2):
    """A list that grows by one at every call of the model's decoder (a forward pass) during the test."""
    calls: list[int] = []
    handle = smollm2.model.get_decoder().register_forward_hook(lambda *_: calls.append(1))
    yield calls
    handle.remove()


def _decoded_reply(smollm2, reply_tokens, batched: bool):
    """A prompt, its reply vocabulary's token ids and the Generation of its grammar-bound reply (decoded alone or
    beside a second prompt)."""
    from graphrag.lm.model import GenerationRequest
    from graphrag.lm.vocabulary import vocabulary_token_ids

    decoding = ReplyDecoding(grammar=reply_tokens, copy_spans=True)
    requests = []
    for question in ("Where did Ada Quint study?", "When did the Forth Crossing open?")[: 1 + batched]:
        prompt, user = _prompt(smollm2, question)
        processors = decoding.processors(len(EVIDENCE), "Answer:", user, 40)
        requests.append(
            GenerationRequest(prompt, 40, logits_processors=processors, vocabulary=decoding.vocabulary(prompt))
        )
    smollm2.draft_tokens = 10
    smollm2.forget_prompts()
    generation = smollm2.generate_batch(requests)[0]
    assert generation.batch_size == 1 + batched
    prompt = requests[0].prompt
    return prompt, vocabulary_token_ids(smollm2.tokenizer, requests[0].vocabulary, smollm2._words), generation


@pytest.mark.parametrize("batched", [False, True])
def test_a_reply_scores_its_own_answer_line_as_reading_it_after_the_prompt_does(smollm2, reply_tokens, batched):
    """``Generation.own`` holds the model's own scores of the reply, before the grammar and copying: the answer line
    it wrote scores what reading that line after the prompt gives, and its first step is the prompt's own
    log-softmax over the reply vocabulary."""
    prompt, token_ids, generation = _decoded_reply(smollm2, reply_tokens, batched)
    answer = parse_reply("Answer:" + generation.text, len(EVIDENCE)).answer
    assert answer
    line_ids = smollm2.tokenizer(f" {answer}\n", add_special_tokens=False)["input_ids"]
    own = generation.own
    assert own.score_of(line_ids) == pytest.approx(
        _sequential_logprob(smollm2, prompt, f" {answer}\n", token_ids), abs=1e-3
    )
    assert own.score_of([*line_ids[:-1], line_ids[-1] + 1]) is None  # a line it did not write has no score here
    prompt_ids = smollm2.tokenizer(prompt, add_special_tokens=False)["input_ids"]
    with torch.inference_mode():
        logits = smollm2.model(input_ids=torch.tensor([prompt_ids])).logits[0, -1].float()
    expected = torch.log_softmax(logits[token_ids], dim=-1)
    assert torch.allclose(own.first[token_ids], expected, atol=1e-3)
    assert float(own.first.exp().sum()) == pytest.approx(1.0, abs=1e-4)  # nothing outside the vocabulary


def test_a_second_opinion_from_the_replys_own_scores_reads_only_what_could_win(smollm2, reply_tokens, decoder_calls):
    """With the reply's own scores, a second opinion that nothing could win costs no forward pass; otherwise what
    it reads scores as when every continuation is read, and its best is the best of them all."""
    prompt, _, generation = _decoded_reply(smollm2, reply_tokens, batched=False)
    answer = parse_reply("Answer:" + generation.text, len(EVIDENCE)).answer
    vocabulary = ReplyDecoding(grammar=reply_tokens, copy_spans=True).vocabulary(prompt)
    others = [" Edinburgh", " Scotland", " the Forth Crossing pumping station", " a Scottish engineer", " 1931", " Ada"]
    lines = [f" {answer}\n", *(f"{text}\n" for text in others if text.strip() != answer)]
    everything = smollm2.score_continuations(prompt, lines, vocabulary=vocabulary)
    decoder_calls.clear()
    sure = smollm2.score_continuations(prompt, lines, vocabulary=vocabulary, margin=50.0, reply=generation.own)
    assert decoder_calls == [] and sure[1:] == [None] * (len(lines) - 1)
    assert sure[0] == pytest.approx(everything[0], abs=1e-3)
    low = smollm2.score_continuations(prompt, lines, vocabulary=vocabulary, margin=-100.0, reply=generation.own)
    read = [(score, i) for i, score in enumerate(low) if score is not None]
    assert all(score == pytest.approx(everything[i], abs=1e-3) for score, i in read)
    assert max(read)[1] == max((score, i) for i, score in enumerate(everything))[1]


def test_reading_candidates_a_few_at_a_time_keeps_each_ones_score_and_the_best(smollm2, decoder_calls):
    """``best_continuation_logprobs`` one candidate a pass, the prompt's last token read with the first: every
    candidate it reads scores as when all are read after the whole prompt, the cache loses each pass's candidates
    before the next, and the best is the best of all."""
    from transformers import DynamicCache

    from graphrag.lm.scoring import best_continuation_logprobs, continuation_logprobs

    prompt, _ = _prompt(smollm2, "Where did Ada Quint study?")
    prompt_ids = smollm2.tokenizer(prompt, add_special_tokens=False)["input_ids"]
    lines = [" Glasgow\n", " Glasgow, Scotland\n", " Edinburgh\n", " the Forth Crossing\n", " Scotland\n", " 1931\n"]
    encoded = [smollm2.tokenizer(text, add_special_tokens=False)["input_ids"] for text in lines]
    model = smollm2.model
    with torch.inference_mode():
        whole = DynamicCache()
        logits = model(input_ids=torch.tensor([prompt_ids]), past_key_values=whole, use_cache=True).logits[0, -1]
        first = torch.log_softmax(logits.float(), dim=-1)
        everything = continuation_logprobs(model, whole, first, len(prompt_ids), encoded)
        part = DynamicCache()
        model(input_ids=torch.tensor([prompt_ids[:-1]]), past_key_values=part, use_cache=True)
        decoder_calls.clear()
        best = best_continuation_logprobs(
            model, part, first, len(prompt_ids), encoded, float("-inf"), lead=prompt_ids[-1:], chunk=1
        )
    read = [(score, i) for i, score in enumerate(best) if score is not None]
    assert len(decoder_calls) >= 2 and len(read) < len(lines)  # several passes, and some candidates never read
    assert all(score == pytest.approx(everything[i], abs=1e-3) for score, i in read)
    assert max(read)[1] == max((score, i) for i, score in enumerate(everything))[1]
    assert part.get_seq_length() == len(prompt_ids)


def test_a_second_opinion_that_reads_nothing_leaves_the_kept_prompts_whole(smollm2, reply_tokens):
    """One-token continuations need no pass; the prompt whose last token was then never read is not kept as if it
    were whole, so a longer prompt starting with it is still decoded as it is alone."""
    prompt, _, generation = _decoded_reply(smollm2, reply_tokens, batched=False)
    answer = parse_reply("Answer:" + generation.text, len(EVIDENCE)).answer
    single = next(t for t in (" Glasgow", " Scotland", " Edinburgh", " 1931") if t.strip() != answer)
    assert len(smollm2.tokenizer(single, add_special_tokens=False)["input_ids"]) == 1
    smollm2.forget_prompts()
    scores = smollm2.score_continuations(prompt, [f" {answer}\n", single], margin=-100.0, reply=generation.own)
    assert scores[1] is not None  # scored from the reply's first step alone
    longer = prompt + " " + answer + "\nEvidence: 1\n\nAnswer:"
    kept = smollm2.generate(longer, 6)
    smollm2.forget_prompts()
    assert kept.token_ids == smollm2.generate(longer, 6).token_ids
