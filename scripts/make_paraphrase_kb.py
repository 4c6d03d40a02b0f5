"""A synthetic family knowledge base with relationship questions that name its relations in other words.

A development check for relation chains beside PathQuestion, whose questions repeat the KB's relation names: here
"Who is X's husband?" asks for ``spouse_s``, "What does X do for a living?" for ``profession``, "Who are X's kids?"
walks ``parents`` backwards, "What faith does the partner of X follow?" takes two hops. People, places and their
facts are drawn at random with --seed; every answer is worked out from the triples written.

Writes DIR/kb.jsonl (triples) and DIR/questions.jsonl ({id, question, answers}), then prints {"triples",
"questions", "kb", "questions_file"}. Score them with:
  python scripts/make_paraphrase_kb.py --out /tmp/para
  python scripts/bench_kbqa.py --kb /tmp/para/kb.jsonl --questions /tmp/para/questions.jsonl
"""

from __future__ import annotations

import argparse
import json
import random
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_common import run_reporting  # noqa: E402

FIRST = "Ada Bram Cole Dora Emil Fay Gus Hana Ivo Jana Karl Lena Milo Nora Otto Pia Quin Rosa Sven Tara Ugo".split()
LAST = "Quint Rivers Holm Marsh Vale Brook Stone Field Frost Lark Moss Reed Shaw Thorn Wren Ash Birch Crane".split()
CITIES = {"Lindmark": "Nordvale", "Port Ely": "Nordvale", "Ostra": "Kestria", "Belmora": "Kestria", "Calder": "Arvonia"}
PROFESSIONS = ["Pilot", "Engineer", "Surgeon", "Architect", "Farmer", "Teacher", "Lawyer", "Chemist", "Sailor"]
RELIGIONS = ["Buddhism", "Catholicism", "Islam", "Judaism", "Hinduism", "Lutheranism"]

ONE_HOP = {
    "spouse": ["Who is {X}'s husband?", "Who is {X} married to?", "Who is the partner of {X}?", "Who is {X}'s wife?"],
    "parents": ["Who is {X}'s dad?", "Who are the parents of {X}?", "Who is the mother of {X}?"],
    "children": ["Who are {X}'s kids?", "Who is the son of {X}?", "Who are the children of {X}?"],
    "profession": ["What does {X} do for a living?", "What is {X}'s job?", "What is the occupation of {X}?"],
    "birthplace": ["Where was {X} born?", "What is {X}'s birthplace?", "In which city was {X} born?"],
    "nationality": ["Which country is {X} a citizen of?", "What is {X}'s citizenship?", "What nationality is {X}?"],
    "religion": ["What faith does {X} follow?", "What is {X}'s religion?", "What religion does {X} practice?"],
}
TWO_HOPS = [
    ("spouse", "profession", "What does {X}'s husband do for a living?"),
    ("parents", "profession", "What is the job of {X}'s dad?"),
    ("spouse", "birthplace", "Where was {X}'s wife born?"),
    ("parents", "nationality", "What is the nationality of {X}'s mother?"),
    ("children", "religion", "What religion do {X}'s kids follow?"),
    ("parents", "birthplace", "Where was {X}'s father born?"),
    ("spouse", "religion", "What faith does the partner of {X} follow?"),
    ("children", "profession", "What do {X}'s children do for a living?"),
]


def _world(rng: random.Random, people: int) -> tuple[list[dict], dict[str, dict[str, set[str]]]]:
    names: set[str] = set()
    if people > len(FIRST) * len(LAST):
        raise ValueError(f"--people must be at most {len(FIRST) * len(LAST)}")
    while len(names) < people:
        names.add(f"{rng.choice(FIRST)} {rng.choice(LAST)}")
    ordered = sorted(names)
    rng.shuffle(ordered)
    triples: list[dict] = []
    facts: dict[str, dict[str, set[str]]] = {n: {k: set() for k in ONE_HOP} for n in ordered}

    def add(subject: str, relation: str, obj: str) -> None:
        triples.append({"subject": subject, "relation": relation, "object": obj})

    for city, country in CITIES.items():
        add(city, "location/location/containedby", country)
    for name in ordered:
        city = rng.choice(sorted(CITIES))
        for key, relation, value in (
            ("profession", "people/person/profession", rng.choice(PROFESSIONS)),
            ("birthplace", "people/person/place_of_birth", city),
            ("nationality", "people/person/nationality", rng.choice(sorted(set(CITIES.values())))),
            ("religion", "people/person/religion", rng.choice(RELIGIONS)),
        ):
            add(name, relation, value)
            facts[name][key].add(value)
    married = ordered[: people // 2 - (people // 2) % 2]
    for a, b in zip(married[::2], married[1::2]):
        add(a, "people/person/spouse_s", b)  # one direction, as Freebase stores it
        facts[a]["spouse"].add(b)
        facts[b]["spouse"].add(a)
    for child in ordered[len(married) :]:
        parent = rng.choice(married) if married else rng.choice(ordered)
        if parent != child:
            add(child, "people/person/parents", parent)
            facts[child]["parents"].add(parent)
            facts[parent]["children"].add(child)
    return triples, facts


def _questions(rng: random.Random, facts: dict[str, dict[str, set[str]]], count: int) -> list[dict]:
    names = sorted(facts)
    records = []
    for number in range(count):
        if number % 2 == 0:
            relation = rng.choice(sorted(ONE_HOP))
            candidates = [n for n in names if facts[n][relation]]
            subject = rng.choice(candidates)
            question, answers = rng.choice(ONE_HOP[relation]).format(X=subject), facts[subject][relation]
        else:
            first, second, template = rng.choice(TWO_HOPS)
            candidates = [n for n in names if facts[n][first]]
            subject = rng.choice(candidates)
            question = template.format(X=subject)
            answers = set().union(*(facts[middle][second] for middle in facts[subject][first]))
        records.append({"id": str(number), "question": question, "answers": sorted(answers)})
    return records


def _make(args) -> dict:
    if args.people < 4:
        raise ValueError("--people must be at least 4")
    if args.questions < 1:
        raise ValueError("--questions must be at least 1")
    rng = random.Random(args.seed)
    triples, facts = _world(rng, args.people)
    questions = _questions(rng, facts, args.questions)
    args.out.mkdir(parents=True, exist_ok=True)
    kb, questions_file = args.out / "kb.jsonl", args.out / "questions.jsonl"
    kb.write_text("".join(json.dumps(t) + "\n" for t in triples), encoding="utf-8")
    questions_file.write_text("".join(json.dumps(q) + "\n" for q in questions), encoding="utf-8")
    return {"triples": len(triples), "questions": len(questions), "kb": str(kb), "questions_file": str(questions_file)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, required=True, help="folder for kb.jsonl and questions.jsonl")
    parser.add_argument("--people", type=int, default=240)
    parser.add_argument("--questions", type=int, default=300)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    return run_reporting(lambda: _make(args))


if __name__ == "__main__":
    sys.exit(main())
