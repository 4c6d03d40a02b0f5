"""Tests of graphrag/lm."""
