"""Use cases that combine adapters for a person: status, doctor (and the jobs built on them).

Called by the command line and the web app, never the other way round.
"""
