//! The AWS queue: Amazon SQS through `aws-sdk-sqs`.
//!
//! Dead-lettering is the queue's own redrive policy; this type reads the policy to learn the
//! dead-letter queue and the maximum receive count. Trace context travels as message attributes
//! and as the `AWSTraceHeader` system attribute, which X-Ray reads.

use std::{collections::HashMap, time::Duration};

use async_trait::async_trait;
use aws_sdk_sqs::{
    Client,
    types::{
        DeleteMessageBatchRequestEntry, MessageAttributeValue, MessageSystemAttributeName,
        MessageSystemAttributeNameForSends, MessageSystemAttributeValue, QueueAttributeName,
        SendMessageBatchRequestEntry,
    },
};

use super::{
    EntryResult, MessageTrace, OutgoingMessage, Queue, QueueError, QueueStats, Receipt,
    ReceivedMessage, Redrive, check_batch, check_receive, check_send, check_visibility,
};
use crate::aws::{AwsFailure, classify};

/// An SQS queue and the dead-letter queue its redrive policy names.
#[derive(Clone)]
pub struct SqsQueue {
    client: Client,
    url: String,
    arn: String,
    name: String,
    dlq_url: String,
    dlq_arn: String,
    max_receive_count: u32,
}

fn queue_err(e: AwsFailure) -> QueueError {
    match e {
        AwsFailure::Unavailable(m) => QueueError::Unavailable(m),
        AwsFailure::Rejected { code, message } => match code.as_str() {
            "ReceiptHandleIsInvalid"
            | "MessageNotInflight"
            | "InvalidReceiptHandle"
            | "AWS.SimpleQueueService.MessageNotInflight" => QueueError::ReceiptExpired(message),
            _ => QueueError::Other(message),
        },
    }
}

/// Whole seconds, rounded up, as SQS takes them.
fn secs(d: Duration) -> i32 {
    i32::try_from(d.as_millis().div_ceil(1000)).unwrap_or(i32::MAX)
}

fn build_err(e: impl std::fmt::Display) -> QueueError {
    QueueError::Invalid(e.to_string())
}

