"""The ``hookline`` command.

Every setting is an environment variable ``HOOKLINE_<NAME>``; a command-line flag ``--name`` sets
the same variable for this run, so both go through one validation (``Config.from_env``) and a
bad value is reported with every other bad value at once (exit status 2).
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import sys
from collections.abc import Callable, Coroutine, Mapping
from typing import Any

from hookline import __version__
from hookline.config import PREFIX, Config
from hookline.errors import ConfigError, HooklineError
from hookline.models import PROVIDERS

log = logging.getLogger(__name__)

# flag name → (HOOKLINE_ variable, help)
SERVER_FLAGS: dict[str, tuple[str, str]] = {
    "host": ("HOST", "address to listen on (default 127.0.0.1; 0.0.0.0 for every interface)"),
    "port": ("PORT", "port to listen on (default 8080)"),
    "database-url": ("DATABASE_URL", "sqlite:///path.db (default ./hookline-data/hookline.db) or postgresql://..."),
    "data-dir": ("DATA_DIR", "where the SQLite database and the image archive live (default ./hookline-data)"),
    "public-url": ("PUBLIC_URL", "base URL the upstream APIs can reach; callback URLs are built from it"),
    "role": (
        "ROLE",
        "all (default), receiver (callbacks, API, dashboard) or dispatcher (delivery); "
        "receiver/dispatcher need PostgreSQL",
    ),
    "log-format": ("LOG_FORMAT", "json, text, or auto (text on a terminal, JSON otherwise)"),
    "log-level": ("LOG_LEVEL", "debug, info (default), warning or error"),
    "max-body-bytes": ("MAX_BODY_BYTES", "largest callback body accepted (default 1048576)"),
    "retry-schedule": (
        "RETRY_SCHEDULE",
        "seconds between delivery attempts, comma-separated (default 5,300,1800,7200,18000,36000,36000)",
    ),
    "egress-proxy": (
        "EGRESS_PROXY",
        "http://host:port of an HTTP proxy for every request to subscribers and image hosts (CONNECT for https)",
    ),
    "allowed-networks": (
        "ALLOWED_NETWORKS",
        "comma-separated CIDRs of private networks subscribers and image hosts may be in, e.g. 10.1.0.0/16",
    ),
    "max-header-bytes": ("MAX_HEADER_BYTES", "largest request line + headers accepted; larger get 431 (default 32768)"),
    "header-timeout": (
        "HEADER_TIMEOUT",
        "seconds a connection has to send a request's headers, idle or trickling ones are closed (default 10)",
    ),
    "idempotency-lock": (
        "IDEMPOTENCY_LOCK",
        "seconds a request holds its Idempotency-Key between renewals; a crashed one frees it after this (default 30)",
    ),
}
# Upstreams on their bad days (issue 16).
SERVER_FLAGS.update(
    {
        "submit-give-up": (
            "SUBMIT_GIVE_UP",
            "seconds to keep resubmitting a blend through temporary upstream trouble (default 1800)",
        ),
        "useapi-max-jobs": (
            "USEAPI_MAX_JOBS",
            "useapi jobs hookline runs at once per channel; when set, also sent as maxJobs (default 3, not sent)",
        ),
    }
)
# Retention (issue 14).
SERVER_FLAGS.update(
    {
        "retention": ("RETENTION", "seconds to keep callbacks, events, deliveries and finished jobs (default 2592000)"),
        "prune-interval": ("PRUNE_INTERVAL", "seconds between retention runs (default 3600)"),
    }
)
FLAG_SWITCHES: dict[str, tuple[str, str]] = {
    "allow-private-targets": (
        "ALLOW_PRIVATE_TARGETS",
        "let subscriptions and image downloads reach private, loopback and link-local addresses (off by default)",
    ),
    "https-only": ("HTTPS_ONLY", "subscription and callback_url URLs must be https:// (off by default)"),
}

EPILOG = """\
Every flag has an environment variable: --port 9000 is HOOKLINE_PORT=9000. More settings
(HOOKLINE_ADMIN_TOKEN, HOOKLINE_CALLBACK_TOKEN, HOOKLINE_DELIVERY_TIMEOUT, HOOKLINE_MJPROXY_URL,
HOOKLINE_USEAPI_TOKEN, ...) are listed in the README. Unset tokens are generated once, stored in
the database, and printed by 'hookline serve' and 'hookline info'.
"""


def add_server_flags(parser: argparse.ArgumentParser) -> None:
    for flag, (_, help_text) in SERVER_FLAGS.items():
        parser.add_argument(
            f"--{flag}", dest=flag.replace("-", "_"), metavar=flag.split("-")[-1].upper(), help=help_text
        )
    for flag, (_, help_text) in FLAG_SWITCHES.items():
        parser.add_argument(f"--{flag}", dest=flag.replace("-", "_"), action="store_true", default=None, help=help_text)


def load_config(args: argparse.Namespace, environ: Mapping[str, str] | None = None) -> Config:
    """The configuration from the environment with this run's flags applied on top."""
    env = dict(os.environ if environ is None else environ)
    for flag, (name, _) in {**SERVER_FLAGS, **FLAG_SWITCHES}.items():
        value = getattr(args, flag.replace("-", "_"), None)
        if value is not None:
            env[PREFIX + name] = "true" if value is True else str(value)
    return Config.from_env(env)


