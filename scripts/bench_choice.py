"""Choice questions ("Who was born first, A or B?") with and without choice scoring, and polar questions ("Is T
the country of H?", "Are A and B in the same country?") with and without polar calibration
(graphrag/choice_scoring.py): held-out Re-DocRED questions of that kind (the validation documents of
scripts/finetune.py's split, never trained on), answered by the base model or an adapter, decoded as the answer
writer decodes, once with the question form alone and once with the scoring. Prints one JSON summary: EM / F1 and
seconds per setting; for comparisons how many questions offer two names and how often the answer is the first of
them, for polar questions how many read as polar, how many answers are "yes", and how often each setting answers
"yes".

Example (2 CPU cores, about 14 minutes for the base Qwen 0.5B):
  python scripts/bench_choice.py --data ../shared/data/redocred/dev_revised.json --examples 160
  python scripts/bench_choice.py --data ../shared/data/redocred/dev_revised.json --kind yesno --examples 200
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
    parser.add_argument("--kind", choices=["comparison", "yesno"], default="comparison",
                        help="comparison: choice scoring; yesno: polar calibration (default comparison)")
    parser.add_argument("--examples", type=int, default=160,
                        help="examples built, about half of them of --kind (default 160)")
    parser.add_argument("--seed", type=int, default=5)
    parser.add_argument("--out", type=Path, help="also write the JSON summary here")
    args = parser.parse_args()

    def bench() -> dict:
        if not 2 <= args.examples <= 10_000:
            raise ValueError("--examples must be 2 to 10,000")
        names = load_relation_names(args.relations or args.data.parent / "rel_info.json")
        _, validation_docs = split_documents(load_redocred(args.data))
        polar = args.kind == "yesno"
        shares = {"yesno_share": 0.5, "comparison_share": 0.0} if polar else {"yesno_share": 0.0,
                                                                             "comparison_share": 0.5}
        built = build_examples(validation_docs, names, args.examples, seed=args.seed, unanswerable_share=0.0,
                               multihop_share=0.0, replay_share=0.0, **shares)
        questions = [e for e in built if e.kind == args.kind]
        if not questions:
            raise ValueError(f"{args.data} yields no {args.kind} questions in its validation documents")
        forms = [QuestionForm.of(question_part(e.user)) for e in questions]
        writers = AnswerWriters(Settings.load())
        adapter = None if args.adapter == BASE_ADAPTER else args.adapter
        lm = writers.pick(args.adapter).model
        plain = dataclasses.replace(writers.reply_decoding(), choice_scoring=False, polar_calibration=False)
        scored = dataclasses.replace(plain, **({"polar_calibration": True} if polar else {"choice_scoring": True}))
        summary: dict = {"adapter": adapter, "answer_model": lm.resolved.name, "dtype": str(lm.model.dtype),
                         "cpu_count": os.cpu_count(), "kind": args.kind, "questions": len(questions)}
        if polar:
            summary |= {"read_as_polar": sum(f.polar and not f.options for f in forms),
                        "answer_is_yes": sum(e.answers[0] == "yes" for e in questions)}
        else:
            summary |= {"offering_two_names": sum(len(f.options) == 2 for f in forms),
                        "answer_is_first_name": sum(bool(f.options) and e.answers[0] == f.options[0]
                                                    for f, e in zip(forms, questions))}
        for label, decoding in (("question_form", plain),
                                ("polar_calibration" if polar else "choice_scoring", scored)):
            started = time.perf_counter()
            answers: list[str] = []
            result = evaluate(lm, questions, adapter, progress=True, decoding=decoding, answers_out=answers)
            summary[label] = {"em": result["em"], "f1": result["f1"], "abstain_rate": result["answerable_abstain_rate"],
                              "malformed_rate": result["malformed_rate"],
                              "seconds": round(time.perf_counter() - started, 1)}
            if polar:
                summary[label]["answered_yes"] = sum(a.strip().rstrip(".").lower() == "yes" for a in answers)
        return summary

    return run_reporting(bench, args.out)


if __name__ == "__main__":
    sys.exit(main())
