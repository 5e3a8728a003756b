"""Genome encoding, variation operators and repair for evo-pimsyn designs."""
