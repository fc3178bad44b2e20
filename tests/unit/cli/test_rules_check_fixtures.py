"""`triaged rules check` on every fixture rules directory.

- tests/fixtures/rules/invalid/<case>/: load_ruleset refuses it; `rules check` exits 1
  and prints each line of expected_error.txt (paths relative to the case directory).
- tests/fixtures/rules/check_only/<case>/: the rule files load, but `rules check` finds
  what only it checks (the templates) and prints expected_error.txt the same way.
- tests/fixtures/rules/valid/<case>/: `rules check` exits 0.

The JSON form (`--format json`) must say ok=false and carry the same errors.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from receiver.cli import main
from rules import load_ruleset

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "rules"
INVALID = FIXTURES / "invalid"
CHECK_ONLY = FIXTURES / "check_only"
VALID = FIXTURES / "valid"


def _cases(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.is_dir())


BROKEN = _cases(INVALID) + _cases(CHECK_ONLY)
BROKEN_IDS = [f"{p.parent.name}/{p.name}" for p in BROKEN]


def _check(directory: Path, *options: str) -> Result:
    return CliRunner().invoke(main, ["rules", "check", str(directory), *options])


def _relative(text: str, case: Path) -> str:
    return text.replace(f"{case}/", "")


def _expected(case: Path) -> list[str]:
    lines = (case / "expected_error.txt").read_text().strip().splitlines()
    assert lines, f"{case}/expected_error.txt is empty"
    return lines


def _json(result: Result) -> dict[str, Any]:
    summary = json.loads(result.stdout)
    assert isinstance(summary, dict)
    return summary


def test_the_fixture_families_are_there() -> None:
    assert len(_cases(INVALID)) >= 20
    assert {
        "template_syntax_error",
        "template_unknown_file_name",
        "template_undefined_name",
    } <= {p.name for p in _cases(CHECK_ONLY)}
    assert _cases(VALID)


@pytest.mark.parametrize("case", _cases(CHECK_ONLY), ids=lambda p: p.name)
def test_check_only_cases_have_loadable_rules(case: Path) -> None:
    # what is wrong is only what `rules check` finds beyond load_ruleset
    load_ruleset(case)


@pytest.mark.parametrize("case", BROKEN, ids=BROKEN_IDS)
def test_text_form_prints_every_expected_error(case: Path) -> None:
    result = _check(case)
    assert result.exit_code == 1, result.output
    printed = _relative(result.stderr, case).splitlines()
    missing = [line for line in _expected(case) if line not in printed]
    assert not missing, f"not printed: {missing}\nstderr:\n{result.stderr}"
    assert not result.stdout.startswith("ok: ")


@pytest.mark.parametrize("case", BROKEN, ids=BROKEN_IDS)
def test_json_form_has_the_same_errors(case: Path) -> None:
    result = _check(case, "--format", "json")
    assert result.exit_code == 1, result.output
    summary = _json(result)
    assert summary["ok"] is False
    errors = [_relative(error, case) for error in summary["errors"]]
    assert errors == _expected(case)
    text = _relative(_check(case).stderr, case).splitlines()
    assert [line for line in text if not line.startswith("warning: ")] == errors


@pytest.mark.parametrize("case", _cases(VALID), ids=lambda p: p.name)
def test_valid_cases_pass(case: Path) -> None:
    result = _check(case)
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith("ok: ")
    as_json = _check(case, "--format", "json")
    assert as_json.exit_code == 0, as_json.output
    summary = _json(as_json)
    assert summary["ok"] is True and summary["errors"] == []
