"""The answer adapter's training data: yes/no and comparison questions are answered correctly by construction
(no model needed), cite the passages that hold the facts, and keep yes and no in balance."""

from __future__ import annotations

import os
import re
import subprocess
import sys

import pytest

from graphrag.answering.prompt import parse_reply
from graphrag.training.data import build_examples, load_redocred, parse_mix
from tests.docred import company_document, docred_mention, write_docred

RELATIONS = {"P159": "headquarters location", "P112": "founded by", "P571": "inception"}
COMPANIES = [
    "Helix Dynamics",
    "Norther Labs",
    "Quill Systems",
    "Arbor Works",
    "Cobalt Forge",
    "Vela Media",
    "Orbit Tools",
    "Lumen Data",
    "Pike Analytics",
    "Sable Robotics",
]
PEOPLE = [
    "Marta Kovac",
    "Jonas Berg",
    "Lena Holm",
    "Omar Said",
    "Ines Duarte",
    "Tomas Weber",
    "Ada Brandt",
    "Rui Costa",
    "Eva Lind",
    "Karl Aho",
]
CITIES = ["Tallinn", "Porto", "Graz", "Lyon"]  # shared by several companies, so "same headquarters" can be yes
FOUNDED = {company: 1950 + 7 * number for number, company in enumerate(COMPANIES)}


def _documents() -> list[dict]:
    documents = []
    for number, (company, person) in enumerate(zip(COMPANIES, PEOPLE)):
        city, year = CITIES[number % len(CITIES)], str(FOUNDED[company])
        sentences = [
            f"{company} is a software company based in {city} .".split(),
            f"It was founded by {person} in {year} .".split(),
            f"{PEOPLE[number - 1]} leads its sales team .".split(),
        ]

        vertex_set = [
            [docred_mention(sentences, name, sent_id, kind)]
            for name, sent_id, kind in [
                (company, 0, "ORG"),
                (person, 1, "PER"),
                (city, 0, "LOC"),
                (year, 1, "TIME"),
                (PEOPLE[number - 1], 2, "PER"),
            ]
        ]
        labels = [
            {"h": 0, "t": 2, "r": "P159", "evidence": [0]},
            {"h": 0, "t": 1, "r": "P112", "evidence": [1]},
            {"h": 0, "t": 3, "r": "P571", "evidence": [1]},
        ]
        documents.append({"title": company, "sents": sentences, "vertexSet": vertex_set, "labels": labels})
    return documents


@pytest.fixture(scope="module")
def examples(tmp_path_factory):
    path = write_docred(tmp_path_factory.mktemp("redocred"), _documents())
    return build_examples(
        load_redocred(path),
        RELATIONS,
        40,
        unanswerable_share=0.0,
        multihop_share=0.0,
        replay_share=0.0,
        yesno_share=0.3,
        comparison_share=0.2,
    )


def _evidence(example) -> list[str]:
    return re.findall(r"^\[\d+\] [^:]+: (.*)$", example.user, flags=re.MULTILINE)


def _question(example) -> str:
    return example.user.rsplit("Question: ", 1)[1]


def _cited_text(example) -> str:
    reply = parse_reply(example.reply, len(_evidence(example)))
    return " ".join(_evidence(example)[n - 1] for n in reply.cited)


def test_yes_no_questions_are_true_to_the_documents_and_balanced(examples):
    yes_no = [e for e in examples if e.kind == "yesno"]
    assert len(yes_no) == 12
    answers = [e.answers for e in yes_no]
    assert answers.count(("yes",)) == answers.count(("no",)) == 6
    for example in yes_no:
        question, cited = _question(example), _cited_text(example)
        if match := re.match(r"Is (.+) the (founder|headquarters) of (.+)\?", question):
            number = COMPANIES.index(match.group(3))
            truth = PEOPLE[number] if match.group(2) == "founder" else CITIES[number % len(CITIES)]
            assert example.answers == (("yes",) if match.group(1) == truth else ("no",))
            assert truth in cited
        else:
            match = re.match(r"Do (.+) and (.+) have their headquarters in the same place\?", question)
            assert match, question
            first, second = (COMPANIES.index(match.group(i)) for i in (1, 2))
            same = first % len(CITIES) == second % len(CITIES)
            assert example.answers == (("yes",) if same else ("no",))
            assert f"{match.group(1)} is a software company" in cited
            assert f"{match.group(2)} is a software company" in cited


