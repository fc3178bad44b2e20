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