def run_async(main: Callable[[], Coroutine[Any, Any, int]]) -> int:
    try:
        import uvloop
    except ImportError:  # pragma: no cover - uvloop is a dependency off Windows
        return asyncio.run(main())
    return uvloop.run(main())


# --- serve ----------------------------------------------------------------------------------------
def cmd_serve(args: argparse.Namespace) -> int:
    config = load_config(args)
    from hookline import logs

    logs.configure(config.log_format, config.log_level)
    return run_async(lambda: _serve(config, access_log=not args.no_access_log))


async def _serve(config: Config, *, access_log: bool) -> int:
    import uvicorn

    from hookline.api.protocol import guarded_protocol
    from hookline.app import build_app
    from hookline.binding import BindError, bind_socket
    from hookline.store import open_store
    from hookline.tokens import banner

    # Bind before anything else: a taken port is one clear line, not a banner and then a traceback.
    try:
        sock = bind_socket(config.host, config.port)
    except BindError as exc:
        print(f"hookline: {exc}", file=sys.stderr)
        return 2
    store = open_store(config)
    try:
        await store.open(migrate=True)
    except HooklineError as exc:
        sock.close()
        print(f"hookline: {exc}", file=sys.stderr)
        return 1

    def ready(rt: Any, tokens: Any) -> None:
        text = dispatcher_banner(config) if config.role == "dispatcher" else banner(config, tokens, __version__)
        print(text, flush=True)
        # For the logs too (uvicorn does not log the address of a socket it was handed).
        log.info("listening on %s:%d (role %s)", config.host, config.port, config.role)

    app = build_app(config, store=store, store_is_open=True, on_ready=ready, access_log=access_log)
    server = uvicorn.Server(
        uvicorn.Config(
            app,
            host=config.host,
            port=config.port,
            loop="none",
            http=guarded_protocol(config.max_header_bytes, config.header_timeout),  # httptools, with limits
            lifespan="on",
            log_config=None,
            access_log=False,
            server_header=False,
            timeout_graceful_shutdown=15,
        )
    )
    await server.serve(sockets=[sock])
    return 0 if server.started else 1


def dispatcher_banner(config: Config) -> str:
    """What a dispatcher prints at start-up: it serves no callbacks, API or dashboard, so it does
    not send anyone there (``hookline info`` still prints the tokens and callback URLs)."""
    host = f"[{config.host}]" if ":" in config.host else config.host
    return "\n".join(
        [
            f"hookline {__version__} — http://{host}:{config.port} "
            f"(role dispatcher, database {config.safe_database_url})",
            "  delivers events; serves only /healthz, /readyz and /metrics here",
            "  callbacks, the management API and the dashboard are served by the receivers (--role receiver)",
        ]
    )


# --- info -----------------------------------------------------------------------------------------
def cmd_info(args: argparse.Namespace) -> int:
    config = load_config(args)
    return run_async(lambda: _info(config, args))


async def _info(config: Config, args: argparse.Namespace) -> int:
    from hookline.store import open_store
    from hookline.tokens import banner, resolve

    store = open_store(config, exclusive=False)
    try:
        await store.open(migrate=True)
        tokens = await resolve(config, store)
    except HooklineError as exc:
        print(f"hookline: {exc}", file=sys.stderr)
        return 1
    finally:
        await store.close()
    if args.admin_token:
        print(tokens.admin)
    elif args.callback_url:
        print(f"{config.public_url}/callbacks/{args.callback_url}/{tokens.callback}")
    else:
        print(banner(config, tokens, __version__))
    return 0


# --- migrate --------------------------------------------------------------------------------------
def cmd_migrate(args: argparse.Namespace) -> int:
    config = load_config(args)
    return run_async(lambda: _migrate(config))


async def _migrate(config: Config) -> int:
    from hookline.store import open_store

    store = open_store(config)
    try:
        await store.open(migrate=False)
        before, after = await store.migrate()
    except HooklineError as exc:
        print(f"hookline: {exc}", file=sys.stderr)
        return 1
    finally:
        await store.close()
    if before == after:
        print(f"{config.safe_database_url}: already at schema version {after}")
    else:
        print(f"{config.safe_database_url}: migrated from schema version {before} to {after}")
    return 0


