"""What the submit queue and the reconciler need from an upstream API, whichever it is.

An :class:`UpstreamClient` sends a blend and reads the answer into a :class:`SubmitOutcome`
(``sent``: the upstream took it; ``hold``: its queue is full, try later; ``refused``: it said no,
with its message), and polls jobs (:class:`Polled`: the raw snapshot, or None when the upstream
does not know the task). The upstream base URLs are operator configuration, trusted, so these
clients (httpx; low volume) do not go through the egress guard. Transport failures become
:class:`~hookline.errors.UpstreamError` ``from`` the httpx error; ``retryable`` is True only when
the request cannot have reached the upstream (connecting failed), so sending again is safe.
Tokens are sent as headers and never logged.
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
            raise UpstreamError(f"{self.name} did not answer in time ({type(exc).__name__})") from exc
        except httpx.HTTPError as exc:
            raise UpstreamError(f"{self.name} request failed: {type(exc).__name__}: {exc}") from exc
        return Answer(response.status_code, response.headers.get("content-type"), response.content)

    async def close(self) -> None:
        await self._client.aclose()


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
