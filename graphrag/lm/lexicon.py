"""English word forms read from the packaged spaCy pipeline's lemmatizer tables, without loading spaCy itself.

The relation-chain planner needs to know that "bought" or "won" is a verb's past form, as "acquired" is: its word
order then says which way the relation runs. The irregular forms come from the lemmatizer's exception table, so no
word list is kept here, and reading it costs about 0.1 s instead of the seconds that importing spaCy takes.
"""

from __future__ import annotations

import importlib.util
import logging
from pathlib import Path

import srsly

__all__ = ["irregular_verb_forms"]

_log = logging.getLogger(__name__)
# A form only a verb has, which picks the verb table out of the exception tables (they are keyed by string hash).
_VERB_PROBE = "went"


def irregular_verb_forms(package: str) -> frozenset[str]:
    """The inflected verb forms the spaCy pipeline ``package`` lists as exceptions ("bought", "ran", "born"),
    lower-case; empty (logged) when the package or its table cannot be read."""
    try:
        spec = importlib.util.find_spec(package)
        if spec is None or spec.origin is None:
            raise FileNotFoundError(f"spaCy pipeline package {package!r} is not installed")
        table = next(Path(spec.origin).parent.glob("*/lemmatizer/lookups/lookups.bin"))
        exceptions = srsly.msgpack_loads(table.read_bytes())["lemma_exc"]
        verbs = next(forms for forms in exceptions.values() if _VERB_PROBE in forms)
    except (OSError, StopIteration, KeyError, ValueError, TypeError, ImportError) as exc:
        _log.warning("irregular verb forms unavailable from %s (%s); only -ed forms count as past forms", package, exc)
        return frozenset()
    return frozenset(form.lower() for form, lemmas in verbs.items() if form.lower() not in lemmas)
