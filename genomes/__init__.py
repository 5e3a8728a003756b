"""Genome encoding, variation operators and repair for evo-pimsyn designs.

A genome is a row of an int64 matrix laid out by :class:`GenomeLayout`; every function
here works on whole matrices (batch axis first) and takes its randomness from an explicit
``numpy.random.Generator``.
"""

from genomes.codec import decode, encode
from genomes.init import initial_population, random_genomes, seed_genomes
from genomes.layout import RATIO_GRID, GenomeLayout
from genomes.operators import crossover, mutate
from genomes.repair import repair

__all__ = [
    "GenomeLayout",
    "RATIO_GRID",
    "crossover",
    "decode",
    "encode",
    "initial_population",
    "mutate",
    "random_genomes",
    "repair",
    "seed_genomes",
]
