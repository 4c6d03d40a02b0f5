"""Tests of graphrag/cli."""
