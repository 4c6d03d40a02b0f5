"""Choice questions ("Who is older, A or B?") are answered with the offered name the model scores higher over both
orders of the names, and polar questions with what their evidence adds to the model's own yes / no (the real
SmolLM2-135M)."""

from __future__ import annotations

import pytest
import torch

from graphrag import Settings
from graphrag.answer_prompt import ANSWER_SYSTEM, EvidenceItem, parse_reply, user_message
from graphrag.choice_scoring import CONTENT_FREE, PolarChoice, choose_option, choose_polar
from graphrag.lm import LanguageModel
from graphrag.lm_packages import SMOLLM2_135M
from graphrag.reply_decoding import ReplyDecoding
from graphrag.reply_grammar import ReplyTokens

ITEMS = [EvidenceItem("Ada Quint", "Ada Quint (born 3 May 1931) was a Danish engineer who built Harbor Mill."),
         EvidenceItem("Bo Lind", "Bo Lind (born 9 June 1976) is a Swedish boxer from Malmo.")]
QUESTION = "Who is older, Ada Quint or Bo Lind?"


@pytest.fixture(scope="module")
def smollm2():
    # fp32: the scores are compared with a full forward pass to 1e-3, which bf16 (what dtype auto picks on a CPU
    # with fast bf16) does not hold: a pass over the kept prefix rounds differently from one over the whole prompt
    return LanguageModel.load(SMOLLM2_135M.key, Settings.load().lm_cache_dir, dtype="fp32")


def _uncached_logprob(lm: LanguageModel, prompt: str, continuation: str) -> float:
    prompt_ids = lm.tokenizer(prompt, add_special_tokens=False)["input_ids"]
    tail = lm.tokenizer(continuation, add_special_tokens=False)["input_ids"]
    with torch.inference_mode():
        logits = lm.model(input_ids=torch.tensor([prompt_ids + tail])).logits[0].float()
    logprobs = torch.log_softmax(logits, dim=-1)
    return sum(float(logprobs[len(prompt_ids) - 1 + i, token]) for i, token in enumerate(tail))


def test_continuation_logprobs_match_a_full_forward_pass_and_leave_the_kept_prompt_intact(smollm2):
    lm = smollm2
    prompt = lm.chat_prompt(ANSWER_SYSTEM, user_message(QUESTION, ITEMS)) + "Answer:"
    continuations = [" Ada Quint\n", " Bo Lind\n", " 1931"]
    lm.forget_prompts()
    fresh = lm.generate(prompt, 24)
    scores = lm.continuation_logprobs(prompt, continuations)
    assert scores == pytest.approx([_uncached_logprob(lm, prompt, c) for c in continuations], abs=1e-3)
    assert len(set(scores)) == 3 and all(s < 0 for s in scores)
    # read again from the kept prefix: the same scores, and a reply decoded from it is the reply of a fresh read
    assert lm.continuation_logprobs(prompt, continuations) == pytest.approx(scores, abs=1e-3)
    assert lm.generate(prompt, 24).text == fresh.text
    with pytest.raises(ValueError):
        lm.continuation_logprobs(prompt, [""])


def test_the_choice_adds_both_orders_and_the_reply_copies_only_the_chosen_name(smollm2):
    lm = smollm2
    user = user_message(QUESTION, ITEMS)
    choice = choose_option(lm, ANSWER_SYSTEM, user, "Answer:")
    assert choice is not None and choice.options == ("Ada Quint", "Bo Lind")
    swapped = lm.chat_prompt(ANSWER_SYSTEM, user_message("Who is older, Bo Lind or Ada Quint?", ITEMS)) + "Answer:"
    assert choice.swapped == pytest.approx([_uncached_logprob(lm, swapped, " Ada Quint\n"),
                                            _uncached_logprob(lm, swapped, " Bo Lind\n")], abs=1e-3)
    totals = choice.totals
    assert choice.chosen == choice.options[0 if totals[0] >= totals[1] else 1]
    assert choose_option(lm, ANSWER_SYSTEM, user_message("Who built Harbor Mill?", ITEMS), "Answer:") is None

    decoding = ReplyDecoding(grammar=ReplyTokens(lm.tokenizer), copy_spans=True, question_form=True,
                             choice_scoring=True)
    answers = decoding.chosen_answers(lm, ANSWER_SYSTEM, user, "Answer:", None)
    assert answers == (choice.chosen,)
    other = next(o for o in choice.options if o != choice.chosen)
    processors = decoding.processors(len(ITEMS), "Answer:", user, 40, answers=answers)
    assert processors[0].spans.can_end(choice.chosen) and not processors[0].spans.can_end(other)
    assert not processors[0].spans.can_end("Danish engineer") and processors[0].spans.can_end("I don't know")
    prompt = lm.chat_prompt(ANSWER_SYSTEM, user) + "Answer:"
    reply = parse_reply("Answer:" + lm.generate(prompt, 40, logits_processors=processors,
                                                vocabulary=decoding.vocabulary(prompt)).text, len(ITEMS))
    assert reply.answer is None or reply.answer.rstrip(".").lower() == choice.chosen.lower()
    # without choice scoring the question's form allows any span that is no name of its own
    plain = ReplyDecoding(grammar=decoding.grammar, copy_spans=True, question_form=True)
    assert plain.chosen_answers(lm, ANSWER_SYSTEM, user, "Answer:", None) == ()
    assert plain.processors(len(ITEMS), "Answer:", user, 40)[0].spans.can_end("Danish engineer")


