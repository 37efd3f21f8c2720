//! The AWS task store: one DynamoDB table through `aws-sdk-dynamodb`.
//!
//! Items are keyed by task `id`. Two global secondary indexes serve the newest-first listings:
//! `by_created` (one partition, `list_pk = "task"`, sorted by `created_key`) and `by_status`
//! (partitioned by `status`, sorted by `created_key`). Counts by status are `Select=COUNT`
//! queries on `by_status`. Items carry `expires_at` for the table's TTL.

use std::{collections::HashMap, time::Duration};

use async_trait::async_trait;
use aws_sdk_dynamodb::{
    Client,
    types::{
        AttributeDefinition, AttributeValue, BillingMode, DeleteRequest, GlobalSecondaryIndex,
        KeySchemaElement, KeyType, Projection, ProjectionType, PutRequest, ScalarAttributeType,
        Select, WriteRequest,
    },
};
use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use uuid::Uuid;

use super::{
    Applied, ListQuery, Page, StatusCounts, StoreError, TaskStore, Transition, Write, page_size,
};
use crate::{
    aws::{AwsFailure, classify},
    model::{Millis, Status, Task, TaskSpec},
    queue::TraceId,
};

type Item = HashMap<String, AttributeValue>;

/// How long a task item lives before DynamoDB's TTL removes it.
const RETENTION: Duration = Duration::from_secs(30 * 24 * 3600);
const LIST_PK: &str = "task";
const BY_CREATED: &str = "by_created";
const BY_STATUS: &str = "by_status";
/// The most items one BatchWriteItem takes.
const WRITE_BATCH: usize = 25;

/// Tasks in a DynamoDB table.
#[derive(Clone)]
pub struct DynamoTaskStore {
    client: Client,
    table: String,
}

fn store_err(e: AwsFailure) -> StoreError {
    match e {
        AwsFailure::Unavailable(m) => StoreError::Unavailable(m),
        AwsFailure::Rejected { message, .. } => StoreError::Other(message),
    }
}

fn s(v: impl Into<String>) -> AttributeValue {
    AttributeValue::S(v.into())
}

fn n(v: impl ToString) -> AttributeValue {
    AttributeValue::N(v.to_string())
}

fn get_s<'a>(item: &'a Item, key: &str) -> Option<&'a str> {
    item.get(key)
        .and_then(|v| v.as_s().ok())
        .map(String::as_str)
}

fn get_n<T: std::str::FromStr>(item: &Item, key: &str) -> Option<T> {
    item.get(key)
        .and_then(|v| v.as_n().ok())
        .and_then(|v| v.parse().ok())
}

fn corrupt(what: &str) -> StoreError {
    StoreError::Other(format!("task item has no valid `{what}`"))
}

/// Sorts newest first; the batch index keeps tasks created in one millisecond in order.
fn created_key(created: Millis, index: usize, id: Uuid) -> String {
    format!("{:013}{:06}#{id}", created.0, index)
}

fn to_item(t: &Task, index: usize) -> Item {
    let mut item = Item::from([
        ("id".into(), s(t.id.to_string())),
        ("list_pk".into(), s(LIST_PK)),
        (
            "created_key".into(),
            s(created_key(t.created_at, index, t.id)),
        ),
        ("kind".into(), s(t.spec.kind.as_str())),
        ("intensity".into(), s(t.spec.intensity.as_str())),
        ("fail_percent".into(), n(t.spec.fail_percent)),
        ("status".into(), s(t.status.as_str())),
        ("attempts".into(), n(t.attempts)),
        ("created_at".into(), n(t.created_at.0)),
        ("updated_at".into(), n(t.updated_at.0)),
        (
            "expires_at".into(),
            n(t.created_at.0 / 1000 + RETENTION.as_secs() as i64),
        ),
    ]);
    if let Some(trace) = t.trace_id {
        item.insert("trace_id".into(), s(trace.to_string()));
    }
    item
}

