"""graphrag: a GraphRAG question-answering library (ingest -> graph + vectors -> plan -> cited answer).

Importing this package loads no models and touches no files; :meth:`Engine.from_settings` does the I/O.
"""

from graphrag.config import Settings
from graphrag.engine import Engine
from graphrag.errors import GraphRAGError
from graphrag.types import Answer, Chunk, Citation, Document, Entity, Evidence, Path, QueryPlan, Relation, Triple

__all__ = [
    "Answer",
    "Chunk",
    "Citation",
    "Document",
    "Engine",
    "Entity",
    "Evidence",
    "GraphRAGError",
    "Path",
    "QueryPlan",
    "Relation",
    "Settings",
    "Triple",
]
__version__ = "0.1.0"
