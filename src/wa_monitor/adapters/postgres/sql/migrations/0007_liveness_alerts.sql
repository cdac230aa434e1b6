-- Liveness and alerts. The cursor's read_at is when the monitor last read the bridge: saved
-- with every batch, and at most once a minute while it is idle (a heartbeat that costs one
-- UPDATE a minute). wa_monitor_alerts holds the incidents `wa-monitor alerts check` announced,
-- so a restart neither announces one again nor forgets to announce its recovery.
ALTER TABLE {schema}.wa_monitor_cursor ADD COLUMN IF NOT EXISTS read_at timestamptz;

CREATE TABLE IF NOT EXISTS {schema}.wa_monitor_alerts (
    kind text PRIMARY KEY,
    detail text NOT NULL,
    opened_at timestamptz NOT NULL DEFAULT now(),
    -- the channels (whatsapp, email) that carried the incident's message, then its recovery's
    opened_via text[] NOT NULL DEFAULT ARRAY[]::text[],
    resolved_at timestamptz,
    resolved_via text[] NOT NULL DEFAULT ARRAY[]::text[]
);
