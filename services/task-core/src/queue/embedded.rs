//! The embedded queue: SQLite in WAL mode, one file that several processes may share.
//!
//! Every state change is one short `BEGIN IMMEDIATE` transaction, so concurrent consumers never
//! receive the same in-flight message. A receiver waiting in a long poll wakes at once when a
//! sender in the same process signals it, and within [`CROSS_PROCESS_POLL`] when a message comes
//! from another process or a visibility timeout expires.

use std::{collections::BTreeMap, path::Path, sync::Arc, time::Duration};

use async_trait::async_trait;
use rusqlite::{Connection, TransactionBehavior, params, types::ValueRef};
use tokio::sync::Notify;
use uuid::Uuid;

use super::{
    EntryResult, MessageTrace, OutgoingMessage, Queue, QueueError, QueueStats, Receipt,
    ReceivedMessage, Redrive, TraceParent, check_batch, check_receive, check_send,
    check_visibility,
};
use crate::{
    clock::now_ms,
    sqlite::{Db, DbError, Durability, GroupCommit, MultiRowInsert},
};

/// How often a waiting receiver looks for messages it was not told about.
const CROSS_PROCESS_POLL: Duration = Duration::from_millis(25);

pub(crate) const SCHEMA: &str = "
    -- seq orders the queue and starts each receipt (`<seq>:<random>`; deletes match both parts,
    -- so a seq used again after the newest message is deleted matches no old receipt). Not
    -- AUTOINCREMENT, for the reason the tasks table gives.
    CREATE TABLE IF NOT EXISTS messages (
        seq INTEGER PRIMARY KEY,
        queue TEXT NOT NULL,
        message_id TEXT NOT NULL,
        body TEXT NOT NULL,
        -- The trace's message attributes: a lone traceparent as its 25 bytes (a BLOB, a third of
        -- its JSON: a byte less in every row is a byte less in every commit), anything else as
        -- the JSON object SQS would hold, as every row of older versions does.
        attributes TEXT NOT NULL,
        trace_header TEXT,
        sent_at INTEGER NOT NULL,
        visible_at INTEGER NOT NULL,
        receive_count INTEGER NOT NULL DEFAULT 0,
        receipt TEXT
    );
    CREATE INDEX IF NOT EXISTS messages_ready ON messages(queue, visible_at);";

/// A durable SQS-like queue in a SQLite file, with its dead-letter queue in the same file.
#[derive(Clone)]
pub struct EmbeddedQueue {
    db: Db,
    names: Arc<Names>,
    arrived: Arc<Notify>,
    /// Sends of concurrent callers share one transaction.
    sends: GroupCommit<MessageRow, ()>,
}

/// Inserts messages (each into its queue) in one transaction.
fn insert_messages(conn: &mut Connection, rows: &[MessageRow]) -> rusqlite::Result<Vec<()>> {
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    insert_message_rows(&tx, rows)?;
    tx.commit()?;
    Ok(vec![(); rows.len()])
}

/// A message as its row stores it. Its id and attributes are made before the transaction: the
/// group commit's transaction is the part every waiting sender queues behind.
pub(crate) struct MessageRow {
    names: Arc<Names>,
    pub(crate) id: String,
    body: String,
    attributes: StoredAttributes,
    /// Only a received X-Ray header kept for a message sent again: a consumer reads
    /// `traceparent` first, and SQS derives the header from it.
    trace_header: Option<String>,
}

impl MessageRow {
    pub(crate) fn new(names: &Arc<Names>, message: &OutgoingMessage) -> Self {
        Self {
            names: Arc::clone(names),
            id: random_uuid().to_string(),
            body: message.body.clone(),
            attributes: StoredAttributes::of(&message.trace),
            trace_header: message.trace.xray.clone(),
        }
    }
}

/// A message's trace as its row's `attributes` hold it.
enum StoredAttributes {
    /// The common case, a `traceparent` alone: [`TraceParent::to_bytes`], as a BLOB.
    Parent([u8; TraceParent::BYTES]),
    /// Anything else: the JSON object of the attributes, as `serde_json` writes a map of them.
    Json(String),
}

