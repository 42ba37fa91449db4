"""Baselines: figures saved per test and platform, and the gate that compares against them.

- :mod:`.store`: the baseline file (read, merge under a lock, atomic writes);
- :mod:`.compare`: tolerances, a test's figures against its entry, and every wording of
  a change;
- :mod:`.gate`: the session's gate (compare, save, the JSON report, the summary).
"""
