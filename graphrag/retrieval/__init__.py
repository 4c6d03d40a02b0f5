"""Query planning and retrieval: entity linking, graph traversal, hybrid search and fusion."""

from graphrag.retrieval.planner import CANDIDATE_POOL, PATHS_PER_PAIR, Planner, Retrieval

__all__ = ["CANDIDATE_POOL", "PATHS_PER_PAIR", "Planner", "Retrieval"]
