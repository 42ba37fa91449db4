"""Which baseline entries a run could have run (what --boundedload-prune may remove)."""

from __future__ import annotations

from pathlib import Path

import pytest

from pytest_boundedload.baseline.scope import Scope

ROOT = Path("/project")
IDS = [
    "tests/test_a.py::test_x",
    "tests/test_a.py::test_x[1]",
    "tests/test_a.py::TestC::test_y",
    "tests/test_ab.py::test_x",
    "tests/sub/test_b.py::test_z",
    "other/test_c.py::test_w",
]


@pytest.mark.parametrize(
    ("args", "base", "inside"),
    [
        (["/project"], ROOT, IDS),
        (["."], ROOT / "tests", IDS[:5]),
        (["tests"], ROOT, IDS[:5]),
        (["test_a.py"], ROOT / "tests", IDS[:3]),
        (["tests/test_a.py::test_x"], ROOT, IDS[:2]),
        (["tests/test_a.py::TestC"], ROOT, IDS[2:3]),
        (["sub", "../other/test_c.py"], ROOT / "tests", IDS[4:]),
        (["/elsewhere/tests"], ROOT, IDS),  # outside the rootdir: no prefix to go by
    ],
    ids=["root", "dot-in-tests", "testpaths", "one-file", "one-test", "one-class", "two-args", "outside"],
)
def test_a_scope_holds_the_ids_under_its_arguments(args: list[str], base: Path, inside: list[str]) -> None:
    scope = Scope(args, base, ROOT)
    assert [nodeid for nodeid in IDS if nodeid in scope] == inside
