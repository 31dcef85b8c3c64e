"""The run database's tables: ``.simba/run.db``, the record of one run (DESIGN §13).

SQLite through the standard library, WAL mode, so ``simba status`` and ``simba report``
read it while the run writes it.  ``checkpoint.json`` stays the source of truth for
*resume*; the database is the record of what happened, kept consistent with it: a
resumed run first deletes the rows of calls after its checkpoint (they run again), so
a run killed and resumed records the same state history and successful calls as an
uninterrupted run.  Attempts of earlier drivers that were cut off stay in ``attempts``
with ``superseded = 1``: "why did it stop" keeps its answer.

Times: ``*_at`` columns are wall-clock seconds since the Unix epoch (REAL);
simulated times are ISO 8601 strings as in the config documents.  A call is named by
``(phase, tick, module)``; ``phase`` is 0 start, 1 step, 2 end, and ``slot`` is the
call's place in its batch's serial order, so ``ORDER BY phase, tick, slot`` is plan
order.  JSON columns hold compact JSON text.

The documented version of this schema is ``docs/record.rst``; a test checks that the
page lists every table and column here.
"""

from __future__ import annotations

#: Bumped when a table or column changes meaning; stored in ``meta`` as ``schemaVersion``.
SCHEMA_VERSION = 1

TABLES = """
CREATE TABLE IF NOT EXISTS meta (
    key   TEXT PRIMARY KEY,  -- runId, cellId, scenario, fingerprint, simbaVersion, schemaVersion,
    value TEXT NOT NULL      -- initialTick, finalTick, initialTime, finalTime, plannedCalls,
);                           -- startedAt, endedAt, outcome, error, layout (JSON text each)
CREATE TABLE IF NOT EXISTS drivers (
    driver       INTEGER PRIMARY KEY,  -- 1 for the first driver of the run, +1 per resume
    pid          INTEGER NOT NULL,
    host         TEXT NOT NULL,
    command_line TEXT NOT NULL,        -- JSON array: sys.argv
    started_at   REAL NOT NULL,
    ended_at     REAL,                 -- NULL while it runs or if it was killed
    outcome      TEXT,                 -- success | failed | interrupted; NULL as ended_at
    error        TEXT                  -- the whole error text of a failed or interrupted driver
);
CREATE TABLE IF NOT EXISTS modules (
    module     TEXT PRIMARY KEY,
    idx        INTEGER NOT NULL,       -- index in the schedule
    type       TEXT NOT NULL,          -- local | resident | service | parsl
    priority   INTEGER NOT NULL,
    depends_on TEXT NOT NULL,          -- JSON array of module names
    trusted    INTEGER NOT NULL,       -- 0 | 1
    image      TEXT                    -- the digest of the container image every call of
);                                     -- the run ran in (pinned at start); NULL: no container
CREATE TABLE IF NOT EXISTS attempts (
    id            INTEGER PRIMARY KEY,
    driver        INTEGER NOT NULL,
    module        TEXT NOT NULL,
    mode          TEXT NOT NULL,       -- start | step | end
    phase         INTEGER NOT NULL,
    tick          INTEGER NOT NULL,
    target_tick   INTEGER,
    slot          INTEGER NOT NULL,
    attempt       INTEGER NOT NULL,    -- 1, 2, ... within this call
    runner        TEXT NOT NULL,       -- the module type that ran it
    started_at    REAL NOT NULL,
    ended_at      REAL,                -- NULL: still running, or cut off by the driver's death
    wall_time     REAL,
    user_cpu      REAL,                -- seconds, from os.wait4 rusage (NULL where unknown)
    system_cpu    REAL,
    max_rss_kb    INTEGER,
    exit_code     INTEGER,
    signal        INTEGER,
    outcome       TEXT,                -- success | error | timeout | signal | exit | status | fail
    reason        TEXT,                -- first line of the failure
    host          TEXT NOT NULL,
    status_sha256 TEXT,
    executor      TEXT,                -- Parsl executor label, block id, job id where known
    block_id      TEXT,
    job_id        TEXT,
    superseded    INTEGER NOT NULL DEFAULT 0  -- 1: after its driver's last checkpoint; ran again
);
CREATE INDEX IF NOT EXISTS attempts_by_call ON attempts (phase, tick, slot);
CREATE TABLE IF NOT EXISTS state (
    phase       INTEGER NOT NULL,
    tick        INTEGER NOT NULL,
    slot        INTEGER NOT NULL,
    module      TEXT NOT NULL,
    mode        TEXT NOT NULL,
    target_tick INTEGER,
    time        TEXT NOT NULL,         -- simulated time of the call's tick (ISO 8601)
    common_data TEXT NOT NULL,         -- JSON: the commonData keys this call set (merged ones)
    module_data TEXT NOT NULL,         -- JSON: the moduleData it returned
    PRIMARY KEY (phase, tick, slot)
);
CREATE TABLE IF NOT EXISTS messages (
    id     INTEGER PRIMARY KEY,
    driver INTEGER NOT NULL,
    at     REAL NOT NULL,
    level  TEXT NOT NULL,              -- INFO | ERROR (a module's lines) | WARNING (SIMBA's)
    module TEXT,
    tick   INTEGER,
    time   TEXT,                       -- simulated time of that tick, where there is one
    text   TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS service_stats (
    id             INTEGER PRIMARY KEY,
    module         TEXT NOT NULL,
    at             REAL NOT NULL,
    jobs_completed INTEGER NOT NULL
);
"""

#: Made on the first recorded document of a journal-layout run or an inline call (the
#: engine's :mod:`~simba.engine.layout` writes it): each attempt's documents and output.
DOCUMENTS = """
CREATE TABLE IF NOT EXISTS documents (
    module   TEXT NOT NULL,
    mode     TEXT NOT NULL,     -- start | step | end
    phase    INTEGER NOT NULL,  -- 0 start, 1 step, 2 end
    tick     INTEGER NOT NULL,
    slot     INTEGER NOT NULL,
    attempt  INTEGER NOT NULL,
    config   TEXT NOT NULL,     -- the config document (compact JSON)
    status   BLOB,              -- the status as the module wrote it; NULL if none
    stdout   BLOB,              -- the attempt's output (its first 1 MiB each)
    stderr   BLOB,
    PRIMARY KEY (module, phase, tick, attempt)
);
"""
