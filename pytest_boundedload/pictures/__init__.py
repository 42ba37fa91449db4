"""Pictures in ``--boundedload-report-dir``: scaling fits and failing tests' timelines
(PNG, with matplotlib: :mod:`.plots`), memray flamegraphs and a test's files
(:mod:`.render`, :mod:`.files`), and an ``index.html`` that links them (:mod:`.index`).

Nothing is imported here: only a run with a report directory loads them.
"""
