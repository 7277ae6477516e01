"""The `gourmetgram` command: parse flags, build Settings once, call one function, exit meaningfully."""

from __future__ import annotations

import logging
import os
import sys
import time
from pathlib import Path
from typing import TypeVar

import click

from gourmetgram.settings import FrontendSettings, FunctionSettings, Settings, SettingsError, SharedSettings
from gourmetgram_tools import logrepeats

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_STARTUP = 0, 1, 2, 3
_DATA = "gourmetgram.data"  # ctx.meta: the --data an operator's command was given
_STATE = "gourmetgram.state"  # ctx.meta: the OperatorState its settings were read from
_Part = TypeVar("_Part", bound=SharedSettings)


def _own_settings(kind: type[_Part] = Settings, fixed: tuple[str, ...] = (), **overrides) -> _Part:  # type: ignore[assignment]
    """The settings of a process `up` starts (`kind`: its part's own), or of `up` itself: the environment only,
    never a state file (a part must hold only the secrets it is given); `fixed`: see Settings.fixed_changes."""
    try:
        return kind.from_env(**overrides, **kind.parse_fixed(fixed))
    except SettingsError as exc:
        raise click.UsageError(str(exc)) from None


def _settings(**overrides) -> Settings:
    """The settings of an operator's command: the environment over the state `up` left in --data (or
    GOURMETGRAM_DATA, or ./.gourmetgram when it holds one)."""
    from gourmetgram_tools import state

    ctx = click.get_current_context()
    try:
        found = state.operator_state(ctx.meta.get(_DATA), os.environ)
    except state.StateError as exc:
        raise click.UsageError(str(exc)) from None
    ctx.meta[_STATE] = found
    try:
        return Settings.from_env(found.environ, **overrides)
    except SettingsError as exc:
        raise click.UsageError(str(exc)) from None


def _store_problem(exc: Exception, settings: Settings) -> str:
    """A store error, and for an unreachable MinIO the URL tried and where it came from."""
    from gourmetgram.store import StoreUnavailable

    if not isinstance(exc, StoreUnavailable):
        return str(exc)
    found = click.get_current_context().meta.get(_STATE)
    origin = found.origin("MINIO_URL") if found else "the environment or the default (MINIO_URL)"
    return (
        f"{exc}\nMinIO tried at {settings.minio_url}, from {origin}. Is `gourmetgram up` running? Run this "
        "command in the folder that holds its .gourmetgram/, give --data DIR, `source <data>/env.sh`, or set "
        "MINIO_URL"
    )


def _remember_data(ctx: click.Context, param, value: Path | None) -> Path | None:
    if value is not None:
        ctx.meta[_DATA] = value
    return value


def _data_option(command):
    """--data DIR on an operator's command (the same as `gourmetgram --data DIR <command>`)."""
    return click.option(
        "--data",
        type=click.Path(file_okay=False, path_type=Path),
        callback=_remember_data,
        expose_value=False,
        is_eager=True,
        help="The folder `gourmetgram up` keeps its state in (default: ./.gourmetgram when it "
        "holds one; GOURMETGRAM_DATA).",
    )(command)


def _logging(verbose: bool = False) -> None:
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO, format="%(asctime)s %(levelname)-7s %(name)s: %(message)s"
    )
    logging.getLogger("urllib3").setLevel(logging.WARNING)
    # A message repeated in a loop (a flood of connections, a store that is down) must not fill the disk.
    logrepeats.install(logging.getLogger().handlers)


@click.group()
@click.option(
    "--data",
    type=click.Path(file_okay=False, path_type=Path),
    envvar="GOURMETGRAM_DATA",
    callback=_remember_data,
    expose_value=False,
    is_eager=True,
    help="The folder `gourmetgram up` keeps its state in; the other commands read from it where MinIO "
    "is and the operator's credentials (default: ./.gourmetgram when it holds them).",
)
def main() -> None:
    """GourmetGram: every photo production sees, labelled, in MinIO."""


