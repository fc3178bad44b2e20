"""The console script's own checks (no daemon started)."""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner

from receiver.cli import main

EXAMPLES = Path(__file__).parents[3] / "rules" / "examples"


def test_rules_check_accepts_the_shipped_examples() -> None:
    for name in ("product", "quickstart"):
        result = CliRunner().invoke(main, ["rules", "check", str(EXAMPLES / name)])
        assert result.exit_code == 0, result.output
        assert result.stdout.startswith("ok: ")
    product = CliRunner().invoke(main, ["rules", "check", str(EXAMPLES / "product")])
    assert "warning: SEV-3 pages business_hours but has no escalation steps" in product.stderr


def test_rules_check_reports_file_line_and_key_path(tmp_path: Path) -> None:
    (tmp_path / "a.yaml").write_text(
        "rules:\n  - name: x\n    matchers: ['a =~ \"(\"']\n    severity: SEV-1\n"
    )
    result = CliRunner().invoke(main, ["rules", "check", str(tmp_path)])
    assert result.exit_code == 1
    assert "a.yaml:3:" in result.output and "rules[0].matchers[0]" in result.output


def test_refuses_public_address_without_token(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        main,
        ["serve", "--rules", str(EXAMPLES / "product"), "--listen", "0.0.0.0:9797"],
        env={"TRIAGED_API_TOKEN": "", "REDIS_URL": "redis://127.0.0.1:1/0"},
    )
    assert result.exit_code == 2
    assert "refusing to listen on 0.0.0.0 without TRIAGED_API_TOKEN" in result.output


def test_worker_needs_redis_url() -> None:
    result = CliRunner().invoke(main, ["worker"], env={"REDIS_URL": ""})
    assert result.exit_code == 2 and "REDIS_URL is not set" in result.output


def test_rules_test_exit_codes(tmp_path: Path) -> None:
    product = EXAMPLES / "product"
    shipped = product / "tests" / "example_test.yaml"
    ok = CliRunner().invoke(main, ["rules", "test", str(product), str(shipped)])
    assert ok.exit_code == 0, ok.output
    assert "5 passed, 0 failed" in ok.output
    failing = tmp_path / "failing.yaml"
    failing.write_text(
        "cases:\n"
        "  - name: checkout down is SEV-2 (wrong)\n"
        "    labels: {alertname: CheckoutDown, service: checkout}\n"
        "    expect: {severity: SEV-2}\n"
    )
    failed = CliRunner().invoke(main, ["rules", "test", str(product), str(failing)])
    assert failed.exit_code == 1, failed.output
    assert "FAIL checkout down is SEV-2 (wrong)" in failed.output
    assert "severity: expected SEV-2, got SEV-1" in failed.output
    broken = tmp_path / "broken.yaml"
    broken.write_text("cases:\n  - {name: x, labels: {a: b}, expect: {sevrity: SEV-1}}\n")
    unusable = CliRunner().invoke(main, ["rules", "test", str(product), str(broken)])
    assert unusable.exit_code == 2, unusable.output


def test_rules_check_reports_a_shadowed_rule_and_explain_shows_it_not_tried(tmp_path: Path) -> None:
    import json

    (tmp_path / "rules.yaml").write_text(
        "rules:\n"
        "  - {name: checkout, matchers: ['service = \"checkout\"'], severity: SEV-2}\n"
        "  - {name: checkout-prod, matchers: ['service = \"checkout\"', 'env = \"prod\"'],"
        " severity: SEV-1}\n"
    )
    checked = CliRunner().invoke(main, ["rules", "check", str(tmp_path), "--format", "json"])
    assert checked.exit_code == 0, checked.output
    report = json.loads(checked.output)
    assert report["ok"] and any(
        '"checkout-prod"' in w and "shadowed" in w for w in report["warnings"]
    )
    explained = CliRunner().invoke(
        main,
        [
            "rules",
            "explain",
            str(tmp_path),
            "--labels",
            "service=checkout,env=prod",
            "--at",
            "2026-11-27T10:00:00Z",
        ],
    )
    assert explained.exit_code == 0, explained.output
    assert "checkout (rules.yaml #1): matched" in explained.output
    assert "checkout-prod (rules.yaml #2): not tried" in explained.output
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "r.yaml").write_text("rules: [{name: x}]\n")
    failed = CliRunner().invoke(main, ["rules", "check", str(broken), "--format", "json"])
    assert failed.exit_code == 1 and json.loads(failed.output)["errors"]
    usage = CliRunner().invoke(main, ["rules", "explain", str(tmp_path)])
    assert usage.exit_code == 2
