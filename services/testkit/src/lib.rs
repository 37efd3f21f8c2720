//! Test-only helpers shared by the services' test suites.
//!
//! [`moto`] starts one moto server (the local SQS and DynamoDB stand-in) per test binary on a free
//! port, or uses the one named by `MOTO_ENDPOINT`; [`aws_backends`] creates a fresh queue pair and
//! table on it so tests never see each other's data.

pub mod github;
pub mod grafana;
pub mod otlp;
pub mod prometheus;

use std::{
    net::TcpListener,
    os::unix::process::CommandExt,
    path::PathBuf,
    process::{Command, Stdio},
    sync::{Arc, OnceLock},
    time::{Duration, Instant},
};

use task_core::{backend::Backends, queue::SqsQueue, store::DynamoTaskStore};

/// A local AWS endpoint and the settings a client or child process needs to use it.
#[derive(Debug, Clone)]
pub struct Moto {
    pub endpoint: String,
}

/// Environment for a child process whose AWS SDK should use the local server at `endpoint`.
pub fn aws_env(endpoint: &str) -> Vec<(&'static str, String)> {
    vec![
        ("AWS_ENDPOINT_URL", endpoint.to_owned()),
        ("AWS_REGION", "us-east-1".into()),
        ("AWS_ACCESS_KEY_ID", "testing".into()),
        ("AWS_SECRET_ACCESS_KEY", "testing".into()),
        ("AWS_EC2_METADATA_DISABLED", "true".into()),
    ]
}

impl Moto {
    /// Environment for a child process (`api`, `task-runner`) that should use this server.
    pub fn env(&self) -> Vec<(&'static str, String)> {
        aws_env(&self.endpoint)
    }

    /// An SDK configuration pointed at this server.
    pub async fn sdk_config(&self) -> aws_config::SdkConfig {
        task_core::aws::config_loader()
            .endpoint_url(&self.endpoint)
            .region(aws_config::Region::new("us-east-1"))
            .credentials_provider(aws_sdk_sqs::config::Credentials::new(
                "testing", "testing", None, None, "testkit",
            ))
            .load()
            .await
    }
}

/// Serves `app` on a free loopback port until the returned task is dropped or aborted; returns
/// its base URL. The fakes of GitHub and Grafana run on it.
pub async fn serve_fake(app: axum::Router, what: &str) -> (String, tokio::task::JoinHandle<()>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .unwrap_or_else(|e| panic!("bind the fake {what}: {e}"));
    let url = format!("http://{}", listener.local_addr().expect("address"));
    let server = tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    (url, server)
}

/// A port nobody listens on right now.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("no free port on 127.0.0.1")
}

fn workspace_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn moto_binary() -> PathBuf {
    if let Some(p) = std::env::var_os("MOTO_SERVER") {
        return p.into();
    }
    let venv = workspace_root().join(".venv/bin/moto_server");
    if venv.exists() {
        return venv;
    }
    "moto_server".into()
}

/// Starts `moto_server` on `port` from a thread that lives as long as the test binary, so that
/// PR_SET_PDEATHSIG (which follows the spawning thread) kills the server when the binary exits.
/// Returns the server's pid once it listens.
///
/// # Panics
/// When moto is not installed (naming the command that installs it), or it does not listen.
fn spawn_moto(port: u16) -> u32 {
    let bin = moto_binary();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut cmd = Command::new(&bin);
        cmd.args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        // SAFETY: prctl is async-signal-safe and touches no memory of the parent.
        unsafe {
            cmd.pre_exec(|| {
                libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
                Ok(())
            });
        }
        match cmd.spawn() {
            Ok(mut child) => {
                let _ = tx.send(Ok(child.id()));
                // Reap it when it exits, so a stopped server leaves no zombie.
                let _ = child.wait();
                loop {
                    std::thread::park();
                }
            }
            Err(e) => {
                let _ = tx.send(Err(format!("{}: {e}", bin.display())));
            }
        }
    });
    let pid = match rx.recv() {
        Ok(Ok(pid)) => pid,
        Ok(Err(e)) => panic!(
            "moto_server is missing ({e}). Install it with: python3 -m venv .venv && \
             .venv/bin/pip install 'moto[server]'  (scripts/test.sh does this)"
        ),
        Err(_) => panic!("the thread starting moto_server died"),
    };
    let deadline = Instant::now() + Duration::from_secs(30);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            Instant::now() < deadline,
            "moto_server did not listen on port {port} within 30 s"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    pid
}

