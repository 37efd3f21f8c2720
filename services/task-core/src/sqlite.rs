//! The SQLite plumbing both embedded backends share: opening a file in WAL mode so several
//! processes can use it, and running short transactions without blocking the runtime for long.

use std::{path::Path, sync::Arc, time::Duration};

use rusqlite::{Connection, ErrorCode};

/// How much a commit survives.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Durability {
    /// `synchronous=NORMAL`: a commit survives a crash of the process; the last commits may be
    /// lost if the machine loses power. SQLite's recommended setting for WAL.
    #[default]
    Normal,
    /// `synchronous=FULL`: every commit is fsynced before it returns.
    Full,
}

impl std::str::FromStr for Durability {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "normal" => Ok(Durability::Normal),
            "full" => Ok(Durability::Full),
            other => Err(format!(
                "unknown durability `{other}`; expected normal or full"
            )),
        }
    }
}

/// Called by SQLite while another connection holds the write lock; `attempt` counts the calls.
///
/// SQLite's own busy timeout sleeps in steps of up to 100 ms, far longer than our transactions
/// (tens of microseconds), which caps throughput under contention. This handler sleeps 20 us, then
/// backs off to at most 2 ms, and gives up after about 10 s (the caller then sees "busy": the
/// backend is unavailable).
fn wait_for_lock(attempt: i32) -> bool {
    let micros = match attempt {
        0..=9 => 20,
        n => (50 * (n - 9)).min(2_000),
    };
    std::thread::sleep(Duration::from_micros(micros as u64));
    attempt < 5_100
}

/// WAL pages after which a commit checkpoints inline (SQLite's default is 1000): only reached
/// when the background checkpointer cannot keep up.
const INLINE_CHECKPOINT_PAGES: i64 = 20_000;
/// How often the background checkpointer runs. A pass copies each page once however many commits
/// changed it, so passes far apart copy less: at 200 ms the API's checkpoint thread used ~20 %
/// less CPU per request than at 50 ms under wrk.
const CHECKPOINT_EVERY: Duration = Duration::from_millis(200);
/// WAL pages after which the checkpointer finishes with this handle's writes held (see
/// [`spawn_checkpointer`]).
const RESTART_WAL_PAGES: i64 = 4_096;
/// Passes the checkpointer makes without holding writes before the held one, and the frames left
/// to copy at which it stops early.
const CATCH_UP_PASSES: usize = 3;
const FEW_FRAMES: i64 = 16;
/// The shortest time between two held passes. Every commit past [`RESTART_WAL_PAGES`] wakes the
/// checkpointer, and a reader on an old snapshot can keep the WAL from starting over for as long
/// as it reads: without a gap the checkpointer would hold writes back to back meanwhile.
const MIN_RESTART_GAP: Duration = Duration::from_millis(50);

