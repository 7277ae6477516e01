"""The `gourmetgram` command: parse flags, build Settings once, call one function, exit meaningfully."""

from __future__ import annotations

import logging
import sys
import time
from pathlib import Path

import click

from gourmetgram.settings import Settings, SettingsError

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_STARTUP = 0, 1, 2, 3


def _settings(**overrides) -> Settings:
    try:
        return Settings.from_env(**overrides)
    except SettingsError as exc:
        raise click.UsageError(str(exc)) from None


def _logging(verbose: bool = False) -> None:
    logging.basicConfig(level=logging.DEBUG if verbose else logging.INFO,
                        format="%(asctime)s %(levelname)-7s %(name)s: %(message)s")
    logging.getLogger("urllib3").setLevel(logging.WARNING)


@click.group()
def main() -> None:
    """GourmetGram: every photo production sees, labelled, in MinIO."""


@main.command()
@click.option("--data", type=click.Path(path_type=Path), default=Path(".gourmetgram"), show_default=True,
              help="State folder: MinIO's data, the webhook queue, logs.")
@click.option("--no-queue-dir", is_flag=True, help="Deliver webhooks without MinIO's persistent queue.")
@click.option("--minio-port", type=int, help="MinIO API port (MINIO_API_PORT, 9000).")
@click.option("--console-port", type=int, help="MinIO console port (MINIO_CONSOLE_PORT, 9001).")
@click.option("--function-port", type=int, help="Function port (FUNCTION_PORT, 8080).")
@click.option("--web-port", type=int, help="Frontend port (WEB_PORT, 5000).")
def up(data: Path, no_queue_dir: bool, minio_port, console_port, function_port, web_port) -> None:
    """Run MinIO, the function and the frontend here until Ctrl-C, restarting a part that exits."""
    from gourmetgram.cli import up as foreground
    from gourmetgram.cli.local import LocalStack, StartupError, on_loopback
    from gourmetgram.cli.supervise import CrashLoop

    _logging()
    s = _settings(minio_port=minio_port, console_port=console_port, function_port=function_port,
                  web_port=web_port)
    try:
        foreground.run(LocalStack(on_loopback(s), data, queue_dir=not no_queue_dir), echo=click.echo)
    except StartupError as exc:
        click.echo(f"start-up failed: {exc}", err=True)
        raise SystemExit(EXIT_STARTUP) from None
    except CrashLoop as exc:
        click.echo(f"gourmetgram up stopped: {exc}", err=True)
        raise SystemExit(EXIT_FAILED) from None


@main.command()
@click.option("--dry-run", is_flag=True, help="Print the plan (and its mc commands) without applying it.")
def configure(dry_run: bool) -> None:
    """Apply buckets and the webhook subscription to an existing MinIO (idempotent)."""
    from minio_config.apply import ConfigureError
    from minio_config.apply import configure as apply

    try:
        apply(_settings(), echo=click.echo, dry_run=dry_run)
    except ConfigureError as exc:
        click.echo(str(exc), err=True)
        raise SystemExit(EXIT_FAILED) from None


@main.command("serve-fn")
@click.option("--port", type=int, help="FUNCTION_PORT (8080).")
def serve_fn(port) -> None:
    """Run the classifier function (uvicorn)."""
    import uvicorn

    from classifier_fn.app import create_app

    _logging()
    s = _settings(function_port=port)
    uvicorn.run(create_app(s), host=s.host, port=s.function_port, log_level="warning",
                timeout_graceful_shutdown=30)


@main.command("serve-web")
@click.option("--port", type=int, help="WEB_PORT (5000).")
def serve_web(port) -> None:
    """Run the frontend (waitress: many threads for long-polls, deliberate connection limits)."""
    from ingest import create_app
    from ingest.server import serve

    _logging()
    s = _settings(web_port=port)
    serve(create_app(s), s)


@main.command()
@click.option("--dry-run", is_flag=True, help="Only count what would be processed.")
def reconcile(dry_run: bool) -> None:
    """Process what `incoming` still holds, here and now (safe beside a running function)."""
    from gourmetgram.cli.reconcile import run

    _logging()
    report = run(_settings(), dry_run=dry_run, echo=click.echo)
    raise SystemExit(EXIT_FAILED if report.errors else EXIT_OK)


@main.command()
@click.option("--failed/--no-failed", default=True, help="Also retry failed items now.")
def requeue(failed: bool) -> None:
    """Move quarantined objects back to incoming, and let failed ones be retried at once."""
    from gourmetgram.cli.requeue import requeue as run
    from gourmetgram.store import Store

    s = _settings()
    done = run(Store.connect(s), s, include_failed=failed, echo=click.echo)
    click.echo(f"requeued {done.moved} quarantined and {done.retried} failed item(s); {done.kept} kept as they were")


