//! X-Ray compatible trace ids: the first 32 bits are the trace's start in Unix seconds (X-Ray
//! drops a trace whose id is older than 30 days), the other 96 are random.
//!
//! `opentelemetry_aws::trace::XrayIdGenerator` does the same by formatting both parts as hex
//! strings and parsing their concatenation back, two strings and a parse for every new trace;
//! here the id is built from the two numbers.

use std::time::UNIX_EPOCH;

use opentelemetry::trace::{SpanId, TraceId};
use opentelemetry_sdk::trace::{IdGenerator, RandomIdGenerator};

#[derive(Debug, Default)]
pub(crate) struct XrayIds {
    random: RandomIdGenerator,
}

impl IdGenerator for XrayIds {
    fn new_trace_id(&self) -> TraceId {
        // A clock before 1970 or past 2106 gives 0 seconds, which X-Ray refuses, rather than a
        // wrong time that it would accept.
        // The clock the SDK stamps spans with.
        let seconds = opentelemetry::time::now()
            .duration_since(UNIX_EPOCH)
            .ok()
            .and_then(|d| u32::try_from(d.as_secs()).ok())
            .unwrap_or(0);
        let random = u128::from_be_bytes(self.random.new_trace_id().to_bytes()) >> 32;
        TraceId::from((u128::from(seconds) << 96) | random)
    }

    fn new_span_id(&self) -> SpanId {
        self.random.new_span_id()
    }
}

#[cfg(test)]
mod tests {
    use std::time::SystemTime;

    use super::*;

    #[test]
    fn trace_ids_start_with_the_current_second_and_differ_in_the_rest() {
        let before = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_secs();
        let ids = XrayIds::default();
        let (a, b) = (ids.new_trace_id(), ids.new_trace_id());
        let after = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_secs();
        for id in [a, b] {
            let hex = format!("{id}");
            assert_eq!(hex.len(), 32);
            let seconds = u64::from_str_radix(&hex[..8], 16).unwrap();
            assert!((before..=after).contains(&seconds), "{hex}: {seconds}");
        }
        assert_ne!(format!("{a}")[8..], format!("{b}")[8..]);
        assert_ne!(ids.new_span_id(), SpanId::INVALID);
    }
}