/// Checkpoints `path` every [`CHECKPOINT_EVERY`] on its own connection until the handle is gone,
/// and at once when woken (the writer's WAL hook wakes it past [`RESTART_WAL_PAGES`]: under a
/// burst of small commits a tick is thousands of frames).
///
/// A PASSIVE checkpoint takes no write lock: commits go on while it copies. But under constant
/// writes it never copies the frames appended while it ran, and SQLite only starts the WAL over
/// once everything is copied, so the WAL would grow to [`INLINE_CHECKPOINT_PAGES`] and one commit
/// would pay for a large inline checkpoint. Past [`RESTART_WAL_PAGES`], the checkpointer first
/// catches up without holding anything (each pass leaves only the frames appended while it ran),
/// then takes this handle's write connection for one last pass over the few frames left, and the
/// next commit starts the WAL over. Writes wait for that pass alone: mostly its two `fsync`s,
/// 1-4 ms here at half the API's maximum rate, the longest 6-9 ms under `wrk` at full rate (timed
/// around the held pass), where holding them for the first catch-up pass stalled them for 3-11 ms.
fn spawn_checkpointer(
    path: &Path,
    writer: std::sync::Weak<tokio::sync::Mutex<Connection>>,
) -> std::io::Result<std::thread::Thread> {
    let path = path.to_owned();
    let spawned = std::thread::Builder::new()
        .name("sqlite-checkpoint".into())
        .spawn(move || {
            let Ok(conn) = Connection::open(&path) else {
                return;
            };
            // Returns the WAL's frames and how many of them are copied; errors (a busy file) are
            // retried on the next tick, and commits checkpoint inline if this never succeeds.
            let checkpoint = || {
                conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |r| {
                    Ok((r.get::<_, i64>(1)?, r.get::<_, i64>(2)?))
                })
            };
            let mut last_held: Option<std::time::Instant> = None;
            loop {
                std::thread::park_timeout(CHECKPOINT_EVERY);
                if let Some(gap) = last_held.and_then(|t| MIN_RESTART_GAP.checked_sub(t.elapsed()))
                {
                    std::thread::sleep(gap);
                }
                let Ok((frames, _)) = checkpoint() else {
                    continue;
                };
                if frames >= RESTART_WAL_PAGES {
                    for _ in 0..CATCH_UP_PASSES {
                        match checkpoint() {
                            Ok((frames, copied)) if frames - copied > FEW_FRAMES => {}
                            _ => break,
                        }
                    }
                    let Some(writer) = writer.upgrade() else {
                        return;
                    };
                    let writes_held = writer.blocking_lock();
                    let _ = checkpoint();
                    drop(writes_held);
                    last_held = Some(std::time::Instant::now());
                    // The commits made while this caught up woke it again, but the WAL only
                    // starts over at the next commit: waking now would find it still long and
                    // hold writes for a second, needless pass.
                    std::thread::park_timeout(Duration::ZERO);
                }
                if writer.strong_count() == 0 {
                    return;
                }
            }
        })?;
    Ok(spawned.thread().clone())
}

/// Stands in for SQLite's auto-checkpoint on the writing connection (a WAL hook replaces it): a
/// commit that leaves [`INLINE_CHECKPOINT_PAGES`] in the WAL checkpoints inline, one past
/// [`RESTART_WAL_PAGES`] wakes the checkpointer once it is running. Runs after each commit, under
/// the writer's lock.
fn checkpoint_past_limits(
    conn: &mut Connection,
    checkpointer: Arc<std::sync::OnceLock<std::thread::Thread>>,
) -> rusqlite::Result<()> {
    conn.wal_hook(Some(
        move |wal: &mut rusqlite::hooks::Wal, pages: std::ffi::c_int| {
            let pages = i64::from(pages);
            if pages >= INLINE_CHECKPOINT_PAGES {
                // As SQLite's own hook does, the checkpoint's result is not the commit's: an
                // error returned here would fail a statement whose commit has happened (a
                // checkpoint busy with the checkpointer's, say), and the caller would retry it.
                let _ = wal.checkpoint();
            } else if pages >= RESTART_WAL_PAGES {
                if let Some(thread) = checkpointer.get() {
                    thread.unpark();
                }
            }
            Ok(())
        },
    ))
}

/// A SQLite failure, sorted by what the caller does next.
#[derive(Debug, Clone)]
pub(crate) enum DbError {
    /// Locked past the busy timeout, or the file cannot be used: retry later.
    Unavailable(String),
    Other(String),
}

impl From<rusqlite::Error> for DbError {
    fn from(e: rusqlite::Error) -> Self {
        let transient = matches!(
            &e,
            rusqlite::Error::SqliteFailure(f, _) if matches!(
                f.code,
                ErrorCode::DatabaseBusy
                    | ErrorCode::DatabaseLocked
                    | ErrorCode::CannotOpen
                    | ErrorCode::DiskFull
                    | ErrorCode::SystemIoFailure
                    | ErrorCode::ReadOnly
            )
        );
        if transient {
            DbError::Unavailable(e.to_string())
        } else {
            DbError::Other(e.to_string())
        }
    }
}

