"""The event feed (``GET /v1/events``) and the catalogue (``GET /v1/event-types``) on both backends:
oldest first, a cursor that follows the stream without skipping or repeating an event, the body
as delivered with its webhook-id, filters, clear 400s, and schemas every real event validates
against."""

from __future__ import annotations

import json
from typing import Any

import jsonschema
import pytest

from hookline.events import build_event
from hookline.models import EVENT_TYPES, Job
from tests.conftest import Hookline, fresh_pg_database
from tests.support import MJPROXY_FAILURE, MJPROXY_LIFECYCLE, Subscriber, event_violations, fixture_json, wait_for


def mjproxy(name: str, task_id: str = "1722931207538412", state: str = "order-7f3a9c") -> bytes:
    """A midjourney-proxy fixture for another task (so one test can run several jobs)."""
    doc = fixture_json(name)
    doc["id"], doc["state"] = task_id, state
    return json.dumps(doc).encode()


async def feed(h: Hookline, **params: Any) -> dict[str, Any]:
    response = await h.admin.get("/v1/events", params=params)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def follow(h: Hookline, after: str | None = None, **params: Any) -> tuple[list[dict[str, Any]], str | None]:
    """Every event after ``after``, page by page, as a follower reads them; and the last cursor."""
    items: list[dict[str, Any]] = []
    while True:
        page = await feed(h, **params, **({"after": after} if after else {}))
        items += page["items"]
        if not page["items"]:
            return items, page["next_cursor"]
        after = page["next_cursor"]


async def test_event_types_describe_every_type_with_a_2020_12_schema(hookline: Hookline) -> None:
    response = await hookline.admin.get("/v1/event-types")
    assert response.status_code == 200
    items = response.json()["items"]
    assert [t["name"] for t in items] == list(EVENT_TYPES)
    for item in items:
        assert item["description"]
        assert item["schema"]["$schema"] == "https://json-schema.org/draft/2020-12/schema"
        jsonschema.Draft202012Validator.check_schema(item["schema"])


async def test_event_types_need_the_admin_token(hookline: Hookline) -> None:
    for path in ("/v1/event-types", "/v1/events"):
        assert (await hookline.anon.get(path)).status_code == 401


async def test_the_feed_lists_every_event_oldest_first(hookline: Hookline) -> None:
    for name in MJPROXY_LIFECYCLE:
        assert (await hookline.post_callback("mjproxy", mjproxy(name))).status_code == 200
    items, _ = await follow(hookline)
    sequences = [e["data"]["sequence"] for e in items]
    assert len(items) >= 5 and sequences == list(range(1, len(items) + 1))
    assert items[0]["type"] == "job.submitted" and items[-1]["type"] == "job.succeeded"


async def test_feed_items_are_the_delivered_body_plus_the_webhook_id(
    hookline: Hookline, subscriber: tuple[Subscriber, str]
) -> None:
    sink, url = subscriber
    assert (await hookline.admin.post("/v1/subscriptions", json={"url": f"{url}/hook"})).status_code == 201
    for name in MJPROXY_LIFECYCLE[:4]:
        await hookline.post_callback("mjproxy", mjproxy(name))
    items, _ = await follow(hookline)
    await wait_for(lambda: len(sink.received) == len(items), what="every event delivered")
    delivered = {r.headers["webhook-id"]: r.json() for r in sink.received}
    assert len(items) >= 2 and {item.pop("id"): item for item in items} == delivered


async def test_after_the_last_cursor_only_later_events_come(hookline: Hookline) -> None:
    for name in MJPROXY_LIFECYCLE[:4]:
        await hookline.post_callback("mjproxy", mjproxy(name))
    first, cursor = await follow(hookline)
    assert cursor is not None
    empty = await feed(hookline, after=cursor)
    assert empty == {"items": [], "next_cursor": cursor}  # nothing new: the same cursor to poll with
    for name in MJPROXY_LIFECYCLE[4:]:
        await hookline.post_callback("mjproxy", mjproxy(name))
    later, _ = await follow(hookline, cursor)
    assert first and later
    assert [e["data"]["sequence"] for e in first + later] == list(range(1, len(first) + len(later) + 1))


async def test_small_pages_neither_skip_nor_repeat_events(hookline: Hookline) -> None:
    for job in range(2):
        for name in MJPROXY_LIFECYCLE:
            await hookline.post_callback("mjproxy", mjproxy(name, task_id=f"17229312075384{job:02d}", state=f"o-{job}"))
    everything = (await feed(hookline, limit=500))["items"]
    paged, _ = await follow(hookline, limit=5)
    assert len(everything) > 10 and len(everything) % 5 != 0  # several pages, the last one short
    assert [e["id"] for e in paged] == [e["id"] for e in everything]


