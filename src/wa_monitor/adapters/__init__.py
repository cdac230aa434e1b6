"""Adapters: the bridge's SQLite file, PostgreSQL, logging, systemd's notify socket, inotify.

Each implements a port of the core or serves the services; none imports a service, the
command line, the web app or the devtools.
"""
