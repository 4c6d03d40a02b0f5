"""Readable names of the Wikidata properties the relation classifier predicts: the label read from head to tail
("founded by") and the inverse phrase read from tail to head ("founder of"), which relationship questions and the
Neo4j Browser show.
"""

from __future__ import annotations

from dataclasses import dataclass

from graphrag.extraction.base import relation_type_from_words

__all__ = ["RelationLabel", "WIKIDATA_PHRASES", "relation_label"]

# property id -> (label, inverse phrase). Labels are Wikidata's own names, shortened where they read badly.
WIKIDATA_PHRASES: dict[str, tuple[str, str]] = {
    "P6": ("head of government", "head of government of"),
    "P17": ("country", "country of"),
    "P19": ("place of birth", "birthplace of"),
    "P20": ("place of death", "place of death of"),
    "P22": ("father", "father of"),
    "P25": ("mother", "mother of"),
    "P26": ("spouse", "spouse of"),
    "P27": ("country of citizenship", "country of citizenship of"),
    "P30": ("continent", "continent of"),
    "P31": ("instance of", "has instance"),
    "P35": ("head of state", "head of state of"),
    "P36": ("capital", "capital of"),
    "P37": ("official language", "official language of"),
    "P39": ("position held", "position held by"),
    "P40": ("child", "child of"),
    "P50": ("author", "author of"),
    "P54": ("member of sports team", "sports team of"),
    "P57": ("director", "director of"),
    "P58": ("screenwriter", "screenwriter of"),
    "P69": ("educated at", "alma mater of"),
    "P86": ("composer", "composer of"),
    "P102": ("member of political party", "political party of"),
    "P108": ("employer", "employer of"),
    "P112": ("founded by", "founder of"),
    "P118": ("league", "league of"),
    "P123": ("publisher", "publisher of"),
    "P127": ("owned by", "owner of"),
    "P131": ("located in", "contains"),
    "P136": ("genre", "genre of"),
    "P137": ("operator", "operator of"),
    "P140": ("religion", "religion of"),
    "P150": ("contains", "located in"),
    "P155": ("follows", "followed by"),
    "P156": ("followed by", "follows"),
    "P159": ("headquarters location", "headquarters of"),
    "P161": ("cast member", "cast member of"),
    "P162": ("producer", "producer of"),
    "P166": ("award received", "award given to"),
    "P170": ("creator", "creator of"),
    "P171": ("parent taxon", "parent taxon of"),
    "P172": ("ethnic group", "ethnic group of"),
    "P175": ("performer", "performer of"),
    "P176": ("manufacturer", "manufacturer of"),
    "P178": ("developer", "developer of"),
    "P179": ("series", "series containing"),
    "P190": ("sister city", "sister city of"),
    "P194": ("legislative body", "legislative body of"),
    "P205": ("basin country", "basin country of"),
    "P206": ("located next to body of water", "body of water beside"),
    "P241": ("military branch", "military branch of"),
    "P264": ("record label", "record label of"),
    "P272": ("production company", "production company of"),
    "P276": ("location", "location of"),
    "P279": ("subclass of", "has subclass"),
    "P355": ("subsidiary", "subsidiary of"),
    "P361": ("part of", "has part"),
    "P364": ("original language", "original language of"),
    "P400": ("platform", "platform of"),
    "P403": ("mouth of the watercourse", "mouth of"),
    "P449": ("original network", "original network of"),
    "P463": ("member of", "has member"),
    "P488": ("chairperson", "chairperson of"),
    "P495": ("country of origin", "country of origin of"),
    "P527": ("has part", "part of"),
    "P551": ("residence", "residence of"),
    "P569": ("date of birth", "date of birth of"),
    "P570": ("date of death", "date of death of"),
    "P571": ("inception", "inception of"),
    "P576": ("dissolved", "dissolution of"),
    "P577": ("publication date", "publication date of"),
    "P580": ("start time", "start time of"),
    "P582": ("end time", "end time of"),
    "P585": ("point in time", "point in time of"),
    "P607": ("conflict", "conflict involving"),
    "P674": ("characters", "character in"),
    "P676": ("lyrics by", "lyricist of"),
    "P706": ("located on terrain feature", "terrain feature of"),
    "P710": ("participant", "participant in"),
    "P737": ("influenced by", "influence on"),
    "P740": ("location of formation", "place of formation of"),
    "P749": ("parent organization", "parent organization of"),
    "P800": ("notable work", "notable work of"),
    "P807": ("separated from", "split into"),
    "P840": ("narrative location", "setting of"),
    "P937": ("work location", "work location of"),
    "P1001": ("applies to jurisdiction", "jurisdiction of"),
    "P1056": ("product produced", "produced by"),
    "P1198": ("unemployment rate", "unemployment rate of"),
    "P1336": ("territory claimed by", "claims territory"),
    "P1344": ("participant of", "has participant"),
    "P1365": ("replaces", "replaced by"),
    "P1366": ("replaced by", "replaces"),
    "P1376": ("capital of", "capital"),
    "P1412": ("languages spoken", "language spoken by"),
    "P1441": ("present in work", "work featuring"),
    "P3373": ("sibling", "sibling of"),
}


@dataclass(frozen=True, slots=True)
class RelationLabel:
    """One predicted relation: the Wikidata property id, its label, the inverse phrase, and the store's type name
    (UPPER_SNAKE of the label, e.g. ``FOUNDED_BY``)."""

    property_id: str
    label: str
    inverse: str

    @property
    def type(self) -> str:
        """The relation type a store holds: the label in UPPER_SNAKE."""
        return relation_type_from_words(self.label)

    def as_dict(self) -> dict[str, str]:
        return {"property_id": self.property_id, "label": self.label, "inverse": self.inverse}

    @classmethod
    def from_dict(cls, item: dict) -> RelationLabel:
        return cls(str(item["property_id"]), str(item["label"]), str(item["inverse"]))


def relation_label(property_id: str, name: str) -> RelationLabel:
    """The readable label of a property: from the table, else its own name and "<name> of"."""
    label, inverse = WIKIDATA_PHRASES.get(property_id, (name, f"{name} of"))
    return RelationLabel(property_id, label, inverse)
