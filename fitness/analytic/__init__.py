"""Closed-form ("analytic") evaluator: the cycle model's outputs without per-design DAGs.

Entry point: :func:`fitness.analytic.evaluate.evaluate_analytic`.
"""

from fitness.analytic.evaluate import evaluate_analytic

__all__ = ["evaluate_analytic"]
