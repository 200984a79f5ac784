//! [`Store`] on SQLite (bundled, WAL journal, `synchronous=FULL`): a committed alert survives a crash of the
//! process or of the machine. One connection writes, one reads (WAL lets readers run beside the writer); both are
//! behind mutexes, as every call is short.
//!
//! Bouncer streams are tracked with a change sequence: every insertion or deletion of decisions takes the next value
//! of the `decision_seq` counter (writers are serialised, so the sequence follows commit order) and each bouncer
//! remembers the sequence and time of its last pull. "New since the last pull" is then `seq > last_seq` with no
//! race against concurrent inserts, and "ended since" is `last_pull < until <= now` (expiry) or a changed row that
//! is no longer active (deletion).

use std::path::Path;
use std::sync::{Mutex, MutexGuard};

use rusqlite::types::Value as SqlValue;
use rusqlite::{Connection, OptionalExtension, Row, params, params_from_iter};
use sha2::{Digest, Sha256};

use super::iprange::{IpInterval, decision_interval};
use super::model::{Alert, normalize_scope};
use super::{
    AlertFilter, Bouncer, CleanupReport, DecisionFilter, Machine, Nanos, NewAlert, Result, Store, StoreError,
    StoreStats, StoredDecision, StreamBatch, format_time, new_uuid, random_bytes, schema,
};

pub struct SqliteStore {
    writer: Mutex<Connection>,
    reader: Mutex<Connection>,
}

const DECISION_COLUMNS: &str =
    "d.id, d.uuid, d.alert_id, d.origin, d.type, d.scope, d.value, d.scenario, d.simulated, d.created_at, d.until";

fn decision_row(r: &Row<'_>) -> rusqlite::Result<StoredDecision> {
    Ok(StoredDecision {
        id: r.get(0)?,
        uuid: r.get(1)?,
        alert_id: r.get(2)?,
        origin: r.get(3)?,
        kind: r.get(4)?,
        scope: r.get(5)?,
        value: r.get(6)?,
        scenario: r.get(7)?,
        simulated: r.get(8)?,
        created_at: r.get(9)?,
        until: r.get(10)?,
    })
}

fn open_connection(path: &Path) -> Result<Connection> {
    let conn = Connection::open(path).map_err(|e| StoreError(format!("cannot open {}: {e}", path.display())))?;
    conn.busy_timeout(std::time::Duration::from_secs(10))?;
    // journal_mode answers with the mode in force; anything but WAL (e.g. a filesystem that cannot share memory)
    // is worth knowing about but not fatal.
    let mode: String = conn.query_row("PRAGMA journal_mode=WAL", [], |r| r.get(0))?;
    if !mode.eq_ignore_ascii_case("wal") {
        tracing::warn!("{}: journal mode is {mode}, not WAL", path.display());
    }
    conn.pragma_update(None, "synchronous", "FULL")?;
    conn.pragma_update(None, "foreign_keys", "ON")?;
    Ok(conn)
}

/// `value = 'x'`-style clauses of a decision filter on table alias `a`, with their parameters appended to `p`.
fn decision_clauses(f: &DecisionFilter, a: &str, p: &mut Vec<SqlValue>) -> String {
    let mut s = String::new();
    if let Some(id) = f.id {
        s += &format!(" AND {a}.id = ?");
        p.push(SqlValue::Integer(id));
    }
    if !f.scopes.is_empty() {
        s += &format!(" AND {a}.scope IN ({})", vec!["?"; f.scopes.len()].join(","));
        p.extend(f.scopes.iter().map(|x| SqlValue::Text(normalize_scope(x))));
    }
    if let Some(v) = &f.value {
        s += &format!(" AND {a}.value = ?");
        p.push(SqlValue::Text(v.clone()));
    }
    if let Some(t) = &f.kind {
        s += &format!(" AND {a}.type = ?");
        p.push(SqlValue::Text(t.clone()));
    }
    if let Some(sc) = &f.scenario {
        s += &format!(" AND {a}.scenario = ?");
        p.push(SqlValue::Text(sc.clone()));
    }
    if !f.origins.is_empty() {
        s += &format!(" AND {a}.origin IN ({})", vec!["?"; f.origins.len()].join(","));
        p.extend(f.origins.iter().map(|x| SqlValue::Text(x.clone())));
    }
    if !f.scenarios_containing.is_empty() {
        let any: Vec<String> =
            f.scenarios_containing.iter().map(|_| format!("instr(lower({a}.scenario), lower(?)) > 0")).collect();
        s += &format!(" AND ({})", any.join(" OR "));
        p.extend(f.scenarios_containing.iter().map(|x| SqlValue::Text(x.clone())));
    }
    for x in &f.scenarios_not_containing {
        s += &format!(" AND instr(lower({a}.scenario), lower(?)) = 0");
        p.push(SqlValue::Text(x.clone()));
    }
    if !f.include_simulated {
        s += &format!(" AND {a}.simulated = 0");
    }
    if let Some((iv, contains)) = &f.interval {
        interval_clause(&mut s, a, iv, *contains, p);
    }
    s
}

