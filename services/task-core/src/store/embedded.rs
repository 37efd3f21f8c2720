//! The embedded task store: one SQLite table in WAL mode, shareable by several processes.

use std::path::Path;

use async_trait::async_trait;
use rusqlite::{OptionalExtension, Row, TransactionBehavior, params, types::ValueRef};
use uuid::Uuid;

use super::{
    Applied, ListQuery, Page, StatusCounts, StoreError, TaskStore, Transition, Write, page_size,
};
use crate::{
    model::{Millis, Status, Task, TaskSpec},
    queue::TraceId,
    sqlite::{Db, DbError, Durability, GroupCommit, MultiRowInsert},
};

pub(crate) const SCHEMA: &str = "
    -- seq orders the list (newest first) and its cursors. Not AUTOINCREMENT: that keeps a
    -- counter in sqlite_sequence, read and written by every insert statement, one more page in
    -- every commit; without it a seq is only used again after the newest task is deleted (by a
    -- clear), which orders the same. Files made before keep their AUTOINCREMENT.
    CREATE TABLE IF NOT EXISTS tasks (
        seq INTEGER PRIMARY KEY,
        id TEXT NOT NULL UNIQUE,
        kind TEXT NOT NULL,
        intensity TEXT NOT NULL,
        fail_percent INTEGER NOT NULL,
        status TEXT NOT NULL,
        attempts INTEGER NOT NULL DEFAULT 0,
        created_at INTEGER NOT NULL,
        updated_at INTEGER NOT NULL,
        started_at INTEGER,
        finished_at INTEGER,
        duration_ms INTEGER,
        last_error TEXT,
        runner_id TEXT,
        -- Its 16 bytes as a BLOB; rows of older versions hold its hex (read_trace_id).
        trace_id TEXT
    );
    CREATE INDEX IF NOT EXISTS tasks_by_status ON tasks(status, seq);
    -- Counts by status, so /api/stats and the metrics sampler read a few rows instead of counting
    -- every task (hundreds of milliseconds of CPU at half a million tasks). Changes of status
    -- and deletes keep them by trigger; new rows are counted once per batch by the only code
    -- that inserts them (insert_task_rows): an insert trigger made SQLite keep a statement
    -- journal for every row, a copy of each page the insert touched.
    BEGIN IMMEDIATE;
    CREATE TABLE IF NOT EXISTS task_counts (
        status TEXT PRIMARY KEY,
        n INTEGER NOT NULL
    ) WITHOUT ROWID;
    DROP TRIGGER IF EXISTS task_counts_insert;
    CREATE TRIGGER IF NOT EXISTS task_counts_update AFTER UPDATE OF status ON tasks
        WHEN OLD.status <> NEW.status BEGIN
        UPDATE task_counts SET n = n - 1 WHERE status = OLD.status;
        INSERT INTO task_counts (status, n) VALUES (NEW.status, 1)
            ON CONFLICT (status) DO UPDATE SET n = n + 1;
    END;
    CREATE TRIGGER IF NOT EXISTS task_counts_delete AFTER DELETE ON tasks BEGIN
        UPDATE task_counts SET n = n - 1 WHERE status = OLD.status;
    END;
    -- A file written before the counts existed: count once.
    INSERT INTO task_counts (status, n)
        SELECT status, COUNT(*) FROM tasks
        WHERE NOT EXISTS (SELECT 1 FROM task_counts) GROUP BY status;
    COMMIT;";

const COLUMNS: &str = "seq, id, kind, intensity, fail_percent, status, attempts, created_at, \
     updated_at, started_at, finished_at, duration_ms, last_error, runner_id, trace_id";

/// Tasks in a SQLite file.
#[derive(Clone)]
pub struct EmbeddedTaskStore {
    db: Db,
    /// New tasks of concurrent requests share one transaction.
    creates: GroupCommit<Task, ()>,
}

fn insert_tasks(conn: &mut rusqlite::Connection, tasks: &[Task]) -> rusqlite::Result<Vec<()>> {
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    insert_task_rows(&tx, tasks)?;
    tx.commit()?;
    Ok(vec![(); tasks.len()])
}

