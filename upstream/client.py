"""What the submit queue and the reconciler need from an upstream API, whichever it is.

An :class:`UpstreamClient` sends a blend and reads the answer into a :class:`SubmitOutcome`
(``sent``: the upstream took it; ``hold``: temporary trouble or a full queue, try later; ``refused``:
it said no, with its message), and polls jobs (:class:`Polled`: the raw snapshot, or None when the
upstream does not know the task — see :func:`says_unknown`). The upstream base URLs are operator
configuration, trusted, so these clients (httpx; low volume) do not go through the egress guard.
Transport failures become :class:`~hookline.errors.UpstreamError` ``from`` the httpx error;
``retryable`` is True for every transport failure (connecting, a timeout, a dropped connection):
that is temporary trouble, and sending again is how the submit queue gets through it (at least
once: a blend that did reach the upstream before the failure may be sent twice). Tokens are sent
as headers and never logged.
"""

from __future__ import annotations

import functools
import ssl
from dataclasses import dataclass
from typing import Any, Protocol

import httpx
import orjson

from hookline.errors import UpstreamError
from hookline.models import Job, Snapshot

EXCERPT = 300
# Answers that mean "not now" rather than "no": a request timeout, "too early", rate limits (new-api
# code 30 "group saturated" is a 429) and server errors (a reverse proxy's 502/504 included).
TEMPORARY_STATUSES = frozenset({408, 425, 429, *range(500, 600)})
# Poll answers that mean "this upstream does not know the task (now)": trueai's 204 for a null task,
# 404/410 (useapi v3 answers 410 once a job has expired).
UNKNOWN_STATUSES = frozenset({204, 404, 410})


@dataclass(slots=True)
class Answer:
    """An upstream's HTTP answer, as received."""

    status: int
    content_type: str | None
    body: bytes

    def json(self) -> Any:
        """The body as JSON, or None when it is not JSON."""
        try:
            return orjson.loads(self.body) if self.body else None
        except orjson.JSONDecodeError:
            return None

    def excerpt(self) -> str:
        text = self.body[:EXCERPT].decode("utf-8", "replace").strip()
        return text or "(empty body)"


@dataclass(slots=True)
class SubmitOutcome:
    kind: str  # sent | hold | refused
    answer: Answer
    snapshot: Snapshot | None = None  # sent/refused: what to apply to the job
    reason: str | None = None  # hold/refused: why, for people


@dataclass(slots=True)
class Polled:
    job_id: str
    body: bytes | None  # None: the upstream does not know this task
    content_type: str | None = None
    error: str | None = None  # the poll itself failed


class UpstreamClient(Protocol):
    provider: str
    poll_batch: int  # how many jobs one ``poll`` call handles well

    async def submit(self, job_id: str, request: dict[str, Any], callback_url: str) -> SubmitOutcome:
        """Send the blend ``request`` (as kept in the submit queue) for ``job_id``."""
        ...

    async def poll(self, jobs: list[Job]) -> list[Polled]:
        """Fetch these jobs' current snapshots (jobs without an upstream id are skipped)."""
        ...

    async def close(self) -> None: ...


@functools.cache
def _tls() -> ssl.SSLContext:
    """One TLS context for every upstream client: each new one loads the CA bundle (~50 ms)."""
    return httpx.create_ssl_context()


class Transport:
    """One httpx client for one upstream, translating its errors."""

    def __init__(self, name: str, base_url: str, headers: dict[str, str], timeout: float) -> None:
        self.name = name
        self._client = httpx.AsyncClient(
            base_url=base_url, headers=headers, timeout=timeout, follow_redirects=False, verify=_tls()
        )

    async def request(self, method: str, path: str, **kwargs: Any) -> Answer:
        try:
            response = await self._client.request(method, path, **kwargs)
        except (httpx.ConnectError, httpx.ConnectTimeout) as exc:
            raise UpstreamError(f"cannot reach {self.name}: {type(exc).__name__}", retryable=True) from exc
        except httpx.TimeoutException as exc:
            raise UpstreamError(f"{self.name} did not answer in time ({type(exc).__name__})", retryable=True) from exc
        except httpx.TransportError as exc:
            raise UpstreamError(f"{self.name} connection failed: {type(exc).__name__}", retryable=True) from exc
        except httpx.HTTPError as exc:
            raise UpstreamError(f"{self.name} request failed: {type(exc).__name__}: {exc}") from exc
        return Answer(response.status_code, response.headers.get("content-type"), response.content)

    async def close(self) -> None:
        await self._client.aclose()


def temporary(answer: Answer) -> bool:
    """True when the answer is temporary trouble (see :data:`TEMPORARY_STATUSES`)."""
    return answer.status in TEMPORARY_STATUSES


def says_unknown(answer: Answer) -> bool:
    """True when a poll answer says the upstream does not know the task: 204, 404, 410, a 200 with
    an empty or ``null`` body (midjourney-proxy's ``fetch`` of an unknown id), or new-api's 400
    ``task_no_found``. The job keeps waiting; this is no error."""
    body = answer.body.strip()
    if answer.status in UNKNOWN_STATUSES:
        return True
    if answer.status == 200 and body in (b"", b"null"):
        return True
    return answer.status == 400 and b"task_no_found" in body


def failed(job_id: str, message: str, raw: Any, *, status: str = "failed", upstream_id: str | None = None) -> Snapshot:
    """The snapshot of a job the upstream refused (correlated by the job id)."""
    return Snapshot(
        upstream_id=upstream_id,
        correlation_key=job_id,
        status=status,
        progress=None,
        error=message,
        action="blend",
        raw=raw,
    )


def raw_of(answer: Answer) -> Any:
    """The answer as the job's ``upstream`` snapshot: its JSON, or its status and an excerpt."""
    doc = answer.json()
    return doc if isinstance(doc, dict | list) else {"http_status": answer.status, "body": answer.excerpt()}