impl SqsQueue {
    /// Connects to the queue at `url` and reads its redrive policy.
    ///
    /// # Errors
    /// [`QueueError::Unavailable`] when SQS cannot be reached; [`QueueError::Other`] when the queue
    /// has no redrive policy (a task queue without a dead-letter queue would retry poison tasks
    /// forever).
    pub async fn connect(client: Client, url: &str) -> Result<Self, QueueError> {
        let attrs = Self::attributes_of(&client, url).await?;
        let arn = attrs
            .get(&QueueAttributeName::QueueArn)
            .cloned()
            .unwrap_or_default();
        let policy = attrs
            .get(&QueueAttributeName::RedrivePolicy)
            .ok_or_else(|| {
                QueueError::Other(format!(
                    "queue {url} has no redrive policy (dead-letter queue)"
                ))
            })?;
        let policy: serde_json::Value = serde_json::from_str(policy)
            .map_err(|e| QueueError::Other(format!("unreadable redrive policy: {e}")))?;
        let dlq_arn = policy["deadLetterTargetArn"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        // The policy's count is a number in AWS and a string in some emulators.
        let max_receive_count = match &policy["maxReceiveCount"] {
            serde_json::Value::Number(n) => n.as_u64(),
            serde_json::Value::String(s) => s.parse().ok(),
            _ => None,
        }
        .and_then(|n| u32::try_from(n).ok())
        .ok_or_else(|| QueueError::Other("redrive policy has no maxReceiveCount".into()))?;
        let dlq_url = client
            .get_queue_url()
            .queue_name(arn_name(&dlq_arn))
            .send()
            .await
            .map_err(|e| queue_err(classify(e)))?
            .queue_url()
            .unwrap_or_default()
            .to_owned();
        Ok(Self {
            client,
            url: url.to_owned(),
            name: arn_name(&arn).to_owned(),
            arn,
            dlq_url,
            dlq_arn,
            max_receive_count,
        })
    }

    /// Creates `name` and `name-dlq` with a redrive policy, as the Terraform does in AWS; returns
    /// the queue URL. For local servers and tests.
    ///
    /// # Errors
    /// [`QueueError::Unavailable`] when SQS cannot be reached.
    pub async fn create_with_dead_letter_queue(
        client: &Client,
        name: &str,
        max_receive_count: u32,
    ) -> Result<String, QueueError> {
        let dlq_url = client
            .create_queue()
            .queue_name(format!("{name}-dlq"))
            .attributes(QueueAttributeName::MessageRetentionPeriod, "1209600")
            .send()
            .await
            .map_err(|e| queue_err(classify(e)))?
            .queue_url()
            .unwrap_or_default()
            .to_owned();
        let dlq_attrs = Self::attributes_of(client, &dlq_url).await?;
        let dlq_arn = dlq_attrs
            .get(&QueueAttributeName::QueueArn)
            .cloned()
            .unwrap_or_default();
        let policy = serde_json::json!({
            "deadLetterTargetArn": dlq_arn,
            "maxReceiveCount": max_receive_count,
        });
        let out = client
            .create_queue()
            .queue_name(name)
            .attributes(QueueAttributeName::RedrivePolicy, policy.to_string())
            .send()
            .await
            .map_err(|e| queue_err(classify(e)))?;
        Ok(out.queue_url().unwrap_or_default().to_owned())
    }

    async fn attributes_of(
        client: &Client,
        url: &str,
    ) -> Result<HashMap<QueueAttributeName, String>, QueueError> {
        let out = client
            .get_queue_attributes()
            .queue_url(url)
            .attribute_names(QueueAttributeName::All)
            .send()
            .await
            .map_err(|e| queue_err(classify(e)))?;
        Ok(out.attributes().cloned().unwrap_or_default())
    }

    async fn send_to(
        &self,
        url: &str,
        messages: &[OutgoingMessage],
    ) -> Result<Vec<EntryResult<String>>, QueueError> {
        check_send(messages)?;
        let mut entries = Vec::with_capacity(messages.len());
        for (i, m) in messages.iter().enumerate() {
            let mut entry = SendMessageBatchRequestEntry::builder()
                .id(i.to_string())
                .message_body(&m.body);
            for (k, v) in m.trace.attributes() {
                let value = MessageAttributeValue::builder()
                    .data_type("String")
                    .string_value(v)
                    .build()
                    .map_err(build_err)?;
                entry = entry.message_attributes(k, value);
            }
            if let Some(h) = m.trace.xray_header() {
                let value = MessageSystemAttributeValue::builder()
                    .data_type("String")
                    .string_value(h)
                    .build()
                    .map_err(build_err)?;
                entry = entry.message_system_attributes(
                    MessageSystemAttributeNameForSends::AwsTraceHeader,
                    value,
                );
            }
            entries.push(entry.build().map_err(build_err)?);
        }
        let out = self
            .client
            .send_message_batch()
            .queue_url(url)
            .set_entries(Some(entries))
            .send()
            .await
            .map_err(|e| queue_err(classify(e)))?;
        let mut results: Vec<EntryResult<String>> = (0..messages.len())
            .map(|_| Err(QueueError::Other("no result for this entry".into())))
            .collect();
        for ok in out.successful() {
            if let Some(slot) = ok
                .id()
                .parse::<usize>()
                .ok()
                .and_then(|i| results.get_mut(i))
            {
                *slot = Ok(ok.message_id().to_owned());
            }
        }
        for failed in out.failed() {
            if let Some(slot) = failed
                .id()
                .parse::<usize>()
                .ok()
                .and_then(|i| results.get_mut(i))
            {
                let text = format!(
                    "{}: {}",
                    failed.code(),
                    failed.message().unwrap_or_default()
                );
                *slot = Err(if failed.sender_fault() {
                    QueueError::Invalid(text)
                } else {
                    QueueError::Unavailable(text)
                });
            }
        }
        Ok(results)
    }

    async fn receive_from(
        &self,
        url: &str,
        max: usize,
        wait: Duration,
        visibility: Duration,
    ) -> Result<Vec<ReceivedMessage>, QueueError> {
        check_receive(max, wait, visibility)?;
        let out = self
            .client
            .receive_message()
            .queue_url(url)
            .max_number_of_messages(max as i32)
            .wait_time_seconds(secs(wait))
            .visibility_timeout(secs(visibility))
            .message_system_attribute_names(MessageSystemAttributeName::All)
            .message_attribute_names("All")
            .send()
            .await
            .map_err(|e| queue_err(classify(e)))?;
        Ok(out
            .messages()
            .iter()
            .map(|m| {
                let system = m.attributes();
                let system_attr =
                    |name: MessageSystemAttributeName| system.and_then(|a| a.get(&name)).cloned();
                let attributes = m.message_attributes();
                let trace = MessageTrace::from_attributes(
                    |k| attributes?.get(k)?.string_value(),
                    system_attr(MessageSystemAttributeName::AwsTraceHeader),
                );
                ReceivedMessage {
                    message_id: m.message_id().unwrap_or_default().to_owned(),
                    receipt: Receipt(m.receipt_handle().unwrap_or_default().to_owned()),
                    body: m.body().unwrap_or_default().to_owned(),
                    trace,
                    receive_count: system_attr(MessageSystemAttributeName::ApproximateReceiveCount)
                        .and_then(|c| c.parse().ok())
                        .unwrap_or(1),
                    sent_at_ms: system_attr(MessageSystemAttributeName::SentTimestamp)
                        .and_then(|c| c.parse().ok())
                        .unwrap_or(0),
                }
            })
            .collect())
    }

    async fn delete_from(
        &self,
        url: &str,
        receipts: &[Receipt],
    ) -> Result<Vec<EntryResult<()>>, QueueError> {
        check_batch(receipts.len())?;
        let entries = receipts
            .iter()
            .enumerate()
            .map(|(i, r)| {
                DeleteMessageBatchRequestEntry::builder()
                    .id(i.to_string())
                    .receipt_handle(&r.0)
                    .build()
                    .map_err(build_err)
            })
            .collect::<Result<Vec<_>, _>>()?;
        let out = self
            .client
            .delete_message_batch()
            .queue_url(url)
            .set_entries(Some(entries))
            .send()
            .await
            .map_err(|e| queue_err(classify(e)))?;
        let mut results: Vec<EntryResult<()>> = (0..receipts.len()).map(|_| Ok(())).collect();
        for failed in out.failed() {
            if let Some(slot) = failed
                .id()
                .parse::<usize>()
                .ok()
                .and_then(|i| results.get_mut(i))
            {
                let text = format!(
                    "{}: {}",
                    failed.code(),
                    failed.message().unwrap_or_default()
                );
                *slot = Err(queue_err(AwsFailure::Rejected {
                    code: failed.code().to_owned(),
                    message: text,
                }));
            }
        }
        Ok(results)
    }

    /// Moves messages one batch at a time: for servers without `StartMessageMoveTask`.
    async fn redrive_by_copy(&self) -> Result<u64, QueueError> {
        let mut moved = 0;
        loop {
            let batch = self
                .receive_from(
                    &self.dlq_url,
                    super::MAX_BATCH,
                    Duration::ZERO,
                    Duration::from_secs(60),
                )
                .await?;
            if batch.is_empty() {
                return Ok(moved);
            }
            let outgoing: Vec<OutgoingMessage> = batch
                .iter()
                .map(|m| OutgoingMessage {
                    body: m.body.clone(),
                    trace: m.trace.clone(),
                })
                .collect();
            let sent = self.send_to(&self.url, &outgoing).await?;
            // Delete only what was copied; the rest reappears in the dead-letter queue.
            let copied: Vec<Receipt> = batch
                .iter()
                .zip(&sent)
                .filter(|(_, s)| s.is_ok())
                .map(|(m, _)| m.receipt.clone())
                .collect();
            if copied.is_empty() {
                return Err(QueueError::Unavailable(
                    "no message could be copied back".into(),
                ));
            }
            moved += copied.len() as u64;
            self.delete_from(&self.dlq_url, &copied).await?;
        }
    }
}

fn arn_name(arn: &str) -> &str {
    arn.rsplit(':').next().unwrap_or(arn)
}

#[async_trait]
impl Queue for SqsQueue {
    async fn send_batch(
        &self,
        messages: &[OutgoingMessage],
    ) -> Result<Vec<EntryResult<String>>, QueueError> {
        self.send_to(&self.url, messages).await
    }

