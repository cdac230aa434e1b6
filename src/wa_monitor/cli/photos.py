"""`wa-monitor photos …`: the drops' photos — a fetch pass by hand, their state, the cache."""

from __future__ import annotations

import argparse

from wa_monitor.adapters.media import PhotoCache
from wa_monitor.adapters.postgres import photos
from wa_monitor.adapters.postgres.db import Database
from wa_monitor.cli.common import CONFIG_HELP, SUMMARIES, Commands, count, leaf, load
from wa_monitor.errors import EXIT_OK
from wa_monitor.services.photos import Fetcher, prune

NOTE = """\
The daemon (`wa-monitor run`) fetches photos itself, in a thread, as soon as it has drained
them (and retries when they fall due): `photos fetch` is a pass by hand (after an outage of the
bridge, say). States: pending (not fetched yet), retrying (the bridge did not answer or failed,
or this side could not decode, cache or record the file; asked again with backoff), fetched,
expired (WhatsApp's servers no longer have it: final), mismatch (the bridge returned another
file, e.g. a photo of the same second: final), refused (outside the media folder, too large,
not an image, or failing to decode three times: final)."""


def register(commands: Commands) -> None:
    group = commands.add_parser("photos", help=SUMMARIES["photos"])
    actions = group.add_subparsers(dest="photos_command", required=True, metavar="ACTION")
    fetch = leaf(
        actions,
        "fetch",
        help="ask the bridge for the photos that are due, once",
        description="One pass of the fetcher: the due photos, at most photos_fetch_per_minute "
        "requests a minute after a first burst of photos_fetch_burst, each checked (media "
        "folder, size, SHA-256, a real image decoded within 30 s) and cached.",
        epilog=f"{NOTE}\n{CONFIG_HELP}",
        handler=fetch_command,
    )
    fetch.add_argument("--limit", type=count, default=200, help="at most this many (200)")
    leaf(
        actions,
        "status",
        help="how many photos are in each state, and the cache's size",
        description="The photos by state, the oldest waiting one, and the cache's files and size.",
        epilog=f"{NOTE}\n{CONFIG_HELP}",
        handler=status_command,
    )
    pr = leaf(
        actions,
        "prune",
        help="trim the photo cache to its cap",
        description="Remove cached copies no photo names, then the least recently used beyond "
        "photos_cache_max_mb (or --max-mb).",
        epilog=f"{NOTE}\n{CONFIG_HELP}",
        handler=prune_command,
    )
    pr.add_argument("--max-mb", type=count, default=None, help="a cap other than the config's")


def fetch_command(args: argparse.Namespace) -> int:
    settings = load(args)
    fetcher = Fetcher.for_settings(Database.of(settings), settings)
    try:
        done = fetcher.run_once(limit=args.limit)
    finally:
        fetcher.close()
    for failure in done.failures:
        print(failure)
    print(f"photos: {done}")
    return EXIT_OK


def status_command(args: argparse.Namespace) -> int:
    settings = load(args)
    db = Database.of(settings)
    with db.session("photos") as conn:
        rows = photos.states(conn, db)
        unclaimed = photos.waiting(conn, db)
    for state, n, oldest in rows:
        since = f"  (oldest from {oldest.astimezone(settings.tz):%Y-%m-%d %H:%M})" if oldest else ""
        print(f"{state:<9} {n}{since}")
    if not rows:
        print("no photos recorded yet")
    print(f"waiting   {unclaimed}  (no drop message claims them yet: not fetched until one does)")
    cache = PhotoCache(settings.cache_dir, max_bytes=settings.photos_cache_max_mb << 20)
    files, size = cache.size()
    print(f"cache     {files} files, {size / 1e6:.1f} MB of {settings.photos_cache_max_mb} MB")
    return EXIT_OK


def prune_command(args: argparse.Namespace) -> int:
    settings = load(args)
    db = Database.of(settings)
    with db.session("photos") as conn:
        keep = photos.cache_keys(conn, db)
    cache = PhotoCache(settings.cache_dir, max_bytes=settings.photos_cache_max_mb << 20)
    cap = None if args.max_mb is None else args.max_mb << 20
    removed, freed = prune(cache, keep=keep, max_bytes=cap)
    print(f"removed {removed} files ({freed / 1e6:.1f} MB)")
    return EXIT_OK