@main.command()
@click.option(
    "--data",
    type=click.Path(file_okay=False, path_type=Path),
    help="State folder: MinIO's data, the webhook queue or NATS's store, logs, the secrets generated for "
    "it, env.sh (default: gourmetgram --data, GOURMETGRAM_DATA, or ./.gourmetgram).",
)
@click.option("--no-queue-dir", is_flag=True, help="Deliver webhooks without MinIO's persistent queue.")
@click.option(
    "--transport",
    type=click.Choice(["webhook", "jetstream"]),
    help="How MinIO's events reach the function (EVENT_TRANSPORT, webhook).",
)
@click.option(
    "--cluster",
    is_flag=True,
    help="Four MinIO nodes, three NATS nodes (JetStream), two function replicas "
    "and the frontend on loopback, behind Debian's nginx (state in <data>/cluster).",
)
@click.option("--minio-port", type=int, help="MinIO API port (9000; the front door's with --cluster).")
@click.option("--console-port", type=int, help="MinIO console port (9001).")
@click.option("--function-port", type=int, help="Function port (FUNCTION_PORT, 8080; the first replica's).")
@click.option("--web-port", type=int, help="Frontend port (WEB_PORT, 5000).")
@click.option(
    "--node-ports",
    type=int,
    metavar="FIRST",
    help="With --cluster: the nodes' 18 ports from FIRST on "
    "(default: MinIO 9101-9104 and 9201-9204, NATS 4222-4224, 6222-6224, 8222-8224 and 4220).",
)
def up(
    data: Path | None,
    no_queue_dir: bool,
    transport,
    cluster: bool,
    minio_port,
    console_port,
    function_port,
    web_port,
    node_ports,
) -> None:
    """Run MinIO, the function and the frontend here until Ctrl-C, restarting a part that exits."""
    from gourmetgram_tools import up as foreground
    from gourmetgram_tools.cluster import ClusterLayout, ClusterStack
    from gourmetgram_tools.local import LocalStack, StartupError, on_loopback
    from gourmetgram_tools.state import DEFAULT_DATA
    from gourmetgram_tools.supervise import CrashLoop

    _logging()
    data = data or click.get_current_context().meta.get(_DATA) or DEFAULT_DATA
    if cluster and transport == "webhook":
        raise click.UsageError("--cluster runs on JetStream: its function replicas consume the stream")
    s: Settings = _own_settings(
        minio_port=minio_port,
        console_port=console_port,
        function_port=function_port,
        web_port=web_port,
        event_transport=transport,
    )
    if node_ports and not cluster:
        raise click.UsageError("--node-ports goes with --cluster")
    if cluster:
        layout = ClusterLayout.consecutive(node_ports, s) if node_ports else ClusterLayout.default(s)
        stack = ClusterStack(on_loopback(s), data, layout=layout)
    else:
        stack = LocalStack(on_loopback(s), data, queue_dir=not no_queue_dir)
    try:
        foreground.run(stack, echo=click.echo)
    except StartupError as exc:
        click.echo(f"start-up failed: {exc}", err=True)
        raise SystemExit(EXIT_STARTUP) from None
    except CrashLoop as exc:
        click.echo(f"gourmetgram up stopped: {exc}", err=True)
        raise SystemExit(EXIT_FAILED) from None


@main.command()
@_data_option
@click.option("--dry-run", is_flag=True, help="Print the plan (and its mc commands) without applying it.")
def configure(dry_run: bool) -> None:
    """Apply buckets, the subscription and the identities to an existing MinIO, and with EVENT_TRANSPORT=jetstream
    the stream and its consumer to NATS (idempotent)."""
    from minio_config.apply import ConfigureError
    from minio_config.apply import configure as apply

    try:
        apply(_settings(), echo=click.echo, dry_run=dry_run)
    except ConfigureError as exc:
        click.echo(str(exc), err=True)
        raise SystemExit(EXIT_FAILED) from None


_fixed_option = click.option(
    "--fixed", multiple=True, hidden=True, help="name=value: a fixed value a test changes (never an operator's)."
)


