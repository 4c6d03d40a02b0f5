"""Tests of graphrag/training."""