async def test_an_empty_feed_has_no_cursor(hookline: Hookline) -> None:
    assert await feed(hookline) == {"items": [], "next_cursor": None}


async def test_type_and_job_id_filters(hookline: Hookline) -> None:
    for name in MJPROXY_FAILURE:
        await hookline.post_callback("mjproxy", mjproxy(name))
    for name in MJPROXY_LIFECYCLE[:2]:
        await hookline.post_callback("mjproxy", mjproxy(name, task_id="1722931207538999", state="other"))
    failed = (await feed(hookline, type="job.failed"))["items"]
    assert [e["type"] for e in failed] == ["job.failed"]
    job_id = failed[0]["data"]["job_id"]
    of_job, _ = await follow(hookline, job_id=job_id, limit=2)
    assert {e["data"]["job_id"] for e in of_job} == {job_id}
    assert [e["data"]["sequence"] for e in of_job] == list(range(1, failed[0]["data"]["sequence"] + 1))
    assert len((await follow(hookline))[0]) > len(of_job)  # the other job's events are left out
    assert (await feed(hookline, job_id="job_unknown")) == {"items": [], "next_cursor": None}


async def test_a_filtered_cursor_follows_the_whole_stream(hookline: Hookline) -> None:
    """A cursor from a filtered page marks a place in the stream: reading on from it unfiltered
    gives the events after that place, whatever their type."""
    for name in MJPROXY_LIFECYCLE[:5]:
        await hookline.post_callback("mjproxy", mjproxy(name))
    submitted = await feed(hookline, type="job.submitted")
    rest, _ = await follow(hookline, submitted["next_cursor"])
    assert len(rest) >= 2 and [e["data"]["sequence"] for e in rest] == list(range(2, len(rest) + 2))
    assert {e["type"] for e in rest} == {"job.progress"}


@pytest.mark.parametrize(
    ("params", "fragment"),
    [
        ({"after": "nonsense"}, "after must be the next_cursor"),
        ({"after": "12_msg_é"}, "after must be the next_cursor"),
        ({"after": "99999999999999999999999_msg_01"}, "after must be the next_cursor"),
        ({"after": "-1_msg_01"}, "after must be the next_cursor"),
        ({"after": "12_msg_01\n"}, "after must be the next_cursor"),
        ({"limit": "0"}, "limit must be a whole number from 1 to 500"),
        ({"limit": "501"}, "limit must be a whole number from 1 to 500"),
        ({"type": "job.exploded"}, "type must be one of job.submitted"),
        ({"job_id": "a\x00b"}, "job_id must not contain NUL"),
    ],
)
async def test_bad_feed_parameters_are_400(hookline: Hookline, params: dict[str, str], fragment: str) -> None:
    response = await hookline.admin.get("/v1/events", params=params)
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "invalid_query" and fragment in error["message"]


async def test_a_cursor_whose_event_is_unknown_still_answers(hookline: Hookline) -> None:
    """A well-formed cursor that names no event (one pruned, say) reads on from its position."""
    await hookline.post_callback("mjproxy", mjproxy(MJPROXY_LIFECYCLE[0]))
    assert (await feed(hookline, after="0_msg_gone"))["items"][0]["type"] == "job.submitted"


async def test_every_event_in_the_feed_validates_against_its_type(hookline: Hookline) -> None:
    for name in MJPROXY_FAILURE:
        await hookline.post_callback("mjproxy", mjproxy(name))
    for name in MJPROXY_LIFECYCLE:
        await hookline.post_callback("mjproxy", mjproxy(name, task_id="1722931207538777", state="ok"))
    schemas = {t["name"]: t["schema"] for t in (await hookline.admin.get("/v1/event-types")).json()["items"]}
    items, _ = await follow(hookline)
    assert {e["type"] for e in items} == {"job.submitted", "job.progress", "job.failed", "job.succeeded"}
    for item in items:
        jsonschema.validate({k: v for k, v in item.items() if k != "id"}, schemas[item["type"]])


