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

/// A SQLite failure, sorted by what the caller does next.
#[derive(Debug)]
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

/// One connection, shared by the clones of one handle.
#[derive(Clone)]
pub(crate) struct Db {
    // An async Mutex: callers queue for the connection without occupying a thread.
    conn: Arc<tokio::sync::Mutex<Connection>>,
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
        let conn = open().map_err(|e| {
            DbError::Unavailable(format!("cannot open SQLite file {}: {e}", path.display()))
        })?;
        Ok(Self {
            conn: Arc::new(tokio::sync::Mutex::new(conn)),
        })
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
        let mut conn = Arc::clone(&self.conn).lock_owned().await;
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