/// One connection for writes, shared by the clones of one handle, and one for reads that scan.
#[derive(Clone)]
pub(crate) struct Db {
    // An async Mutex: callers queue for the connection without occupying a thread.
    conn: Arc<tokio::sync::Mutex<Connection>>,
    // In WAL mode a reader sees the last commit and never blocks the writer, so counting
    // thousands of rows here does not hold up the writes of concurrent requests.
    reader: Arc<tokio::sync::Mutex<Connection>>,
}

fn is_busy(e: &rusqlite::Error) -> bool {
    matches!(e, rusqlite::Error::SqliteFailure(f, _)
        if matches!(f.code, ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked))
}

impl Db {
    /// Opens (creating if needed) `path` in WAL mode, then runs `schema`.
    pub fn open(path: &Path, durability: Durability, schema: &str) -> Result<Self, DbError> {
        let open = || -> rusqlite::Result<Connection> {
            let mut conn = Connection::open(path)?;
            conn.busy_handler(Some(wait_for_lock))?;
            conn.pragma_update(None, "journal_mode", "WAL")?;
            let sync = match durability {
                Durability::Normal => "NORMAL",
                Durability::Full => "FULL",
            };
            conn.pragma_update(None, "synchronous", sync)?;
            conn.execute_batch(schema)?;
            Ok(conn)
        };
        let mut conn = open().map_err(|e| {
            DbError::Unavailable(format!("cannot open SQLite file {}: {e}", path.display()))
        })?;
        // Checkpoints (copying the WAL back into the file, with an fsync) move to a background
        // thread; a commit only checkpoints itself if that thread falls far behind.
        let checkpointer = Arc::new(std::sync::OnceLock::new());
        checkpoint_past_limits(&mut conn, Arc::clone(&checkpointer)).map_err(DbError::from)?;
        let reader = Connection::open(path)
            .and_then(|mut r| r.busy_handler(Some(wait_for_lock)).map(|()| r))
            .map_err(|e| {
                DbError::Unavailable(format!("cannot open SQLite file {}: {e}", path.display()))
            })?;
        let conn = Arc::new(tokio::sync::Mutex::new(conn));
        match spawn_checkpointer(path, Arc::downgrade(&conn)) {
            Ok(thread) => {
                let _ = checkpointer.set(thread);
            }
            Err(e) => tracing::warn!(
                error.message = %e,
                "No checkpoint thread; commits will checkpoint inline."
            ),
        }
        Ok(Self {
            conn,
            reader: Arc::new(tokio::sync::Mutex::new(reader)),
        })
    }

    /// Runs the read-only `f` on the reading connection, on the blocking pool (a scan may take
    /// milliseconds, which must not stall a runtime thread).
    pub async fn read<T, F>(&self, f: F) -> Result<T, DbError>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> rusqlite::Result<T> + Send + 'static,
    {
        let conn = Arc::clone(&self.reader).lock_owned().await;
        tokio::task::spawn_blocking(move || f(&conn).map_err(DbError::from))
            .await
            .map_err(|e| DbError::Other(format!("SQLite worker failed: {e}")))?
    }

    /// Runs `f` on the connection.
    ///
    /// Our transactions take tens of microseconds, less than a hop to the blocking thread pool and
    /// back, so once the connection is ours `f` runs right here, as long as SQLite's write lock can
    /// be had without waiting. Only when another connection (another process) holds it does `f`
    /// go to the blocking pool and wait there. `f` may therefore run twice: each call is one
    /// transaction, rolled back if it hit the busy lock.
    pub async fn call<T, F>(&self, f: F) -> Result<T, DbError>
    where
        T: Send + 'static,
        F: Fn(&mut Connection) -> rusqlite::Result<T> + Send + 'static,
    {
        let conn = Arc::clone(&self.conn).lock_owned().await;
        Self::run(conn, f).await
    }