fn interval_clause(s: &mut String, a: &str, iv: &IpInterval, contains: bool, p: &mut Vec<SqlValue>) {
    // Row values compare lexicographically: (hi, lo) is the 128-bit address.
    if contains {
        *s += &format!(
            " AND {a}.ip_size = ? AND ({a}.start_hi, {a}.start_lo) <= (?, ?) AND ({a}.end_hi, {a}.end_lo) >= (?, ?)"
        );
    } else {
        *s += &format!(
            " AND {a}.ip_size = ? AND ({a}.start_hi, {a}.start_lo) >= (?, ?) AND ({a}.end_hi, {a}.end_lo) <= (?, ?)"
        );
    }
    p.extend([
        SqlValue::Integer(iv.size),
        SqlValue::Integer(iv.start.0),
        SqlValue::Integer(iv.start.1),
        SqlValue::Integer(iv.end.0),
        SqlValue::Integer(iv.end.1),
    ]);
}

/// Same decision key (scope, value, type) as alias `d`, on alias `o`.
const SAME_KEY: &str = "o.value = d.value AND o.scope = d.scope AND o.type = d.type";

fn query_decisions(conn: &Connection, sql: &str, p: Vec<SqlValue>) -> Result<Vec<StoredDecision>> {
    let mut st = conn.prepare_cached(sql)?;
    let rows = st.query_map(params_from_iter(p), decision_row)?;
    Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
}

/// Keeps one decision per key (the first seen): queries order by `until DESC` so that is the longest.
fn one_per_key(v: Vec<StoredDecision>) -> Vec<StoredDecision> {
    let mut seen = std::collections::HashSet::new();
    v.into_iter().filter(|d| seen.insert((d.scope.clone(), d.value.clone(), d.kind.clone()))).collect()
}

fn alert_fingerprint(machine: &str, a: &Alert) -> String {
    let mut h = Sha256::new();
    for part in [
        machine,
        &a.scenario,
        &a.source.scope,
        &a.source.value,
        &a.start_at,
        &a.stop_at,
        &a.events_count.to_string(),
        &a.message,
    ] {
        h.update((part.len() as u64).to_le_bytes());
        h.update(part.as_bytes());
    }
    h.finalize().iter().map(|b| format!("{b:02x}")).collect()
}

fn next_seq(tx: &Connection) -> Result<i64> {
    Ok(tx.query_row("UPDATE counters SET value = value + 1 WHERE name = 'decision_seq' RETURNING value", [], |r| {
        r.get(0)
    })?)
}

fn interval_values(iv: Option<IpInterval>) -> [SqlValue; 5] {
    match iv {
        Some(i) => [
            SqlValue::Integer(i.size),
            SqlValue::Integer(i.start.0),
            SqlValue::Integer(i.start.1),
            SqlValue::Integer(i.end.0),
            SqlValue::Integer(i.end.1),
        ],
        None => [SqlValue::Null, SqlValue::Null, SqlValue::Null, SqlValue::Null, SqlValue::Null],
    }
}

fn alert_interval(a: &Alert) -> Option<IpInterval> {
    let scope = normalize_scope(&a.source.scope);
    decision_interval(&scope, &a.source.value).or_else(|| IpInterval::parse(&a.source.ip))
}

impl SqliteStore {
    /// Opens (creating if needed) the database at `path` and brings its schema up to date.
    pub fn open(path: &Path) -> Result<SqliteStore> {
        Self::open_at_version(path, None)
    }

    /// [`SqliteStore::open`] stopping at a schema version (migration tests).
    pub fn open_at_version(path: &Path, version: Option<i64>) -> Result<SqliteStore> {
        if let Some(dir) = path.parent()
            && !dir.as_os_str().is_empty()
        {
            std::fs::create_dir_all(dir).map_err(|e| StoreError(format!("cannot create {}: {e}", dir.display())))?;
        }
        let mut writer = open_connection(path)?;
        schema::migrate(&mut writer, version)?;
        let reader = open_connection(path)?;
        Ok(SqliteStore { writer: Mutex::new(writer), reader: Mutex::new(reader) })
    }

    pub fn schema_version(&self) -> Result<i64> {
        schema::version(&self.read())
    }

    fn write(&self) -> MutexGuard<'_, Connection> {
        // A panic while holding the lock cannot leave a transaction open (rusqlite rolls back on drop), so the
        // connection is still usable.
        self.writer.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn read(&self) -> MutexGuard<'_, Connection> {
        self.reader.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn attach_decisions(&self, conn: &Connection, alerts: &mut [Alert], f: &AlertFilter, now: Nanos) -> Result<()> {
        let mut st = conn.prepare_cached(&format!(
            "SELECT {DECISION_COLUMNS} FROM decisions d WHERE d.alert_id = ?1 {} ORDER BY d.id",
            if f.include_simulated { "" } else { "AND d.simulated = 0" }
        ))?;
        for a in alerts.iter_mut() {
            let rows = st.query_map([a.id], decision_row)?;
            a.decisions = rows.map(|r| r.map(|d| d.to_api(now))).collect::<rusqlite::Result<Vec<_>>>()?;
        }
        Ok(())
    }
}

