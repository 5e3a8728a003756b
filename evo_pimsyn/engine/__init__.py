"""The search engine: objectives, constrained NSGA-II/III selection, the Pareto archive,
batch evaluation over joblib workers, the generation loop, checkpoints and run outputs.

Everything here works on plain numpy arrays (genomes are int64 matrices ``[B, n_genes]``,
objectives float64 matrices ``[B, n_objectives]`` in minimization form); the hardware
model and the genome codec are reached through a :class:`~evo_pimsyn.engine.problem.Problem`.

Run folder (``evo-pimsyn run ... --out runs/NAME``):

* ``run.json``: resolved settings, model spec and hash, hardware config (resolved) and hash,
  seed, stop rule, config hash, package versions, gene names;
* ``generations.csv``: one row per generation (0 = initial population): evaluations,
  feasible fractions, best value of every objective over the archive, archive size,
  hypervolume (normalized at the first feasible generation), the search fidelity, and the
  wall-time columns ``generation_wall_s``/``wall_time_s`` (the only non-deterministic ones);
* ``pareto.csv``: the archive (every non-dominated feasible design seen) re-scored with the
  cycle evaluator: objectives (``fidelity`` = cycle), ``search_*`` objectives
  (``search_fidelity``), design variables, every evaluator metric, raw genes ``gene_*``;
* ``best.json`` / ``pimcomp.json``: the best-efficiency front design in PIMSYN's output
  and PIMCOMP handoff formats;
* ``checkpoints/checkpoint.npz`` (+ ``checkpoint.prev.npz``); ``archive/gen-NNNNNN.csv``
  with ``--rescore-every K``.

Determinism: same seed -> byte-identical CSVs (wall columns aside) for any worker count
and across kill/resume, because all randomness is one ``numpy`` Generator stored in the
checkpoint and evaluation is row-independent.
"""
