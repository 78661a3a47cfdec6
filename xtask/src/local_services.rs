//! A PostgreSQL, a Redis and a NATS server of the development stack's own,
//! from the installed binaries, for a machine where nothing answers on the
//! default addresses: `cargo xtask up` then needs no set-up beyond
//! installing them. PostgreSQL and NATS keep their data between runs (on
//! 127.0.0.1 only); all stop when dropped.

use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use anyhow::{Context as _, ensure};

use crate::stack::free_port;
use crate::wait_until;

/// Whether something accepts connections on 127.0.0.1:`port`.
pub fn answers(port: u16) -> bool {
    TcpStream::connect_timeout(&([127, 0, 0, 1], port).into(), Duration::from_millis(500)).is_ok()
}

pub fn running_as_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|out| String::from_utf8_lossy(&out.stdout).trim() == "0")
}

/// The newest installed PostgreSQL's `bin/` (Debian's layout), or the
/// directory of `initdb` on `PATH`.
fn postgres_bin() -> anyhow::Result<PathBuf> {
    let debian = std::fs::read_dir("/usr/lib/postgresql")
        .ok()
        .and_then(|versions| {
            let mut dirs: Vec<PathBuf> =
                versions.filter_map(Result::ok).map(|e| e.path()).collect();
            dirs.sort();
            dirs.pop().map(|dir| dir.join("bin"))
        });
    let on_path = std::env::var_os("PATH")
        .and_then(|path| std::env::split_paths(&path).find(|dir| dir.join("initdb").is_file()));
    debian
        .filter(|dir| dir.join("initdb").is_file())
        .or(on_path)
        .context("PostgreSQL is not installed. Install it with: sudo apt-get install -y postgresql")
}

/// A PostgreSQL server of the stack's own.
pub struct OwnPostgres {
    bin: PathBuf,
    dir: PathBuf,
    port: u16,
    as_root: bool,
}

impl OwnPostgres {
    /// Starts the cluster in `dir` (made by `initdb` on the first run) on a
    /// free port. As root the server runs as the `postgres` user (it
    /// refuses root), with its data under the temporary directory, which
    /// that user can reach.
    pub fn start(dir: &Path) -> anyhow::Result<Self> {
        let bin = postgres_bin()?;
        let as_root = running_as_root();
        let dir = if as_root {
            use std::hash::{Hash as _, Hasher as _};
            let mut hasher = std::collections::hash_map::DefaultHasher::new();
            dir.hash(&mut hasher);
            std::env::temp_dir().join(format!("shop-postgres-{:x}", hasher.finish()))
        } else {
            dir.to_owned()
        };
        let own = Self {
            bin,
            dir,
            port: free_port()?,
            as_root,
        };
        if !own.dir.join("PG_VERSION").exists() {
            let _ = std::fs::remove_dir_all(&own.dir);
            std::fs::create_dir_all(&own.dir)?;
            if as_root {
                let chown = Command::new("chown")
                    .arg("postgres:postgres")
                    .arg(&own.dir)
                    .status()?;
                ensure!(chown.success(), "chown of {} failed", own.dir.display());
            }
            let initdb = own
                .tool("initdb")
                .args(["-A", "trust", "-U", "postgres", "--no-sync", "-D"])
                .arg(&own.dir)
                .stdout(Stdio::null())
                .status()
                .context("running initdb")?;
            ensure!(initdb.success(), "initdb failed in {}", own.dir.display());
        }
        let options = format!(
            "-p {} -c listen_addresses=127.0.0.1 -c unix_socket_directories={}",
            own.port,
            own.dir.display()
        );
        let started = own
            .tool("pg_ctl")
            .arg("-D")
            .arg(&own.dir)
            .args(["-w", "-o", &options, "-l"])
            .arg(own.dir.join("server.log"))
            .arg("start")
            .stdout(Stdio::null())
            .status()
            .context("running pg_ctl")?;
        ensure!(
            started.success(),
            "PostgreSQL did not start; see {}",
            own.dir.join("server.log").display()
        );
        Ok(own)
    }

    fn tool(&self, name: &str) -> Command {
        if self.as_root {
            let mut command = Command::new("runuser");
            command
                .args(["-u", "postgres", "--"])
                .arg(self.bin.join(name));
            command
        } else {
            Command::new(self.bin.join(name))
        }
    }

    /// The server's URL, without a database.
    pub fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}", self.port)
    }
}