/// `WHERE` clauses of an alert filter on alias `a`.
fn alert_clauses(f: &AlertFilter, now: Nanos, p: &mut Vec<SqlValue>) -> String {
    let mut s = String::from(" WHERE 1=1");
    if let Some(id) = f.id {
        s += " AND a.id = ?";
        p.push(SqlValue::Integer(id));
    }
    if let Some(v) = &f.scope {
        s += " AND a.source_scope = ?";
        p.push(SqlValue::Text(normalize_scope(v)));
    }
    if let Some(v) = &f.value {
        s += " AND a.source_value = ?";
        p.push(SqlValue::Text(v.clone()));
    }
    if let Some(v) = &f.scenario {
        s += " AND a.scenario = ?";
        p.push(SqlValue::Text(v.clone()));
    }
    if let Some(t) = f.since {
        s += " AND a.created_at > ?";
        p.push(SqlValue::Integer(t));
    }
    if let Some(t) = f.until {
        s += " AND a.created_at < ?";
        p.push(SqlValue::Integer(t));
    }
    if !f.include_simulated {
        s += " AND a.simulated = 0";
    }
    if let Some((iv, contains)) = &f.interval {
        interval_clause(&mut s, "a", iv, *contains, p);
    }
    if f.has_active_decision.is_some() || f.decision_type.is_some() || f.origin.is_some() {
        let mut sub = String::from("SELECT 1 FROM decisions d WHERE d.alert_id = a.id");
        let mut sp = Vec::new();
        if f.has_active_decision.is_some() {
            sub += " AND d.until > ?";
            sp.push(SqlValue::Integer(now));
        }
        if let Some(t) = &f.decision_type {
            sub += " AND d.type = ?";
            sp.push(SqlValue::Text(t.clone()));
        }
        if let Some(o) = &f.origin {
            sub += " AND d.origin = ?";
            sp.push(SqlValue::Text(o.clone()));
        }
        let neg = f.has_active_decision == Some(false);
        s += &format!(" AND {}EXISTS ({sub})", if neg { "NOT " } else { "" });
        p.extend(sp);
    }
    s
}

impl Store for SqliteStore {
    fn add_alerts(&self, machine: &str, alerts: &[NewAlert], now: Nanos) -> Result<Vec<i64>> {
        let mut conn = self.write();
        let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        let mut ids = Vec::with_capacity(alerts.len());
        let mut seq = None;
        for na in alerts {
            let mut a = na.alert.clone();
            a.source.scope = normalize_scope(&a.source.scope);
            let fingerprint = alert_fingerprint(machine, &a);
            a.decisions.clear();
            a.id = 0;
            a.machine_id = machine.to_string();
            a.created_at = format_time(now);
            if a.uuid.is_empty() {
                a.uuid = new_uuid();
            }
            let body = serde_json::to_string(&a).map_err(|e| StoreError(format!("alert encoding: {e}")))?;
            let iv = interval_values(alert_interval(&a));
            let inserted: Option<i64> = tx
                .prepare_cached(
                    "INSERT INTO alerts (uuid, fingerprint, machine_id, created_at, scenario, source_scope, \
                     source_value, simulated, ip_size, start_hi, start_lo, end_hi, end_lo, body) \
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14) \
                     ON CONFLICT(fingerprint) DO NOTHING RETURNING id",
                )?
                .query_row(
                    params![
                        a.uuid,
                        fingerprint,
                        machine,
                        now,
                        a.scenario,
                        a.source.scope,
                        a.source.value,
                        a.simulated,
                        iv[0],
                        iv[1],
                        iv[2],
                        iv[3],
                        iv[4],
                        body
                    ],
                    |r| r.get(0),
                )
                .optional()?;
            let Some(alert_id) = inserted else {
                // Already recorded: a retry or a replay after a crash.
                let id = tx.query_row("SELECT id FROM alerts WHERE fingerprint = ?1", [&fingerprint], |r| r.get(0))?;
                ids.push(id);
                continue;
            };
            ids.push(alert_id);
            for d in &na.decisions {
                let seq = match seq {
                    Some(s) => s,
                    None => *seq.insert(next_seq(&tx)?),
                };
                let scope = normalize_scope(&d.scope);
                let iv = interval_values(decision_interval(&scope, &d.value));
                tx.prepare_cached(
                    "INSERT INTO decisions (uuid, alert_id, seq, created_at, until, origin, type, scope, value, \
                     scenario, simulated, ip_size, start_hi, start_lo, end_hi, end_lo) \
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16)",
                )?
                .execute(params![
                    new_uuid(),
                    alert_id,
                    seq,
                    now,
                    now.saturating_add(d.duration),
                    d.origin,
                    d.kind,
                    scope,
                    d.value,
                    d.scenario,
                    d.simulated,
                    iv[0],
                    iv[1],
                    iv[2],
                    iv[3],
                    iv[4]
                ])?;
            }
        }
        tx.execute("UPDATE machines SET last_seen = ?1 WHERE machine_id = ?2", params![now, machine])?;
        tx.commit()?;
        Ok(ids)
    }

