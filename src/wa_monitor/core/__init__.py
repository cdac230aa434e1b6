"""The pure core: records, the WhatsApp text rules, the review rules, the ports and the loop.

Imports no adapter, no driver and no logging library (import-linter checks it); unit tests
drive it through in-memory fakes of its ports.
"""
