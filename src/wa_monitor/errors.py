"""The one error hierarchy. Each class says its exit code; the CLI maps them in one place.

Drivers' errors (psycopg, sqlite3) are translated into these by their adapter, in one function
each (`adapters.postgres.db.Database.error`, `adapters.bridge.from_sqlite_error`), so nothing
above the adapters ever sees a driver's exception.
"""

EXIT_OK = 0
EXIT_FAILED = 1  # the work could not go on (a side stayed unreachable, a check failed)
EXIT_CONFIG = 2  # a person has to change something first: config, schema, the command line


class WaMonitorError(Exception):
    """Base class; the message is one line an operator can act on, with no secret in it."""

    exit_code = EXIT_FAILED


class TransientError(WaMonitorError):
    """Worth retrying: the database or the bridge file is away, busy or locked for now."""


class Standby(TransientError):
    """Another process is doing this environment's work: wait, quietly, until it stops."""


class FatalError(WaMonitorError):
    """Retrying will not help: a person has to change something (config, schema, privileges)."""


class ConfigError(FatalError):
    """The configuration (file, variables or command line) cannot be used."""

    exit_code = EXIT_CONFIG


class NotMigrated(FatalError):
    """The schema is missing, or older or newer than this release knows."""

    exit_code = EXIT_CONFIG


class RowRefused(FatalError):
    """The database refused a value one message writes (a constraint, a value out of range):
    retrying the same rows fails again, the other rows of the batch can still be applied."""


class Refused(FatalError):
    """An ops command declined a dangerous or impossible request; nothing was changed."""

    exit_code = EXIT_CONFIG


class Rescan(WaMonitorError):
    """Rowids no longer mean what the saved position says: read the bridge again from the start."""