@pytest.mark.postgres
async def test_an_event_that_commits_late_is_not_skipped_on_postgres(hookline_factory: Any, pg_url: str) -> None:
    """On PostgreSQL another process's transaction can commit its event after events with larger
    ids were read. The feed holds back what came after a transaction still in flight, so a
    follower reading on from its cursor gets the late event too."""
    import asyncpg

    h: Hookline = await hookline_factory(pg_url)
    await h.post_callback("mjproxy", mjproxy(MJPROXY_LIFECYCLE[0]))
    read, cursor = await follow(h)
    slow = await asyncpg.connect(pg_url)
    try:
        transaction = slow.transaction()
        await transaction.start()
        await slow.fetchval("SELECT pg_current_xact_id()")  # it began before the events below
        for name in MJPROXY_LIFECYCLE[1:5]:
            await h.post_callback("mjproxy", mjproxy(name))
        held_back = await feed(h, after=cursor)
        assert held_back == {"items": [], "next_cursor": cursor}
        # The slow writer's event: a copy of the first one under a new id, committed last.
        late_id = "msg_00000000000000000000LATE"
        await slow.execute(
            "INSERT INTO events (id, job_id, type, sequence, created_at, head, callback_id) "
            "SELECT $1, job_id, type, 1000, created_at, head, callback_id FROM events WHERE id = $2",
            late_id,
            read[0]["id"],
        )
        await transaction.commit()
    finally:
        await slow.close()

    async def caught_up() -> list[dict[str, Any]]:
        items, _ = await follow(h, cursor)
        return items if len(items) >= 2 else []

    later = await wait_for(caught_up, what="the events after the slow transaction")
    ids = [e["id"] for e in later]
    assert late_id in ids and read[0]["id"] not in ids and len(ids) == len(set(ids))
    assert ids[0] == late_id  # its transaction is the oldest: it comes first


async def test_openapi_lists_every_event_type_as_a_webhook(hookline: Hookline) -> None:
    doc = (await hookline.anon.get("/openapi.json")).json()
    assert list(doc["webhooks"]) == list(EVENT_TYPES)
    schemas = {t["name"]: t["schema"] for t in (await hookline.admin.get("/v1/event-types")).json()["items"]}
    for name, item in doc["webhooks"].items():
        body = item["post"]["requestBody"]["content"]["application/json"]["schema"]
        component = doc["components"]["schemas"][body["$ref"].rsplit("/", 1)[1]]
        assert component == {k: v for k, v in schemas[name].items() if k != "$schema"}
        assert {p["name"] for p in item["post"]["parameters"]} == {
            "webhook-id",
            "webhook-timestamp",
            "webhook-signature",
        }
    assert {"/v1/events", "/v1/event-types"} <= set(doc["paths"])


def _event_body(**data: Any) -> bytes:
    job = Job.new("job_01TEST", "mjproxy", 1_790_000_000.0, origin="registered", correlation_key="k")
    job.status, job.progress, job.sequence = "in_progress", 15, 2
    event = build_event(job, "job.progress", 1_790_000_001.0, upstream=b'{"id": "1"}', callback_id=None)
    doc = json.loads(event.payload)
    doc["data"].update(data)
    return json.dumps(doc).encode()


def test_the_subscriber_check_passes_a_real_event() -> None:
    assert event_violations(_event_body()) == []


@pytest.mark.parametrize(
    ("data", "fragment"),
    [
        ({"status": "succeeded"}, "'succeeded' is not one of ['in_progress']"),
        ({"progress": None}, "None is not of type 'integer'"),
        ({"sequence": 0}, "0 is less than the minimum of 1"),
        ({"surprise": True}, "Additional properties are not allowed ('surprise' was unexpected)"),
    ],
)
def test_the_subscriber_check_names_what_breaks_the_schema(data: dict[str, Any], fragment: str) -> None:
    """Every event a test Subscriber receives goes through this check (tests/support.py); an
    undocumented field is refused there even though the published schema lets consumers ignore it."""
    (problem,) = event_violations(_event_body(**data))
    assert problem.startswith("job.progress at /data") and fragment in problem


@pytest.mark.postgres
async def test_a_transaction_in_another_database_does_not_hold_the_feed_back(
    hookline_factory: Any, pg_url: str
) -> None:
    """Transactions in flight are the whole server's; only this database's can commit events."""
    import asyncpg

    h: Hookline = await hookline_factory(pg_url)
    async with fresh_pg_database() as other_url:
        other = await asyncpg.connect(other_url)
        try:
            async with other.transaction():
                await other.fetchval("SELECT pg_current_xact_id()")  # older than the events below
                for name in MJPROXY_LIFECYCLE[:3]:
                    await h.post_callback("mjproxy", mjproxy(name))
                items, _ = await follow(h)
                assert len(items) >= 2 and items[0]["type"] == "job.submitted"
        finally:
            await other.close()
