//! One conformance suite, the same test code, run against both implementations of the queue and
//! the task store: `embedded::*` on SQLite files in a temporary folder, `aws::*` on a moto server.

/// Generates, for each listed test function, one `#[tokio::test]` per backend.
macro_rules! conformance {
    ($($test:ident),+ $(,)?) => {
        mod embedded {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $test() {
                    super::$test(crate::fixture::Fixture::embedded().await).await;
                }
            )+
        }
        mod aws {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $test() {
                    super::$test(crate::fixture::Fixture::aws().await).await;
                }
            )+
        }
    };
}

mod fixture;
mod queue;
mod store;