    fn alerts(&self, f: &AlertFilter, now: Nanos) -> Result<Vec<Alert>> {
        let conn = self.read();
        let mut p = Vec::new();
        let mut sql = format!("SELECT a.id, a.body FROM alerts a{} ORDER BY a.id DESC", alert_clauses(f, now, &mut p));
        if let Some(l) = f.limit {
            sql += &format!(" LIMIT {l}");
        }
        let mut st = conn.prepare_cached(&sql)?;
        let rows = st.query_map(params_from_iter(p), |r| Ok((r.get::<_, i64>(0)?, r.get::<_, String>(1)?)))?;
        let mut out = Vec::new();
        for row in rows {
            let (id, body) = row?;
            let mut a: Alert =
                serde_json::from_str(&body).map_err(|e| StoreError(format!("alert {id} is unreadable: {e}")))?;
            a.id = id;
            out.push(a);
        }
        drop(st);
        self.attach_decisions(&conn, &mut out, f, now)?;
        Ok(out)
    }

    fn delete_alerts(&self, f: &AlertFilter, now: Nanos) -> Result<usize> {
        let mut conn = self.write();
        let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        let mut p = Vec::new();
        let clauses = alert_clauses(f, now, &mut p);
        // Deleting an alert deletes its decisions (ON DELETE CASCADE); active ones are first ended through the
        // change sequence, so bouncers are told.
        let mut dp = p.clone();
        dp.insert(0, SqlValue::Integer(now));
        let active: i64 = tx.query_row(
            &format!(
                "SELECT count(*) FROM decisions WHERE until > ? AND alert_id IN (SELECT a.id FROM alerts a{clauses})"
            ),
            params_from_iter(dp.iter()),
            |r| r.get(0),
        )?;
        if active > 0 {
            let seq = next_seq(&tx)?;
            let mut up = vec![SqlValue::Integer(now), SqlValue::Integer(seq), SqlValue::Integer(now)];
            up.extend(p.iter().cloned());
            tx.execute(
                &format!(
                    "UPDATE decisions SET until = ?, seq = ?, alert_id = NULL WHERE until > ? AND alert_id IN \
                     (SELECT a.id FROM alerts a{clauses})"
                ),
                params_from_iter(up),
            )?;
        }
        let n = tx.execute(
            &format!("DELETE FROM alerts WHERE id IN (SELECT a.id FROM alerts a{clauses})"),
            params_from_iter(p),
        )?;
        tx.commit()?;
        Ok(n)
    }

    fn decisions(&self, f: &DecisionFilter, now: Nanos) -> Result<Vec<StoredDecision>> {
        let conn = self.read();
        let mut p = vec![SqlValue::Integer(now)];
        let sql = format!(
            "SELECT {DECISION_COLUMNS} FROM decisions d WHERE d.until > ?{} ORDER BY d.id",
            decision_clauses(f, "d", &mut p)
        );
        query_decisions(&conn, &sql, p)
    }

    fn expire_decisions(&self, f: &DecisionFilter, now: Nanos) -> Result<Vec<StoredDecision>> {
        let mut conn = self.write();
        let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        let mut p = vec![SqlValue::Integer(now)];
        let clauses = decision_clauses(f, "d", &mut p);
        let ended = query_decisions(
            &tx,
            &format!("SELECT {DECISION_COLUMNS} FROM decisions d WHERE d.until > ?{clauses} ORDER BY d.id"),
            p,
        )?;
        if !ended.is_empty() {
            let seq = next_seq(&tx)?;
            let mut st = tx.prepare_cached("UPDATE decisions SET until = ?1, seq = ?2 WHERE id = ?3")?;
            for d in &ended {
                st.execute(params![now, seq, d.id])?;
            }
        }
        tx.commit()?;
        Ok(ended.into_iter().map(|d| StoredDecision { until: now, ..d }).collect())
    }

