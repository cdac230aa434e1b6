"""The /wa-monitor dashboard: server-rendered pages over one environment's schema."""
