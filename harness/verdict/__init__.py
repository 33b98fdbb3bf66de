"""Verdicts: rule grammar, evaluation of a run against rules, CI gate outputs."""
