"""The matcher parser, as a table of what Alertmanager accepts and rejects.

Cases marked "AM" are taken from Prometheus Alertmanager's tests of its classic
matcher parser, pkg/labels/parse_test.go (TestMatchers), which this parser
follows; matching semantics follow pkg/labels/matcher.go (regex compiled as
"^(?:" + value + ")$", a missing label read as "").
"""

from __future__ import annotations

import pytest

from rules import MatcherSyntaxError, MatchOp, parse_matcher, parse_matchers
from rules.matchers import Matcher

EQ, NE, RE, NRE = MatchOp.EQUAL, MatchOp.NOT_EQUAL, MatchOp.REGEX, MatchOp.NOT_REGEX

# input, name, op, value
ACCEPTED = [
    ('foo="bar"', "foo", EQ, "bar"),  # AM
    ('foo=~"bar.*"', "foo", RE, "bar.*"),  # AM
    ('foo!="bar"', "foo", NE, "bar"),  # AM
    ('foo!~"bar.*"', "foo", NRE, "bar.*"),  # AM
    ('foo=""', "foo", EQ, ""),  # AM
    ('statuscode=~"5.."', "statuscode", RE, "5.."),  # AM
    ("tricky=~~~", "tricky", RE, "~~"),  # AM: "=~" is the operator, "~~" the value
    ('trickier==\\\\=\\=\\"', "trickier", EQ, '=\\=\\="'),  # AM: spurious escape is literal
    ('quote="She said: \\"Hi, ladies!\\""', "quote", EQ, 'She said: "Hi, ladies!"'),  # AM
    ('contains_quote != "\\""', "contains_quote", NE, '"'),  # AM
    ('service = "checkout"', "service", EQ, "checkout"),  # product.md
    ('alertname =~ "CheckoutDown|HighErrorRate"', "alertname", RE, "CheckoutDown|HighErrorRate"),
    ('  foo \t=\n "bar"  ', "foo", EQ, "bar"),  # whitespace around every part
    ("foo=bar", "foo", EQ, "bar"),  # unquoted
    ("foo==bar", "foo", EQ, "=bar"),  # AM: op "=", value "=bar" (a valid unquoted value)
    ("foo = bar baz ", "foo", EQ, "bar baz"),  # unquoted, inner space kept, trailing trimmed
    ('foo="a\\nb"', "foo", EQ, "a\nb"),  # \n escape
    ('foo="a\\\\b"', "foo", EQ, "a\\b"),  # \\ escape
    ('foo="a\\wb"', "foo", EQ, "a\\wb"),  # unknown escape: literal backslash
    ("foo=a\\", "foo", EQ, "a\\"),  # backslash as last character: literal
    ('foo="line\nbreak"', "foo", EQ, "line\nbreak"),  # literal line feed tolerated
    ('foo="🙂"', "foo", EQ, "🙂"),
    ('foo=" padded "', "foo", EQ, " padded "),  # quotes keep spaces
    ('a:b_c="x"', "a:b_c", EQ, "x"),  # ':' and '_' are valid in label names
    ('_x="y"', "_x", EQ, "y"),
]

# input, a fragment of the reason
REJECTED = [
    ("job=", "not present"),  # AM
    ('job="value', "unterminated"),  # AM (AM says: unescaped double quote)
    ('job=value"', "unescaped double quote"),  # AM
    ('trickier==\\\\=\\=\\""', "unescaped double quote"),  # AM
    ('contains_unescaped_quote = foo"bar', "unescaped double quote"),  # AM
    ('invalid-name = "valid label"', "bad matcher format"),  # AM: '-' not in label names
    ('{foo="bar"}', "bad matcher format"),  # braces: only in parse_matchers
    ('"foo=\\"bar\\""', "bad matcher format"),  # AM: double-escaped input
    ('"foo="bar""', "bad matcher format"),  # AM
    ('1foo="bar"', "bad matcher format"),  # label names do not start with a digit
    ("foo", "bad matcher format"),
    ('="bar"', "bad matcher format"),
    ('foo~="bar"', "bad matcher format"),
    ('foo=="bar"', 'invalid operator "==": use =, !=, =~ or !~'),  # AM: op "=", value '="bar"'
    ('service == "billing"', 'invalid operator "==": use =, !=, =~ or !~'),
    ('foo==="bar"', "unescaped double quote"),  # not a valid value after "=="
    ('foo=="bar', "unescaped double quote"),  # nor this one
    ('foo=~"invalid[regexp"', "invalid regex"),  # AM
    ('foo=~"(unclosed"', "invalid regex"),
    ('foo=~"a(?=b)"', "not supported by Alertmanager"),  # lookahead: RE2 has none
    ('foo=~"(a)\\\\1"', "not supported by Alertmanager"),  # backreference
    ('foo=~"a++"', "not supported by Alertmanager"),  # possessive quantifier
    ("", "bad matcher format"),
]

