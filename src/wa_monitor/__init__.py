"""wa-monitor: WhatsApp drop numbers in, QA photo review rows out, one environment at a time."""

__version__ = "0.1.0"
