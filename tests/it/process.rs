//! The `keyport` binary as its own process: one way to start it, for every test that needs a
//! process (to kill it, to read its log, or to run a command).

use std::{
    path::PathBuf,
    process::{Child, Command},
    time::{Duration, Instant},
};

use crate::helpers::{TestDb, Visitor};

/// Settings from the environment the tests run in that would change what the binary does.
const INHERITED: [&str; 5] = [
    "KEYPORT_MASTER_KEY",
    "KEYPORT_FAILPOINT",
    "KEYPORT_LOG",
    "KEYPORT_LOG_FORMAT",
    "KEYPORT_TEST_ROTATE_PAUSE_MS",
];

/// Test hooks: variables the binary honours only when built with the `failpoints` feature.
const HOOKS: [&str; 2] = ["KEYPORT_FAILPOINT", "KEYPORT_TEST_ROTATE_PAUSE_MS"];

/// Sets the test hook `name` (one of [`HOOKS`]) on `command`. A binary built without the
/// `failpoints` feature ignores it, so a test that relies on it fails here, saying why, rather
/// than waiting for a stop that never comes or passing without having tested anything.
pub fn set_hook(command: &mut Command, name: &str, value: &str) {
    assert!(HOOKS.contains(&name), "{name} is not a test hook");
    if !cfg!(feature = "failpoints") {
        panic!(
            "{name} needs the test hooks: run the tests with --features failpoints (scripts/test.sh does)"
        );
    }
    command.env(name, value);
}

/// `keyport` for the test database `db`, run in its folder, with nothing inherited that changes
/// its behaviour; the caller adds the arguments.
pub fn keyport(db: &TestDb) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_keyport"));
    command
        .env("KEYPORT_DATABASE_URL", &db.url)
        .env("KEYPORT_MASTER_KEY_FILE", &db.key_file)
        .env("NO_COLOR", "1")
        // The test backends (moto, Keystone, Swift) answer on loopback.
        .env("KEYPORT_BACKEND_ALLOWED_NETWORKS", "127.0.0.0/8,::1")
        .current_dir(db.dir.path());
    for name in INHERITED {
        command.env_remove(name);
    }
    command
}

/// A free port on loopback (the listener is closed again at once).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// `keyport serve` on a free loopback port; its standard error goes to a log file in the test
/// database's folder. Killed (SIGKILL) when dropped.
pub struct Server {
    pub child: Child,
    pub base: String,
    pub port: u16,
    pub log: PathBuf,
}

impl Server {
    /// Starts the portal with the extra environment `env` and waits until it answers.
    pub async fn start(db: &TestDb, env: &[(&str, &str)]) -> Server {
        let port = free_port();
        let log = db.dir.path().join(format!("server-{port}.log"));
        let mut command = keyport(db);
        command
            .args(["serve", "--listen", &format!("127.0.0.1:{port}")])
            // Another process finishes what a killed one left after this many seconds.
            .env("KEYPORT_PROCESS_TIMEOUT_SECONDS", "3")
            .stderr(std::fs::File::create(&log).unwrap());
        for &(name, value) in env {
            if HOOKS.contains(&name) {
                set_hook(&mut command, name, value);
            } else {
                command.env(name, value);
            }
        }
        let server = Server {
            child: command.spawn().expect("the keyport binary runs"),
            base: format!("http://127.0.0.1:{port}"),
            port,
            log,
        };
        let started = Instant::now();
        while reqwest::get(format!("{}/healthz", server.base))
            .await
            .is_err()
        {
            assert!(
                started.elapsed() < Duration::from_secs(30),
                "the portal starts: {}",
                server.log_text()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        server
    }

    pub fn visitor(&self) -> Visitor {
        Visitor::new(&self.base)
    }

    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Waits until the log holds `text`, for at most 30 seconds.
    pub async fn wait_for_log(&self, text: &str) {
        wait_for_any_log(std::slice::from_ref(self), text).await;
    }

    /// SIGKILL: no shutdown code runs.
    pub fn kill(mut self) {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
    }
}

/// Waits until the log of one of `servers` holds `text`, for at most 30 seconds; returns which.
pub async fn wait_for_any_log(servers: &[Server], text: &str) -> usize {
    let started = Instant::now();
    loop {
        if let Some(found) = servers.iter().position(|s| s.log_text().contains(text)) {
            return found;
        }
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "{text:?} in the log"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
