"""The repeat cache: bounded, expiring, keyed on the exact bytes and the source."""

from __future__ import annotations

from receiver.repeats import RepeatCache, Seen

SEEN = Seen(alerts=3, incidents=(("abc", 1),))


def test_digest_is_per_source_and_per_byte() -> None:
    assert RepeatCache.digest("alertmanager", b"{}") != RepeatCache.digest("generic", b"{}")
    assert RepeatCache.digest("alertmanager", b"{}") != RepeatCache.digest("alertmanager", b"{ }")


def test_entries_expire_and_the_oldest_go_first() -> None:
    cache = RepeatCache(max_entries=2, ttl_s=10)
    cache.put(b"a", SEEN, now=0)
    assert cache.get(b"a", now=9) == SEEN
    assert cache.get(b"a", now=11) is None  # expired, and dropped
    cache.put(b"a", SEEN, now=20)
    cache.put(b"b", SEEN, now=21)
    cache.get(b"a", now=22)  # a is now the most recent
    cache.put(b"c", SEEN, now=23)
    assert cache.get(b"b", now=24) is None and cache.get(b"a", now=24) == SEEN
