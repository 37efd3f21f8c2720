//! Runner tests on both backends: in-process ones that call `process_one` until the queue is
//! empty, and process-level ones that start the real `task-runner` binary, kill it, signal it,
//! and watch the task store.

/// Generates one `#[tokio::test]` per backend for each listed test function.
macro_rules! both_backends {
    ($($test:ident),+ $(,)?) => {
        mod embedded {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $test() {
                    super::$test(crate::helpers::Env::embedded().await).await;
                }
            )+
        }
        mod aws {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $test() {
                    super::$test(crate::helpers::Env::aws().await).await;
                }
            )+
        }
    };
}

mod helpers;
mod in_process;
mod processes;
mod traces;