@main.command("serve-fn")
@click.option("--port", type=int, help="FUNCTION_PORT (8080).")
@_fixed_option
def serve_fn(port, fixed) -> None:
    """Run the classifier function (uvicorn, with deliberate connection limits)."""
    from classifier_fn.app import create_app
    from gourmetgram_tools.function_server import serve

    _logging()
    s = _own_settings(FunctionSettings, function_port=port, fixed=fixed)
    serve(create_app(s), s)


@main.command("serve-web")
@click.option("--port", type=int, help="WEB_PORT (5000).")
@_fixed_option
def serve_web(port, fixed) -> None:
    """Run the frontend (waitress: many threads for long-polls, deliberate connection limits)."""
    from ingest import create_app
    from ingest.server import serve

    _logging()
    s = _own_settings(FrontendSettings, web_port=port, fixed=fixed)
    serve(create_app(s), s)


@main.command()
@_data_option
@click.option("--dry-run", is_flag=True, help="Only count what would be processed.")
def reconcile(dry_run: bool) -> None:
    """Process what `incoming` still holds, here and now (safe beside a running function)."""
    from gourmetgram_tools.reconcile import run

    _logging()
    report = run(_settings(), dry_run=dry_run, echo=_safe_echo)
    raise SystemExit(EXIT_FAILED if report.errors else EXIT_OK)


def _safe_echo(line: str) -> None:
    """A line that quotes object keys or reasons from storage: control characters shown, never sent."""
    from gourmetgram.terminal import printable

    click.echo(printable(line))


@main.command()
@_data_option
@click.option("--failed/--no-failed", default=True, help="Also retry failed items now.")
def requeue(failed: bool) -> None:
    """Move quarantined objects back to incoming, and let failed ones be retried at once."""
    from gourmetgram.store import Store
    from gourmetgram_tools.requeue import requeue as run

    s = _settings()
    done = run(Store.connect(s), s, include_failed=failed, echo=_safe_echo)
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
        raise click.BadParameter(
            f"{value!r} is neither a time with its zone (2026-11-26T10:00:00Z) nor an age (90s, 15m, 2h, 3d)"
        ) from None


@main.command()
@_data_option
@click.option("--follow", "-f", is_flag=True, help="Keep printing outcomes as they are written or rewritten.")
@click.option("--limit", type=click.IntRange(min=1), help="Show the newest N (default 20; with --since: all).")
@click.option(
    "--since",
    callback=_moment,
    metavar="TIME",
    help="Show every outcome of a photo from TIME on: 2026-11-26T10:00:00Z, or an age: 15m, 2h, 3d.",
)
@click.option(
    "--window",
    callback=_age,
    default="1h",
    show_default=True,
    metavar="AGE",
    help="With --follow: watch the outcomes of photos this recent for changes.",
)
def events(follow: bool, limit: int | None, since: float | None, window: int) -> None:
    """Show the event log (outcome records) by the photos' time, newest last: a table with a header."""
    from gourmetgram import eventlog
    from gourmetgram.store import Store, StoreError
    from gourmetgram_tools import events_table

    s = _settings()
    store = Store.connect(s)
    try:
        if follow:
            click.echo(events_table.header())
            docs = eventlog.follow(store, s.bucket_events, limit=limit or 20, since=since, window_s=window)
        elif since is not None:
            log = eventlog.EventLog(store, s.bucket_events)
            entries = log.entries_since(since)
            docs = log.documents(entries[-limit:] if limit else entries)
        else:
            docs = reversed(eventlog.recent(store, s.bucket_events, limit or 20))
        if not follow:  # read first: a MinIO that does not answer gets its message alone, no empty table
            docs = list(docs)
            click.echo(events_table.header())
        for doc in docs:
            click.echo(events_table.row(doc))
    except StoreError as exc:
        click.echo(f"cannot read the event log: {_store_problem(exc, s)}", err=True)
        raise SystemExit(EXIT_FAILED) from None
    except KeyboardInterrupt:
        pass


@main.group()
def review() -> None:
    """The review queue: list it, or label it in Label Studio (export tasks, import the answers)."""