    async fn run<T, F>(
        mut conn: tokio::sync::OwnedMutexGuard<Connection>,
        f: F,
    ) -> Result<T, DbError>
    where
        T: Send + 'static,
        F: Fn(&mut Connection) -> rusqlite::Result<T> + Send + 'static,
    {
        conn.busy_handler(None::<fn(i32) -> bool>)?;
        let fast = f(&mut conn);
        conn.busy_handler(Some(wait_for_lock))?;
        match fast {
            Err(e) if is_busy(&e) => {}
            done => return done.map_err(DbError::from),
        }
        tokio::task::spawn_blocking(move || f(&mut conn).map_err(DbError::from))
            .await
            .map_err(|e| DbError::Other(format!("SQLite worker failed: {e}")))?
    }
}

/// Row counts of the multi-row statements a [`MultiRowInsert`] uses: few distinct statements, so
/// they stay in the connection's statement cache.
const INSERT_CHUNKS: [usize; 3] = [16, 4, 1];

/// An `INSERT ... VALUES (..), (..)` that writes rows in statements of up to 16 rows each.
///
/// A statement opens its table and index cursors (and reads and writes the AUTOINCREMENT counter
/// of a table that has one) once for all its rows; one statement per row did that for every row, inside the group
/// commit's transaction that every waiting request queues behind (SQLite's share of the API's
/// CPU per request fell by ~17 %).
///
/// Statements of several rows inside a transaction make SQLite keep a statement journal (a copy
/// of every page the statement changes) so that a constraint failing on a later row can undo the
/// earlier ones; `INSERT OR ROLLBACK` needs none, as a failure ends the whole transaction, which
/// is what the group commit does with any error anyway (every caller in the batch fails).
pub(crate) struct MultiRowInsert {
    /// The statement up to and including `VALUES`.
    head: &'static str,
    /// One row's placeholders: `(?, ?, ...)`.
    row: &'static str,
    /// The statement's text for each of [`INSERT_CHUNKS`], made on first use.
    texts: std::sync::OnceLock<[String; 3]>,
}

impl MultiRowInsert {
    pub(crate) const fn new(head: &'static str, row: &'static str) -> Self {
        Self {
            head,
            row,
            texts: std::sync::OnceLock::new(),
        }
    }