impl Drop for OwnPostgres {
    fn drop(&mut self) {
        let _ = self
            .tool("pg_ctl")
            .arg("-D")
            .arg(&self.dir)
            .args(["stop", "-m", "fast"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
    }
}

/// A Redis server of the stack's own (append-only, `noeviction`).
pub struct OwnRedis {
    child: Child,
    port: u16,
}

impl OwnRedis {
    pub fn start(dir: &Path) -> anyhow::Result<Self> {
        std::fs::create_dir_all(dir)?;
        let port = free_port()?;
        let child = Command::new("redis-server")
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
            .args(["--appendonly", "yes", "--maxmemory-policy", "noeviction"])
            .arg("--dir")
            .arg(dir)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .context(
                "Redis is not installed. Install it with: sudo apt-get install -y redis-server",
            )?;
        let own = Self { child, port };
        wait_until(Duration::from_secs(10), || answers(port)).context("Redis did not start")?;
        Ok(own)
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }
}

impl Drop for OwnRedis {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// PostgreSQL for `cargo xtask up`: `TEST_POSTGRES_URL` or 127.0.0.1:5432
/// when set or answering; otherwise one of its own, its data in
/// `.dev/postgres`, started from the installed binaries.
pub fn postgres_for_the_stack(
    work_dir: &std::path::Path,
) -> anyhow::Result<(String, Option<OwnPostgres>)> {
    if std::env::var_os("TEST_POSTGRES_URL").is_some() || answers(5432) {
        return Ok((crate::postgres_server_url(), None));
    }
    eprintln!("xtask: nothing answers on 127.0.0.1:5432; starting a PostgreSQL of the stack's own");
    let own = OwnPostgres::start(&work_dir.join("postgres"))?;
    Ok((own.url(), Some(own)))
}

/// Redis for `cargo xtask up`, chosen like PostgreSQL (data in `.dev/redis`).
pub fn redis_for_the_stack(
    work_dir: &std::path::Path,
) -> anyhow::Result<(String, Option<OwnRedis>)> {
    if std::env::var_os("TEST_REDIS_URL").is_some() || answers(6379) {
        return Ok((crate::redis_url(), None));
    }
    eprintln!("xtask: nothing answers on 127.0.0.1:6379; starting a Redis of the stack's own");
    let own = OwnRedis::start(&work_dir.join("redis"))?;
    Ok((own.url(), Some(own)))
}

/// A NATS server with JetStream of the stack's own.
pub struct OwnNats {
    child: Child,
    port: u16,
}

impl OwnNats {
    pub fn start(dir: &Path) -> anyhow::Result<Self> {
        std::fs::create_dir_all(dir)?;
        let port = free_port()?;
        let child = Command::new(nats_server())
            .args(["-a", "127.0.0.1", "-p", &port.to_string(), "-js", "-sd"])
            .arg(dir)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .context("starting nats-server")?;
        let own = Self { child, port };
        wait_until(Duration::from_secs(10), || answers(port)).context("NATS did not start")?;
        Ok(own)
    }

    pub fn url(&self) -> String {
        format!("nats://127.0.0.1:{}", self.port)
    }
}

impl Drop for OwnNats {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Debian's `nats-server` (in /usr/sbin, often not on a user's PATH).
fn nats_server() -> PathBuf {
    ["/usr/sbin/nats-server", "/usr/bin/nats-server"]
        .into_iter()
        .map(PathBuf::from)
        .find(|path| path.exists())
        .unwrap_or_else(|| PathBuf::from("nats-server"))
}

/// The event bus of the development stack: `NATS_URL` when set (empty
/// turns the bus off), else the machine's server on 4222, else one of the
/// stack's own when `nats-server` is installed, else none (the services
/// then run without pushed revocation and events, as documented).
pub fn nats_for_the_stack(work_dir: &Path) -> anyhow::Result<(Option<String>, Option<OwnNats>)> {
    if let Ok(url) = std::env::var("NATS_URL") {
        return Ok(((!url.trim().is_empty()).then_some(url), None));
    }
    if answers(4222) {
        return Ok((Some("nats://127.0.0.1:4222".to_owned()), None));
    }
    if Command::new(nats_server())
        .arg("--version")
        .output()
        .is_err()
    {
        eprintln!(
            "xtask: no NATS server (sudo apt-get install -y nats-server); running without the event bus"
        );
        return Ok((None, None));
    }
    eprintln!(
        "xtask: nothing answers on 127.0.0.1:4222; starting a NATS server of the stack's own"
    );
    let own = OwnNats::start(&work_dir.join("nats"))?;
    Ok((Some(own.url()), Some(own)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn own_postgres_and_redis_start_answer_and_keep_their_data() {
        use std::io::{Read as _, Write as _};
        let root = std::env::temp_dir().join(format!("own-services-{}", std::process::id()));
        let redis = OwnRedis::start(&root.join("redis")).unwrap();
        let mut conn = TcpStream::connect(("127.0.0.1", redis.port)).unwrap();
        conn.write_all(b"PING\r\n").unwrap();
        let mut pong = [0u8; 7];
        conn.read_exact(&mut pong).unwrap();
        assert_eq!(&pong, b"+PONG\r\n");

        let postgres = OwnPostgres::start(&root.join("postgres")).unwrap();
        let database = format!("{}/own_services_check", postgres.url());
        crate::database::ensure_database(&database).unwrap();
        drop(postgres);
        // Started again, it still holds the database it made.
        let again = OwnPostgres::start(&root.join("postgres")).unwrap();
        let database = format!("{}/own_services_check", again.url());
        assert!(crate::database::database_exists(&database).unwrap());
        crate::database::drop_database(&database).unwrap();
        let data_dir = again.dir.clone();
        drop(again);
        let _ = std::fs::remove_dir_all(&data_dir);
        let _ = std::fs::remove_dir_all(&root);
    }
}