@review.command("list")
@_data_option
@click.option("--limit", default=20, show_default=True, help="Photos to print (the count is of all).")
def review_list(limit: int) -> None:
    """Print the queue: the photos a person should review, most urgent first."""
    s = _settings()
    queue = _review_queue(s)
    click.echo(f"{len(queue)} photo(s) to review (last {s.review_window_days} days)")
    for item in queue[:limit]:
        r = item.photo.record
        click.echo(f"{r.id}  {r.predicted_class:16} {r.confidence:.3f}  {', '.join(x.value for x in item.reasons)}")


def _review_queue(s: Settings) -> list:
    """The review queue now, or exit 1 saying why the records could not be read."""
    import time

    from gourmetgram import review_queue
    from gourmetgram.store import Store, StoreError

    try:
        return review_queue.load(Store.connect(s), s, time.time())
    except StoreError as exc:
        click.echo(f"cannot read the records: {_store_problem(exc, s)}", err=True)
        raise SystemExit(EXIT_FAILED) from None


@review.command("export")
@_data_option
@click.option(
    "--out", type=click.Path(dir_okay=False, path_type=Path), required=True, help="Label Studio tasks (JSON) to write."
)
@click.option(
    "--config",
    "config_path",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Also write the project's labelling interface (XML) here.",
)
@click.option(
    "--expires-days",
    type=click.IntRange(1, 7),
    default=7,
    show_default=True,
    help="How long the photos' presigned URLs work (S3 allows at most 7 days).",
)
def review_export(out: Path, config_path: Path | None, expires_days: int) -> None:
    """Write the review queue as Label Studio tasks (photos as presigned URLs of MINIO_URL)."""
    import json
    from datetime import timedelta

    from gourmetgram_tools import labelstudio

    s = _settings()
    queue = _review_queue(s)
    tasks = labelstudio.tasks(queue, labelstudio.presigner(s, timedelta(days=expires_days)))
    out.write_text(json.dumps(tasks, indent=1))
    click.echo(f"wrote {len(tasks)} task(s) to {out}: import it into a Label Studio project")
    if config_path:
        config_path.write_text(labelstudio.label_config())
        click.echo(f"wrote the labelling interface to {config_path} (Settings > Labeling Interface > Code)")


@review.command("import")
@_data_option
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
def review_import(file: Path) -> None:
    """Save the answers of a Label Studio JSON export as human_label (a newer review is kept)."""
    from gourmetgram.store import Store
    from gourmetgram.terminal import printable
    from gourmetgram_tools import labelstudio, labelstudio_answers

    s = _settings()
    try:  # the file is bounded (size, nesting) before it is parsed, and each task checked on its own
        done = labelstudio.import_file(Store.connect(s), s, labelstudio_answers.read_file(file))
    except ValueError as exc:
        raise click.UsageError(printable(f"{file}: {exc}")) from None
    for problem in done.problems:
        click.echo(f"not imported: {problem}", err=True)
    click.echo(
        f"saved {done.saved} answer(s); {done.unchanged} already there (or reviewed since); "
        f"{done.unanswered} task(s) without an answer; {len(done.problems)} not imported"
    )
    raise SystemExit(EXIT_FAILED if done.problems else EXIT_OK)