    async fn receive(
        &self,
        max: usize,
        wait: Duration,
        visibility: Duration,
    ) -> Result<Vec<ReceivedMessage>, QueueError> {
        self.receive_from(&self.url, max, wait, visibility).await
    }

    async fn delete_batch(&self, receipts: &[Receipt]) -> Result<Vec<EntryResult<()>>, QueueError> {
        self.delete_from(&self.url, receipts).await
    }

    async fn change_visibility(
        &self,
        receipt: &Receipt,
        timeout: Duration,
    ) -> Result<(), QueueError> {
        check_visibility(timeout)?;
        self.client
            .change_message_visibility()
            .queue_url(&self.url)
            .receipt_handle(&receipt.0)
            .visibility_timeout(secs(timeout))
            .send()
            .await
            .map_err(|e| queue_err(classify(e)))?;
        Ok(())
    }

    async fn stats(&self) -> Result<QueueStats, QueueError> {
        let (main, dlq) = tokio::try_join!(
            Self::attributes_of(&self.client, &self.url),
            Self::attributes_of(&self.client, &self.dlq_url)
        )?;
        let count = |attrs: &HashMap<QueueAttributeName, String>, name| {
            attrs.get(&name).and_then(|v| v.parse().ok()).unwrap_or(0)
        };
        Ok(QueueStats {
            visible: count(&main, QueueAttributeName::ApproximateNumberOfMessages),
            in_flight: count(
                &main,
                QueueAttributeName::ApproximateNumberOfMessagesNotVisible,
            ),
            oldest_age_seconds: None,
            dead_letter: count(&dlq, QueueAttributeName::ApproximateNumberOfMessages),
        })
    }

    async fn redrive(&self) -> Result<Redrive, QueueError> {
        let approximate = self.stats().await?.dead_letter;
        let started = self
            .client
            .start_message_move_task()
            .source_arn(&self.dlq_arn)
            .destination_arn(&self.arn)
            .send()
            .await;
        match started {
            Ok(_) => Ok(Redrive::Started { approximate }),
            Err(e) => match classify(e) {
                // Servers without message move tasks (local emulators) answer 5xx or an
                // unsupported-operation code: move the messages by hand.
                AwsFailure::Unavailable(reason)
                | AwsFailure::Rejected {
                    message: reason, ..
                } if reason.contains("NotImplemented")
                    || reason.contains("InvalidAction")
                    || reason.contains("UnsupportedOperation")
                    || reason.contains("500") =>
                {
                    tracing::info!(%reason, "StartMessageMoveTask is unavailable; moving messages by copy.");
                    Ok(Redrive::Moved(self.redrive_by_copy().await?))
                }
                other => Err(queue_err(other)),
            },
        }
    }

    fn max_receive_count(&self) -> u32 {
        self.max_receive_count
    }

    fn name(&self) -> &str {
        &self.name
    }

    fn messaging_system(&self) -> &'static str {
        "aws_sqs"
    }
}