def test_polar_calibration_answers_by_what_the_evidence_adds_to_the_models_leaning(smollm2):
    import math

    lm = smollm2
    question = "Are Ada Quint and Bo Lind both engineers?"
    user = user_message(question, ITEMS)
    choice = choose_polar(lm, ANSWER_SYSTEM, user, "Answer:")
    assert choice is not None
    # each side is "yes" (either case) against "no", summed as probabilities, with the evidence and without it
    plain = lm.chat_prompt(ANSWER_SYSTEM, user) + "Answer:"
    empty = lm.chat_prompt(ANSWER_SYSTEM, user_message(question, [CONTENT_FREE])) + "Answer:"
    for prompt, scored in ((plain, choice.with_evidence), (empty, choice.content_free)):
        for words, score in zip(((" yes\n", " Yes\n"), (" no\n", " No\n")), scored):
            expected = math.log(sum(math.exp(_uncached_logprob(lm, prompt, w)) for w in words))
            assert score == pytest.approx(expected, abs=1e-3)
    assert choice.shift == pytest.approx((choice.with_evidence[0] - choice.with_evidence[1])
                                         - (choice.content_free[0] - choice.content_free[1]))
    # the model's own leaning is taken out: the same scores with and without evidence leave no shift, and "no" wins
    # a tie; a shift toward "yes" chooses it even where the model prefers "no" in both prompts
    assert PolarChoice((-1.0, -2.0), (-1.0, -2.0)).chosen == "no"
    assert PolarChoice((-3.0, -2.0), (-5.0, -1.0)).chosen == "yes"
    # only a polar question that offers no names is scored this way
    assert choose_polar(lm, ANSWER_SYSTEM, user_message("Who built Harbor Mill?", ITEMS), "Answer:") is None
    assert choose_polar(lm, ANSWER_SYSTEM, user_message("Is Ada Quint or Bo Lind older?", ITEMS), "Answer:") is None

    decoding = ReplyDecoding(grammar=ReplyTokens(lm.tokenizer), copy_spans=True, question_form=True,
                             polar_calibration=True)
    assert decoding.describe()["polar_calibration"] and decoding.chosen_answers(
        lm, ANSWER_SYSTEM, user, "Answer:", None) == (choice.chosen,)
    other = "no" if choice.chosen == "yes" else "yes"
    spans = decoding.processors(len(ITEMS), "Answer:", user, 40, answers=(choice.chosen,))[0].spans
    assert spans.can_end(choice.chosen) and not spans.can_end(other) and spans.can_end("I don't know")
    reply = parse_reply("Answer:" + lm.generate(plain, 40, logits_processors=decoding.processors(
        len(ITEMS), "Answer:", user, 40, answers=(choice.chosen,)), vocabulary=decoding.vocabulary(plain)).text,
        len(ITEMS))
    assert reply.answer is None or reply.answer.rstrip(".").lower() == choice.chosen
    off = ReplyDecoding(grammar=decoding.grammar, copy_spans=True, question_form=True)
    assert off.chosen_answers(lm, ANSWER_SYSTEM, user, "Answer:", None) == () and not off.calibrates_polar
    assert not ReplyDecoding(grammar=decoding.grammar, polar_calibration=True).calibrates_polar  # needs the form


def test_the_writer_answers_a_choice_question_with_the_chosen_name(smollm2, demo_engine):
    from graphrag.lm_answer import LMAnswerWriter

    question = "Who founded the company that acquired Veltrix Systems, Marta Kowalski or Tomas Reyes?"
    retrieval = demo_engine.retrieve(question)
    decoding = ReplyDecoding(grammar=ReplyTokens(smollm2.tokenizer), copy_spans=True, question_form=True,
                             choice_scoring=True)
    writer = LMAnswerWriter(smollm2, None, decoding=decoding)
    answer = writer.write(question, retrieval)
    assert "choice" in answer.timings_ms
    assert answer.abstained or answer.text in ("Marta Kowalski", "Tomas Reyes")
    user = user_message(question, [n.item for n in writer.numbered_evidence(retrieval, question)])
    assert answer.abstained or answer.text == choose_option(smollm2, ANSWER_SYSTEM, user, "Answer:").chosen
    assert "choice" not in writer.write("Who founded the company that acquired Veltrix Systems?", retrieval).timings_ms


def test_bench_choice_names_bad_input_without_a_traceback(tmp_path):
    import json
    import subprocess
    import sys

    from tests.docred import company_document, write_docred
    from tests.scripts import SCRIPTS

    data = write_docred(tmp_path, [company_document(f"Firm{n} Systems", "Ada Quint", "Porto", []) for n in range(12)])
    (tmp_path / "rel_info.json").write_text(json.dumps({"P159": "headquarters location", "P112": "founded by"}))
    for extra, named in ((["--data", str(tmp_path / "missing.json")], "missing.json"),
                         (["--data", str(data), "--examples", "1"], "--examples"),
                         (["--data", str(data)], "no comparison questions")):  # no dated facts to compare
        run = subprocess.run([sys.executable, str(SCRIPTS / "bench_choice.py"), *extra], capture_output=True,
                             text=True, timeout=300)
        assert run.returncode == 2 and "Traceback" not in run.stderr, run.stderr
        assert named in json.loads(run.stdout)["error"]
    # an unknown kind is refused by the argument parser, which names the option (its usage, on stderr)
    run = subprocess.run([sys.executable, str(SCRIPTS / "bench_choice.py"), "--data", str(data), "--kind", "maybe"],
                         capture_output=True, text=True, timeout=300)
    assert run.returncode == 2 and "Traceback" not in run.stderr and "--kind" in run.stderr