impl StoredAttributes {
    fn of(trace: &MessageTrace) -> Self {
        if let (Some(parent), None) = (&trace.parent, &trace.state) {
            return Self::Parent(parent.to_bytes());
        }
        let map: BTreeMap<&str, String> = trace.attributes().collect();
        // A map of strings always serializes.
        Self::Json(serde_json::to_string(&map).unwrap_or_else(|_| "{}".into()))
    }
}

impl rusqlite::ToSql for StoredAttributes {
    fn to_sql(&self) -> rusqlite::Result<rusqlite::types::ToSqlOutput<'_>> {
        Ok(match self {
            Self::Parent(bytes) => rusqlite::types::ToSqlOutput::Borrowed(ValueRef::Blob(bytes)),
            Self::Json(json) => {
                rusqlite::types::ToSqlOutput::Borrowed(ValueRef::Text(json.as_bytes()))
            }
        })
    }
}

/// The trace of a row: its `attributes` (either form of [`StoredAttributes`]; unreadable ones
/// give no parent, as a consumer would ignore a malformed `traceparent`) and its X-Ray header.
fn row_trace(attributes: ValueRef<'_>, trace_header: Option<String>) -> MessageTrace {
    match attributes {
        ValueRef::Blob(bytes) => MessageTrace {
            parent: TraceParent::from_bytes(bytes),
            state: None,
            xray: trace_header,
        },
        ValueRef::Text(json) => {
            let map: BTreeMap<String, String> = serde_json::from_slice(json).unwrap_or_default();
            MessageTrace::from_attributes(|k| map.get(k).map(String::as_str), trace_header)
        }
        _ => MessageTrace {
            xray: trace_header,
            ..MessageTrace::default()
        },
    }
}

/// Inserts messages within the caller's transaction.
pub(crate) fn insert_message_rows(
    tx: &rusqlite::Transaction<'_>,
    rows: &[impl std::borrow::Borrow<MessageRow>],
) -> rusqlite::Result<()> {
    let now = now_ms();
    // OR ROLLBACK: see `MultiRowInsert`.
    static INSERT: MultiRowInsert = MultiRowInsert::new(
        "INSERT OR ROLLBACK INTO messages
         (queue, message_id, body, attributes, trace_header, sent_at, visible_at) VALUES",
        "(?, ?, ?, ?, ?, ?, ?)",
    );
    INSERT.run(tx, rows, |s, at, row| {
        let row = row.borrow();
        s.raw_bind_parameter(at, &row.names.main)?;
        s.raw_bind_parameter(at + 1, &row.id)?;
        s.raw_bind_parameter(at + 2, &row.body)?;
        s.raw_bind_parameter(at + 3, &row.attributes)?;
        s.raw_bind_parameter(at + 4, &row.trace_header)?;
        s.raw_bind_parameter(at + 5, now)?;
        s.raw_bind_parameter(at + 6, now)?;
        Ok(at + 7)
    })
}

/// A version 4 UUID from the thread's random generator: `Uuid::new_v4` asks the kernel
/// (`getrandom`) for every one, a system call on every message sent.
fn random_uuid() -> Uuid {
    uuid::Builder::from_random_bytes(rand::random()).into_uuid()
}

pub(crate) struct Names {
    main: String,
    dlq: String,
    max_receive_count: u32,
}

impl From<DbError> for QueueError {
    fn from(e: DbError) -> Self {
        match e {
            DbError::Unavailable(m) => QueueError::Unavailable(m),
            DbError::Other(m) => QueueError::Other(m),
        }
    }
}

