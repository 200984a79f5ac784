//! The SQLite schema as a list of versioned migrations. The database records its version in `PRAGMA user_version`;
//! opening applies the missing migrations in order, each in its own transaction, and refuses a database written
//! by a newer Correlator (its schema is unknown here).
//!
//! To change the schema, append a migration; never edit a released one.

use rusqlite::Connection;

use super::{Result, StoreError};

/// Migration `i` brings the schema from version `i` to `i + 1`.
pub const MIGRATIONS: &[&str] = &[
    // 1: alerts, decisions, bouncers, machines, counters and secrets.
    r#"
    CREATE TABLE alerts (
        id            INTEGER PRIMARY KEY AUTOINCREMENT,
        uuid          TEXT NOT NULL,
        fingerprint   TEXT NOT NULL UNIQUE,
        machine_id    TEXT NOT NULL,
        created_at    INTEGER NOT NULL,
        scenario      TEXT NOT NULL,
        source_scope  TEXT NOT NULL,
        source_value  TEXT NOT NULL,
        simulated     INTEGER NOT NULL,
        ip_size       INTEGER,
        start_hi      INTEGER,
        start_lo      INTEGER,
        end_hi        INTEGER,
        end_lo        INTEGER,
        body          TEXT NOT NULL
    );
    CREATE INDEX alerts_created ON alerts(created_at);
    CREATE INDEX alerts_source ON alerts(source_value, source_scope);
    CREATE INDEX alerts_scenario ON alerts(scenario);
    CREATE TABLE decisions (
        id          INTEGER PRIMARY KEY AUTOINCREMENT,
        uuid        TEXT NOT NULL,
        alert_id    INTEGER REFERENCES alerts(id) ON DELETE CASCADE,
        seq         INTEGER NOT NULL,
        created_at  INTEGER NOT NULL,
        until       INTEGER NOT NULL,
        origin      TEXT NOT NULL,
        type        TEXT NOT NULL,
        scope       TEXT NOT NULL,
        value       TEXT NOT NULL,
        scenario    TEXT NOT NULL,
        simulated   INTEGER NOT NULL,
        ip_size     INTEGER,
        start_hi    INTEGER,
        start_lo    INTEGER,
        end_hi      INTEGER,
        end_lo      INTEGER
    );
    CREATE INDEX decisions_value ON decisions(value, scope, type);
    CREATE INDEX decisions_until ON decisions(until);
    CREATE INDEX decisions_seq ON decisions(seq);
    CREATE INDEX decisions_origin ON decisions(origin);
    CREATE INDEX decisions_ip ON decisions(ip_size, start_hi, start_lo);
    CREATE INDEX decisions_alert ON decisions(alert_id);
    CREATE TABLE bouncers (
        id          INTEGER PRIMARY KEY AUTOINCREMENT,
        name        TEXT NOT NULL UNIQUE,
        key_hash    TEXT NOT NULL,
        created_at  INTEGER NOT NULL,
        last_pull   INTEGER,
        last_seq    INTEGER NOT NULL DEFAULT 0
    );
    CREATE TABLE machines (
        machine_id     TEXT PRIMARY KEY,
        password_hash  TEXT NOT NULL,
        created_at     INTEGER NOT NULL,
        last_seen      INTEGER
    );
    CREATE TABLE counters (name TEXT PRIMARY KEY, value INTEGER NOT NULL);
    INSERT INTO counters(name, value) VALUES ('decision_seq', 0);
    CREATE TABLE secrets (name TEXT PRIMARY KEY, value BLOB NOT NULL);
    "#,
];

/// The schema version this build writes.
pub fn current_version() -> i64 {
    MIGRATIONS.len() as i64
}

pub fn version(conn: &Connection) -> Result<i64> {
    Ok(conn.query_row("PRAGMA user_version", [], |r| r.get(0))?)
}

/// Brings the database to [`current_version`] (up to `target` in tests). Returns the versions it applied.
pub fn migrate(conn: &mut Connection, target: Option<i64>) -> Result<Vec<i64>> {
    let target = target.unwrap_or_else(current_version).min(current_version());
    let mut applied = Vec::new();
    loop {
        // The version is read inside the write transaction: two processes opening a new database at once apply
        // each migration once.
        let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        let v = version(&tx)?;
        if v > current_version() {
            return Err(StoreError(format!(
                "the database schema is version {v}, newer than this Correlator knows ({}): upgrade Correlator",
                current_version()
            )));
        }
        if v >= target {
            return Ok(applied);
        }
        tx.execute_batch(MIGRATIONS[v as usize])
            .map_err(|e| StoreError(format!("schema migration {} failed: {e}", v + 1)))?;
        tx.pragma_update(None, "user_version", v + 1)?;
        tx.commit()?;
        applied.push(v + 1);
    }
}
