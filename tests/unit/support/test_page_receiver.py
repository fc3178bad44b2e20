"""PageReceiver against a real HTTP client (httpx)."""

from __future__ import annotations

import threading
import time

import httpx
import pytest

from tests.support.page_receiver import PageReceiver, Reply


@pytest.fixture
def receiver():
    with PageReceiver() as rx:
        yield rx


def test_records_a_post_and_answers_202_by_default(receiver: PageReceiver) -> None:
    response = httpx.post(
        receiver.url("/page"), json={"incident_id": "abc"}, headers={"Idempotency-Key": "k-1"}
    )

    assert response.status_code == 202
    assert response.json() == {"ok": True}
    [request] = receiver.requests("/page")
    assert request.method == "POST"
    assert request.path == "/page"
    assert request.json == {"incident_id": "abc"}
    assert request.body == b'{"incident_id":"abc"}'
    assert request.headers["idempotency-key"] == "k-1"
    assert request.headers["IDEMPOTENCY-KEY"] == "k-1"
    assert "content-type" in request.headers
    assert request.status == 202
    assert request.at <= time.monotonic()


def test_requests_filters_by_path_and_keeps_query_apart(receiver: PageReceiver) -> None:
    httpx.post(receiver.url("/page"), content=b"not json")
    httpx.get(receiver.url("/lead?x=1"))

    assert [r.path for r in receiver.requests()] == ["/page", "/lead"]
    assert receiver.requests("/page")[0].json is None
    assert receiver.requests("/lead")[0].query == "x=1"
    assert receiver.requests("/other") == []


def test_respond_sets_status_and_body_for_a_path(receiver: PageReceiver) -> None:
    receiver.respond("/health", status=200, body=b'{"status":"ok"}')
    receiver.respond("/page", status=400, body={"error": "bad"}, headers={"X-Why": "test"})

    health = httpx.get(receiver.url("/health"))
    page = httpx.post(receiver.url("/page"), json={})

    assert (health.status_code, health.json()) == (200, {"status": "ok"})
    assert (page.status_code, page.json(), page.headers["x-why"]) == (400, {"error": "bad"}, "test")
    assert httpx.post(receiver.url("/elsewhere")).status_code == 202


def test_status_sequence_then_back_to_steady_answer(receiver: PageReceiver) -> None:
    receiver.respond_sequence("/page", [503, 503, Reply(status=202, body=b"{}")])

    statuses = [httpx.post(receiver.url("/page"), json={"n": i}).status_code for i in range(4)]

    assert statuses == [503, 503, 202, 202]
    assert [r.status for r in receiver.requests("/page")] == [503, 503, 202, 202]
    assert [r.json["n"] for r in receiver.requests("/page")] == [0, 1, 2, 3]


def test_hang_delays_the_answer_and_a_short_client_timeout_fails(receiver: PageReceiver) -> None:
    receiver.hang("/page", 0.5)

    with pytest.raises(httpx.ReadTimeout):
        httpx.post(receiver.url("/page"), json={}, timeout=0.1)
    start = time.monotonic()
    response = httpx.post(receiver.url("/page"), json={}, timeout=5)

    assert response.status_code == 202
    assert time.monotonic() - start >= 0.45
    assert len(receiver.requests("/page")) == 2  # recorded even when the client gave up
    receiver.hang("/page", 0)
    assert httpx.post(receiver.url("/page"), json={}, timeout=0.4).status_code == 202


def test_close_refuses_connections_and_start_listens_again_on_the_same_port() -> None:
    rx = PageReceiver().start()
    url = rx.url("/page")
    assert httpx.post(url, json={}).status_code == 202

    rx.close()
    with pytest.raises(httpx.ConnectError):
        httpx.post(url, json={})

    rx.start()
    try:
        assert rx.url("/page") == url
        assert httpx.post(url, json={}).status_code == 202
        assert len(rx.requests()) == 2
    finally:
        rx.close()


def test_close_drops_a_hanging_request_promptly() -> None:
    rx = PageReceiver().start()
    rx.hang("/page", 30)
    errors: list[BaseException] = []

    def call() -> None:
        try:
            httpx.post(rx.url("/page"), json={}, timeout=10)
        except httpx.HTTPError as err:
            errors.append(err)

    thread = threading.Thread(target=call)
    thread.start()
    rx.wait_for_count(1, timeout=5)
    start = time.monotonic()
    rx.close()
    thread.join(timeout=5)

    assert time.monotonic() - start < 3
    assert not thread.is_alive()
    assert len(errors) == 1  # the connection was dropped unanswered


def test_kept_alive_connection_is_not_served_after_close() -> None:
    rx = PageReceiver().start()
    with httpx.Client() as client:
        assert client.post(rx.url("/page"), json={}).status_code == 202
        rx.close()
        with pytest.raises(httpx.TransportError):
            client.post(rx.url("/page"), json={})
    assert len(rx.requests()) == 1  # the second request was dropped, not recorded


def test_wait_for_count_returns_when_enough_arrived(receiver: PageReceiver) -> None:
    def post_later() -> None:
        time.sleep(0.2)
        httpx.post(receiver.url("/page"), json={"late": True})

    threading.Thread(target=post_later).start()

    got = receiver.wait_for_count(1, path="/page", timeout=5)

    assert got[0].json == {"late": True}


def test_wait_for_count_fails_at_the_deadline_saying_what_came(receiver: PageReceiver) -> None:
    httpx.post(receiver.url("/other"), json={})
    start = time.monotonic()

    with pytest.raises(AssertionError, match=r"expected 1 request\(s\) to /page.*'/other'"):
        receiver.wait_for_count(1, path="/page", timeout=0.3)
    assert 0.3 <= time.monotonic() - start < 2


async def test_usable_from_async_tests(receiver: PageReceiver) -> None:
    async with httpx.AsyncClient() as client:
        response = await client.post(receiver.url("/page"), json={"a": 1})

    got = await receiver.await_count(1, path="/page", timeout=2)

    assert response.status_code == 202
    assert got[0].json == {"a": 1}
    with pytest.raises(AssertionError):
        await receiver.await_count(2, path="/page", timeout=0.1)


def test_reset_forgets_requests_and_behaviour(receiver: PageReceiver) -> None:
    receiver.respond("/page", status=500)
    httpx.post(receiver.url("/page"))

    receiver.reset()

    assert receiver.requests() == []
    assert httpx.post(receiver.url("/page")).status_code == 202
