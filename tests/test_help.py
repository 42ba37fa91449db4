"""``pytest --help`` and ``pytest --version`` work wherever the plugin is installed, and
the help lists every option and ini key (argparse %-formats option help: a bare '%' in
one help text made ``--help`` fail in every project)."""

from __future__ import annotations

import re

import pytest

# Written out, not read from the plugin: a new option must be added here on purpose.
OPTIONS = {
    "--boundedload-all",
    "--boundedload-allow-missing",
    "--boundedload-baseline",
    "--boundedload-compare",
    "--boundedload-hard-limit",
    "--boundedload-interval",
    "--boundedload-isolate",
    "--boundedload-json",
    "--boundedload-max-bytes-per-task",
    "--boundedload-max-heap",
    "--boundedload-max-held",
    "--boundedload-max-in-flight",
    "--boundedload-max-processes",
    "--boundedload-max-requests",
    "--boundedload-max-rss",
    "--boundedload-max-rss-growth",
    "--boundedload-max-tasks",
    "--boundedload-max-threads",
    "--boundedload-memray",
    "--boundedload-memray-top",
    "--boundedload-prune",
    "--boundedload-report-dir",
    "--boundedload-save",
    "--boundedload-summary",
    "--boundedload-tolerance",
}
INI_KEYS = {
    "boundedload_all",
    "boundedload_baseline",
    "boundedload_hard_limit",
    "boundedload_interval",
    "boundedload_isolate",
    "boundedload_max_bytes_per_task",
    "boundedload_max_heap",
    "boundedload_max_held",
    "boundedload_max_in_flight",
    "boundedload_max_processes",
    "boundedload_max_requests",
    "boundedload_max_rss",
    "boundedload_max_rss_growth",
    "boundedload_max_tasks",
    "boundedload_max_threads",
    "boundedload_memray",
    "boundedload_memray_top",
    "boundedload_report_dir",
    "boundedload_summary",
    "boundedload_tolerance",
}


def test_help_lists_every_option_and_ini_key(pytester: pytest.Pytester) -> None:
    result = pytester.runpytest_subprocess("--help")
    assert result.ret == 0, result.stderr.str()
    text = result.stdout.str()
    assert "Traceback (most recent call last)" not in text + result.stderr.str()
    assert set(re.findall(r"--boundedload-[a-z-]+", text)) == OPTIONS
    assert set(re.findall(r"^  (boundedload_[a-z_]+) \(", text, flags=re.MULTILINE)) == INI_KEYS
    # The help with a '%' in it comes out as written, not doubled.
    assert "'10%+1MiB'" in text


def test_version_with_the_plugin_loaded(pytester: pytest.Pytester) -> None:
    result = pytester.runpytest_subprocess("--version")
    assert result.ret == 0, result.stderr.str()
    assert re.search(r"^pytest \d+\.\d+", result.stdout.str() + result.stderr.str(), re.MULTILINE)
    assert "Traceback (most recent call last)" not in result.stdout.str() + result.stderr.str()