/// The moto server shared by the tests of this binary, started on first use (or the one named
/// by `MOTO_ENDPOINT`).
pub fn moto() -> Moto {
    static MOTO: OnceLock<Moto> = OnceLock::new();
    MOTO.get_or_init(|| {
        if let Ok(endpoint) = std::env::var("MOTO_ENDPOINT") {
            return Moto { endpoint };
        }
        let port = free_port();
        spawn_moto(port);
        Moto {
            endpoint: format!("http://127.0.0.1:{port}"),
        }
    })
    .clone()
}

/// A moto server of one test's own, which the test may stop and start again (outage tests).
pub struct OwnMoto {
    pub moto: Moto,
    port: u16,
    pid: Option<u32>,
}

impl OwnMoto {
    pub fn start() -> Self {
        let port = free_port();
        let pid = spawn_moto(port);
        OwnMoto {
            moto: Moto {
                endpoint: format!("http://127.0.0.1:{port}"),
            },
            port,
            pid: Some(pid),
        }
    }

    /// Kills the server and waits until its port refuses connections.
    pub fn stop(&mut self) {
        if let Some(pid) = self.pid.take() {
            // SAFETY: plain kill(2) of a child this test started.
            unsafe {
                libc::kill(pid as i32, libc::SIGKILL);
            }
        }
        let deadline = Instant::now() + Duration::from_secs(10);
        while std::net::TcpStream::connect(("127.0.0.1", self.port)).is_ok() {
            assert!(
                Instant::now() < deadline,
                "moto_server still listens after SIGKILL"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Starts a fresh (empty) server on the same port.
    pub fn restart(&mut self) {
        self.pid = Some(spawn_moto(self.port));
    }

    /// Creates (or re-creates after a restart) the queue pair and table `name`.
    pub async fn create_resources(&self, name: &str, max_receive_count: u32) -> AwsResources {
        create_resources(&self.moto, name, max_receive_count).await
    }
}

impl Drop for OwnMoto {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Runs `promtool check metrics` on an exposition; panics with its findings.
///
/// # Panics
/// When promtool is missing (naming the command that installs it) or reports a problem.
pub fn promtool_check_metrics(exposition: &str) {
    use std::io::Write;
    let mut child = Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| {
            panic!("promtool is missing ({e}). Install it with: apt-get install -y prometheus  (scripts/test.sh does this)")
        });
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(exposition.as_bytes())
        .expect("write to promtool");
    let out = child.wait_with_output().expect("run promtool");
    let findings = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        out.status.success() && findings.trim().is_empty(),
        "promtool check metrics:\n{findings}\n---\n{exposition}"
    );
}

/// A fresh SQS queue (with its dead-letter queue) and DynamoDB table on the moto server.
pub struct AwsResources {
    pub moto: Moto,
    pub queue_url: String,
    pub table: String,
    pub backends: Backends,
}

/// Creates uniquely named resources on the shared server, so parallel tests never share data.
pub async fn aws_backends(max_receive_count: u32) -> AwsResources {
    let name = format!("t{}", uuid::Uuid::new_v4().simple());
    create_resources(&moto(), &name, max_receive_count).await
}

async fn create_resources(moto: &Moto, name: &str, max_receive_count: u32) -> AwsResources {
    let moto = moto.clone();
    let config = moto.sdk_config().await;
    let sqs = aws_sdk_sqs::Client::new(&config);
    let dynamo = aws_sdk_dynamodb::Client::new(&config);
    let queue_url = SqsQueue::create_with_dead_letter_queue(&sqs, name, max_receive_count)
        .await
        .expect("create queue on moto");
    DynamoTaskStore::create_table(&dynamo, name)
        .await
        .expect("create table on moto");
    let queue = SqsQueue::connect(sqs, &queue_url)
        .await
        .expect("connect to queue on moto");
    let store = DynamoTaskStore::new(dynamo, name);
    AwsResources {
        moto,
        queue_url,
        table: name.to_owned(),
        backends: Backends {
            queue: Arc::new(queue),
            store: Arc::new(store),
            intake: None,
        },
    }
}

/// Tracing with the OpenTelemetry layer (so spans have trace ids to propagate), installed once
/// per test binary; log lines are printed only with `TEST_LOG=1`.
pub fn init_telemetry() {
    static TELEMETRY: OnceLock<Option<telemetry::Telemetry>> = OnceLock::new();
    TELEMETRY.get_or_init(|| {
        if std::env::var_os("TEST_LOG").is_some() {
            telemetry::init("test").ok()
        } else {
            telemetry::init_with_writer("test", std::io::sink).ok()
        }
    });
}
