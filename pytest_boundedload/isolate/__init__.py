"""Running code in a forked child under a hard memory cap.

- :mod:`.cgroup`: the memory cgroups a child joins, where this process may make one;
- :mod:`.capped`: :func:`~.capped.run_capped`, the child, its pipe back and how it ended;
- :mod:`.hardlimit`: a test's whole run protocol in such a child (``hard_limit``).
"""
