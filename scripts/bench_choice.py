"""Choice questions ("Who was born first, A or B?") with and without choice scoring (graphrag/choice_scoring.py):
held-out Re-DocRED comparison questions (the validation documents of scripts/finetune.py's split, never trained
on), answered by the base model or an adapter, decoded as the answer writer decodes, once with the question form
alone and once with the two names scored in both orders. Prints one JSON summary: EM / F1 and seconds per setting,
how many questions offer two names, and how often the answer is the first of them.

Example (2 CPU cores, about 14 minutes for the base Qwen 0.5B):
  python scripts/bench_choice.py --data ../shared/data/redocred/dev_revised.json --examples 160
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_common import run_reporting  # noqa: E402

from graphrag import Settings  # noqa: E402
from graphrag.answer_prompt import question_part  # noqa: E402
from graphrag.finetune import evaluate  # noqa: E402
from graphrag.finetune_data import build_examples, load_redocred, load_relation_names, split_documents  # noqa: E402
from graphrag.question_form import QuestionForm  # noqa: E402
from graphrag.writers import BASE_ADAPTER, AnswerWriters  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, required=True, help="Re-DocRED (DocRED-format) JSON file")
    parser.add_argument("--relations", type=Path, help="rel_info.json (default: next to --data)")
    parser.add_argument("--adapter", default=BASE_ADAPTER, help=f"a saved answer adapter (default {BASE_ADAPTER}: "
                                                                "the base model)")
    parser.add_argument("--examples", type=int, default=160,
                        help="examples built, about half of them comparisons (default 160)")
    parser.add_argument("--seed", type=int, default=5)
    parser.add_argument("--out", type=Path, help="also write the JSON summary here")
    args = parser.parse_args()

    def bench() -> dict:
        if not 2 <= args.examples <= 10_000:
            raise ValueError("--examples must be 2 to 10,000")
        names = load_relation_names(args.relations or args.data.parent / "rel_info.json")
        _, validation_docs = split_documents(load_redocred(args.data))
        built = build_examples(validation_docs, names, args.examples, seed=args.seed, unanswerable_share=0.0,
                               multihop_share=0.0, replay_share=0.0, yesno_share=0.0, comparison_share=0.5)
        questions = [e for e in built if e.kind == "comparison"]
        if not questions:
            raise ValueError(f"{args.data} yields no comparison questions in its validation documents")
        forms = [QuestionForm.of(question_part(e.user)) for e in questions]
        writers = AnswerWriters(Settings.load())
        adapter = None if args.adapter == BASE_ADAPTER else args.adapter
        lm = writers.pick(args.adapter).model
        scored = dataclasses.replace(writers.reply_decoding(), choice_scoring=True)
        summary: dict = {"adapter": adapter, "answer_model": lm.resolved.name, "dtype": str(lm.model.dtype),
                         "cpu_count": os.cpu_count(), "questions": len(questions),
                         "offering_two_names": sum(len(f.options) == 2 for f in forms),
                         "answer_is_first_name": sum(bool(f.options) and e.answers[0] == f.options[0]
                                                     for f, e in zip(forms, questions))}
        for label, decoding in (("question_form", dataclasses.replace(scored, choice_scoring=False)),
                                ("choice_scoring", scored)):
            started = time.perf_counter()
            result = evaluate(lm, questions, adapter, progress=True, decoding=decoding)
            summary[label] = {"em": result["em"], "f1": result["f1"], "abstain_rate": result["answerable_abstain_rate"],
                              "malformed_rate": result["malformed_rate"],
                              "seconds": round(time.perf_counter() - started, 1)}
        return summary

    return run_reporting(bench, args.out)


if __name__ == "__main__":
    sys.exit(main())