/// Inserts new tasks within the caller's transaction.
pub(crate) fn insert_task_rows(
    tx: &rusqlite::Transaction<'_>,
    tasks: &[impl std::borrow::Borrow<Task>],
) -> rusqlite::Result<()> {
    // OR ROLLBACK: see `MultiRowInsert`.
    static INSERT: MultiRowInsert = MultiRowInsert::new(
        "INSERT OR ROLLBACK INTO tasks (id, kind, intensity, fail_percent, status, attempts,
         created_at, updated_at, trace_id) VALUES",
        "(?, ?, ?, ?, ?, 0, ?, ?, ?)",
    );
    INSERT.run(tx, tasks, |s, at, t| {
        let t = t.borrow();
        // The id's text without an allocation (SQLite copies bound text).
        let mut id = uuid::Uuid::encode_buffer();
        s.raw_bind_parameter(at, &*t.id.hyphenated().encode_lower(&mut id))?;
        s.raw_bind_parameter(at + 1, t.spec.kind.as_str())?;
        s.raw_bind_parameter(at + 2, t.spec.intensity.as_str())?;
        s.raw_bind_parameter(at + 3, t.spec.fail_percent)?;
        s.raw_bind_parameter(at + 4, t.status.as_str())?;
        s.raw_bind_parameter(at + 5, t.created_at.0)?;
        s.raw_bind_parameter(at + 6, t.created_at.0)?;
        s.raw_bind_parameter(at + 7, t.trace_id)?;
        Ok(at + 8)
    })?;
    // New rows by status (in practice all `queued`), added to `task_counts` once per batch.
    let mut added: Vec<(&'static str, i64)> = Vec::with_capacity(1);
    for t in tasks {
        let t = t.borrow();
        match added.iter_mut().find(|(s, _)| *s == t.status.as_str()) {
            Some((_, n)) => *n += 1,
            None => added.push((t.status.as_str(), 1)),
        }
    }
    let mut count = tx.prepare_cached(
        "INSERT INTO task_counts (status, n) VALUES (?1, ?2)
         ON CONFLICT (status) DO UPDATE SET n = n + excluded.n",
    )?;
    for (status, n) in added {
        count.execute(params![status, n])?;
    }
    Ok(())
}

impl From<DbError> for StoreError {
    fn from(e: DbError) -> Self {
        match e {
            DbError::Unavailable(m) => StoreError::Unavailable(m),
            DbError::Other(m) => StoreError::Other(m),
        }
    }
}

fn bad_column(i: usize, e: String) -> rusqlite::Error {
    rusqlite::Error::FromSqlConversionFailure(i, rusqlite::types::Type::Text, e.into())
}

fn task_from_row(r: &Row<'_>) -> rusqlite::Result<Task> {
    let id: String = r.get(1)?;
    let kind: String = r.get(2)?;
    let intensity: String = r.get(3)?;
    let status: String = r.get(5)?;
    Ok(Task {
        id: Uuid::parse_str(&id).map_err(|e| bad_column(1, e.to_string()))?,
        spec: TaskSpec {
            kind: kind.parse().map_err(|e| bad_column(2, e))?,
            intensity: intensity.parse().map_err(|e| bad_column(3, e))?,
            fail_percent: r.get(4)?,
        },
        status: status.parse().map_err(|e| bad_column(5, e))?,
        attempts: r.get(6)?,
        created_at: Millis(r.get(7)?),
        updated_at: Millis(r.get(8)?),
        started_at: r.get::<_, Option<i64>>(9)?.map(Millis),
        finished_at: r.get::<_, Option<i64>>(10)?.map(Millis),
        duration_ms: r.get(11)?,
        last_error: r.get(12)?,
        runner_id: r.get(13)?,
        trace_id: read_trace_id(r.get_ref(14)?),
    })
}

/// A row holds a trace id as its 16 bytes: a BLOB of half the hex's size, and every byte less in
/// a row is a byte less in every commit.
impl rusqlite::ToSql for TraceId {
    fn to_sql(&self) -> rusqlite::Result<rusqlite::types::ToSqlOutput<'_>> {
        Ok(rusqlite::types::ToSqlOutput::Borrowed(ValueRef::Blob(
            &self.0,
        )))
    }
}

/// The trace id of a row: its 16 bytes ([`TraceId`]'s `ToSql`), or the hex that rows of older
/// versions hold.
fn read_trace_id(value: ValueRef<'_>) -> Option<TraceId> {
    match value {
        ValueRef::Blob(bytes) => bytes.try_into().ok().map(TraceId),
        ValueRef::Text(hex) => std::str::from_utf8(hex).ok().and_then(TraceId::from_hex),
        _ => None,
    }
}

impl EmbeddedTaskStore {
    /// Opens (creating if needed) the task store in the SQLite file at `path`.
    ///
    /// # Errors
    /// [`StoreError::Unavailable`] when the file cannot be opened or created.
    pub fn open(path: &Path, durability: Durability) -> Result<Self, StoreError> {
        Ok(Self::on(Db::open(path, durability, SCHEMA)?))
    }

