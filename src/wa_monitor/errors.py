"""The failures the loop tells apart, without knowing which adapter raised them."""


class WaMonitorError(Exception):
    """Base class; the message is one line an operator can act on, with no secret in it."""


class TransientError(WaMonitorError):
    """Worth retrying: the database or the bridge file is away, busy or locked for now."""


class Standby(TransientError):
    """Another process is doing this environment's work: wait, quietly, until it stops."""


class FatalError(WaMonitorError):
    """Retrying will not help: a person has to change something (config, schema, privileges)."""

    exit_code = 1


class NotMigrated(FatalError):
    exit_code = 2


class Rescan(WaMonitorError):
    """Rowids no longer mean what the saved position says: read the bridge again from the start."""