_AGE_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def _seconds(text: str) -> int | None:
    """An age such as 90s, 15m, 2h, 3d in seconds; None for anything else."""
    text = text.strip()
    return int(text[:-1]) * _AGE_UNITS[text[-1]] if text[:-1].isdecimal() and text[-1:] in _AGE_UNITS else None


def _age(ctx, param, value: str) -> int:
    seconds = _seconds(value)
    if not seconds:
        raise click.BadParameter(f"{value!r} is not an age such as 90s, 15m, 2h, 3d")
    return seconds


def _moment(ctx, param, value: str | None) -> float | None:
    """A time with its zone (2026-11-26T10:00:00Z), or an age counted back from now."""
    if value is None:
        return None
    from gourmetgram import names

    seconds = _seconds(value)
    if seconds is not None:
        return time.time() - seconds
    try:
        return names.parse_iso(value.strip())
    except ValueError:
        raise click.BadParameter(f"{value!r} is neither a time with its zone (2026-11-26T10:00:00Z) nor an age "
                                 "(90s, 15m, 2h, 3d)") from None


@main.command()
@click.option("--follow", "-f", is_flag=True, help="Keep printing outcomes as they are written or rewritten.")
@click.option("--limit", type=click.IntRange(min=1), help="Show the newest N (default 20; with --since: all).")
@click.option("--since", callback=_moment, metavar="TIME",
              help="Show every outcome of a photo from TIME on: 2026-11-26T10:00:00Z, or an age: 15m, 2h, 3d.")
@click.option("--window", callback=_age, default="1h", show_default=True, metavar="AGE",
              help="With --follow: watch the outcomes of photos this recent for changes.")
def events(follow: bool, limit: int | None, since: float | None, window: int) -> None:
    """Show the event log (outcome records) by the photos' time, newest last."""
    from gourmetgram import eventlog
    from gourmetgram.store import Store, StoreError

    s = _settings()
    store = Store.connect(s)
    try:
        if follow:
            docs = eventlog.follow(store, s.bucket_events, limit=limit or 20, since=since, window_s=window)
        elif since is not None:
            log = eventlog.EventLog(store, s.bucket_events)
            entries = log.entries_since(since)
            docs = log.documents(entries[-limit:] if limit else entries)
        else:
            docs = reversed(eventlog.recent(store, s.bucket_events, limit or 20))
        for doc in docs:
            click.echo(eventlog.format_row(doc))
    except StoreError as exc:
        click.echo(f"cannot read the event log: {exc}", err=True)
        raise SystemExit(EXIT_FAILED) from None
    except KeyboardInterrupt:
        pass


@main.command()
@click.option("--photos", default=200, show_default=True, help="Photos in the burst.")
@click.option("--singles", default=20, show_default=True, help="Single uploads per latency measurement.")
@click.option("--json", "as_json", is_flag=True, help="Print the figures as JSON.")
def bench(photos: int, singles: int, as_json: bool) -> None:
    """Measure throughput and latency against the model's ceiling (starts its own MinIO)."""
    import json

    from gourmetgram.cli import bench as benchmark

    logging.basicConfig(level=logging.WARNING)
    result = benchmark.run(_settings(), photos=photos, singles=singles)
    click.echo(json.dumps(result, indent=1) if as_json else benchmark.table(result))


@main.command("bench-events")
@click.option("--records", default="20000,200000", show_default=True,
              help="Sizes of the log to measure at, comma-separated (one MinIO, filled up to each in turn).")
@click.option("--old", default=0, show_default=True, help="Old-format (uuid4) records written first.")
@click.option("--samples", default=20, show_default=True, help="Page refreshes measured at each size.")
@click.option("--clients", default=60, show_default=True, help="Clients requesting the log at once (0: none).")
@click.option("--json", "as_json", is_flag=True, help="Print the figures as JSON.")
def bench_events(records: str, old: int, samples: int, clients: int, as_json: bool) -> None:
    """Measure /api/events on a large event log (starts its own MinIO and frontend)."""
    import json

    from gourmetgram.cli import bench as benchmark

    try:
        sizes = tuple(int(size) for size in records.split(","))
    except ValueError:
        raise click.BadParameter(f"{records!r} is not a list of record counts such as 20000,200000",
                                 param_hint="--records") from None
    logging.basicConfig(level=logging.WARNING)
    result = benchmark.event_log(_settings(), sizes=sizes, old=old, samples=samples, clients=clients)
    click.echo(json.dumps(result, indent=1) if as_json else benchmark.event_log_table(result))


if __name__ == "__main__":
    sys.exit(main())
