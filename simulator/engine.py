"""The simulated upstreams' state: tasks, their lifecycles, the callbacks they send, and the knobs
that make them as unreliable as the real ones.

A task's lifecycle is a list of steps run one ``step_delay`` apart. Each step changes what the
upstream answers when asked (fetch, GET job) and then *notifies*: the new snapshot is POSTed to the
task's hook, unless the knobs drop it; a duplicated callback is sent twice; a reordered one is held
back one to three steps, so it arrives after later ones. Nothing is retried (neither upstream
retries). Per-task randomness comes from ``Random(f"{seed}:{provider}:{number}")``, so with a seed
the n-th task of a provider always gets the same fate, whatever the timing.

The bad-day knobs (issue 16, PROVIDERS.md §6) make the upstreams behave as the real services do when
things go wrong: a FAILURE as the first and only callback, a late FAILURE after a SUCCESS, cancels
and moderation as FAILURE texts, polls that say nothing (new-api's ``status: ""``; 204/404/400 for
an unknown task), a reverse proxy's 502 and new-api's "busy" answers on submit, and the body shapes
of the trueai fork and of new-api. ``SimTask.truth`` is what really became of a task, whatever the
callbacks said: the demo checks hookline against it.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import logging
import math
import os
import random
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import orjson
from starlette.requests import Request

from simulator import png

log = logging.getLogger(__name__)

CHANNEL = "1118138338562560102"
SERVER = "1118138338000000000"
DISCORD_EPOCH_MS = 1420070400000
# Result sizes in pixels (2:3, 1:1, 3:2, as Midjourney's --ar for blend); small, so tests stay fast.
SIZES = {"portrait": (64, 96), "square": (96, 96), "landscape": (96, 64)}


@dataclass
class Knobs:
    """How the simulated upstreams behave. Fractions are probabilities from 0 to 1; every knob can
    be changed while the simulator runs (tests do)."""

    seed: int | None = None
    step_delay: float = 0.5  # seconds between lifecycle steps (and so between callbacks)
    answer_delay: float = 0.0  # seconds before each API answer
    drop: float = 0.0  # callbacks never sent
    duplicate: float = 0.0  # callbacks sent twice
    reorder: float = 0.0  # callbacks held back 1-3 steps, so they arrive after later ones
    fail: float = 0.0  # jobs that end in failure part-way through
    moderate: float = 0.0  # jobs moderated: mjproxy a FAILURE with a moderation text, useapi a 422
    queue_full: int = 0  # the next N submissions are answered "queue full" (mjproxy 23, useapi 429)
    mjproxy_slots: int = 3  # mjproxy tasks running at once per account (coreSize)
    mjproxy_queue: int = 10  # mjproxy tasks waiting for a slot (queueSize); beyond: code 23
    useapi_slots: int | None = None  # useapi ceiling on running jobs; None: the request's maxJobs
    useapi_require_account: bool = False  # 412 without discord/server/channel (v1 behaviour)
    mjproxy_secret: str | None = None  # required mj-api-secret header, if set
    useapi_token: str | None = None  # required Authorization: Bearer token, if set
    callbacks: bool = True  # False: never call back (an aggregator that strips notifyHook)
    link_ttl: float = 86400.0  # result links expire (ex=) this many seconds after they are made
    cdn_failures: int = 0  # the next N image downloads answer 503, as a CDN sometimes does
    # Bad days (issue 16): fractions like the ones above unless said otherwise.
    first_failure: float = 0.0  # mjproxy tasks whose first and only callback is FAILURE ([Internal Server Error])
    late_failure: float = 0.0  # mjproxy tasks that send a FAILURE 任务超时 one step after a delivered SUCCESS
    cancel: float = 0.0  # mjproxy tasks cancelled part-way (trueai: FAILURE 取消任务)
    blank_polls: float = 0.0  # poll answers that say nothing: mjproxy ``status: ""``, useapi 404
    mjproxy_unknown: str = "empty"  # fetch of an unknown mjproxy task: empty (200) | 204 | 404 | 400 (new-api)
    submit_trouble: float = 0.0  # submissions answered 502 by a reverse proxy (no task is made)
    busy: float = 0.0  # mjproxy submissions answered as new-api's busy: 429 code 30 or 400 do_request_failed
    mjproxy_flavour: str = "novicezk"  # task bodies: novicezk | trueai | newapi | mixed (one per task)


@dataclass
class SimRequest:
    """One request the simulator received."""

    method: str
    path: str
    query: str
    headers: dict[str, str]
    body: bytes
    at: float

    def json(self) -> Any:
        return orjson.loads(self.body)


@dataclass
class SentCallback:
    """One callback the simulator sent (or dropped: ``dropped`` and no status)."""

    provider: str
    task_id: str
    url: str
    body: bytes
    dropped: bool = False
    status: int | None = None
    error: str | None = None


@dataclass
class SimTask:
    """A task (mjproxy) or job (useapi). ``doc`` is what the upstream answers about it now."""

    provider: str
    id: str
    number: int
    doc: dict[str, Any]
    hook: str | None
    rng: random.Random
    dimensions: str
    base_url: str
    fail_at: int | None = None  # the step at which it fails, if it does
    truth: str | None = None  # how it really ended: succeeded | failed | moderated | cancelled
    content_type: str = "application/json"  # of its callbacks
    # What the upstream shows of the task (callbacks and polls); None: ``doc`` as it is.
    render: Callable[[SimTask, dict[str, Any], str], dict[str, Any]] | None = None
    running: bool = False
    finished: bool = False
    extra: dict[str, Any] = field(default_factory=dict)


Step = Callable[[SimTask], None]


class Simulator:
    """Both simulated upstreams. ``app()`` serves them; the attributes record what happened."""

    def __init__(self, knobs: Knobs | None = None) -> None:
        self.knobs = knobs or Knobs()
        self.requests: list[SimRequest] = []
        self.callbacks: list[SentCallback] = []
        self.tasks: dict[tuple[str, str], SimTask] = {}
        self.running: dict[str, int] = {"mjproxy": 0, "useapi": 0}
        self.max_running: dict[str, int] = {"mjproxy": 0, "useapi": 0}
        self.waiting: list[SimTask] = []  # mjproxy tasks waiting for a slot (NOT_START)
        self._numbers: dict[str, int] = {"mjproxy": 0, "useapi": 0}
        self._rng = random.Random(self.knobs.seed)
        self._last_ms = 0
        self._snowflakes = 0
        self._link_key = os.urandom(16)
        self._links: dict[str, tuple[int, int, str]] = {}  # path → (width, height, seed)
        self._images: dict[str, bytes] = {}
        self._session: aiohttp.ClientSession | None = None
        self._background: set[asyncio.Task[None]] = set()
        self._stopping = False

    def app(self) -> Any:
        """The ASGI app serving both APIs, the result images and sample input images."""
        from simulator.app import build_app

        return build_app(self)

    # lifecycle of the simulator itself -------------------------------------------------------
    async def start(self) -> None:
        self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=15))

    async def stop(self) -> None:
        self._stopping = True  # a cancelled task's clean-up must not start new ones
        while self._background:
            for task in list(self._background):
                task.cancel()
            await asyncio.gather(*self._background, return_exceptions=True)
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def record(self, request: Request) -> bytes:
        """Read the request's body and keep the request in ``requests``."""
        body = await request.body()
        self.requests.append(
            SimRequest(request.method, request.url.path, request.url.query, dict(request.headers), body, time.time())
        )
        return body

    # queries for tests -----------------------------------------------------------------------
    def idle(self) -> bool:
        """True when no lifecycle step and no callback is in flight."""
        return not self._background

    def api_requests(self) -> list[SimRequest]:
        """The requests made to the upstream APIs (not the image downloads)."""
        return [r for r in self.requests if r.path.startswith(("/mj/", "/v1/"))]

    def submissions(self, provider: str | None = None) -> list[SimRequest]:
        """The blend submissions received (of one provider, or of both)."""
        paths = {"mjproxy": "/mj/submit/blend", "useapi": "/v1/jobs/blend"}
        wanted = set(paths.values()) if provider is None else {paths[provider]}
        return [r for r in self.requests if r.method == "POST" and r.path in wanted]

    # ids, links, images ----------------------------------------------------------------------
    def millis(self) -> int:
        """The current time in ms, strictly increasing (ids made from it never collide)."""
        self._last_ms = max(int(time.time() * 1000), self._last_ms + 1)
        return self._last_ms

    def snowflake(self) -> str:
        self._snowflakes += 1
        return str(((int(time.time() * 1000) - DISCORD_EPOCH_MS) << 22) | (self._snowflakes & 0x3FFFFF))

    def random3(self) -> int:
        return self._rng.randrange(1000)

    def chance(self, fraction: float) -> bool:
        """A draw from the simulator's own (seeded) randomness, for answers not tied to one task."""
        return fraction > 0 and self._rng.random() < fraction

    def shown(self, task: SimTask, purpose: str) -> dict[str, Any]:
        """What the upstream shows of ``task`` now, for a ``callback`` or a ``poll``."""
        return self.rendered(task, task.doc, purpose)

    @staticmethod
    def rendered(task: SimTask, doc: dict[str, Any], purpose: str) -> dict[str, Any]:
        return task.render(task, doc, purpose) if task.render is not None else doc

    def new_task(self, provider: str, doc_id: str, hook: str | None, dimensions: str, base_url: str) -> SimTask:
        number = self._numbers[provider] = self._numbers[provider] + 1
        seed = self.knobs.seed
        rng = random.Random(f"{seed}:{provider}:{number}") if seed is not None else random.Random()
        task = SimTask(provider, doc_id, number, {}, hook, rng, dimensions, base_url.rstrip("/"))
        self.tasks[(provider, doc_id)] = task
        return task

    def link(self, task: SimTask, message_id: str, filename: str, *, preview: bool = False) -> str:
        """A Discord-CDN-shaped link to an image this simulator serves: ``…?ex=&is=&hm=&``."""
        width, height = SIZES.get(task.dimensions, SIZES["square"])
        if preview:
            width, height = width // 2, height // 2
        path = f"/attachments/{CHANNEL}/{message_id}/{filename}"
        self._links[path] = (width, height, f"{task.provider}:{task.id}:{filename}")
        now = time.time()
        issued, expires = int(now), math.ceil(now + self.knobs.link_ttl)  # valid for at least link_ttl
        query = f"ex={expires:08x}&is={issued:08x}"
        return f"{task.base_url}{path}?{query}&hm={self._sign(path, query)}&"

    def image(self, path: str, query: dict[str, str]) -> bytes | None:
        """The bytes behind a link, or None when the link is unknown, tampered with or expired."""
        found = self._links.get(path)
        if found is None:
            return None
        ex, issued, given = query.get("ex", ""), query.get("is", ""), query.get("hm", "")
        if not hmac.compare_digest(self._sign(path, f"ex={ex}&is={issued}"), given):
            return None
        try:
            if int(ex, 16) < time.time():
                return None
        except ValueError:
            return None
        return self.image_bytes(path)

    def image_bytes(self, path: str) -> bytes:
        if path not in self._images:
            width, height, seed = self._links[path]
            self._images[path] = png.render(width, height, seed, comment=png.RESULT_COMMENT)
        return self._images[path]

    def _sign(self, path: str, query: str) -> str:
        return hmac.new(self._link_key, f"{path}?{query}".encode(), hashlib.sha256).hexdigest()

    # running tasks ---------------------------------------------------------------------------
    def spawn(self, coro: Any) -> None:
        if self._stopping:
            coro.close()
            return
        task: asyncio.Task[None] = asyncio.create_task(coro)
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    def begin(self, task: SimTask) -> None:
        """Count ``task`` as running (for ``max_running``)."""
        task.running = True
        self.running[task.provider] += 1
        self.max_running[task.provider] = max(self.max_running[task.provider], self.running[task.provider])

    def run(self, task: SimTask, steps: list[Step], on_finish: Callable[[SimTask], None] | None = None) -> None:
        """Run ``steps`` one ``step_delay`` apart, notifying after each; then finish the task."""
        self.spawn(self._run(task, steps, on_finish))

    async def _run(self, task: SimTask, steps: list[Step], on_finish: Callable[[SimTask], None] | None) -> None:
        try:
            for step in steps:
                await asyncio.sleep(self.knobs.step_delay)
                step(task)
                self.notify(task)
                if task.finished:
                    break
        finally:
            if task.running:
                task.running = False
                self.running[task.provider] -= 1
            task.finished = True
            if on_finish is not None:
                on_finish(task)

    def notify(self, task: SimTask) -> None:
        """Send the task's current snapshot to its hook, as unreliably as the knobs say."""
        late = task.extra.pop("late_callbacks", [])  # sent one step after this one, if this one is
        if not task.hook or not self.knobs.callbacks:
            return
        body = orjson.dumps(self.shown(task, "callback"))
        rng, knobs = task.rng, self.knobs
        if rng.random() < knobs.drop:
            self.callbacks.append(SentCallback(task.provider, task.id, task.hook, body, dropped=True))
            return
        copies = 2 if rng.random() < knobs.duplicate else 1
        # Held back past 1-3 later steps (the extra half step avoids a tie with the next callback).
        delay = knobs.step_delay * (rng.randint(1, 3) + 0.5) if rng.random() < knobs.reorder else 0.0
        for copy in range(copies):
            self.spawn(self._send(task, task.hook, body, delay, late if copy == 0 else []))

    async def _send(self, task: SimTask, url: str, body: bytes, delay: float, late: list[bytes]) -> None:
        if delay:
            await asyncio.sleep(delay)
        await self._post(task, url, body)
        for then in late:
            await asyncio.sleep(self.knobs.step_delay)
            await self._post(task, url, then)

    async def _post(self, task: SimTask, url: str, body: bytes) -> None:
        record = SentCallback(task.provider, task.id, url, body)
        self.callbacks.append(record)
        if self._session is None:
            record.error = "the simulator is not running"
            return
        try:
            async with self._session.post(url, data=body, headers={"Content-Type": task.content_type}) as answer:
                record.status = answer.status
                await answer.read()
        except (aiohttp.ClientError, TimeoutError) as exc:
            # Like midjourney-proxy: log and forget (no retry).
            record.error = f"{type(exc).__name__}: {exc}"
            log.info("callback for %s %s failed: %s", task.provider, task.id, record.error)

    @staticmethod
    def prompt(task: SimTask, images: int, ar: str) -> str:
        """The prompt Midjourney writes for a blend: one ``<https://s.mj.run/…>`` link per image."""
        links = " ".join(
            f"<https://s.mj.run/{uuid.UUID(int=task.rng.getrandbits(128)).hex[:11]}>" for _ in range(images)
        )
        return f"{links} --ar {ar} --v 6.1"

    def should(self, task: SimTask, fraction: float) -> bool:
        return fraction > 0 and task.rng.random() < fraction
