//! The SQLite plumbing both embedded backends share: opening a file in WAL mode so several
//! processes can use it, and running statements off the async runtime.

use std::{
    path::Path,
    sync::{Arc, Mutex},
    time::Duration,
};

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

/// One connection, shared by the handles of one process.
#[derive(Clone)]
pub(crate) struct Db {
    // A std Mutex: it is only locked inside spawn_blocking, never across an .await.
    conn: Arc<Mutex<Connection>>,
}

impl Db {
    /// Opens (creating if needed) `path` in WAL mode, with a busy timeout so writers from other
    /// processes wait for each other instead of failing, then runs `schema`.
    pub fn open(path: &Path, durability: Durability, schema: &str) -> Result<Self, DbError> {
        let open = || -> rusqlite::Result<Connection> {
            let conn = Connection::open(path)?;
            conn.busy_timeout(Duration::from_secs(10))?;
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
            conn: Arc::new(Mutex::new(conn)),
        })
    }

    /// Runs `f` on the connection on the blocking thread pool.
    pub async fn call<T, F>(&self, f: F) -> Result<T, DbError>
    where
        T: Send + 'static,
        F: FnOnce(&mut Connection) -> rusqlite::Result<T> + Send + 'static,
    {
        let conn = Arc::clone(&self.conn);
        tokio::task::spawn_blocking(move || {
            // A panic in another call cannot leave SQLite half-written (it rolls back an open
            // transaction when the Transaction is dropped), so a poisoned lock is safe to reuse.
            let mut guard = conn
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            f(&mut guard).map_err(DbError::from)
        })
        .await
        .map_err(|e| DbError::Other(format!("SQLite worker failed: {e}")))?
    }
}