    /// The store in a database already opened with [`SCHEMA`].
    pub(crate) fn on(db: Db) -> Self {
        Self {
            creates: GroupCommit::new(db.clone(), insert_tasks),
            db,
        }
    }
}

#[async_trait]
impl TaskStore for EmbeddedTaskStore {
    async fn create(&self, tasks: &[Task]) -> Result<(), StoreError> {
        self.creates.submit(tasks.to_vec()).await?;
        Ok(())
    }

    async fn get(&self, id: Uuid) -> Result<Option<Task>, StoreError> {
        Ok(self
            .db
            .read(move |conn| {
                conn.prepare_cached(&format!("SELECT {COLUMNS} FROM tasks WHERE id = ?1"))?
                    .query_row(params![id.to_string()], task_from_row)
                    .optional()
            })
            .await?)
    }

    async fn transition(&self, id: Uuid, t: &Transition) -> Result<Applied, StoreError> {
        let w = Write::of(t);
        let (status, now, new_attempt, finishes) = (w.status, w.now, w.new_attempt, w.finishes);
        let runner_id = w.runner_id.map(str::to_owned);
        let trace_id = w.trace_id;
        let error = w.error.map(str::to_owned);
        let duration_ms = w.duration_ms;
        // At most four statuses to leave from: pad the IN list by repeating the first.
        let from = t.allowed_from();
        let allowed: Vec<&'static str> = (0..4)
            .map(|i| from.get(i).unwrap_or(&from[0]).as_str())
            .collect();
        let current = self
            .db
            .call(move |conn| {
                let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
                let changed = tx
                    .prepare_cached(
                        "UPDATE tasks SET
                            status = ?2, updated_at = ?3,
                            attempts = attempts + ?4,
                            started_at = CASE WHEN ?4 = 1 THEN COALESCE(started_at, ?3) ELSE started_at END,
                            finished_at = CASE WHEN ?5 THEN ?3 ELSE NULL END,
                            runner_id = COALESCE(?6, runner_id),
                            trace_id = COALESCE(?7, trace_id),
                            duration_ms = COALESCE(?8, duration_ms),
                            last_error = COALESCE(?9, last_error)
                         WHERE id = ?1 AND status IN (?10, ?11, ?12, ?13)",
                    )?
                    .execute(params![
                        id.to_string(),
                        status.as_str(),
                        now.0,
                        i64::from(new_attempt),
                        finishes,
                        runner_id,
                        trace_id,
                        duration_ms,
                        error,
                        allowed[0],
                        allowed[1],
                        allowed[2],
                        allowed[3],
                    ])?;
                let current: Option<String> = if changed == 1 {
                    Some(status.as_str().to_owned())
                } else {
                    tx.prepare_cached("SELECT status FROM tasks WHERE id = ?1")?
                        .query_row(params![id.to_string()], |r| r.get(0))
                        .optional()?
                };
                tx.commit()?;
                Ok((changed == 1, current))
            })
            .await?;
        Ok(match current {
            (true, _) => Applied::Yes,
            (false, None) => Applied::NotFound,
            (false, Some(s)) => Applied::Ignored {
                current: s.parse().map_err(StoreError::Other)?,
            },
        })
    }

    async fn list(&self, q: &ListQuery) -> Result<Page, StoreError> {
        let before: Option<i64> = match &q.cursor {
            None => None,
            Some(c) => Some(
                c.parse()
                    .map_err(|_| StoreError::Invalid(format!("unknown cursor `{c}`")))?,
            ),
        };
        let status = q.status.map(Status::as_str);
        let limit = page_size(q.limit);
        let mut rows = self
            .db
            .read(move |conn| {
                conn.prepare_cached(&format!(
                    "SELECT {COLUMNS} FROM tasks
                     WHERE (?1 IS NULL OR status = ?1) AND (?2 IS NULL OR seq < ?2)
                     ORDER BY seq DESC LIMIT ?3"
                ))?
                .query_map(params![status, before, i64::from(limit) + 1], |r| {
                    Ok((r.get::<_, i64>(0)?, task_from_row(r)?))
                })?
                .collect::<rusqlite::Result<Vec<_>>>()
            })
            .await?;
        // One row more than asked tells whether there is a next page.
        let next_cursor = if rows.len() > limit as usize {
            rows.truncate(limit as usize);
            rows.last().map(|(seq, _)| seq.to_string())
        } else {
            None
        };
        Ok(Page {
            tasks: rows.into_iter().map(|(_, t)| t).collect(),
            next_cursor,
        })
    }

