"""Tests of graphrag/extraction."""
