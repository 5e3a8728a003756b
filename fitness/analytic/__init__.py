"""Closed-form ("analytic") evaluator: the cycle model's outputs without per-design DAGs.

Entry point: :func:`fitness.analytic.evaluate.evaluate_analytic`.
"""


def evaluate_analytic(network, hardware, batch):
    from fitness.analytic.evaluate import evaluate_analytic as _impl

    return _impl(network, hardware, batch)


__all__ = ["evaluate_analytic"]
