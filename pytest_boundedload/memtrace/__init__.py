"""memray tracing of measurement windows: the heap's exact high-water and where it was
allocated.

- :mod:`.settings`: which tests are traced;
- :mod:`.capture`: one Tracker into a file, and reading it back;
- :mod:`.sites`: the records grouped by the first frame in the user's code;
- :mod:`.tracer`: what a measurement window starts and stops;
- :mod:`.coexist`: living with pytest-memray.

Nothing is imported here: the settings are read in every run, the rest only when a test
is traced.
"""
