"""How the midjourney-proxy forks dress the same task (PROVIDERS.md §1.8 and §6).

* ``novicezk``: the open-source ``Task`` as Jackson writes it (``simulator.mjproxy`` keeps its tasks
  in this shape).
* ``trueai``: camelCase ``TaskInfo`` with more fields; ``imageUrls`` a list of ``{url, thumbnail}``
  next to the grid ``imageUrl``; ``buttons`` as objects; callbacks sent as
  ``application/json; charset=utf-8``, the terminal one twice.
* ``newapi``: what a new-api aggregator answers on ``fetch``: image links forwarded through itself
  (``{server}/mj/image/{id}?rand=…``, a new ``rand`` on every answer until SUCCESS), and a FAILURE
  with ``progress: "100%"``.
"""

from __future__ import annotations

import random
from typing import Any

from simulator.engine import SimTask

FLAVOURS = ("novicezk", "trueai", "newapi")
TRUEAI_CONTENT_TYPE = "application/json; charset=utf-8"
_BUTTONS = [
    ("MJ::JOB::upsample::{n}::{h}", "", "U{n}"),
    ("MJ::JOB::variation::{n}::{h}", "", "V{n}"),
]


def choose(flavour: str, rng: random.Random) -> str:
    """The flavour of one task: the knob's, or one at random for ``mixed``."""
    return rng.choice(FLAVOURS) if flavour == "mixed" else flavour


def dress(task: SimTask, flavour: str) -> None:
    """Make ``task`` show itself as ``flavour`` does."""
    task.extra["flavour"] = flavour
    if flavour == "trueai":
        task.render = _trueai
        task.content_type = TRUEAI_CONTENT_TYPE
    elif flavour == "newapi":
        task.render = _newapi


def terminal_twice(task: SimTask) -> bool:
    """trueai sends its terminal callback twice (``NotifyService.cs``)."""
    return task.extra.get("flavour") == "trueai"


def _trueai(task: SimTask, doc: dict[str, Any], purpose: str) -> dict[str, Any]:
    shown = {
        **doc,
        "mode": "FAST",
        "botType": doc["properties"].get("botType") or "MID_JOURNEY",
        "instanceId": doc["properties"].get("discordInstanceId"),
        "subInstanceId": None,
        "seed": None,
        "isReplicate": False,
        "imageUrls": [],
        "buttons": [],
    }
    if doc["status"] == "SUCCESS" and doc.get("imageUrl"):
        url = doc["imageUrl"]
        shown["imageUrls"] = [{"url": url, "thumbnail": url}]
        digest = doc["properties"].get("messageHash") or "0"
        shown["buttons"] = [
            {
                "customId": custom.format(n=n, h=digest),
                "emoji": emoji,
                "label": label.format(n=n),
                "type": 2,
                "style": 2,
            }
            for custom, emoji, label in _BUTTONS
            for n in range(1, 5)
        ]
    return shown


def _newapi(task: SimTask, doc: dict[str, Any], purpose: str) -> dict[str, Any]:
    shown = dict(doc)
    if doc.get("imageUrl"):
        if doc["status"] == "SUCCESS":
            rand = task.extra.setdefault("rand", task.rng.getrandbits(40))
        else:
            rand = random.getrandbits(40)  # a new one on every answer, as new-api does
        shown["imageUrl"] = f"{task.base_url}/mj/image/{task.id}?rand={rand}"
    if doc["status"] == "FAILURE":
        shown["progress"] = "100%"
    return shown