def test_comparison_questions_name_the_earlier_or_later_one(examples):
    comparisons = [e for e in examples if e.kind == "comparison"]
    assert len(comparisons) == 8
    for example in comparisons:
        match = re.match(r"Which was (founded first|formed more recently), (.+) or (.+)\?", _question(example))
        assert match, _question(example)
        a, b = match.group(2), match.group(3)
        earlier = a if FOUNDED[a] < FOUNDED[b] else b
        later = b if earlier == a else a
        assert example.answers[0] == (earlier if match.group(1) == "founded first" else later)
        assert example.reply.startswith(f"Answer: {example.answers[0]}\n")
        cited = _cited_text(example)
        assert str(FOUNDED[a]) in cited and str(FOUNDED[b]) in cited


def test_tokenised_text_is_joined_back_as_written(tmp_path):
    sentences = [["Anti", "-", "Oedipus", "sold", "6", ",", "960", "copies", ",", "3", "in", "Paris", "."]]
    document = {
        "title": "Anti-Oedipus",
        "sents": sentences,
        "labels": [],
        "vertexSet": [[docred_mention(sentences, "Anti - Oedipus", 0, "MISC")]],
    }
    loaded = load_redocred(write_docred(tmp_path, [document]))[0]
    assert loaded.sentences == ("Anti-Oedipus sold 6,960 copies, 3 in Paris.",)
    assert loaded.entities[0][0][0] == "Anti-Oedipus"


TOWNS = ["Kelso", "Brora", "Wick", "Alloa", "Nairn", "Forres", "Elgin", "Crail", "Troon", "Irvine"]
COUNTRIES = ["Norway", "Chile", "Kenya", "Peru", "Japan", "Ghana", "Nepal", "Malta", "Oman", "Laos"]


def _chained_documents(third_hop: bool = False) -> list[dict]:
    """Company -> founder (sentence 1) -> founder's birthplace (sentence 3, the next passage): two-hop chains;
    ``third_hop``: -> the birthplace's country (sentence 4, a third passage)."""
    documents = []
    for company, person, town, country in zip(COMPANIES, PEOPLE, TOWNS, COUNTRIES):
        sentences = [
            f"{company} is a software company .".split(),
            f"It was founded by {person} .".split(),
            "The company grew quickly .".split(),
            f"{person} was born in {town} .".split(),
        ]
        vertex_set = [
            [docred_mention(sentences, company, 0, "ORG")],
            [docred_mention(sentences, person, 1, "PER"), docred_mention(sentences, person, 3, "PER")],
            [docred_mention(sentences, town, 3, "LOC")],
        ]
        labels = [{"h": 0, "t": 1, "r": "P112", "evidence": [1]}, {"h": 1, "t": 2, "r": "P19", "evidence": [3]}]
        if third_hop:
            sentences.append(f"{town} is a town in {country} .".split())
            vertex_set[2].append(docred_mention(sentences, town, 4, "LOC"))
            vertex_set.append([docred_mention(sentences, country, 4, "LOC")])
            labels.append({"h": 2, "t": 3, "r": "P17", "evidence": [4]})
        documents.append({"title": company, "sents": sentences, "vertexSet": vertex_set, "labels": labels})
    return documents


def _three_hop_examples(tmp_path, **options) -> list:
    tmp_path.mkdir(exist_ok=True)
    path = write_docred(tmp_path, _chained_documents(third_hop=True))
    relations = {"P112": "founded by", "P19": "place of birth", "P17": "country"}
    made = build_examples(
        load_redocred(path),
        relations,
        10,
        unanswerable_share=0.0,
        multihop_share=0.0,
        three_hop_share=0.5,
        replay_share=0.0,
        yesno_share=0.0,
        comparison_share=0.0,
        **options,
    )
    return [e for e in made if e.kind == "multihop"]


def test_three_hop_questions_chain_all_three_facts_and_cite_each_hop(tmp_path):
    chained = _three_hop_examples(tmp_path)
    assert len(chained) == 5
    for example in chained:
        match = re.fullmatch(r"Which country is the birthplace of the founder of (.+) in\?", _question(example))
        assert match, _question(example)
        number = COMPANIES.index(match.group(1))
        reply = parse_reply(example.reply, len(_evidence(example)))
        assert reply.answer == COUNTRIES[number]
        cited = _cited_text(example)  # two-sentence passages: each hop lies in a passage of its own
        for hop in (f"founded by {PEOPLE[number]}", f"born in {TOWNS[number]}", f"in {COUNTRIES[number]}"):
            assert hop in cited
        assert len(reply.cited) == 3