    /// Inserts `rows`; `bind` binds a row's values from the given parameter index and returns
    /// the next one.
    pub(crate) fn run<T>(
        &self,
        conn: &Connection,
        rows: &[T],
        bind: impl Fn(&mut rusqlite::Statement<'_>, usize, &T) -> rusqlite::Result<usize>,
    ) -> rusqlite::Result<()> {
        let texts = self.texts.get_or_init(|| {
            INSERT_CHUNKS.map(|n| format!("{} {}", self.head, vec![self.row; n].join(", ")))
        });
        let mut rest = rows;
        while !rest.is_empty() {
            let size = INSERT_CHUNKS
                .iter()
                .position(|c| *c <= rest.len())
                .unwrap_or(INSERT_CHUNKS.len() - 1);
            let (chunk, tail) = rest.split_at(INSERT_CHUNKS[size]);
            let mut statement = conn.prepare_cached(&texts[size])?;
            let mut at = 1;
            for r in chunk {
                at = bind(&mut statement, at, r)?;
            }
            statement.raw_execute()?;
            rest = tail;
        }
        Ok(())
    }
}

/// Group commit: writes that callers make at the same time go into one transaction.
///
/// A commit costs far more than the rows in it (WAL frames, locks, and now and then a
/// checkpoint), and a busy API has many requests writing at once. Each `submit` queues its items;
/// the first one into an empty queue starts a flush task, which lets the other ready tasks run,
/// waits for the connection, takes everything queued by then, writes it in one transaction and
/// hands each caller its own results.
/// Nobody waits for a timer: a lone caller is flushed at once, and under load the batches grow by
/// themselves. The flush runs in its own task, so a caller that goes away (a client hanging up)
/// cannot abandon a half-done batch; a failed transaction fails every caller in it, and none of
/// their rows is written.
pub(crate) struct GroupCommit<I, R> {
    inner: Arc<GroupInner<I, R>>,
}

type Write<I, R> = fn(&mut Connection, &[I]) -> rusqlite::Result<Vec<R>>;
/// Where a caller's results go.
type Done<R> = tokio::sync::oneshot::Sender<Result<Vec<R>, DbError>>;

struct GroupInner<I, R> {
    db: Db,
    write: Write<I, R>,
    queue: std::sync::Mutex<Queued<I, R>>,
}

struct Queued<I, R> {
    waiting: Vec<(Vec<I>, Done<R>)>,
    flush_started: bool,
}

impl<I, R> Clone for GroupCommit<I, R> {
    fn clone(&self) -> Self {
        Self {
            inner: Arc::clone(&self.inner),
        }
    }
}

impl<I: Send + Sync + 'static, R: Send + 'static> GroupCommit<I, R> {
    /// `write` must return one result per item, in order, within the transaction it opens.
    pub fn new(db: Db, write: Write<I, R>) -> Self {
        Self {
            inner: Arc::new(GroupInner {
                db,
                write,
                queue: std::sync::Mutex::new(Queued {
                    waiting: Vec::new(),
                    flush_started: false,
                }),
            }),
        }
    }