fn duration_ms(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

/// The row a receipt names: receipts are `<seq>:<random>`, so deletes go by primary key.
fn receipt_seq(receipt: &Receipt) -> Option<i64> {
    receipt
        .0
        .split_once(':')
        .and_then(|(seq, _)| seq.parse().ok())
}

impl EmbeddedQueue {
    /// Opens (creating if needed) the queue `name` in the SQLite file at `path`. A message
    /// received `max_receive_count` times is moved to the queue `<name>-dlq` in the same file on
    /// its next receive, as SQS redrive does.
    ///
    /// # Errors
    /// [`QueueError::Unavailable`] when the file cannot be opened or created.
    pub fn open(
        path: &Path,
        name: &str,
        max_receive_count: u32,
        durability: Durability,
    ) -> Result<Self, QueueError> {
        Ok(Self::on(
            Db::open(path, durability, SCHEMA)?,
            name,
            max_receive_count,
        ))
    }

    /// The queue in a database already opened with [`SCHEMA`].
    pub(crate) fn on(db: Db, name: &str, max_receive_count: u32) -> Self {
        Self {
            sends: GroupCommit::new(db.clone(), insert_messages),
            db,
            names: Arc::new(Names {
                main: name.to_owned(),
                dlq: format!("{name}-dlq"),
                max_receive_count: max_receive_count.max(1),
            }),
            arrived: Arc::new(Notify::new()),
        }
    }

    /// What an intake writing into this queue's database needs: the database, the queue's
    /// names, and the signal that wakes local receivers.
    pub(crate) fn parts(&self) -> (Db, Arc<Names>, Arc<Notify>) {
        (
            self.db.clone(),
            Arc::clone(&self.names),
            Arc::clone(&self.arrived),
        )
    }

    /// Receives what is visible now, without waiting (see [`take_visible`]).
    async fn try_receive(&self, max: usize, visibility: Duration) -> Result<Taken, QueueError> {
        let names = Arc::clone(&self.names);
        Ok(self
            .db
            .call(move |conn| take_visible(conn, &names, max, visibility))
            .await?)
    }
}

/// What one look at the queue found.
struct Taken {
    messages: Vec<ReceivedMessage>,
    /// Messages moved to the dead-letter queue instead of being delivered.
    dead_lettered: usize,
    /// When nothing was visible: when the next message becomes visible, if any is waiting out
    /// a timeout.
    next_visible_at: Option<i64>,
}

/// One receive: a single `UPDATE ... RETURNING` takes up to `max` visible messages. Those past
/// the receive limit move to the dead-letter queue in the same statement and are not returned, so
/// a receive may return fewer than `max` while more are visible (as SQS may).
fn take_visible(
    conn: &mut Connection,
    names: &Names,
    max: usize,
    visibility: Duration,
) -> rusqlite::Result<Taken> {
    let now = now_ms();
    // A cheap indexed read first: an idle poll never takes the write lock, and the same answer
    // tells a waiting receiver when to look again.
    let next: Option<i64> = conn
        .prepare_cached("SELECT MIN(visible_at) FROM messages WHERE queue = ?1")?
        .query_row(params![names.main], |r| r.get(0))?;
    if next.is_none_or(|at| at > now) {
        return Ok(Taken {
            messages: Vec::new(),
            dead_lettered: 0,
            next_visible_at: next,
        });
    }
    let token = random_uuid().simple().to_string();
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let rows = tx
        .prepare_cached(
            "UPDATE messages SET
                queue = CASE WHEN receive_count >= ?4 THEN ?5 ELSE queue END,
                receipt = CASE WHEN receive_count >= ?4 THEN NULL ELSE seq || ':' || ?6 END,
                visible_at = CASE WHEN receive_count >= ?4 THEN ?2 ELSE ?7 END,
                receive_count = CASE WHEN receive_count >= ?4 THEN receive_count ELSE receive_count + 1 END
             WHERE seq IN (
                SELECT seq FROM messages WHERE queue = ?1 AND visible_at <= ?2
                ORDER BY visible_at LIMIT ?3)
             RETURNING queue, message_id, receipt, body, attributes, trace_header, receive_count, sent_at",
        )?
        .query_map(
            params![
                names.main,
                now,
                max as i64,
                names.max_receive_count,
                names.dlq,
                token,
                now.saturating_add(duration_ms(visibility)),
            ],
            |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    ReceivedMessage {
                        message_id: r.get(1)?,
                        receipt: Receipt(r.get::<_, Option<String>>(2)?.unwrap_or_default()),
                        body: r.get(3)?,
                        trace: row_trace(r.get_ref(4)?, r.get(5)?),
                        receive_count: r.get(6)?,
                        sent_at_ms: r.get(7)?,
                    },
                ))
            },
        )?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    tx.commit()?;
    let taken = rows.len();
    let delivered: Vec<ReceivedMessage> = rows
        .into_iter()
        .filter(|(queue, _)| *queue == names.main)
        .map(|(_, m)| m)
        .collect();
    let dead_lettered = taken - delivered.len();
    Ok(Taken {
        messages: delivered,
        dead_lettered,
        next_visible_at: None,
    })
}

