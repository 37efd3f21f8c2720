//! Black-box tests of the API: each spawns the real application on port 0, on the embedded
//! backends (a fresh temporary folder) and on SQS + DynamoDB (fresh resources on a moto server).

/// Generates one `#[tokio::test]` per backend for each listed test function.
macro_rules! both_backends {
    ($($test:ident),+ $(,)?) => {
        mod embedded {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $test() {
                    super::$test(crate::helpers::spawn_app().await).await;
                }
            )+
        }
        mod aws {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $test() {
                    super::$test(crate::helpers::spawn_app_aws().await).await;
                }
            )+
        }
    };
}

mod contract;
mod health;
mod helpers;
mod outage;
mod submit;
mod tasks;
