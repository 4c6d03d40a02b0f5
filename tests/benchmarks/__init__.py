"""Tests of the benchmark scripts under scripts/."""
