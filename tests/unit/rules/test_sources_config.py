"""The sources: section of rule files: what loads, and every mistake named with
file:line:column."""

from __future__ import annotations

from pathlib import Path

import pytest

from receiver.sources import SOURCES
from rules import RuleSetErrors, load_ruleset
from rules.sources import BUILTIN_SOURCES

GOOD = """
sources:
  grafana:
    auth:
      hmac:
        secrets: [{env: GRAFANA_SECRET}, {file: /run/secrets/grafana-next}]
        timestamp_header: X-Grafana-Alerting-Timestamp
    rate_limit: {per_second: 50, burst: 200}
  azure-monitor:
    auth: {query_token: {tokens: [{env: AZURE_TOKEN}]}}
  cloudwatch:
    sns: {topic_arns: ["arn:aws:sns:eu-west-1:123456789012:alarms"]}
    auth: {basic: {username: sns, passwords: [{env: SNS_PASSWORD}]}}
  my-tool:
    mapping:
      labels: {alertname: name}
"""


def test_builtin_source_names_are_the_adapters() -> None:
    assert BUILTIN_SOURCES == set(SOURCES)


def test_sources_load(tmp_path: Path) -> None:
    (tmp_path / "sources.yaml").write_text(GOOD)
    ruleset = load_ruleset(tmp_path)
    assert set(ruleset.sources) == {"grafana", "azure-monitor", "cloudwatch", "my-tool"}
    hmac = ruleset.sources["grafana"].auth.hmac  # type: ignore[union-attr]
    assert hmac is not None and hmac.max_skew.total_seconds() == 300
    assert hmac.header == "X-Grafana-Alerting-Signature"


BROKEN = {
    "unknown source": (
        "sources:\n  graphana:\n    auth: {bearer: {tokens: [{env: X}]}}\n",
        '2:3: sources.graphana: unknown source "graphana"',
        'did you mean "grafana"',
    ),
    "mapping on an adapter": (
        "sources:\n  alertmanager:\n    mapping: {labels: {alertname: a}}\n",
        "3:5: sources.alertmanager.mapping:",
        "has an adapter of its own",
    ),
    "sns elsewhere": (
        "sources:\n  grafana:\n    sns: {topic_arns: ['arn:aws:sns:eu-west-1:123456789012:t']}\n",
        "3:5: sources.grafana.sns:",
        "belong to the cloudwatch source",
    ),
    "two auth kinds": (
        "sources:\n  generic:\n    auth:\n      bearer: {tokens: [{env: A}]}\n"
        "      query_token: {tokens: [{env: B}]}\n",
        "4:7: sources.generic.auth:",
        "exactly one of the keys",
    ),
    "secret written in the file": (
        "sources:\n  generic:\n    auth: {bearer: {tokens: [hunter2]}}\n",
        "3:30: sources.generic.auth.bearer.tokens[0]:",
        "",
    ),
    "secret with env and file": (
        "sources:\n  generic:\n    auth: {bearer: {tokens: [{env: A, file: /x}]}}\n",
        "3:30: sources.generic.auth.bearer.tokens[0]:",
        "exactly one of the keys: env, file",
    ),
    "mapping without alertname": (
        "sources:\n  my-tool:\n    mapping: {labels: {service: svc}}\n",
        "3:23: sources.my-tool.mapping.labels: ",
        "labels needs an alertname entry",
    ),
    "unknown auth kind": (
        "sources:\n  generic:\n    auth: {oauth2: {client_id: x}}\n",
        "3:12: sources.generic.auth.oauth2: ",
        "unknown key: auth takes exactly one of bearer, basic, query_token, hmac",
    ),
    "bad field path": (
        "sources:\n  my-tool:\n    mapping: {labels: {alertname: a..b}}\n",
        "3:35: sources.my-tool.mapping.labels.alertname: ",
        "invalid field path 'a..b': keys (and list indexes) joined by '.', e.g. a.b.0",
    ),
    "bad topic arn": (
        "sources:\n  cloudwatch:\n    sns: {topic_arns: ['arn:aws:s3:::bucket']}\n",
        "3:24: sources.cloudwatch.sns.topic_arns[0]:",
        "",
    ),
    "bad source name": (
        "sources:\n  My_Tool:\n    mapping: {labels: {alertname: a}}\n",
        "2:3: sources.My_Tool:",
        "URL segment",
    ),
    "zero rate": (
        "sources:\n  generic:\n    rate_limit: {per_second: 0}\n",
        "3:30: sources.generic.rate_limit.per_second:",
        "",
    ),
}


@pytest.mark.parametrize("case", sorted(BROKEN))
def test_mistakes_are_named_with_file_line_and_column(tmp_path: Path, case: str) -> None:
    text, where, why = BROKEN[case]
    (tmp_path / "sources.yaml").write_text(text)
    with pytest.raises(RuleSetErrors) as info:
        load_ruleset(tmp_path)
    message = str(info.value)
    assert f"sources.yaml:{where}" in message, message
    assert why in message, message


@pytest.mark.parametrize(
    ("text", "key_path"),
    [
        (
            "sources:\n  generic:\n    auth: {bearer: {tokens: [{env: A}], token: x}}\n",
            "auth.bearer.token",
        ),
        ("sources:\n  generic:\n    rate_limit: {per_minute: 5}\n", "rate_limit.per_minute"),
        ("sources:\n  generic:\n    oauth2: {}\n", "oauth2"),
    ],
)
def test_other_unknown_keys_list_no_auth_kinds(tmp_path: Path, text: str, key_path: str) -> None:
    (tmp_path / "sources.yaml").write_text(text)
    with pytest.raises(RuleSetErrors) as info:
        load_ruleset(tmp_path)
    reasons = {e.key_path: e.reason for e in info.value.errors}
    assert reasons[f"sources.generic.{key_path}"] == "unknown key"
