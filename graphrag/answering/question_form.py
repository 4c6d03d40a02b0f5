"""What a question's own wording says about its answer, for copying the answer from the evidence
(graphrag/answering/decoding/copy_spans.py):

* a **polar** question ("Are A and B both film directors?", "A has an OBE. Does B also have one?") is answered
  yes or no; any other question never is (the untuned Qwen 0.5B answered "Yes" to "..., which is Britain's first
  Olympic ski jumper, ...?");
* a **choice** question ("Which band was formed first, A or B?") offers two names (``options``), and its answer is
  one of them; "shot in or around Leland" offers none;
* any other question is not answered with a name it already says. A small reader often copies the question's own
  entity: on the multi-hop dev halves the base model answered "Audrey Williams" to "Who was Audrey
  Williams pregnant with ...?", "2016" to "Do Lafzon Ki Kahani, is a 2016 ... film, it is a remake of Always,
  released in which year?", and "Barry Wesson" to "Who did Barry Wesson's team play ...?".

``QuestionForm.named_runs`` finds, in a text, where a name of the question begins a run of the question's own
words: an answer may not start there. A run that a capitalised word carries on past the question's text starts a
different name ("Kim Jong-suk" for "Who is the wife of Kim Jong-chul?") and stays allowed.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

from graphrag.text import sentences, word_spans

__all__ = ["QuestionForm"]

_AUXILIARIES = frozenset(
    "is are was were do does did has have had can could will would shall should may might must am".split()
)
_WH_WORDS = frozenset("which what who whom whose when where why how".split())
# Words that name nothing: a run of the question's words made only of these is no name of the question.
_PLAIN = (
    _AUXILIARIES
    | _WH_WORDS
    | frozenset(
        "a an the of in on at to for by with and or from as that this these those it its he she his her him they them "
        "their there here also both either neither not no yes but if than then so into onto over under after before "
        "during between about".split()
    )
)
_POSSESSIVE = re.compile(r"['’]s$")
_LONGEST_RUN = 16  # words: a longer run of the question's words is no longer a name
# Lower-case words inside or in front of an offered name: "the Pterocarya", "Queen of the Damned", "A Bug's Life".
_NAME_LINKS = frozenset("the a an of de la le van von and & du del".split())
_LONGEST_OPTION = 8  # words


def _key(word: str) -> str:
    word = word.lower()
    if not word.isascii():  # accents folded: a question typed without them names what the evidence spells with them
        word = "".join(c for c in unicodedata.normalize("NFKD", word) if not unicodedata.combining(c))
    return _POSSESSIVE.sub("", word)


def _named(word: str) -> bool:
    return (word[:1].isupper() or any(c.isdigit() for c in word)) and _key(word) not in _PLAIN


@dataclass(frozen=True, slots=True)
class QuestionForm:
    """The form of one question: ``polar`` (answered yes / no), ``choice`` (offers names to choose between), and
    the runs of its words (lower case, possessives dropped) with whether each holds a name it says, and the two
    names a choice question offers, as the question writes them (``options``)."""

    polar: bool
    choice: bool
    runs: frozenset[tuple[str, ...]]
    named_words: frozenset[str]
    options: tuple[str, ...] = ()

    @classmethod
    def of(cls, question: str) -> QuestionForm:
        question = " ".join(question.split())
        said = sentences(question)
        last = [_key(w) for _, _, w in word_spans(said[-1])] if said else []
        keys = [_key(w) for _, _, w in word_spans(question)]
        options = _options(question)
        polar = bool(last) and last[0] in _AUXILIARIES and not set(last) & _WH_WORDS
        runs = frozenset(
            tuple(keys[i:j]) for i in range(len(keys)) for j in range(i + 1, min(len(keys), i + _LONGEST_RUN) + 1)
        )
        named = frozenset(_key(w) for _, _, w in word_spans(question) if _named(w))
        return cls(polar=polar, choice=bool(options), runs=runs, named_words=named, options=options)

    @staticmethod
    def names(question: str) -> list[tuple[str, ...]]:
        """The names the question says: runs of consecutive capitalised words (or words with digits), as keys (lower
        case, possessives dropped), wh-words and the like left out, and a word that opens a sentence only when it
        holds a digit (it is capitalised for its place). "Who founded Kestrel Motors?" says one: ("kestrel",
        "motors")."""
        runs: list[tuple[str, ...]] = []
        current: list[str] = []
        question = " ".join(question.split())
        for start, _, word in word_spans(question):
            opens_sentence = not question[:start].strip() or question[:start].rstrip()[-1] in ".?!:"
            if _named(word) and not (opens_sentence and not any(c.isdigit() for c in word)):
                current.append(_key(word))
                continue
            if current:
                runs.append(tuple(current))
            current = []
        if current:
            runs.append(tuple(current))
        return runs

    @staticmethod
    def key(word: str) -> str:
        """A word as the question's names are kept: lower case, accents folded ("Jiménez": "jimenez"), a possessive
        dropped."""
        return _key(word)

    def with_options_swapped(self, question: str) -> str:
        """``question`` with its two offered names in each other's place ("Who is older, B or A?"): a small reader
        favours one place, so a choice is scored in both orders. The question itself when it offers none."""
        if not self.options:
            return question
        first, second = self.options
        question = " ".join(question.split())
        at = question.find(f"{first} or {second}")
        if at < 0:
            return question
        return f"{question[:at]}{second} or {first}{question[at + len(first) + len(second) + 4 :]}"

    def free_answers(self) -> tuple[str, ...]:
        """The answers allowed whatever the evidence says: yes / no only where the question is polar."""
        return ("yes", "no", "I don't know") if self.polar else ("I don't know",)

    @property
    def copies_spans(self) -> bool:
        """Whether an answer may be a span of the evidence: not for a polar question that offers no choice."""
        return self.choice or not self.polar

    def only_names(self, answer: str) -> bool:
        """Whether every word of ``answer`` is a name the question says or a plain word ("Audrey" or "Scott
        Buchholz" for a question about "Scott Andrew Buchholz"): never the answer unless the question offers a
        choice."""
        keys = [_key(w) for _, _, w in word_spans(answer)]
        return (
            not self.choice
            and any(k in self.named_words for k in keys)
            and all(k in self.named_words or k in _PLAIN for k in keys)
        )

    def named_runs(self, text: str) -> list[int]:
        """Offsets in ``text`` where an answer may not start: a word from which the text runs on with the question's
        own words, one of them a name the question says, and stops there (the next word is not a capitalised one
        right after a space, unless that word is the question's own). None for a choice question, whose answer is one
        of its names."""
        if self.choice or not self.named_words:
            return []
        found = word_spans(text)
        keys = [_key(w) for _, _, w in found]
        banned = []
        for index, (start, _, _) in enumerate(found):
            length = 0
            while (
                index + length < len(found)
                and length < _LONGEST_RUN
                and tuple(keys[index : index + length + 1]) in self.runs
                and (length == 0 or _joined(text, found[index + length - 1], found[index + length]))
            ):
                length += 1
            if not length or not any(
                k in self.named_words and _named(w)
                for k, (_, _, w) in zip(keys[index : index + length], found[index : index + length])
            ):
                continue
            end = found[index + length - 1][1]
            after = found[index + length] if index + length < len(found) else None
            last = found[index + length - 1][2]
            if (
                after is not None
                and text[end : after[0]] == " "
                and last[:1].isupper()
                and _named(after[2])
                and _key(after[2]) not in self.named_words
            ):
                # A longer name than the question's: "Kim Jong-suk" after "Kim Jong-chul". Not the question's name
                # again: a passage's heading runs into its first sentence once white space is joined ("# Victor
                # Lindqvist" then "Victor Lindqvist is a security researcher.").
                continue
            banned.append(start)
        return banned


def _options(question: str) -> tuple[str, ...]:
    """The two names a question offers to choose between ("..., Sid Haig or Vic Darchinyan?", "Is the Pterocarya
    or the Cotula larger?"): the run of names and linking words right before an " or " and the one right after it,
    each holding a name (a capitalised word or a number) and joined by spaces only; () when there are none."""
    question = " ".join(question.split())
    found = word_spans(question)
    for middle, (_, _, word) in enumerate(found):
        if word != "or" or middle == 0 or middle + 1 == len(found):
            continue
        before = _option_run(question, found[middle - 1 :: -1], reverse=True)
        after = _option_run(question, found[middle + 1 :], reverse=False)
        if before and after:
            return (question[before[0][0] : before[-1][1]], question[after[0][0] : after[-1][1]])
    return ()


def _option_run(text: str, found: list[tuple[int, int, str]], reverse: bool) -> list[tuple[int, int, str]]:
    """The words of one offered name next to " or " (``found`` runs away from it), in the question's order; [] when
    they hold no name."""
    run: list[tuple[int, int, str]] = []
    for word in found[:_LONGEST_OPTION]:
        if run:
            left, right = (word, run[-1]) if reverse else (run[-1], word)
            if text[left[1] : right[0]] != " ":
                break
        if not (_named(word[2]) or word[2].lower() in _NAME_LINKS):
            break
        run.append(word)
    if reverse:
        run.reverse()
    while run and run[0][2].lower() in _NAME_LINKS - {"the", "a", "an"}:  # an article may lead a name
        run.pop(0)
    while run and run[-1][2].lower() in _NAME_LINKS:
        run.pop()
    return run if any(_named(w) for _, _, w in run) else []


def _joined(text: str, before: tuple[int, int, str], after: tuple[int, int, str]) -> bool:
    """Whether two neighbouring words are one phrase: only white space, or a comma, between them."""
    return text[before[1] : after[0]].strip() in ("", ",")