#[async_trait]
impl Queue for EmbeddedQueue {
    async fn send_batch(
        &self,
        messages: &[OutgoingMessage],
    ) -> Result<Vec<EntryResult<String>>, QueueError> {
        check_send(messages)?;
        let rows: Vec<MessageRow> = messages
            .iter()
            .map(|m| MessageRow::new(&self.names, m))
            .collect();
        let ids: Vec<EntryResult<String>> = rows.iter().map(|r| Ok(r.id.clone())).collect();
        self.sends.submit(rows).await?;
        self.arrived.notify_waiters();
        Ok(ids)
    }

    async fn receive(
        &self,
        max: usize,
        wait: Duration,
        visibility: Duration,
    ) -> Result<Vec<ReceivedMessage>, QueueError> {
        check_receive(max, wait, visibility)?;
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            // Register for the wake-up before looking, so a send in between is not missed.
            let arrived = self.arrived.notified();
            tokio::pin!(arrived);
            arrived.as_mut().enable();

            let taken = self.try_receive(max, visibility).await?;
            let now = tokio::time::Instant::now();
            if !taken.messages.is_empty() || now >= deadline {
                return Ok(taken.messages);
            }
            if taken.dead_lettered > 0 {
                // Others may be visible behind the ones that were moved: look again at once.
                continue;
            }
            let mut nap = (deadline - now).min(CROSS_PROCESS_POLL);
            if let Some(at) = taken.next_visible_at {
                let until = Duration::from_millis(u64::try_from(at - now_ms()).unwrap_or(0));
                nap = nap.min(until.max(Duration::from_millis(1)));
            }
            tokio::select! {
                () = &mut arrived => {}
                () = tokio::time::sleep(nap) => {}
            }
        }
    }

    async fn delete_batch(&self, receipts: &[Receipt]) -> Result<Vec<EntryResult<()>>, QueueError> {
        check_batch(receipts.len())?;
        let receipts = receipts.to_vec();
        let names = Arc::clone(&self.names);
        let deleted = self
            .db
            .call(move |conn| {
                let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
                let mut deleted = Vec::with_capacity(receipts.len());
                {
                    let mut delete = tx.prepare_cached(
                        "DELETE FROM messages WHERE seq = ?1 AND receipt = ?2 AND queue = ?3",
                    )?;
                    for r in &receipts {
                        let n = match receipt_seq(r) {
                            Some(seq) => delete.execute(params![seq, r.0, names.main])?,
                            None => 0,
                        };
                        deleted.push((r.0.clone(), n == 1));
                    }
                }
                tx.commit()?;
                Ok(deleted)
            })
            .await?;
        Ok(deleted
            .into_iter()
            .map(|(r, ok)| {
                if ok {
                    Ok(())
                } else {
                    Err(QueueError::ReceiptExpired(r))
                }
            })
            .collect())
    }

    async fn change_visibility(
        &self,
        receipt: &Receipt,
        timeout: Duration,
    ) -> Result<(), QueueError> {
        check_visibility(timeout)?;
        let Some(seq) = receipt_seq(receipt) else {
            return Err(QueueError::ReceiptExpired(receipt.0.clone()));
        };
        let handle = receipt.0.clone();
        let names = Arc::clone(&self.names);
        let changed = self
            .db
            .call(move |conn| {
                let visible_at = now_ms().saturating_add(duration_ms(timeout));
                conn.prepare_cached(
                    "UPDATE messages SET visible_at = ?3 WHERE seq = ?1 AND receipt = ?2 AND queue = ?4",
                )?
                .execute(params![seq, handle, visible_at, names.main])
            })
            .await?;
        if changed == 0 {
            return Err(QueueError::ReceiptExpired(receipt.0.clone()));
        }
        if timeout.is_zero() {
            self.arrived.notify_waiters();
        }
        Ok(())
    }

    async fn stats(&self) -> Result<QueueStats, QueueError> {
        let names = Arc::clone(&self.names);
        Ok(self
            .db
            .read(move |conn| {
                let now = now_ms();
                // Counts over the (queue, visible_at) index rather than the rows. The oldest
                // message is the first of the queue in `seq` order (sends number them in time
                // order; a redrive keeps both): `+queue` keeps SQLite on the rowid order, so the
                // scan stops at the first match.
                conn.prepare_cached(
                    "SELECT
                        (SELECT COUNT(*) FROM messages WHERE queue = ?1 AND visible_at <= ?3),
                        (SELECT COUNT(*) FROM messages WHERE queue = ?1 AND visible_at > ?3),
                        (SELECT sent_at FROM messages WHERE +queue = ?1 ORDER BY seq LIMIT 1),
                        (SELECT COUNT(*) FROM messages WHERE queue = ?2)",
                )?
                .query_row(params![names.main, names.dlq, now], |r| {
                    let oldest: Option<i64> = r.get(2)?;
                    Ok(QueueStats {
                        visible: r.get(0)?,
                        in_flight: r.get(1)?,
                        // An empty queue's oldest message is 0 s old, not unknown.
                        oldest_age_seconds: Some(
                            oldest.map_or(0.0, |t| (now - t).max(0) as f64 / 1000.0),
                        ),
                        dead_letter: r.get(3)?,
                    })
                })
            })
            .await?)
    }

    async fn redrive(&self) -> Result<Redrive, QueueError> {
        let names = Arc::clone(&self.names);
        let moved = self
            .db
            .call(move |conn| {
                conn.prepare_cached(
                    "UPDATE messages SET queue = ?1, visible_at = ?3, receive_count = 0, receipt = NULL
                     WHERE queue = ?2",
                )?
                .execute(params![names.main, names.dlq, now_ms()])
            })
            .await?;
        self.arrived.notify_waiters();
        Ok(Redrive::Moved(moved as u64))
    }

    fn max_receive_count(&self) -> u32 {
        self.names.max_receive_count
    }

    fn name(&self) -> &str {
        &self.names.main
    }

    fn messaging_system(&self) -> &'static str {
        "sqlite"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PARENT: &str = "00-5759e988bd862e3fe1be46a994272793-53995c3f42cd8ad8-01";
    const XRAY: &str = "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1";

    /// The attributes as a row reads them back from SQLite.
    fn stored(attributes: &StoredAttributes) -> rusqlite::types::Value {
        let conn = Connection::open_in_memory().expect("in-memory database");
        conn.query_row("SELECT ?1", [attributes], |r| r.get(0))
            .expect("a bound value reads back")
    }

    #[test]
    fn a_trace_is_stored_compactly_when_it_can_be_and_reads_back() {
        let parent = TraceParent::parse(PARENT);
        let traces = [
            MessageTrace::default(),
            MessageTrace {
                parent,
                ..MessageTrace::default()
            },
            MessageTrace {
                parent,
                state: Some("quote \" and back\\slash,tab\t\u{1}=ключ✓".into()),
                xray: Some(XRAY.into()),
            },
            MessageTrace {
                state: Some("vendor=v1".into()),
                ..MessageTrace::default()
            },
        ];
        for trace in traces {
            let attributes = StoredAttributes::of(&trace);
            let value = stored(&attributes);
            match (&trace, &value) {
                (
                    MessageTrace {
                        parent: Some(p),
                        state: None,
                        ..
                    },
                    rusqlite::types::Value::Blob(b),
                ) => assert_eq!(b[..], p.to_bytes()),
                (_, rusqlite::types::Value::Text(json)) => {
                    let expected: BTreeMap<&str, String> = trace.attributes().collect();
                    assert_eq!(
                        *json,
                        serde_json::to_string(&expected).unwrap(),
                        "{trace:?}"
                    );
                }
                _ => panic!("{trace:?} stored as {value:?}"),
            }
            assert_eq!(row_trace((&value).into(), trace.xray.clone()), trace);
        }
    }

    #[test]
    fn rows_of_older_versions_read_back() {
        let older = format!(r#"{{"other":"x","traceparent":"{PARENT}"}}"#);
        let trace = row_trace(ValueRef::Text(older.as_bytes()), Some(XRAY.into()));
        assert_eq!(trace.parent, TraceParent::parse(PARENT));
        assert!(trace.xray.is_some());
        assert_eq!(
            row_trace(ValueRef::Text(b"not json"), None),
            MessageTrace::default()
        );
        assert_eq!(
            row_trace(ValueRef::Blob(&[1; 24]), None),
            MessageTrace::default()
        );
    }
}
