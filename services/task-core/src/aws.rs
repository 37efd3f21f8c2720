//! What the SQS and DynamoDB backends share: loading the AWS configuration and sorting SDK errors
//! into "try again later" and "the request was wrong".

use std::{error::Error, time::Duration};

use aws_sdk_sqs::{
    config::http::HttpResponse,
    error::{DisplayErrorContext, ProvideErrorMetadata, SdkError},
};

/// Loads the standard AWS configuration: region, credentials chain and `AWS_ENDPOINT_URL`
/// (which is how tests point the SDKs at a local server).
///
/// Timeouts are set so an unreachable endpoint fails fast (connect 2 s) while a 20 s long poll
/// still fits in one attempt (25 s).
pub async fn load_config() -> aws_config::SdkConfig {
    config_loader().load().await
}

/// The loader behind [`load_config`], for callers that add settings (tests add an endpoint).
pub fn config_loader() -> aws_config::ConfigLoader {
    let timeouts = aws_config::timeout::TimeoutConfig::builder()
        .connect_timeout(Duration::from_secs(2))
        .operation_attempt_timeout(Duration::from_secs(25))
        .build();
    aws_config::defaults(aws_config::BehaviorVersion::latest()).timeout_config(timeouts)
}

/// An SDK failure, sorted by what the caller does next.
pub(crate) enum AwsFailure {
    /// No answer, a 5xx or throttling: retry later.
    Unavailable(String),
    /// The service answered no: `code` is its error code (`ConditionalCheckFailedException`, ...).
    Rejected { code: String, message: String },
}

pub(crate) fn classify<E>(e: SdkError<E, HttpResponse>) -> AwsFailure
where
    E: ProvideErrorMetadata + Error + Send + Sync + 'static,
{
    let text = DisplayErrorContext(&e).to_string();
    match &e {
        SdkError::ServiceError(se) => {
            let status = se.raw().status().as_u16();
            let code = se.err().code().unwrap_or("Unknown").to_owned();
            let throttled = code.contains("Throttl")
                || code == "RequestLimitExceeded"
                || code == "ProvisionedThroughputExceededException";
            if status >= 500 || status == 429 || throttled {
                AwsFailure::Unavailable(text)
            } else {
                AwsFailure::Rejected {
                    code,
                    message: text,
                }
            }
        }
        // Dispatch failures, timeouts and unreadable responses: the service did not answer.
        _ => AwsFailure::Unavailable(text),
    }
}
