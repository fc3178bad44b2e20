"""Probe kinds, probe_targets and regrade in rule files: what loads, what a stored
decision keeps, and every mistake named with file:line:column."""

from __future__ import annotations

from pathlib import Path

import pytest

from rules import Decision, RuleSetErrors, load_ruleset

PROBES = """
probe_targets: {networks: [10.0.0.0/8], hosts: ["*.svc.cluster.local"], ports: [8080, 443]}
probes:
  health: {http: {url: "http://{instance}/health", expect_status: 2xx, max_latency: 500ms,
                   json_field: {path: status, equals: ok}}}
  db: {tcp: {host: db.internal, port: 5432}}
  cert: {tls: {host: "{instance}", min_days: 21}}
  name: {dns: {name: "{service}.svc.cluster.local", expect: [10.0.0.7]}}
  cache: {redis: {url_env: CACHE_URL}}
  pg: {postgres: {dsn_env: ORDERS_DSN}}
  github: {statuspage: {url: "https://www.githubstatus.com", components: [Actions]}}
  errors: {prometheus: {url: "http://prometheus:9090",
                        query: 'rate(http_requests_total{service="{service}",code=~"5.."}[5m])',
                        failed_if: {op: ">", value: 0.05}}}
  deploys: {deploys: {window: 30m}}
  links: {links: {links: {logs: "https://logs.example/q?service={service}"}}}
rules:
  - name: checkout
    matchers: ['service = "checkout"']
    severity: SEV-2
    probes: [health, db, cert, name, cache, pg, github, errors, deploys, links]
    regrade:
      - {when: any_failed, probes: [health, db], severity: SEV-1}
      - {when: all_ok, severity: SEV-3}
"""


def test_every_kind_loads_and_a_stored_decision_keeps_it(tmp_path: Path) -> None:
    (tmp_path / "probes.yaml").write_text(PROBES)
    (tmp_path / "other.yaml").write_text(
        "probes:\n  elsewhere: {tcp: {host: x.internal, port: 1}}\n"
        "rules:\n  - {name: x, matchers: ['a=\"b\"'], severity: SEV-4, probes: [elsewhere]}\n"
    )
    ruleset = load_ruleset(tmp_path)
    decision = ruleset.classify({"service": "checkout"})
    kinds = [p.spec.kind for p in decision.probes]
    assert kinds == [
        "http",
        "tcp",
        "tls",
        "dns",
        "redis",
        "postgres",
        "statuspage",
        "prometheus",
        "deploys",
        "links",
    ]
    # the file's probe_targets go with its probes, and only with them
    assert all(p.targets is not None and p.targets.ports == [8080, 443] for p in decision.probes)
    assert ruleset.classify({"a": "b"}).probes[0].targets is None
    # a stored decision comes back with every kind (tcp and tls share fields) and regrades
    back = Decision.model_validate_json(decision.as_json)
    assert [p.spec.kind for p in back.probes] == kinds
    assert (
        back.probes[0].spec.expect_status is not None
        and back.probes[0].spec.expect_status.high == 299
    )
    assert [(r.when, r.decision.severity.value) for r in back.regrade] == [
        ("any_failed", "SEV-1"),
        ("all_ok", "SEV-3"),
    ]
    assert back.regrade[0].decision.regrade == []


def test_regrade_conditions() -> None:
    from rules.engine import Regraded

    option = Regraded.model_construct(when="any_failed", probes=["health"])
    assert option.holds({"health": "failed", "db": "ok"})
    assert not option.holds({"health": "ok", "db": "failed"})
    assert not option.holds({})  # nothing known, nothing regraded
    all_ok = Regraded.model_construct(when="all_ok", probes=[])
    assert all_ok.holds({"a": "ok", "b": "ok"}) and not all_ok.holds({"a": "ok", "b": "timeout"})


BROKEN = {
    "regrade names another probe": (
        "probes: {a: {tcp: {host: h, port: 1}}}\nrules:\n"
        "  - {name: r, matchers: ['x=\"y\"'], severity: SEV-2, probes: [a],\n"
        "     regrade: [{when: any_failed, probes: [b], severity: SEV-1}]}\n",
        "4:44: rules[0].regrade[0].probes[0]:",
        "not one of the rule's probes",
    ),
    "bad placeholder": (
        "probes: {a: {http: {url: 'http://{in-stance}/'}}}\n",
        "1:26: probes.a.http.url:",
        "placeholder is a label name",
    ),
    "bad network": (
        "probe_targets: {networks: [10.0.0.0/33]}\n",
        "1:27: probe_targets.networks:",
        "not a network",
    ),
    "non-http url": (
        "probes: {a: {http: {url: 'tcp://{instance}:80/'}}}\n",
        "1:26: probes.a.http.url: ",
        "expected an http:// or https:// URL (it may use {label} placeholders), "
        "got 'tcp://{instance}:80/'",
    ),
    "bad status": (
        "probes: {a: {http: {url: 'http://h/', expect_status: '2yy'}}}\n",
        "1:54: probes.a.http.expect_status:",
        "a class",
    ),
    "two kinds": (
        "probes: {a: {tcp: {host: h, port: 1}, dns: {name: h}}}\n",
        "1:13: probes.a:",
        "exactly one of the keys",
    ),
}


@pytest.mark.parametrize("case", sorted(BROKEN))
def test_probe_mistakes_are_named(tmp_path: Path, case: str) -> None:
    text, where, why = BROKEN[case]
    (tmp_path / "probes.yaml").write_text(text)
    with pytest.raises(RuleSetErrors) as info:
        load_ruleset(tmp_path)
    message = str(info.value)
    assert f"probes.yaml:{where}" in message and why in message, message


def test_a_templated_target_without_probe_targets_is_warned_about(tmp_path: Path) -> None:
    (tmp_path / "probes.yaml").write_text(
        "probes: {h: {http: {url: 'http://{instance}/health'}}}\n"
        "rules: [{name: r, matchers: ['x=\"y\"'], severity: SEV-2, probes: [h]}]\n"
    )
    [warning] = [w for w in load_ruleset(tmp_path).warnings if w.startswith('probe "h"')]
    assert 'probe "h" takes alert labels' in warning and "probe_targets" in warning