    fn pull(&self, bouncer_id: i64, startup: bool, f: &DecisionFilter, now: Nanos) -> Result<StreamBatch> {
        let mut conn = self.write();
        let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        let (last_pull, last_seq): (Option<i64>, i64) = tx
            .query_row("SELECT last_pull, last_seq FROM bouncers WHERE id = ?1", [bouncer_id], |r| {
                Ok((r.get(0)?, r.get(1)?))
            })
            .optional()?
            .ok_or_else(|| StoreError(format!("no bouncer with id {bouncer_id}")))?;
        let current_seq: i64 =
            tx.query_row("SELECT value FROM counters WHERE name = 'decision_seq'", [], |r| r.get(0))?;
        let first = startup || last_pull.is_none();

        // New: active decisions (changed since the last pull unless this is a full pull) that no longer decision
        // of the same key (among those the bouncer may see) outlasts.
        let mut p = vec![SqlValue::Integer(now)];
        let mut sql = format!("SELECT {DECISION_COLUMNS} FROM decisions d WHERE d.until > ?");
        if !first {
            sql += " AND d.seq > ?";
            p.push(SqlValue::Integer(last_seq));
        }
        sql += &decision_clauses(f, "d", &mut p);
        sql += &format!(
            " AND NOT EXISTS (SELECT 1 FROM decisions o WHERE {SAME_KEY} AND (o.until > d.until OR (o.until = d.until AND o.id > d.id))"
        );
        sql += &decision_clauses(f, "o", &mut p);
        sql += ") ORDER BY d.until DESC, d.id DESC";
        let new = one_per_key(query_decisions(&tx, &sql, p)?);

        // Deleted: ended decisions (every one still kept on a full pull; else those that ended or changed since the
        // last pull) whose key has no active decision left.
        let mut p = vec![SqlValue::Integer(now)];
        let mut sql = format!("SELECT {DECISION_COLUMNS} FROM decisions d WHERE d.until <= ?");
        if !first {
            sql += " AND (d.until > ? OR d.seq > ?)";
            p.push(SqlValue::Integer(last_pull.unwrap_or(0)));
            p.push(SqlValue::Integer(last_seq));
        }
        sql += &decision_clauses(f, "d", &mut p);
        sql += &format!(" AND NOT EXISTS (SELECT 1 FROM decisions o WHERE {SAME_KEY} AND o.until > ?");
        p.push(SqlValue::Integer(now));
        sql += &decision_clauses(f, "o", &mut p);
        sql += ") ORDER BY d.until DESC, d.id DESC";
        let deleted = if first && last_pull.is_none() && !startup {
            // A bouncer's very first pull without startup=true: nothing to take back.
            Vec::new()
        } else {
            one_per_key(query_decisions(&tx, &sql, p)?)
        };

        tx.execute(
            "UPDATE bouncers SET last_pull = ?1, last_seq = ?2 WHERE id = ?3",
            params![now, current_seq, bouncer_id],
        )?;
        tx.commit()?;
        Ok(StreamBatch { new, deleted })
    }

    fn cleanup(&self, now: Nanos, keep_expired: i64, keep_alerts: i64) -> Result<CleanupReport> {
        let mut conn = self.write();
        let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        let decisions = tx.execute("DELETE FROM decisions WHERE until < ?1", [now.saturating_sub(keep_expired)])?;
        let alerts = if keep_alerts > 0 {
            tx.execute(
                "DELETE FROM alerts WHERE created_at < ?1 AND NOT EXISTS \
                 (SELECT 1 FROM decisions d WHERE d.alert_id = alerts.id AND d.until > ?2)",
                params![now.saturating_sub(keep_alerts), now],
            )?
        } else {
            0
        };
        tx.commit()?;
        Ok(CleanupReport { decisions, alerts })
    }

    fn count_decisions(&self, value: &str, created_after: Option<Nanos>, active_at: Option<Nanos>) -> Result<i64> {
        let conn = self.read();
        Ok(conn.query_row(
            "SELECT count(*) FROM decisions WHERE value = ?1 AND (?2 IS NULL OR created_at > ?2) \
             AND (?3 IS NULL OR until > ?3)",
            params![value, created_after, active_at],
            |r| r.get(0),
        )?)
    }

    fn longest_until(&self, value: &str, now: Nanos) -> Result<Option<Nanos>> {
        let conn = self.read();
        Ok(conn.query_row(
            "SELECT max(until) FROM decisions WHERE value = ?1 AND until > ?2",
            params![value, now],
            |r| r.get(0),
        )?)
    }

    fn add_bouncer(&self, name: &str, key_hash: &str, now: Nanos) -> Result<i64> {
        let conn = self.write();
        conn.execute(
            "INSERT INTO bouncers (name, key_hash, created_at) VALUES (?1, ?2, ?3)",
            params![name, key_hash, now],
        )
        .map_err(|e| match e {
            rusqlite::Error::SqliteFailure(f, _) if f.code == rusqlite::ErrorCode::ConstraintViolation => {
                StoreError(format!("a bouncer named {name:?} already exists"))
            }
            e => e.into(),
        })?;
        Ok(conn.last_insert_rowid())
    }

    fn bouncers(&self) -> Result<Vec<Bouncer>> {
        let conn = self.read();
        let mut st =
            conn.prepare_cached("SELECT id, name, key_hash, created_at, last_pull FROM bouncers ORDER BY id")?;
        let rows = st.query_map([], |r| {
            Ok(Bouncer {
                id: r.get(0)?,
                name: r.get(1)?,
                key_hash: r.get(2)?,
                created_at: r.get(3)?,
                last_pull: r.get(4)?,
            })
        })?;
        Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
    }

    fn delete_bouncer(&self, name: &str) -> Result<bool> {
        Ok(self.write().execute("DELETE FROM bouncers WHERE name = ?1", [name])? > 0)
    }

    fn add_machine(&self, machine_id: &str, password_hash: &str, now: Nanos) -> Result<()> {
        self.write()
            .execute(
                "INSERT INTO machines (machine_id, password_hash, created_at) VALUES (?1, ?2, ?3)",
                params![machine_id, password_hash, now],
            )
            .map_err(|e| match e {
                rusqlite::Error::SqliteFailure(f, _) if f.code == rusqlite::ErrorCode::ConstraintViolation => {
                    StoreError(format!("a machine named {machine_id:?} already exists"))
                }
                e => e.into(),
            })?;
        Ok(())
    }