    /// Writes `items` (with whatever else is queued) and returns their results once committed.
    pub async fn submit(&self, items: Vec<I>) -> Result<Vec<R>, DbError> {
        let (done, result) = tokio::sync::oneshot::channel();
        let start_flush = {
            let mut q = self.inner.lock();
            q.waiting.push((items, done));
            !std::mem::replace(&mut q.flush_started, true)
        };
        if start_flush {
            tokio::spawn(Arc::clone(&self.inner).flush());
        }
        result
            .await
            .unwrap_or_else(|_| Err(DbError::Other("the SQLite flush task stopped".into())))
    }
}

impl<I: Send + Sync + 'static, R: Send + 'static> GroupInner<I, R> {
    fn lock(&self) -> std::sync::MutexGuard<'_, Queued<I, R>> {
        self.queue
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    async fn flush(self: Arc<Self>) {
        // Let the tasks that are ready now (requests already parsed and about to submit) run
        // first, so their rows join this batch: spawned straight after the first submit, the
        // flush would otherwise run before them and batches would stay at two or three rows.
        // An idle runtime comes straight back here.
        tokio::task::yield_now().await;
        let conn = Arc::clone(&self.db.conn).lock_owned().await;
        // Everything queued while waiting for the connection joins this batch; a caller that
        // comes after this point starts the next flush.
        let batch = {
            let mut q = self.lock();
            q.flush_started = false;
            std::mem::take(&mut q.waiting)
        };
        let mut sizes = Vec::with_capacity(batch.len());
        let mut senders = Vec::with_capacity(batch.len());
        let mut items = Vec::new();
        for (mine, done) in batch {
            sizes.push(mine.len());
            senders.push(done);
            items.extend(mine);
        }
        let items = Arc::new(items);
        let write = self.write;
        let written = Db::run(conn, move |c| write(c, &items)).await;
        match written {
            Ok(results) => {
                let mut results = results.into_iter();
                for (size, done) in sizes.into_iter().zip(senders) {
                    let _ = done.send(Ok(results.by_ref().take(size).collect()));
                }
            }
            Err(e) => {
                for done in senders {
                    let _ = done.send(Err(e.clone()));
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SCHEMA: &str = "CREATE TABLE IF NOT EXISTS rows (v INTEGER NOT NULL);
                          CREATE TABLE IF NOT EXISTS batches (n INTEGER NOT NULL);";

    /// Writes the items and records the batch; fails the whole batch if any item is negative.
    fn write(conn: &mut Connection, items: &[i64]) -> rusqlite::Result<Vec<i64>> {
        let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        for v in items {
            if *v < 0 {
                return Err(rusqlite::Error::InvalidQuery);
            }
            tx.execute("INSERT INTO rows (v) VALUES (?1)", [v])?;
        }
        tx.execute("INSERT INTO batches (n) VALUES (?1)", [items.len() as i64])?;
        tx.commit()?;
        Ok(items.iter().map(|v| v * 10).collect())
    }

    fn count(db: &Db, table: &'static str) -> i64 {
        let conn = db.conn.try_lock().expect("idle connection");
        conn.query_row(&format!("SELECT count(*) FROM {table}"), [], |r| r.get(0))
            .expect("count")
    }

    #[test]
    fn multi_row_inserts_keep_every_row_in_order() {
        let conn = Connection::open_in_memory().unwrap();
        conn.execute_batch(SCHEMA).unwrap();
        // 16 + 4 + 1 + 1 + 1 rows: every statement size, several of the smallest.
        let insert = MultiRowInsert::new("INSERT INTO rows (v) VALUES", "(?)");
        let rows: Vec<i64> = (0..23).collect();
        insert
            .run(&conn, &rows, |s, at, v| {
                s.raw_bind_parameter(at, v)?;
                Ok(at + 1)
            })
            .unwrap();
        insert.run(&conn, &[] as &[i64], |_, at, _| Ok(at)).unwrap();
        let stored: Vec<i64> = conn
            .prepare("SELECT v FROM rows ORDER BY rowid")
            .unwrap()
            .query_map([], |r| r.get(0))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        assert_eq!(stored, rows);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_wal_starts_over_under_constant_writes() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("w.sqlite");
        let db = Db::open(&path, Durability::Normal, SCHEMA).expect("open");
        // 12,000 one-row transactions back to back: about twice as many WAL frames, far past
        // RESTART_WAL_PAGES, with no pause in which a passive checkpoint could catch up. Several
        // thousand frames go in per CHECKPOINT_EVERY here: waiting for the tick instead of being
        // woken let the WAL reach 7-12k pages.
        for v in 0..12_000i64 {
            db.call(move |c| c.execute("INSERT INTO rows (v) VALUES (?1)", [v]))
                .await
                .expect("insert");
        }
        let wal = std::fs::metadata(dir.path().join("w.sqlite-wal"))
            .expect("wal")
            .len();
        let page = 4096 + 24;
        assert!(
            wal < 2 * RESTART_WAL_PAGES as u64 * page,
            "the WAL grew to {wal} bytes: it never started over"
        );
        assert_eq!(count(&db, "rows"), 12_000);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn concurrent_writes_share_transactions_and_get_their_own_results() {
        let dir = tempfile::tempdir().expect("tempdir");
        let db = Db::open(&dir.path().join("g.sqlite"), Durability::Normal, SCHEMA).expect("open");
        let group = GroupCommit::new(db.clone(), write);
        let callers: Vec<_> = (0..200i64)
            .map(|i| {
                let group = group.clone();
                tokio::spawn(async move { (i, group.submit(vec![i, i + 1000]).await) })
            })
            .collect();
        for c in callers {
            let (i, result) = c.await.expect("join");
            assert_eq!(result.expect("written"), vec![i * 10, (i + 1000) * 10]);
        }
        assert_eq!(count(&db, "rows"), 400);
        let batches = count(&db, "batches");
        assert!(
            batches < 200,
            "no batching: {batches} transactions for 200 callers"
        );

        // A failing batch fails its callers and writes none of their rows.
        let bad = group.submit(vec![1, -1]).await;
        assert!(bad.is_err());
        assert_eq!(count(&db, "rows"), 400);
    }
}