# --- prune (issue 14) -----------------------------------------------------------------------------
def cmd_prune(args: argparse.Namespace) -> int:
    config = load_config(args)
    return run_async(lambda: _prune(config, dry_run=args.dry_run))


async def _prune(config: Config, *, dry_run: bool) -> int:
    """Run retention once, beside a running server if there is one (SQLite opened as ``info`` does)."""
    import time

    from hookline.manage.output import progress
    from hookline.retention import prune_once
    from hookline.store import open_store

    store = open_store(config, exclusive=False)
    try:
        await store.open(migrate=True)
        outcome = await prune_once(
            store,
            config.archive_dir,
            time.time(),
            config.retention,
            dry_run=dry_run,
            progress=lambda kind, n: progress(f"{'counting' if dry_run else 'pruning'} {kind}: {n}"),
        )
    except HooklineError as exc:
        print(f"hookline: {exc}", file=sys.stderr)
        return 1
    finally:
        await store.close()
    verb = "would delete" if dry_run else "deleted"
    print(f"{verb} (older than {config.retention:g} s):")
    for kind, n in outcome.counts.items():
        print(f"  {kind:<17}{n}")
    return 0


# --- entry point ----------------------------------------------------------------------------------
Command = Callable[[argparse.Namespace], int]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="hookline",
        description="Receive the callbacks of midjourney-proxy and useapi.net blend jobs, and deliver them "
        "to your apps as signed, retried, ordered webhooks.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"hookline {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")

    serve = commands.add_parser(
        "serve",
        help="run hookline (receiver and dispatcher) until stopped",
        description="Serve the callback routes, the management API and the dashboard, "
        "and deliver events. Ctrl-C stops it gracefully.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_server_flags(serve)
    serve.add_argument("--no-access-log", action="store_true", help="do not log one line per HTTP request")
    serve.set_defaults(func=cmd_serve)

    info = commands.add_parser(
        "info",
        help="print the tokens and the callback URLs to give the upstream APIs",
        description="Print the admin token and the callback URLs (generating and "
        "storing the tokens if this is the first run).",
    )
    add_server_flags(info)
    only = info.add_mutually_exclusive_group()
    only.add_argument(
        "--admin-token",
        action="store_true",
        help="print only the admin token (export HOOKLINE_ADMIN_TOKEN=$(hookline info --admin-token))",
    )
    only.add_argument(
        "--callback-url", choices=PROVIDERS, help="print only this provider's callback URL, token included"
    )
    info.set_defaults(func=cmd_info)

    migrate = commands.add_parser(
        "migrate",
        help="bring the database schema up to date",
        description="Apply pending schema migrations (serve also does this at start).",
    )
    add_server_flags(migrate)
    migrate.set_defaults(func=cmd_migrate)

    prune = commands.add_parser(
        "prune",
        help="delete what is older than HOOKLINE_RETENTION now (works while hookline runs)",
        description="Run retention once: delete terminal jobs, callbacks, events, deliveries and archived "
        "images older than HOOKLINE_RETENTION (--retention), in small batches, and print what was deleted by kind.",
    )
    add_server_flags(prune)
    prune.add_argument("--dry-run", action="store_true", help="count what would be deleted; delete nothing")
    prune.set_defaults(func=cmd_prune)

    for register in _extensions():
        register(commands)
    return parser


def _extensions() -> list[Callable[[Any], None]]:
    """Further commands (simulator, demo, API clients) register themselves here."""
    from hookline import manage
    from simulator.cli import register as simulate
    from simulator.demo import register as demo

    return [manage.register, simulate, demo]


EXIT_BROKEN_PIPE = 141  # what a shell reports for a program stopped by SIGPIPE (128 + 13)


def main(argv: list[str] | None = None) -> int:
    try:
        parser = build_parser()
        args = parser.parse_args(argv)
        if not getattr(args, "func", None):
            parser.print_help()
            return 2
        status = int(args.func(args))
        # Flush here, inside the handler: a reader that went away (| head) must not surface as
        # "Exception ignored ... BrokenPipeError" when the interpreter flushes at exit.
        sys.stdout.flush()
        return status
    except ConfigError as exc:
        print(f"hookline: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        return _reader_gone()


def _reader_gone() -> int:
    """Whoever read our output stopped (``hookline jobs ls --json | head``): stop quietly, as a
    program stopped by SIGPIPE would. What is still buffered goes to /dev/null, so the flush at
    interpreter exit cannot raise again."""
    try:
        stdout = sys.stdout.fileno()
    except (OSError, ValueError):  # not a real file (stdout replaced in-process): nothing to flush later
        return EXIT_BROKEN_PIPE
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, stdout)
    os.close(devnull)
    return EXIT_BROKEN_PIPE
