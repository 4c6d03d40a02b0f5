"""Tests of graphrag/graph_store."""
