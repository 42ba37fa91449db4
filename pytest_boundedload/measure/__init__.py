"""The mechanisms that measure, with nothing of pytest in them.

- :mod:`.inflight`: exact in-flight high-water of the probe calls, across processes;
- :mod:`.livetasks`: exact high-water of live asyncio tasks, through a task factory;
- :mod:`.sampler`: kernel peak RSS, OS threads and child processes of this process;
- :mod:`.descendants`: the live descendant processes and their peaks;
- :mod:`.heap`: a forked child's heap made ready to measure;
- :mod:`.window`: all of them started and stopped together;
- :mod:`.measurement`: the frozen result, and which figures are sizes or counts.

Each mechanism owns its patching, its restoring and its fork guard.
"""
