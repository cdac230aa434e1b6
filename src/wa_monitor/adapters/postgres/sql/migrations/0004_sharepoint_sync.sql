-- Version 4: what the SharePoint sync wrote. One row per sheet row written: which (day, project),
-- what count (and the count it replaced), when, and where (the target and its row), so ops can
-- answer "what did the sheet get, and when?" from psql. Only production's sync writes it; dev's
-- schema has the table too (every schema has the same structure) and it stays empty.

CREATE TABLE IF NOT EXISTS {schema}.wa_monitor_sync_writes (
    day date NOT NULL,
    project text NOT NULL,
    drops integer NOT NULL CHECK (drops >= 0),
    previous integer,  -- the count the row held before; NULL when the row was appended
    action text NOT NULL CHECK (action IN ('update', 'append')),
    target_kind text NOT NULL CHECK (target_kind IN ('sharepoint', 'xlsx', 'csv')),
    target text NOT NULL,  -- drive, item and worksheet; or the file's path
    sheet_row integer NOT NULL CHECK (sheet_row > 0),
    written_at timestamptz NOT NULL DEFAULT now()
);

CREATE INDEX IF NOT EXISTS idx_wa_monitor_sync_writes_day
    ON {schema}.wa_monitor_sync_writes (day, project);
