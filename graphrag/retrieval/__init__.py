"""Query planning and retrieval: entity linking, graph traversal, hybrid search and fusion."""

from graphrag.retrieval.planner import Planner, Retrieval

__all__ = ["Planner", "Retrieval"]
