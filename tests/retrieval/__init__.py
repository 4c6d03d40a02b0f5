"""Tests of graphrag/retrieval."""