    async fn counts(&self) -> Result<StatusCounts, StoreError> {
        let rows = self
            .db
            .read(|conn| {
                conn.prepare_cached("SELECT status, n FROM task_counts")?
                    .query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, u64>(1)?)))?
                    .collect::<rusqlite::Result<Vec<_>>>()
            })
            .await?;
        let mut counts = StatusCounts::default();
        for (status, n) in rows {
            *counts.get_mut(status.parse().map_err(StoreError::Other)?) = n;
        }
        Ok(counts)
    }

    async fn remove(&self, ids: &[Uuid]) -> Result<(), StoreError> {
        let ids: Vec<String> = ids.iter().map(Uuid::to_string).collect();
        Ok(self
            .db
            .call(move |conn| {
                let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
                {
                    let mut delete = tx.prepare_cached("DELETE FROM tasks WHERE id = ?1")?;
                    for id in &ids {
                        delete.execute(params![id])?;
                    }
                }
                tx.commit()
            })
            .await?)
    }

    async fn clear(&self) -> Result<u64, StoreError> {
        Ok(self
            .db
            .call(|conn| conn.execute("DELETE FROM tasks", []))
            .await? as u64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Durability, Intensity, Kind};

    #[tokio::test]
    async fn a_trace_id_is_stored_as_its_bytes_and_older_rows_read_back() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("tasks.sqlite");
        let spec = TaskSpec::new(Kind::Cpu, Intensity::Light, 0).unwrap();
        let trace = TraceId::from_hex("0af7651916cd43dd8448eb211c80319c");
        let (new, older) = (Task::new(spec, trace), Task::new(spec, trace));
        let store = EmbeddedTaskStore::open(&path, Durability::Normal).unwrap();
        store.create(&[new.clone(), older.clone()]).await.unwrap();
        let conn = rusqlite::Connection::open(&path).unwrap();
        let stored: Vec<u8> = conn
            .query_row(
                "SELECT trace_id FROM tasks WHERE id = ?1",
                [new.id.to_string()],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(stored, trace.unwrap().0);
        // As a version that wrote the hex left it.
        conn.execute(
            "UPDATE tasks SET trace_id = '0AF7651916cd43dd8448eb211c80319c' WHERE id = ?1",
            [older.id.to_string()],
        )
        .unwrap();
        for task in [new, older] {
            let got = store.get(task.id).await.unwrap().unwrap();
            assert_eq!(got.trace_id, trace);
        }
        assert_eq!(read_trace_id(ValueRef::Null), None);
        assert_eq!(read_trace_id(ValueRef::Text(b"not hex")), None);
    }

    #[tokio::test]
    async fn counts_start_from_the_tasks_a_file_already_has() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("tasks.sqlite");
        let spec = TaskSpec::new(Kind::Cpu, Intensity::Light, 0).unwrap();
        let tasks: Vec<Task> = (0..3).map(|_| Task::new(spec, None)).collect();
        EmbeddedTaskStore::open(&path, Durability::Normal)
            .unwrap()
            .create(&tasks)
            .await
            .unwrap();
        // As a file written before the counts existed.
        rusqlite::Connection::open(&path)
            .unwrap()
            .execute_batch(
                "DROP TRIGGER task_counts_update; DROP TRIGGER task_counts_delete;
                 DROP TABLE task_counts;",
            )
            .unwrap();

        let store = EmbeddedTaskStore::open(&path, Durability::Normal).unwrap();
        store.create(&[Task::new(spec, None)]).await.unwrap();

        let counts = store.counts().await.unwrap();
        assert_eq!((counts.queued, counts.total()), (4, 4));
    }

    #[tokio::test]
    async fn a_file_with_the_old_insert_trigger_counts_new_tasks_once() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("tasks.sqlite");
        let spec = TaskSpec::new(Kind::Cpu, Intensity::Light, 0).unwrap();
        EmbeddedTaskStore::open(&path, Durability::Normal).unwrap();
        // As a file written when an insert trigger counted new tasks.
        rusqlite::Connection::open(&path)
            .unwrap()
            .execute_batch(
                "CREATE TRIGGER task_counts_insert AFTER INSERT ON tasks BEGIN
                     INSERT INTO task_counts (status, n) VALUES (NEW.status, 1)
                         ON CONFLICT (status) DO UPDATE SET n = n + 1;
                 END;",
            )
            .unwrap();

        let store = EmbeddedTaskStore::open(&path, Durability::Normal).unwrap();
        let tasks: Vec<Task> = (0..2).map(|_| Task::new(spec, None)).collect();
        store.create(&tasks).await.unwrap();

        let counts = store.counts().await.unwrap();
        assert_eq!((counts.queued, counts.total()), (2, 2));
    }
}