    fn machines(&self) -> Result<Vec<Machine>> {
        let conn = self.read();
        let mut st = conn.prepare_cached(
            "SELECT machine_id, password_hash, created_at, last_seen FROM machines ORDER BY machine_id",
        )?;
        let rows = st.query_map([], |r| {
            Ok(Machine { machine_id: r.get(0)?, password_hash: r.get(1)?, created_at: r.get(2)?, last_seen: r.get(3)? })
        })?;
        Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
    }

    fn machine(&self, machine_id: &str) -> Result<Option<Machine>> {
        let conn = self.read();
        Ok(conn
            .query_row(
                "SELECT machine_id, password_hash, created_at, last_seen FROM machines WHERE machine_id = ?1",
                [machine_id],
                |r| {
                    Ok(Machine {
                        machine_id: r.get(0)?,
                        password_hash: r.get(1)?,
                        created_at: r.get(2)?,
                        last_seen: r.get(3)?,
                    })
                },
            )
            .optional()?)
    }

    fn delete_machine(&self, machine_id: &str) -> Result<bool> {
        Ok(self.write().execute("DELETE FROM machines WHERE machine_id = ?1", [machine_id])? > 0)
    }

    fn secret(&self, name: &str) -> Result<Vec<u8>> {
        let conn = self.write();
        let mut fresh = [0u8; 32];
        random_bytes(&mut fresh);
        conn.execute("INSERT OR IGNORE INTO secrets (name, value) VALUES (?1, ?2)", params![name, &fresh[..]])?;
        Ok(conn.query_row("SELECT value FROM secrets WHERE name = ?1", [name], |r| r.get(0))?)
    }

    fn stats(&self, now: Nanos) -> Result<StoreStats> {
        let conn = self.read();
        let mut st = conn.prepare_cached(
            "SELECT scenario, origin, type, count(*) FROM decisions WHERE until > ?1 GROUP BY scenario, origin, type \
             ORDER BY scenario, origin, type",
        )?;
        let active_decisions = st
            .query_map([now], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        let mut st =
            conn.prepare_cached("SELECT scenario, count(*) FROM alerts GROUP BY scenario ORDER BY scenario")?;
        let alerts = st.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?.collect::<rusqlite::Result<Vec<_>>>()?;
        Ok(StoreStats { active_decisions, alerts })
    }
}

#[cfg(test)]
mod tests {
    use super::super::{NewDecision, Source};
    use super::*;

    const H: i64 = 3_600_000_000_000;
    const S: i64 = 1_000_000_000;

    fn store() -> (tempfile::TempDir, SqliteStore) {
        let d = tempfile::tempdir().unwrap();
        let s = SqliteStore::open(&d.path().join("t.db")).unwrap();
        (d, s)
    }

    fn alert(value: &str, scope: &str, stop: &str) -> Alert {
        Alert {
            scenario: "test/scenario".into(),
            message: format!("{value} did it"),
            events_count: 6,
            start_at: "2026-03-02T08:00:00Z".into(),
            stop_at: stop.into(),
            leakspeed: "10s".into(),
            capacity: 5,
            source: Source { scope: scope.into(), value: value.into(), ip: value.into(), ..Source::default() },
            ..Alert::default()
        }
    }

    fn ban(value: &str, scope: &str, dur: i64) -> NewDecision {
        NewDecision {
            origin: "crowdsec".into(),
            kind: "ban".into(),
            scope: scope.into(),
            value: value.into(),
            scenario: "test/scenario".into(),
            simulated: false,
            duration: dur,
        }
    }

    fn add(s: &SqliteStore, value: &str, scope: &str, dur: i64, now: Nanos) -> i64 {
        let na = NewAlert { alert: alert(value, scope, &format!("t{now}")), decisions: vec![ban(value, scope, dur)] };
        s.add_alerts("m", &[na], now).unwrap()[0]
    }

    fn values(v: &[StoredDecision]) -> Vec<&str> {
        v.iter().map(|d| d.value.as_str()).collect()
    }

    #[test]
    fn migrations_create_and_reopen() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("m.db");
        let s = SqliteStore::open_at_version(&p, Some(0)).unwrap();
        assert_eq!(s.schema_version().unwrap(), 0);
        drop(s);
        let s = SqliteStore::open(&p).unwrap();
        assert_eq!(s.schema_version().unwrap(), schema::current_version());
        add(&s, "192.0.2.1", "Ip", H, 10 * S);
        drop(s);
        let s = SqliteStore::open(&p).unwrap();
        assert_eq!(s.decisions(&DecisionFilter::default(), 11 * S).unwrap().len(), 1);
        // A database from a newer Correlator is refused.
        s.write().pragma_update(None, "user_version", 99).unwrap();
        drop(s);
        let e = SqliteStore::open(&p).err().unwrap();
        assert!(e.0.contains("newer"), "{e}");
    }