@main.command()
@_data_option
@click.option("--days", type=click.IntRange(1, 3660), help="The last N UTC days (default 14).")
@click.option("--since", help="From this UTC date (2026-11-20) or time, instead of --days.")
@click.option("--format", "fmt", type=click.Choice(["text", "json", "prometheus"]), default="text", show_default=True)
@click.option("--charts", type=click.Path(file_okay=False, path_type=Path), help="Also write the charts (PNG) here.")
def quality(days: int | None, since: str | None, fmt: str, charts: Path | None) -> None:
    """How the model does on real traffic, per model version (the figures of the /quality page)."""
    import json
    import time

    from gourmetgram import idtime, names, quality_metrics
    from gourmetgram import quality as figures
    from gourmetgram.store import Store, StoreError
    from gourmetgram_tools import export as exporting
    from gourmetgram_tools import quality_report as report

    s = _settings()
    now = time.time()
    start = exporting.parse_since(since) if since else idtime.last_days(days or s.quality_window_days, now)[0]
    store = Store.connect(s)
    try:
        photos = list(idtime.read_photos(store, s.bucket_events, start, now + 1))
        roles = _roles(store) if fmt == "text" else {}
    except StoreError as exc:
        click.echo(f"cannot read the records: {_store_problem(exc, s)}", err=True)
        raise SystemExit(EXIT_FAILED) from None
    reports = figures.compute(photos, s.review_confidence)
    if fmt == "json":
        click.echo(json.dumps([figures.to_json(r) for r in reports], indent=1))
    elif fmt == "prometheus":
        click.echo(quality_metrics.exposition(reports).decode(), nl=False)
    else:
        click.echo(report.text(reports, s.review_confidence, names.now_iso(start)[:10], names.now_iso(now)[:19]))
        click.echo("\n".join(_comparisons([p.record for p in photos], roles)))
    if charts:
        for path in report.write_charts(reports, s.review_confidence, charts):
            click.echo(f"wrote {path}", err=True)


def _roles(store) -> dict[str, str]:
    """version -> the alias naming it now (champion, challenger); none when the registry cannot be read (the
    comparisons are made from the records alone, and only named by the aliases)."""
    from gourmetgram import model_registry
    from gourmetgram.store import StoreError

    try:
        found = {alias: model_registry.read_alias(store, alias).version for alias in model_registry.ALIASES}
    except StoreError:
        return {}
    return {version: alias for alias, version in found.items() if version}


def _comparisons(records: list, roles: dict[str, str]) -> list[str]:
    """The text of every pair of models that labelled the same reviewed photos (production and shadow)."""
    from gourmetgram import model_comparison, model_registry
    from gourmetgram.terminal import printable
    from gourmetgram_tools import quality_report as report

    by_alias = {alias: version for version, alias in roles.items()}
    pairs = model_comparison.pairs_found(records)
    champion, challenger = by_alias.get(model_registry.CHAMPION), by_alias.get(model_registry.CHALLENGER)
    if champion and challenger:  # the champion and the challenger first (even before a paired photo exists)
        pairs = [(champion, challenger)] + [p for p in pairs if set(p) != {champion, challenger}]
    lines = []
    for a, b in pairs:
        lines += report.comparison_text(model_comparison.compare(records, a, b), roles)
    return [printable(line) for line in lines]


@main.command("export")
@click.option(
    "--out",
    type=click.Path(file_okay=False, path_type=Path),
    required=True,
    help="The dataset folder (training/, validation/, evaluation/, manifest.csv), written by export only: "
    "an empty or new folder, or one an export made (a folder holding other files, or a symlinked "
    "split or class folder, is refused). A later run brings it up to date. One run at a time.",
)
@click.option("--since", help="Only photos uploaded from this UTC date (2026-11-20) or time on.")
@click.option(
    "--include-predicted",
    is_flag=True,
    help="Also photos nobody labelled, with the model's class (needs --min-confidence).",
)
@click.option("--min-confidence", type=click.FloatRange(0, 1), help="With --include-predicted: the least confidence.")
def export_dataset(out: Path, since: str | None, include_predicted: bool, min_confidence: float | None) -> None:
    """Write labelled production photos as a Food-11 dataset (human_label, else corrected_class)."""
    from gourmetgram.store import Store, StoreError
    from gourmetgram_tools import export as exporting
    from gourmetgram_tools.folder_lock import Locked, NotALockFile
    from gourmetgram_tools.termination import Terminated

    if include_predicted != (min_confidence is not None):
        raise click.UsageError(
            "--include-predicted and --min-confidence go together: the model's labels are "
            "exported only above a confidence you choose"
        )
    s = _settings()
    start = exporting.parse_since(since) if since else None
    try:
        done = exporting.export(Store.connect(s), s, out, start, min_confidence)
    except StoreError as exc:
        click.echo(f"export stopped, storage is unavailable: {exc}; run it again to go on", err=True)
        raise SystemExit(EXIT_FAILED) from None
    except Locked as exc:
        click.echo(f"another export is writing {out} ({exc.holder}): wait for it to end, or stop it", err=True)
        raise SystemExit(EXIT_FAILED) from None
    except (exporting.ExportRefused, NotALockFile) as exc:
        click.echo(f"export refused: {exc}", err=True)
        raise SystemExit(EXIT_FAILED) from None
    except Terminated:
        click.echo(
            f"export stopped by SIGTERM; {out / 'manifest.csv'} names the files written so far; run it again to go on",
            err=True,
        )
        raise SystemExit(128 + 15) from None
    click.echo(
        f"{out}: copied {done.copied}, moved {done.moved} (label changed), removed {done.removed} "
        f"(label withdrawn), kept {done.kept}; {done.duplicates} identical photo(s) exported once; "
        f"{done.unlabelled} photo(s) without a label left out; manifest {out / 'manifest.csv'}"
    )
    raise SystemExit(EXIT_FAILED if done.errors else EXIT_OK)