fn from_item(item: &Item) -> Result<Task, StoreError> {
    let parse = |key: &str| get_s(item, key).ok_or_else(|| corrupt(key));
    Ok(Task {
        id: Uuid::parse_str(parse("id")?).map_err(|_| corrupt("id"))?,
        spec: TaskSpec {
            kind: parse("kind")?.parse().map_err(|_| corrupt("kind"))?,
            intensity: parse("intensity")?
                .parse()
                .map_err(|_| corrupt("intensity"))?,
            fail_percent: get_n(item, "fail_percent").ok_or_else(|| corrupt("fail_percent"))?,
        },
        status: parse("status")?.parse().map_err(|_| corrupt("status"))?,
        attempts: get_n(item, "attempts").unwrap_or(0),
        created_at: Millis(get_n(item, "created_at").ok_or_else(|| corrupt("created_at"))?),
        updated_at: Millis(get_n(item, "updated_at").unwrap_or(0)),
        started_at: get_n(item, "started_at").map(Millis),
        finished_at: get_n(item, "finished_at").map(Millis),
        duration_ms: get_n(item, "duration_ms"),
        last_error: get_s(item, "last_error").map(str::to_owned),
        runner_id: get_s(item, "runner_id").map(str::to_owned),
        trace_id: get_s(item, "trace_id").and_then(TraceId::from_hex),
    })
}

impl DynamoTaskStore {
    pub fn new(client: Client, table: impl Into<String>) -> Self {
        Self {
            client,
            table: table.into(),
        }
    }

    /// Creates the table and its indexes as the Terraform does in AWS. For local servers and tests.
    ///
    /// # Errors
    /// [`StoreError::Unavailable`] when DynamoDB cannot be reached, [`StoreError::Other`] when the
    /// table exists.
    pub async fn create_table(client: &Client, table: &str) -> Result<(), StoreError> {
        let attr = |name: &str| {
            AttributeDefinition::builder()
                .attribute_name(name)
                .attribute_type(ScalarAttributeType::S)
                .build()
        };
        let key = |name: &str, kind: KeyType| {
            KeySchemaElement::builder()
                .attribute_name(name)
                .key_type(kind)
                .build()
        };
        let index = |name: &str, pk: &str| -> Result<GlobalSecondaryIndex, StoreError> {
            GlobalSecondaryIndex::builder()
                .index_name(name)
                .key_schema(key(pk, KeyType::Hash).map_err(build_err)?)
                .key_schema(key("created_key", KeyType::Range).map_err(build_err)?)
                .projection(
                    Projection::builder()
                        .projection_type(ProjectionType::All)
                        .build(),
                )
                .build()
                .map_err(build_err)
        };
        client
            .create_table()
            .table_name(table)
            .billing_mode(BillingMode::PayPerRequest)
            .attribute_definitions(attr("id").map_err(build_err)?)
            .attribute_definitions(attr("list_pk").map_err(build_err)?)
            .attribute_definitions(attr("status").map_err(build_err)?)
            .attribute_definitions(attr("created_key").map_err(build_err)?)
            .key_schema(key("id", KeyType::Hash).map_err(build_err)?)
            .global_secondary_indexes(index(BY_CREATED, "list_pk")?)
            .global_secondary_indexes(index(BY_STATUS, "status")?)
            .send()
            .await
            .map_err(|e| store_err(classify(e)))?;
        Ok(())
    }

    /// Writes `requests` in batches of 25, resending what DynamoDB left unprocessed.
    async fn batch_write(&self, requests: Vec<WriteRequest>) -> Result<(), StoreError> {
        for chunk in requests.chunks(WRITE_BATCH) {
            let mut pending = chunk.to_vec();
            let mut backoff = Duration::from_millis(50);
            for _ in 0..8 {
                let out = self
                    .client
                    .batch_write_item()
                    .request_items(&self.table, pending)
                    .send()
                    .await
                    .map_err(|e| store_err(classify(e)))?;
                pending = out
                    .unprocessed_items()
                    .and_then(|u| u.get(&self.table))
                    .cloned()
                    .unwrap_or_default();
                if pending.is_empty() {
                    break;
                }
                tokio::time::sleep(backoff).await;
                backoff *= 2;
            }
            if !pending.is_empty() {
                return Err(StoreError::Unavailable(format!(
                    "{} writes still unprocessed after retries",
                    pending.len()
                )));
            }
        }
        Ok(())
    }

