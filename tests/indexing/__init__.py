"""Tests of graphrag/indexing."""