@main.group()
def model() -> None:
    """The model registry in MinIO: add models, set the challenger, promote, roll back, compare."""


def _registry_call(s: Settings, call):
    """Run a registry change; a refusal or a concurrent change is said plainly and exits 1."""
    from gourmetgram.model_registry import RegistryError
    from gourmetgram.store import StoreError
    from gourmetgram.terminal import printable

    try:
        return call()
    except RegistryError as exc:
        click.echo(printable(f"error: {exc}"), err=True)
        raise SystemExit(EXIT_FAILED) from None
    except StoreError as exc:
        click.echo(printable(f"cannot reach the registry: {_store_problem(exc, s)}"), err=True)
        raise SystemExit(EXIT_FAILED) from None


@model.command("add")
@_data_option
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--note", default="", help="What this model is (training data, date, run): shown by `model list`.")
def model_add(file: Path, note: str) -> None:
    """Store a model file (either course format) in the registry under its version, once it loads."""
    from gourmetgram.store import Store
    from gourmetgram.terminal import printable
    from gourmetgram_tools import models

    s = _settings()
    info, new = _registry_call(s, lambda: models.add(Store.connect(s), file, note))
    verb = "added" if new else "already in the registry:"
    click.echo(printable(f"{verb} {info.version} ({info.format}, {info.size:,} bytes, sha256 {info.sha256})"))


@model.command("list")
@_data_option
def model_list() -> None:
    """The registered models, oldest first, with the aliases naming each."""
    from gourmetgram.store import Store
    from gourmetgram_tools import models

    s = _settings()
    for line in _registry_call(s, lambda: models.listing_lines(Store.connect(s))):
        click.echo(line)


@model.command("promote")
@_data_option
@click.argument("target", default="challenger", metavar="[VERSION|challenger]")
@click.option("--force", is_flag=True, help="Promote even if the comparison says no (recorded as forced, with why).")
@click.option(
    "--days",
    type=click.IntRange(1, 3660),
    help="Compare on the photos uploaded in the last N UTC days (default 14).",
)
def model_promote(target: str, force: bool, days: int | None) -> None:
    """Make a model the champion (what labels production), if it is at least as good as the champion on at
    least MIN_PAIRED reviewed photos both labelled."""
    from gourmetgram import idtime
    from gourmetgram.store import Store
    from gourmetgram.terminal import printable
    from gourmetgram_tools import models
    from gourmetgram_tools import quality_report as report

    s = _settings()
    store = Store.connect(s)
    since, until = idtime.last_days(days or s.quality_window_days, time.time())

    def records():
        return [p.record for p in idtime.read_photos(store, s.bucket_events, since, until + 1)]

    def attempt():
        try:
            return models.promote(store, target, records, force=force)
        except models.Refused as exc:
            return exc

    done = _registry_call(s, attempt)
    if isinstance(done, models.Refused):  # the comparison that says no, then why
        if done.comparison is not None:
            for line in report.comparison_text(done.comparison, {done.comparison.a: "champion"}):
                click.echo(printable(line))
        click.echo(printable(f"error: {done}"), err=True)
        raise SystemExit(EXIT_FAILED)
    if done.comparison is not None:
        for line in report.comparison_text(done.comparison, {done.comparison.a: "champion"}):
            click.echo(printable(line))
    if not done.changed:
        click.echo(printable(done.why))
        return
    forced = " (forced)" if done.forced else ""
    click.echo(printable(f"champion: {done.previous or '-'} -> {done.version}{forced}: {done.why}"))
    if done.challenger_cleared:
        click.echo("the challenger alias is cleared (its model labels production now)")
    if done.note:
        click.echo(printable(done.note))