    #[test]
    fn same_alert_twice_is_recorded_once() {
        let (_d, s) = store();
        let na = NewAlert { alert: alert("192.0.2.1", "Ip", "x"), decisions: vec![ban("192.0.2.1", "Ip", H)] };
        let a = s.add_alerts("m", std::slice::from_ref(&na), S).unwrap();
        let b = s.add_alerts("m", &[na], 2 * S).unwrap();
        assert_eq!(a, b);
        assert_eq!(s.alerts(&AlertFilter::default(), 3 * S).unwrap().len(), 1);
        assert_eq!(s.decisions(&DecisionFilter::default(), 3 * S).unwrap().len(), 1);
    }

    #[test]
    fn expiry_is_a_query_time_filter_and_cleanup_removes_old_rows() {
        let (_d, s) = store();
        add(&s, "192.0.2.1", "Ip", 10 * S, 0);
        add(&s, "192.0.2.2", "Ip", H, 0);
        let all = DecisionFilter::default();
        assert_eq!(values(&s.decisions(&all, 5 * S).unwrap()), ["192.0.2.1", "192.0.2.2"]);
        assert_eq!(values(&s.decisions(&all, 10 * S).unwrap()), ["192.0.2.2"]);
        let r = s.cleanup(30 * S, 15 * S, 0).unwrap();
        assert_eq!(r.decisions, 1);
        assert_eq!(s.count_decisions("192.0.2.1", None, None).unwrap(), 0);
        let r = s.cleanup(2 * H, 0, H).unwrap();
        assert_eq!(r, CleanupReport { decisions: 1, alerts: 2 });
    }

    #[test]
    fn ip_queries_match_ranges_that_contain_them() {
        let (_d, s) = store();
        add(&s, "192.0.2.0/24", "Range", H, 0);
        add(&s, "198.51.100.7", "Ip", H, 0);
        add(&s, "2001:db8::/32", "Range", H, 0);
        let q = |v: &str, contains: bool| {
            let f = DecisionFilter { interval: Some((IpInterval::parse(v).unwrap(), contains)), ..Default::default() };
            values(&s.decisions(&f, S).unwrap()).into_iter().map(String::from).collect::<Vec<_>>()
        };
        assert_eq!(q("192.0.2.77", true), ["192.0.2.0/24"]);
        assert_eq!(q("192.0.3.1", true), Vec::<String>::new());
        assert_eq!(q("198.51.100.7", true), ["198.51.100.7"]);
        assert_eq!(q("2001:db8:1::5", true), ["2001:db8::/32"]);
        assert_eq!(q("192.0.2.0/25", true), ["192.0.2.0/24"]);
        // contains=false: decisions inside the given range.
        assert_eq!(q("198.51.100.0/24", false), ["198.51.100.7"]);
        assert_eq!(q("0.0.0.0/0", false), ["192.0.2.0/24", "198.51.100.7"]);
    }

    #[test]
    fn stream_sends_new_and_deleted_per_bouncer() {
        let (_d, s) = store();
        let b1 = s.add_bouncer("one", "h1", 0).unwrap();
        let b2 = s.add_bouncer("two", "h2", 0).unwrap();
        let f = DecisionFilter { scopes: vec!["ip".into(), "range".into()], ..Default::default() };
        add(&s, "192.0.2.1", "Ip", 100 * S, S);
        add(&s, "192.0.2.2", "Ip", 10 * S, S);
        // Startup: everything active.
        let r = s.pull(b1, true, &f, 2 * S).unwrap();
        assert_eq!(values(&r.new), ["192.0.2.1", "192.0.2.2"]);
        assert!(r.deleted.is_empty());
        // Nothing changed.
        let r = s.pull(b1, false, &f, 3 * S).unwrap();
        assert!(r.new.is_empty() && r.deleted.is_empty(), "{r:?}");
        // A new decision, then one expires by time, then one is deleted by hand.
        add(&s, "192.0.2.3", "Ip", 100 * S, 4 * S);
        let r = s.pull(b1, false, &f, 5 * S).unwrap();
        assert_eq!(values(&r.new), ["192.0.2.3"]);
        let r = s.pull(b1, false, &f, 12 * S).unwrap();
        assert!(r.new.is_empty());
        assert_eq!(values(&r.deleted), ["192.0.2.2"]);
        let ended = s
            .expire_decisions(&DecisionFilter { value: Some("192.0.2.1".into()), ..Default::default() }, 13 * S)
            .unwrap();
        assert_eq!(values(&ended), ["192.0.2.1"]);
        let r = s.pull(b1, false, &f, 14 * S).unwrap();
        assert_eq!(values(&r.deleted), ["192.0.2.1"]);
        let r = s.pull(b1, false, &f, 15 * S).unwrap();
        assert!(r.new.is_empty() && r.deleted.is_empty(), "{r:?}");
        // The second bouncer has its own position: its first pull is a full one.
        let r = s.pull(b2, true, &f, 15 * S).unwrap();
        assert_eq!(values(&r.new), ["192.0.2.3"]);
        assert_eq!(values(&r.deleted), ["192.0.2.1", "192.0.2.2"]);
        let b = s.bouncers().unwrap();
        assert_eq!(b[0].last_pull, Some(15 * S));
    }

