"""Pairwise preference studies of runs' outputs: design, storage, the raters' page and the analysis.

``pikfix-bench study create|serve|import|analyze`` (see ``docs/study.md``): :mod:`.design` makes the
study folder and reads ``study.json``, :mod:`.storage` keeps the choices in SQLite and imports CSV,
:mod:`.server` serves the raters' page, :mod:`.analysis` fits Bradley–Terry (Davidson) strengths.
"""