    async fn count_status(&self, status: Status) -> Result<u64, StoreError> {
        let mut total = 0u64;
        let mut start: Option<Item> = None;
        loop {
            let out = self
                .client
                .query()
                .table_name(&self.table)
                .index_name(BY_STATUS)
                .key_condition_expression("#s = :s")
                .expression_attribute_names("#s", "status")
                .expression_attribute_values(":s", s(status.as_str()))
                .select(Select::Count)
                .set_exclusive_start_key(start)
                .send()
                .await
                .map_err(|e| store_err(classify(e)))?;
            total += u64::try_from(out.count()).unwrap_or(0);
            start = out.last_evaluated_key().cloned();
            if start.is_none() {
                return Ok(total);
            }
        }
    }
}

fn delete_request(id: AttributeValue) -> Result<WriteRequest, StoreError> {
    let del = DeleteRequest::builder()
        .key("id", id)
        .build()
        .map_err(build_err)?;
    Ok(WriteRequest::builder().delete_request(del).build())
}

fn build_err(e: impl std::fmt::Display) -> StoreError {
    StoreError::Other(e.to_string())
}

/// A cursor is the last task's index keys, opaque to the client.
fn encode_cursor(item: &Item) -> Option<String> {
    let keys = serde_json::json!({
        "id": get_s(item, "id")?,
        "created_key": get_s(item, "created_key")?,
    });
    Some(URL_SAFE_NO_PAD.encode(keys.to_string()))
}

fn decode_cursor(cursor: &str, status: Option<Status>) -> Result<Item, StoreError> {
    let invalid = || StoreError::Invalid(format!("unknown cursor `{cursor}`"));
    let bytes = URL_SAFE_NO_PAD.decode(cursor).map_err(|_| invalid())?;
    let keys: serde_json::Value = serde_json::from_slice(&bytes).map_err(|_| invalid())?;
    let field = |k: &str| keys[k].as_str().map(s).ok_or_else(invalid);
    let mut item = Item::from([
        ("id".into(), field("id")?),
        ("created_key".into(), field("created_key")?),
    ]);
    match status {
        Some(st) => item.insert("status".into(), s(st.as_str())),
        None => item.insert("list_pk".into(), s(LIST_PK)),
    };
    Ok(item)
}

#[async_trait]
impl TaskStore for DynamoTaskStore {
    async fn create(&self, tasks: &[Task]) -> Result<(), StoreError> {
        let requests = tasks
            .iter()
            .enumerate()
            .map(|(i, t)| {
                let put = PutRequest::builder()
                    .set_item(Some(to_item(t, i)))
                    .build()
                    .map_err(build_err)?;
                Ok(WriteRequest::builder().put_request(put).build())
            })
            .collect::<Result<Vec<_>, StoreError>>()?;
        self.batch_write(requests).await
    }