@model.command("challenge")
@_data_option
@click.argument("version", required=False)
@click.option("--clear", is_flag=True, help="Clear the challenger: no model labels in the shadow.")
def model_challenge(version: str | None, clear: bool) -> None:
    """Set the challenger: the model that labels every photo in the shadow, beside the champion."""
    from gourmetgram.store import Store
    from gourmetgram.terminal import printable
    from gourmetgram_tools import models

    if clear == (version is not None):
        raise click.UsageError("give a VERSION (see `gourmetgram model list`), or --clear")
    s = _settings()
    previous, changed = _registry_call(s, lambda: models.challenge(Store.connect(s), version))
    if not changed:
        click.echo(printable(f"the challenger is {version or 'clear'} already: nothing changed"))
    else:
        click.echo(printable(f"challenger: {previous or '-'} -> {version or '(cleared)'}"))


@model.command("rollback")
@_data_option
def model_rollback() -> None:
    """Set the champion back to the model it named before its last change (no comparison: an emergency)."""
    from gourmetgram.store import Store
    from gourmetgram.terminal import printable
    from gourmetgram_tools import models

    s = _settings()
    was, now = _registry_call(s, lambda: models.rollback(Store.connect(s)))
    click.echo(printable(f"champion: {was} -> {now} (rolled back)"))


@model.command("log")
@_data_option
def model_log() -> None:
    """Every change of the champion and challenger aliases: when, who, from, to, forced, why."""
    from gourmetgram.store import Store
    from gourmetgram_tools import models

    s = _settings()
    for line in models.history_lines(_registry_call(s, lambda: models.history(Store.connect(s)))):
        click.echo(line)


@model.command("quantize")
@_data_option
@click.option(
    "--from",
    "source",
    default="champion",
    show_default=True,
    metavar="champion|VERSION|FILE",
    help="The float model to quantize: the champion, a registered version, or a model file.",
)
@click.option(
    "--calibrate-since",
    callback=_age,
    default="7d",
    show_default=True,
    metavar="AGE",
    help="Calibrate on production photos uploaded this recently: 90m, 12h, 7d.",
)
@click.option(
    "--max",
    "maximum",
    type=click.IntRange(1, 10_000),
    default=200,  # quantize.DEFAULT_MAX (not imported here: the CLI starts without loading every command)
    show_default=True,
    help="Photos to read, at most, spread over the classes (a quarter of them held out to compare).",
)
@click.option("--note", default="", help="What this model is: shown by `model list`.")
def model_quantize(source: str, calibrate_since: int, maximum: int, note: str) -> None:
    """Add an int8 copy of a model (x86), calibrated on recent production photos and compared with its source on
    photos it did not see. It labels nothing until it is set as challenger and promoted."""
    from gourmetgram.store import Store
    from gourmetgram.terminal import printable
    from gourmetgram_tools import quantize

    s = _settings()
    store = Store.connect(s)
    since = time.time() - calibrate_since

    def progress(line: str) -> None:
        click.echo(printable(line), err=True)

    done = _registry_call(
        s, lambda: quantize.quantize(store, s, source, since, maximum=maximum, note=note, progress=progress)
    )
    for problem in done.skipped:
        click.echo(printable(f"not used: {problem}"), err=True)
    click.echo(printable(quantize.summary(done)))


