"""Checklists: the performance guide's numbers as rules (guide.yaml) and their loader."""