    async fn get(&self, id: Uuid) -> Result<Option<Task>, StoreError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .key("id", s(id.to_string()))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| store_err(classify(e)))?;
        out.item().map(from_item).transpose()
    }

    async fn transition(&self, id: Uuid, t: &Transition) -> Result<Applied, StoreError> {
        let w = Write::of(t);
        let mut sets = vec!["#status = :status", "updated_at = :now"];
        let mut values = Item::from([
            (":status".into(), s(w.status.as_str())),
            (":now".into(), n(w.now.0)),
        ]);
        let mut remove = "";
        if w.new_attempt {
            sets.push("attempts = if_not_exists(attempts, :zero) + :one");
            sets.push("started_at = if_not_exists(started_at, :now)");
            values.insert(":zero".into(), n(0));
            values.insert(":one".into(), n(1));
        }
        if w.finishes {
            sets.push("finished_at = :now");
        } else {
            remove = " REMOVE finished_at";
        }
        for (assignment, placeholder, value) in [
            ("runner_id = :runner", ":runner", w.runner_id.map(s)),
            (
                "trace_id = :trace",
                ":trace",
                w.trace_id.map(|t| s(t.to_string())),
            ),
            ("last_error = :error", ":error", w.error.map(s)),
            ("duration_ms = :duration", ":duration", w.duration_ms.map(n)),
        ] {
            if let Some(v) = value {
                values.insert(placeholder.into(), v);
                sets.push(assignment);
            }
        }
        let from: Vec<String> = t
            .allowed_from()
            .iter()
            .enumerate()
            .map(|(i, st)| {
                let key = format!(":from{i}");
                values.insert(key.clone(), s(st.as_str()));
                key
            })
            .collect();
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .key("id", s(id.to_string()))
            .update_expression(format!("SET {}{remove}", sets.join(", ")))
            .condition_expression(format!(
                "attribute_exists(id) AND #status IN ({})",
                from.join(", ")
            ))
            .expression_attribute_names("#status", "status")
            .set_expression_attribute_values(Some(values))
            .send()
            .await;
        match result {
            Ok(_) => Ok(Applied::Yes),
            Err(e) => match classify(e) {
                AwsFailure::Rejected { code, .. } if code == "ConditionalCheckFailedException" => {
                    Ok(match self.get(id).await? {
                        None => Applied::NotFound,
                        Some(task) => Applied::Ignored {
                            current: task.status,
                        },
                    })
                }
                other => Err(store_err(other)),
            },
        }
    }

    async fn list(&self, q: &ListQuery) -> Result<Page, StoreError> {
        let limit = page_size(q.limit);
        let start = q
            .cursor
            .as_deref()
            .map(|c| decode_cursor(c, q.status))
            .transpose()?;
        let (index, pk_name, pk_value) = match q.status {
            Some(st) => (BY_STATUS, "status", st.as_str()),
            None => (BY_CREATED, "list_pk", LIST_PK),
        };
        // One item more than asked tells whether there is a next page.
        let out = self
            .client
            .query()
            .table_name(&self.table)
            .index_name(index)
            .key_condition_expression("#pk = :pk")
            .expression_attribute_names("#pk", pk_name)
            .expression_attribute_values(":pk", s(pk_value))
            .scan_index_forward(false)
            .limit(i32::try_from(limit + 1).unwrap_or(i32::MAX))
            .set_exclusive_start_key(start)
            .send()
            .await
            .map_err(|e| store_err(classify(e)))?;
        let mut items = out.items().to_vec();
        let next_cursor = if items.len() > limit as usize {
            items.truncate(limit as usize);
            items.last().and_then(encode_cursor)
        } else {
            None
        };
        let tasks = items.iter().map(from_item).collect::<Result<_, _>>()?;
        Ok(Page { tasks, next_cursor })
    }

    async fn counts(&self) -> Result<StatusCounts, StoreError> {
        let mut counts = StatusCounts::default();
        for status in Status::ALL {
            *counts.get_mut(*status) = self.count_status(*status).await?;
        }
        Ok(counts)
    }

    async fn remove(&self, ids: &[Uuid]) -> Result<(), StoreError> {
        let requests = ids
            .iter()
            .map(|id| delete_request(s(id.to_string())))
            .collect::<Result<Vec<_>, StoreError>>()?;
        self.batch_write(requests).await
    }

    async fn clear(&self) -> Result<u64, StoreError> {
        let mut deleted = 0u64;
        let mut start: Option<Item> = None;
        loop {
            let out = self
                .client
                .scan()
                .table_name(&self.table)
                .projection_expression("id")
                .set_exclusive_start_key(start)
                .send()
                .await
                .map_err(|e| store_err(classify(e)))?;
            let requests = out
                .items()
                .iter()
                .filter_map(|item| item.get("id").cloned())
                .map(|id| {
                    let del = DeleteRequest::builder()
                        .key("id", id)
                        .build()
                        .map_err(build_err)?;
                    Ok(WriteRequest::builder().delete_request(del).build())
                })
                .collect::<Result<Vec<_>, StoreError>>()?;
            deleted += requests.len() as u64;
            self.batch_write(requests).await?;
            start = out.last_evaluated_key().cloned();
            if start.is_none() {
                return Ok(deleted);
            }
        }
    }
}