@model.command("replay")
@_data_option
@click.option(
    "--since",
    callback=_age,
    default="7d",
    show_default=True,
    metavar="AGE",
    help="Photos uploaded this recently: 90m, 12h, 7d.",
)
@click.option(
    "--rate",
    type=click.FloatRange(0.1, 100.0),
    default=4.0,  # replay.DEFAULT_RATE (not imported here: the CLI starts without loading every command)
    show_default=True,
    help="Photos read from production per second, at most.",
)
def model_replay(since: int, rate: float) -> None:
    """Label, with the challenger, the reviewed photos it has not labelled yet (the record's shadow answer)."""
    from gourmetgram.store import Store
    from gourmetgram.terminal import printable
    from gourmetgram_tools import replay

    s = _settings()
    store = Store.connect(s)
    on_terminal = sys.stdout.isatty()
    bar = None

    def progress(done: int, total: int) -> None:
        nonlocal bar
        if on_terminal:
            if bar is None:
                bar = click.progressbar(length=total, label="replaying", show_pos=True, show_eta=True)
                bar.__enter__()
            bar.update(1)
            if done == total:
                bar.__exit__(None, None, None)
        elif done % replay.PROGRESS_EVERY == 0 or done == total:
            click.echo(f"replayed {done} of {total}")

    report = _registry_call(s, lambda: replay.replay(store, s, time.time() - since, rate=rate, progress=progress))
    for problem in report.failed:
        click.echo(printable(f"not scored: {problem}"), err=True)
    click.echo(
        printable(
            f"{report.version}: {report.candidates} reviewed photo(s) without its answer; wrote {report.written}, "
            f"{report.already} answered meanwhile, {report.missing} gone, {len(report.failed)} failed"
        )
    )
    raise SystemExit(EXIT_FAILED if report.failed else EXIT_OK)


@main.command()
@click.option("--photos", default=200, show_default=True, help="Photos in the burst.")
@click.option("--singles", default=20, show_default=True, help="Single uploads per latency measurement.")
@click.option("--json", "as_json", is_flag=True, help="Print the figures as JSON.")
@click.option(
    "--transports",
    is_flag=True,
    help="Instead: the event transports side by side (webhook with and "
    "without queue_dir, JetStream with and without fsync) and the cluster with one and two replicas.",
)
def bench(photos: int, singles: int, as_json: bool, transports: bool) -> None:
    """Measure throughput and latency against the model's ceiling (starts its own MinIO)."""
    import json

    from gourmetgram_tools import bench as benchmark
    from gourmetgram_tools import bench_transport

    logging.basicConfig(level=logging.WARNING)
    module = bench_transport if transports else benchmark
    result = module.run(_own_settings(), photos=photos, singles=singles)
    click.echo(json.dumps(result, indent=1) if as_json else module.table(result))


@main.command("bench-events")
@click.option(
    "--records",
    default="20000,200000",
    show_default=True,
    help="Sizes of the log to measure at, comma-separated (one MinIO, filled up to each in turn).",
)
@click.option("--old", default=0, show_default=True, help="Old-format (uuid4) records written first.")
@click.option("--samples", default=20, show_default=True, help="Page refreshes measured at each size.")
@click.option("--clients", default=60, show_default=True, help="Clients requesting the log at once (0: none).")
@click.option("--json", "as_json", is_flag=True, help="Print the figures as JSON.")
def bench_events(records: str, old: int, samples: int, clients: int, as_json: bool) -> None:
    """Measure /review/api/events on a large event log (starts its own MinIO and frontend)."""
    import json

    from gourmetgram_tools import bench_events as benchmark

    try:
        sizes = tuple(int(size) for size in records.split(","))
    except ValueError:
        raise click.BadParameter(
            f"{records!r} is not a list of record counts such as 20000,200000", param_hint="--records"
        ) from None
    logging.basicConfig(level=logging.WARNING)
    result = benchmark.event_log(_own_settings(), sizes=sizes, old=old, samples=samples, clients=clients)
    click.echo(json.dumps(result, indent=1) if as_json else benchmark.event_log_table(result))


if __name__ == "__main__":
    sys.exit(main())
