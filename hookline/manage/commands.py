"""The management commands: each takes a :class:`~hookline.client.Client` and the parsed
arguments, prints its result, and returns the exit status."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import Any

from hookline.client import Client, ClientError
from hookline.manage.output import cell, emit, progress, table
from hookline.manage.subsettings import filter_extras, settings_body

SUB_COLUMNS = (
    ("id", "id"),
    ("url", "url"),
    ("enabled", "enabled"),
    ("paused", "paused"),
    ("health", "health"),
    ("last success", "last_success_at"),
    ("description", "description"),
)


def _health(sub: dict[str, Any]) -> str:
    if not sub["enabled"]:
        return f"disabled: {sub.get('disabled_reason') or 'by an operator'}"
    if sub.get("failing_since"):
        return f"failing since {cell(sub['failing_since'])}"
    return "healthy"


def subscriptions_add(client: Client, args: argparse.Namespace) -> int:
    body: dict[str, Any] = {"url": args.target}
    if args.event_type:
        body["event_types"] = args.event_type
    if args.description:
        body["description"] = args.description
    if args.secret:
        body["secret"] = args.secret
    flt = {
        k: v
        for k, v in (
            ("provider", args.provider),
            ("correlation_key", args.key),
            ("correlation_key_prefix", args.key_prefix),
        )
        if v
    }
    flt.update(filter_extras(args))
    if flt:
        body["filter"] = flt
    body.update(settings_body(args))
    sub = client.post("/v1/subscriptions", body)
    emit(
        args,
        sub,
        f"created {sub['id']} -> {sub['url']}\nsigning secret: {sub['secret']}\n"
        "(give it to the subscriber: it verifies the webhook-signature header with it)",
    )
    return 0


def subscriptions_list(client: Client, args: argparse.Namespace) -> int:
    subs = list(client.pages("/v1/subscriptions", limit=args.limit))
    for sub in subs:
        sub["health"] = _health(sub)
    emit(args, subs, table(subs, SUB_COLUMNS, empty="no subscriptions (add one: hookline subscriptions add URL)"))
    return 0


def delete_each(client: Client, args: argparse.Namespace, path: str, done: str) -> int:
    """DELETE ``path/<id>`` for every id in ``args.ids``; say ``done <id>`` for each (or, with
    ``--json``, ``{done: [ids]}`` once)."""
    for item_id in args.ids:
        client.delete(f"{path}/{item_id}")
        if not args.json:
            print(f"{done} {item_id}")
    if args.json:
        emit(args, {done: args.ids}, "")
    return 0


def subscriptions_rm(client: Client, args: argparse.Namespace) -> int:
    return delete_each(client, args, "/v1/subscriptions", "deleted")


def subscriptions_toggle(enabled: bool) -> Callable[[Client, argparse.Namespace], int]:
    def run(client: Client, args: argparse.Namespace) -> int:
        sub = client.patch(f"/v1/subscriptions/{args.id}", {"enabled": enabled})
        emit(args, sub, f"{sub['id']} is {'enabled' if enabled else 'disabled'}")
        return 0

    return run


def subscriptions_pause(paused: bool) -> Callable[[Client, argparse.Namespace], int]:
    def run(client: Client, args: argparse.Namespace) -> int:
        sub = client.patch(f"/v1/subscriptions/{args.id}", {"paused": paused})
        held = "paused: its deliveries are queued, not sent" if paused else "resumed: its queued deliveries go out"
        emit(args, sub, f"{sub['id']} is {held}")
        return 0

    return run


JOB_COLUMNS = (
    ("id", "id"),
    ("status", "status"),
    ("progress", "progress"),
    ("provider", "provider"),
    ("correlation key", "correlation_key"),
    ("updated", "updated_at"),
)


def jobs_ls(client: Client, args: argparse.Namespace) -> int:
    jobs = list(
        client.pages("/v1/jobs", limit=args.limit, status=args.status, provider=args.provider, correlation_key=args.key)
    )
    emit(args, jobs, table(jobs, JOB_COLUMNS, empty="no jobs"))
    return 0


DELIVERY_COLUMNS = (
    ("id", "id"),
    ("status", "status"),
    ("event", "event"),
    ("attempts", "attempts"),
    ("subscription", "subscription_id"),
    ("job", "job_id"),
    ("last result", "last"),
)


def _delivery_rows(deliveries: list[dict[str, Any]]) -> list[dict[str, Any]]:
    for d in deliveries:
        d["event"] = f"{d['event_type']} #{d['sequence']}"
        d["last"] = " ".join(str(p) for p in (d.get("last_status_code"), d.get("last_error")) if p) or None
    return deliveries


def jobs_show(client: Client, args: argparse.Namespace) -> int:
    job = client.get(f"/v1/jobs/{args.id}")
    facts = [
        (name, job.get(key))
        for name, key in (
            ("job", "id"),
            ("status", "status"),
            ("progress", "progress"),
            ("provider", "provider"),
            ("upstream id", "upstream_id"),
            ("correlation key", "correlation_key"),
            ("error", "error"),
            ("created", "created_at"),
            ("updated", "updated_at"),
        )
    ]
    lines = [f"{name + ':':<17}{cell(value)}" for name, value in facts]
    lines += [f"{'image:':<17}{url}" for url in job.get("image_urls") or []]
    callbacks = [{**c, "size": len(c["body"])} for c in job["callbacks"]]
    lines += [
        "",
        "callbacks (newest first):",
        table(
            callbacks,
            (
                ("received", "received_at"),
                ("source", "source"),
                ("outcome", "outcome"),
                ("bytes", "size"),
                ("error", "error"),
            ),
            empty="  none",
        ),
    ]
    lines += [
        "",
        "events:",
        table(
            job["events"],
            (("sequence", "sequence"), ("type", "type"), ("created", "created_at"), ("id", "id")),
            empty="  none",
        ),
    ]
    lines += ["", "deliveries:", table(_delivery_rows(job["deliveries"]), DELIVERY_COLUMNS, empty="  none")]
    emit(args, job, "\n".join(lines))
    return 0


def jobs_rm(client: Client, args: argparse.Namespace) -> int:
    """Erase jobs: by id, or every job with a correlation key (``--key``) or key prefix (``--key-prefix``)."""
    if sum(bool(x) for x in (args.ids, args.key, args.key_prefix)) != 1:
        raise ClientError("name the jobs to erase: job ids, or --key K, or --key-prefix P (one of them)")
    total: dict[str, int] = {}
    if args.ids:
        for number, job_id in enumerate(args.ids, start=1):
            answer = client.delete(f"/v1/jobs/{job_id}")
            for kind, n in answer["deleted"].items():
                total[kind] = total.get(kind, 0) + n
            if len(args.ids) > 1:
                progress(f"erased {number} of {len(args.ids)} jobs")
    else:
        params = {"correlation_key": args.key, "correlation_key_prefix": args.key_prefix}
        total = client.request("DELETE", "/v1/jobs", params=params)["deleted"]
    summary = "erased " + ", ".join(f"{n} {kind.replace('_', ' ')}" for kind, n in total.items())
    emit(args, {"deleted": total}, summary)
    return 0


def deliveries_ls(client: Client, args: argparse.Namespace) -> int:
    rows = list(
        client.pages(
            "/v1/deliveries", limit=args.limit, status=args.status, subscription_id=args.subscription, job_id=args.job
        )
    )
    emit(args, rows, table(_delivery_rows(rows), DELIVERY_COLUMNS, empty="no deliveries"))
    return 0


def deliveries_retry(client: Client, args: argparse.Namespace) -> int:
    if bool(args.ids) == bool(args.all_dead):
        raise ClientError("name the deliveries to retry, or pass --all-dead (not both)")
    if args.subscription and not args.all_dead:
        raise ClientError("--subscription goes with --all-dead")
    if args.all_dead:
        # One request: the server queues every dead delivery (POST /v1/deliveries/retry).
        body = {"status": "dead", **({"subscription_id": args.subscription} if args.subscription else {})}
        queued = client.post("/v1/deliveries/retry", body)["queued"]
        emit(args, {"queued": queued}, f"retried {queued} deliver{'y' if queued == 1 else 'ies'}")
        return 0
    retried: list[str] = []
    failed: dict[str, str] = {}
    for delivery_id in args.ids:
        try:
            client.post(f"/v1/deliveries/{delivery_id}/retry")
            retried.append(delivery_id)
        except ClientError as exc:
            if exc.status is None or exc.status == 401:
                raise
            failed[delivery_id] = exc.message
    summary = f"retried {len(retried)} deliver{'y' if len(retried) == 1 else 'ies'}"
    if failed:
        summary += f"; {len(failed)} refused:\n" + "\n".join(f"  {i}: {m}" for i, m in failed.items())
    emit(args, {"retried": retried, "refused": failed}, summary)
    return 1 if failed else 0


def replay(client: Client, args: argparse.Namespace) -> int:
    body = {"since": args.since, **({"until": args.until} if args.until else {})}
    answer = client.post(f"/v1/subscriptions/{args.subscription}/replay", body)
    emit(args, answer, f"queued {answer['replayed']} deliveries to {args.subscription} (events since {args.since})")
    return 0