# matcher, labels, expected
MATCHES = [
    ('alertname=~"Checkout"', {"alertname": "CheckoutDown"}, False),  # anchored at the end
    ('alertname=~"Down"', {"alertname": "CheckoutDown"}, False),  # anchored at the start
    ('alertname=~"Checkout"', {"alertname": "Checkout"}, True),
    ('alertname=~"CheckoutDown|HighErrorRate"', {"alertname": "HighErrorRate"}, True),
    ('alertname=~"CheckoutDown|HighErrorRate"', {"alertname": "CheckoutDownX"}, False),
    ('alertname=~"CheckoutDown|HighErrorRate"', {"alertname": "XHighErrorRate"}, False),
    ('x=~"a|b"', {"x": "ab"}, False),  # "^(?:a|b)$", not "^a|b$"
    ('x=~"a|b"', {"x": "b"}, True),
    ('x!~"a|b"', {"x": "ab"}, True),
    ('x=~"a"', {"x": "a\n"}, False),  # no match before a final newline
    ('x=~".*"', {"x": "a\nb"}, False),  # "." does not match a newline (as RE2)
    ('x=~"(?i)checkout"', {"x": "CHECKOUT"}, True),  # leading flags apply to the whole value
    ('x=~"(?i)a|b"', {"x": "B"}, True),
    ('x="Checkout"', {"x": "checkout"}, False),  # case-sensitive
    ('x=""', {}, True),  # a missing label is ""
    ('x=""', {"x": ""}, True),
    ('x=""', {"x": "1"}, False),
    ('x!=""', {}, False),  # "label present"
    ('x!=""', {"x": "1"}, True),
    ('x="a"', {}, False),
    ('x!="a"', {}, True),
    ('x=~".*"', {}, True),
    ('x=~".+"', {}, False),
    ('x!~"a"', {}, True),
    ('x!~".*"', {"x": "anything"}, False),
    ('x=~"5.."', {"x": "503"}, True),
    ('x=~"5.."', {"x": "5031"}, False),
]

# input, expected (name, op, value) triples
LISTS = [
    ('{foo="bar"}', [("foo", EQ, "bar")]),  # AM
    ('{foo="bar", baz!="quux"}', [("foo", EQ, "bar"), ("baz", NE, "quux")]),  # AM
    ('{foo="bar,quux", job="job1"}', [("foo", EQ, "bar,quux"), ("job", EQ, "job1")]),  # AM
    ('{foo = "bar", dings != "bums", }', [("foo", EQ, "bar"), ("dings", NE, "bums")]),  # AM
    ("foo=bar,dings!=bums", [("foo", EQ, "bar"), ("dings", NE, "bums")]),  # AM
    (
        'contains_quote != "\\"" , contains_comma !~ "foo,bar" , ',  # AM
        [("contains_quote", NE, '"'), ("contains_comma", NRE, "foo,bar")],
    ),
    ('{quote="a \\"b, c\\" d"}', [("quote", EQ, 'a "b, c" d')]),
    ('{foo="bar"', [("foo", EQ, "bar")]),  # AM's classic parser drops a lone "{"
    ("{}", []),
    ("", []),
]

LIST_REJECTED = [
    ('a="b",,c="d"', "bad matcher format"),  # an empty item between commas
    ('{invalid-name = "valid label"}', "bad matcher format"),  # AM
    ('{foo=~"invalid[regexp"}', "invalid regex"),  # AM
    ('"{foo=\\"bar\\"}"', "bad matcher format"),  # AM
]


@pytest.mark.parametrize(("text", "name", "op", "value"), ACCEPTED)
def test_accepted(text: str, name: str, op: MatchOp, value: str) -> None:
    matcher = parse_matcher(text)
    assert (matcher.name, matcher.op, matcher.value) == (name, op, value)


@pytest.mark.parametrize(("text", "name", "op", "value"), ACCEPTED)
def test_str_parses_back_to_the_same_matcher(text: str, name: str, op: MatchOp, value: str) -> None:
    matcher = parse_matcher(text)
    assert parse_matcher(str(matcher)) == matcher


@pytest.mark.parametrize(("text", "reason"), REJECTED)
def test_rejected(text: str, reason: str) -> None:
    with pytest.raises(MatcherSyntaxError) as caught:
        parse_matcher(text)
    assert reason in caught.value.reason
    assert caught.value.text == text
    assert text in str(caught.value)


@pytest.mark.parametrize(("text", "labels", "expected"), MATCHES)
def test_matches(text: str, labels: dict[str, str], expected: bool) -> None:
    assert parse_matcher(text).matches(labels) is expected


@pytest.mark.parametrize(("text", "expected"), LISTS)
def test_lists(text: str, expected: list[tuple[str, MatchOp, str]]) -> None:
    assert [(m.name, m.op, m.value) for m in parse_matchers(text)] == expected


@pytest.mark.parametrize(("text", "reason"), LIST_REJECTED)
def test_lists_rejected(text: str, reason: str) -> None:
    with pytest.raises(MatcherSyntaxError, match=reason):
        parse_matchers(text)


def test_str_renders_like_alertmanager() -> None:
    assert str(parse_matcher('alertname =~ "A|B"')) == 'alertname=~"A|B"'
    assert str(parse_matcher('x="say \\"hi\\"\\n"')) == 'x="say \\"hi\\"\\n"'


def test_matcher_is_frozen_and_compares_by_value() -> None:
    matcher = Matcher("a", MatchOp.REGEX, "b|c")
    assert matcher == parse_matcher('a=~"b|c"')
    with pytest.raises(AttributeError):
        matcher.value = "d"  # type: ignore[misc]


def test_constructing_with_a_bad_regex_fails() -> None:
    with pytest.raises(MatcherSyntaxError, match="invalid regex"):
        Matcher("a", MatchOp.NOT_REGEX, "(")