def test_passage_sizes_cut_each_document_one_way(tmp_path):
    whole = _three_hop_examples(tmp_path / "whole", passage_sentences=(5,))
    assert whole and all(len(parse_reply(e.reply, len(_evidence(e))).cited) == 1 for e in whole)
    mixed = _three_hop_examples(tmp_path / "mixed", passage_sentences=(1, 2, 5))
    lengths = {text.count(".") for e in mixed for text in _evidence(e)}  # sentences per passage
    assert len(lengths) > 1  # documents were cut into passages of different sizes
    for sizes in [(), (0, 2)]:
        with pytest.raises(ValueError, match="passage sizes"):
            build_examples([], {}, 10, passage_sentences=sizes)


def test_broken_chains_keep_the_first_hop_and_lose_the_second(tmp_path):
    path = write_docred(tmp_path, _chained_documents())
    relations = {"P112": "founded by", "P19": "place of birth"}
    made = build_examples(
        load_redocred(path),
        relations,
        12,
        unanswerable_share=0.0,
        multihop_share=0.25,
        broken_chain_share=0.25,
        replay_share=0.0,
        yesno_share=0.0,
        comparison_share=0.0,
    )
    broken = [e for e in made if e.kind == "unanswerable"]
    chained = [e for e in made if e.kind == "multihop"]
    assert len(broken) == 3 and len(chained) == 3
    for example in broken:
        company = re.search(r"founder of (.+?)\s+born\?", _question(example)).group(1)
        founder, town = PEOPLE[COMPANIES.index(company)], TOWNS[COMPANIES.index(company)]
        assert parse_reply(example.reply, len(_evidence(example))).answer is None
        assert any(f"founded by {founder}" in text for text in _evidence(example))  # the first hop is there
        assert not any(town in text for text in _evidence(example))  # the second hop and the answer are not
    for example in chained:
        reply = parse_reply(example.reply, len(_evidence(example)))
        company = re.search(r"founder of (.+?)\s+born\?", _question(example)).group(1)
        assert reply.answer == TOWNS[COMPANIES.index(company)] and reply.answer in _cited_text(example)


def test_the_mix_is_parsed_and_checked():
    assert parse_mix("unanswerable=0.12, broken_chain=0.08,multihop=0.25") == {
        "unanswerable_share": 0.12,
        "broken_chain_share": 0.08,
        "multihop_share": 0.25,
    }
    assert parse_mix("") == {}
    assert parse_mix("three_hop=0.05") == {"three_hop_share": 0.05}
    for text, problem in [
        ("unanswered=0.1", "unknown kind 'unanswered'"),
        ("yesno=lots", "needs a share"),
        ("replay=1.5", "needs a share"),
    ]:
        with pytest.raises(ValueError, match=problem):
            parse_mix(text)
    with pytest.raises(ValueError, match="add up to more than 1"):
        build_examples([], {}, 10, **parse_mix("unanswerable=0.6,multihop=0.5"))


_HASH_OF_EXAMPLES = """
import sys
from pathlib import Path
from graphrag.training.data import build_examples, data_sha256, load_redocred
examples = build_examples(load_redocred(Path(sys.argv[1])), {"P112": "founded by", "P159": "headquarters location"},
                          24, unanswerable_share=0.25, multihop_share=0.0, replay_share=0.0, yesno_share=0.0,
                          comparison_share=0.0)
print(len(examples), data_sha256(examples))
"""


def test_the_same_data_builds_the_same_examples_in_every_process(tmp_path):
    """The data hash fingerprints a training run's checkpoints, so it must not depend on Python's per-process
    string hashing (an entity's mentions were once collected in a set, and an interrupted run then restarted from
    step 0 instead of resuming)."""
    documents = [
        company_document(f"{name} Systems", f"{person} Quint", city, [f"{person} also plays chess ."])
        for name, person, city in [
            ("Veltrix", "Ada", "Tallinn"),
            ("Orbend", "Bram", "Porto"),
            ("Kestrel", "Cleo", "Graz"),
            ("Lumio", "Dov", "Lyon"),
        ]
    ]
    path = write_docred(tmp_path, documents)
    outputs = set()
    for hash_seed in ("1", "2", "3"):
        run = subprocess.run(
            [sys.executable, "-c", _HASH_OF_EXAMPLES, str(path)],
            capture_output=True,
            text=True,
            env={**os.environ, "PYTHONHASHSEED": hash_seed},
            check=True,
        )
        outputs.add(run.stdout.strip())
    assert len(outputs) == 1, outputs
    count = int(outputs.pop().split()[0])
    assert count >= 4  # the documents yield examples, so the hash covers something
