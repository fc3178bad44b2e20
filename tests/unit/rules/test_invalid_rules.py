"""Each tests/fixtures/rules/invalid/<case>/ fails to load with exactly its expected_error.txt.

expected_error.txt holds the whole message, one error a line, with file paths
relative to the case directory: file, line, column, key path and reason.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from rules import RuleFileError, RuleSetErrors, UnknownReference, load_ruleset

INVALID = Path(__file__).resolve().parents[2] / "fixtures" / "rules" / "invalid"
CASES = sorted(p.name for p in INVALID.iterdir() if p.is_dir())


def _load_errors(case: str) -> RuleSetErrors:
    with pytest.raises(RuleSetErrors) as caught:
        load_ruleset(INVALID / case)
    return caught.value


def test_every_required_case_is_there() -> None:
    assert {
        "unknown_key",
        "bad_duration",
        "bad_regex",
        "unknown_probe",
        "unknown_contact",
        "duplicate_rule_name",
        "yaml_syntax",
        "bad_severity_name",
        "non_http_webhook",
    } <= set(CASES)


@pytest.mark.parametrize("case", CASES)
def test_message(case: str) -> None:
    errors = _load_errors(case)
    expected = (INVALID / case / "expected_error.txt").read_text().strip()
    assert str(errors).replace(f"{INVALID / case}/", "") == expected


@pytest.mark.parametrize("case", CASES)
def test_every_error_is_located(case: str) -> None:
    for error in _load_errors(case).errors:
        assert isinstance(error, RuleFileError)
        assert Path(error.path).parent == INVALID / case
        assert error.line is not None and error.column is not None
        assert error.reason


@pytest.mark.parametrize("case", ["unknown_probe", "unknown_contact"])
def test_references_raise_unknown_reference(case: str) -> None:
    (error,) = _load_errors(case).errors
    assert isinstance(error, UnknownReference)


def test_fields_of_one_error() -> None:
    (error,) = _load_errors("unknown_contact").errors
    assert (Path(error.path).name, error.line, error.column) == ("contacts.yaml", 14, 16)
    assert error.key_path == "escalation.SEV-1[1].notify[0]"
    assert error.reason == 'unknown contact "lead"'
    where = f"{error.path}:14:16"
    assert str(error) == f'{where}: escalation.SEV-1[1].notify[0]: unknown contact "lead"'


def test_errors_in_several_files_are_all_reported() -> None:
    files = {Path(e.path).name for e in _load_errors("several_files").errors}
    assert files == {"checkout.yaml", "contacts.yaml", "severities.yaml"}
