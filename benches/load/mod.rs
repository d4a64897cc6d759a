//! What the load benchmarks share: the portal process they measure, wrk driving it from
//! outside, and the server's query log read back.

use std::{
    io::Write,
    path::Path,
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

use anyhow::{Context, bail, ensure};
use sqlx::Connection;

/// wrk's threads: one per core of the machines these figures come from.
pub const WRK_THREADS: usize = 2;

pub fn env_number(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// The portal's release binary (or `KEYPORT_BENCH_BINARY`), stopped when dropped.
pub struct Server {
    child: Child,
    /// `http://127.0.0.1:PORT`.
    pub base: String,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Server {
    /// Starts the portal on the database at `url`, its log at `log_level` (`KEYPORT_LOG`)
    /// written to `log`, with `env` set beside; returns once it answers `/readyz`.
    pub async fn start(
        url: &str,
        key_file: &Path,
        log: &Path,
        log_level: &str,
        env: &[(&str, &str)],
    ) -> anyhow::Result<Server> {
        let port = std::net::TcpListener::bind("127.0.0.1:0")?
            .local_addr()?
            .port();
        let child = Command::new(
            std::env::var_os("KEYPORT_BENCH_BINARY")
                .unwrap_or_else(|| env!("CARGO_BIN_EXE_keyport").into()),
        )
        .args(["serve", "--listen", &format!("127.0.0.1:{port}")])
        .env("KEYPORT_DATABASE_URL", url)
        .env("KEYPORT_MASTER_KEY_FILE", key_file)
        .env("KEYPORT_LOG", log_level)
        .env("NO_COLOR", "1")
        .envs(env.iter().copied())
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(log)?)
        .spawn()?;
        let mut server = Server {
            child,
            base: format!("http://127.0.0.1:{port}"),
        };
        server.wait_until_ready(log).await?;
        Ok(server)
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    async fn wait_until_ready(&mut self, log: &Path) -> anyhow::Result<()> {
        let started = Instant::now();
        let http = client()?;
        while http
            .get(format!("{}/readyz", self.base))
            .send()
            .await
            .is_err()
        {
            let stopped = self.child.try_wait()?;
            if stopped.is_some() || started.elapsed() > Duration::from_secs(60) {
                bail!(
                    "the portal did not start ({stopped:?}): {}",
                    std::fs::read_to_string(log).unwrap_or_default()
                );
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        Ok(())
    }
}

/// A client for loopback: no proxy from the environment, a bound on every request.
pub fn client() -> anyhow::Result<reqwest::Client> {
    Ok(reqwest::Client::builder()
        .no_proxy()
        .timeout(Duration::from_secs(30))
        .build()?)
}

/// A new database on the PostgreSQL server at `server` (a role that may create databases).
pub async fn fresh_postgres_database(server: &str) -> anyhow::Result<String> {
    let name = format!("keyport_bench_{}", uuid::Uuid::new_v4().simple());
    let mut conn = sqlx::PgConnection::connect(server).await?;
    sqlx::query(&format!("create database {name}"))
        .execute(&mut conn)
        .await?;
    conn.close().await.ok();
    let (base, _) = server
        .rsplit_once('/')
        .context("a PostgreSQL URL names a database")?;
    Ok(format!("{base}/{name}"))
}

/// The queries in the log so far, without those of the background rounds (heartbeat, lease,
/// reconcile), which all name `instances` or `leases`.
pub fn query_lines(log: &Path) -> usize {
    std::fs::read_to_string(log)
        .unwrap_or_default()
        .lines()
        .filter(|l| l.contains("sqlx::query") && !l.contains("instances") && !l.contains("leases"))
        .count()
}

/// What one wrk run measured.
pub struct Load {
    pub rate: f64,
    pub p50_ms: f64,
    pub p99_ms: f64,
}

/// Counts answers other than `status` in every wrk thread and prints their sum; gives each
/// thread its number (`thread_number`, from 1). A script appended to this one may set `status`,
/// define `request()` (wrk then asks it for every request) and `answered(body)` (called with
/// the body of every answer with the right status), but not `response`, `setup` or `done`.
const WRK_SCRIPT: &str = r#"
status = 200
bad = 0
local threads = {}
function setup(thread)
  table.insert(threads, thread)
  thread:set("thread_number", #threads)
end
function response(code, headers, body)
  if code ~= status then bad = bad + 1 elseif answered then answered(body) end
end
function done(summary, latency, requests)
  local total = 0
  for _, t in ipairs(threads) do total = total + t:get("bad") end
  io.write(string.format("bad answers: %d\n", total))
end
"#;

/// wrk GETs `url` with `connections` for `seconds`; fails on any answer other than 200.
pub fn wrk(
    url: &str,
    connections: usize,
    seconds: u64,
    headers: &[String],
) -> anyhow::Result<Load> {
    wrk_scripted(url, connections, seconds, headers, "")
}

/// wrk on `url` with `script` appended to the one that counts bad answers (see [`WRK_SCRIPT`]);
/// fails on any answer other than the script's `status` (200 unless it says otherwise), and on
/// any socket error.
pub fn wrk_scripted(
    url: &str,
    connections: usize,
    seconds: u64,
    headers: &[String],
    script: &str,
) -> anyhow::Result<Load> {
    let mut file = tempfile::Builder::new().suffix(".lua").tempfile()?;
    file.write_all(WRK_SCRIPT.as_bytes())?;
    file.write_all(script.as_bytes())?;
    let mut command = Command::new("wrk");
    command.args([
        "-t",
        &WRK_THREADS.to_string(),
        "-c",
        &connections.to_string(),
    ]);
    command.args([
        "-d",
        &format!("{seconds}s"),
        "--timeout",
        "30s",
        "--latency",
        "-s",
    ]);
    command.arg(file.path());
    for header in headers {
        command.args(["-H", header]);
    }
    let output = command
        .arg(url)
        .output()
        .context("wrk runs (apt-get install wrk)")?;
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    ensure!(output.status.success(), "wrk failed: {text}");
    let bad: u64 = field(&text, "bad answers:")?.parse()?;
    ensure!(
        bad == 0,
        "{bad} answers had another status for {url}: {text}"
    );
    ensure!(
        !text.contains("Socket errors"),
        "socket errors for {url}: {text}"
    );
    let rate: f64 = field(&text, "Requests/sec:")?.parse()?;
    ensure!(rate > 0.0, "no answer within the run for {url}: {text}");
    Ok(Load {
        rate,
        p50_ms: duration_ms(&field(&text, "50%")?)?,
        p99_ms: duration_ms(&field(&text, "99%")?)?,
    })
}

/// One request of a [`rotation`], to the URL's path.
pub struct Request {
    pub headers: Vec<(&'static str, String)>,
    pub body: Option<String>,
}

/// Lua that has wrk send `requests` in turn with `method`, each thread starting at its own
/// place in the list.
pub fn rotation(method: &str, requests: &[Request]) -> String {
    let items: Vec<String> = requests
        .iter()
        .map(|request| {
            let headers: Vec<String> = request
                .headers
                .iter()
                .map(|(name, value)| format!("[{}] = {}", lua_string(name), lua_string(value)))
                .collect();
            let body = request.body.as_deref().map_or("nil".into(), lua_string);
            format!("  {{{{{}}}, {body}}},\n", headers.join(", "))
        })
        .collect();
    format!(
        r#"
local items = {{
{}}}
local prepared = {{}}
local at = 0
function init(args)
  for i, item in ipairs(items) do
    prepared[i] = wrk.format({}, nil, item[1], item[2])
  end
  at = (thread_number - 1) * math.floor(#prepared / {WRK_THREADS})
end
function request()
  at = at % #prepared + 1
  return prepared[at]
end
"#,
        items.concat(),
        lua_string(method)
    )
}

/// `text` as a Lua string literal: every byte but printable ASCII as a decimal escape.
pub fn lua_string(text: &str) -> String {
    let mut quoted = String::with_capacity(text.len() + 2);
    quoted.push('"');
    for byte in text.bytes() {
        match byte {
            b'"' | b'\\' => {
                quoted.push('\\');
                quoted.push(byte as char);
            }
            b' '..=b'~' => quoted.push(byte as char),
            _ => quoted.push_str(&format!("\\{byte:03}")),
        }
    }
    quoted.push('"');
    quoted
}

/// The first word after `label` at the start of a line of wrk's report.
fn field(text: &str, label: &str) -> anyhow::Result<String> {
    text.lines()
        .find_map(|l| l.trim().strip_prefix(label))
        .and_then(|rest| rest.split_whitespace().next())
        .map(str::to_string)
        .with_context(|| format!("{label:?} in wrk's report: {text}"))
}

/// `512.00us`, `1.23ms` or `2.00s` in milliseconds.
fn duration_ms(value: &str) -> anyhow::Result<f64> {
    let (number, scale) = if let Some(n) = value.strip_suffix("us") {
        (n, 0.001)
    } else if let Some(n) = value.strip_suffix("ms") {
        (n, 1.0)
    } else if let Some(n) = value.strip_suffix('s') {
        (n, 1000.0)
    } else {
        bail!("a duration: {value}")
    };
    Ok(number.parse::<f64>()? * scale)
}
