"""Studies: campaigns of ordinary runs over models, powers, seeds and varied options.

:class:`~evo_pimsyn.study.spec.StudySpec` says what to run, :func:`run_study` /
:func:`resume_study` run it (resumably) and write study.csv and report.html;
``evo_pimsyn.analysis.load_study`` reads the result. The CLI is ``evo-pimsyn study``.
"""

from evo_pimsyn.study.runner import resume_study, run_study
from evo_pimsyn.study.spec import Cell, StudySpec

__all__ = ["Cell", "StudySpec", "resume_study", "run_study"]