    #[test]
    fn stream_keeps_the_longest_decision_per_key() {
        let (_d, s) = store();
        let b = s.add_bouncer("b", "h", 0).unwrap();
        let f = DecisionFilter::default();
        add(&s, "192.0.2.1", "Ip", 100 * S, S);
        s.pull(b, true, &f, 2 * S).unwrap();
        // A shorter decision for the same address is not news; its expiry is not a deletion while the long one lasts.
        add(&s, "192.0.2.1", "Ip", 5 * S, 3 * S);
        let r = s.pull(b, false, &f, 4 * S).unwrap();
        assert!(r.new.is_empty(), "{r:?}");
        let r = s.pull(b, false, &f, 20 * S).unwrap();
        assert!(r.deleted.is_empty(), "{r:?}");
        // A longer one is.
        add(&s, "192.0.2.1", "Ip", 1000 * S, 21 * S);
        let r = s.pull(b, false, &f, 22 * S).unwrap();
        assert_eq!(r.new.len(), 1);
        assert_eq!(r.new[0].until, 1021 * S);
    }

    #[test]
    fn stream_filters_scopes_and_simulation() {
        let (_d, s) = store();
        let b = s.add_bouncer("b", "h", 0).unwrap();
        add(&s, "192.0.2.1", "Ip", H, S);
        add(&s, "alice", "username", H, S);
        let mut sim = ban("192.0.2.9", "Ip", H);
        sim.simulated = true;
        s.add_alerts("m", &[NewAlert { alert: alert("192.0.2.9", "Ip", "sim"), decisions: vec![sim] }], S).unwrap();
        let f = DecisionFilter { scopes: vec!["ip".into(), "range".into()], ..Default::default() };
        let r = s.pull(b, true, &f, 2 * S).unwrap();
        assert_eq!(values(&r.new), ["192.0.2.1"]);
    }

    #[test]
    fn deleting_an_alert_ends_its_decisions_for_bouncers() {
        let (_d, s) = store();
        let b = s.add_bouncer("b", "h", 0).unwrap();
        let id = add(&s, "192.0.2.1", "Ip", H, S);
        let f = DecisionFilter::default();
        s.pull(b, true, &f, 2 * S).unwrap();
        let n = s.delete_alerts(&AlertFilter { id: Some(id), ..Default::default() }, 3 * S).unwrap();
        assert_eq!(n, 1);
        let r = s.pull(b, false, &f, 4 * S).unwrap();
        assert_eq!(values(&r.deleted), ["192.0.2.1"]);
    }

    #[test]
    fn alert_filters_and_counts() {
        let (_d, s) = store();
        add(&s, "192.0.2.1", "Ip", H, S);
        add(&s, "192.0.2.1", "Ip", 2 * H, 2 * S);
        add(&s, "198.51.100.1", "Ip", 10 * S, 3 * S);
        let all = s.alerts(&AlertFilter::default(), 4 * S).unwrap();
        assert_eq!(all.len(), 3);
        assert_eq!(all[0].source.value, "198.51.100.1", "newest first");
        assert_eq!(all[0].decisions.len(), 1);
        let by_ip =
            AlertFilter { interval: Some((IpInterval::parse("192.0.2.0/24").unwrap(), false)), ..Default::default() };
        assert_eq!(s.alerts(&by_ip, 4 * S).unwrap().len(), 2);
        let active = AlertFilter { has_active_decision: Some(true), ..Default::default() };
        assert_eq!(s.alerts(&active, 20 * S).unwrap().len(), 2);
        assert_eq!(s.count_decisions("192.0.2.1", None, None).unwrap(), 2);
        assert_eq!(s.count_decisions("192.0.2.1", Some(S), None).unwrap(), 1);
        assert_eq!(s.count_decisions("192.0.2.1", None, Some(H + 2 * S)).unwrap(), 1);
        assert_eq!(s.longest_until("192.0.2.1", 4 * S).unwrap(), Some(2 * H + 2 * S));
        let st = s.stats(4 * S).unwrap();
        assert_eq!(st.alerts, vec![("test/scenario".to_string(), 3)]);
        assert_eq!(st.active_decisions, vec![("test/scenario".into(), "crowdsec".into(), "ban".into(), 3)]);
    }

    #[test]
    fn bouncers_machines_and_secrets() {
        let (_d, s) = store();
        s.add_bouncer("fw", "abc", 1).unwrap();
        assert!(s.add_bouncer("fw", "def", 1).unwrap_err().0.contains("already exists"));
        assert_eq!(s.bouncers().unwrap().len(), 1);
        assert!(s.delete_bouncer("fw").unwrap());
        assert!(!s.delete_bouncer("fw").unwrap());
        s.add_machine("agent-1", "$argon2id$x", 1).unwrap();
        assert_eq!(s.machine("agent-1").unwrap().unwrap().password_hash, "$argon2id$x");
        assert!(s.machine("nope").unwrap().is_none());
        assert_eq!(s.machines().unwrap().len(), 1);
        assert!(s.delete_machine("agent-1").unwrap());
        let k1 = s.secret("jwt").unwrap();
        assert_eq!(k1.len(), 32);
        assert_eq!(s.secret("jwt").unwrap(), k1);
    }
}
