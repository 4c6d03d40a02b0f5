"""Tests of graphrag/answering."""
