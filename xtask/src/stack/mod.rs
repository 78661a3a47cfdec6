//! The whole system on this machine: both service binaries and the nginx
//! gateway, against the local PostgreSQL and Redis. Used by `cargo xtask up`
//! and by the end-to-end tests (on ports and databases of their own).

use std::fs::{self, File};
use std::io::{Read as _, Write as _};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, bail, ensure};

mod config;

pub use config::{StackConfig, check_prerequisites, replica_name};

use crate::gateway;

/// A running stack; stopped (SIGTERM, then kill) when dropped.
pub struct Stack {
    pub config: StackConfig,
    /// Each process by name: `gateway`, `auth-service` and
    /// `commerce-service` (the first replicas), `auth-service-2`, ...
    children: Vec<(String, Child)>,
}

impl Stack {
    /// Creates the databases if missing, migrates and seeds them, starts
    /// both services and the gateway, and waits until all three answer.
    pub fn start(config: StackConfig) -> anyhow::Result<Stack> {
        check_prerequisites(&config)?;
        fs::create_dir_all(config.work_dir.join("logs"))?;
        crate::database::ensure_database(&config.database_url(&config.auth_database))?;
        crate::database::ensure_database(&config.database_url(&config.commerce_database))?;
        let mut stack = Stack {
            config,
            children: Vec::new(),
        };
        stack.prepare_data()?;
        for service in ["auth-service", "commerce-service"] {
            for (name, _) in stack.config.replicas(service) {
                stack.spawn_replica(&name)?;
            }
        }
        for service in ["auth-service", "commerce-service"] {
            for (name, url) in stack.config.replicas(service) {
                stack.wait_healthy(&name, &format!("{url}/readyz"))?;
            }
        }
        stack.spawn_gateway()?;
        stack.wait_healthy(
            "gateway",
            &format!("{}/healthz", stack.config.gateway_url()),
        )?;
        Ok(stack)
    }

    fn binary(&self, name: &str) -> PathBuf {
        self.config.bin_dir.join(name)
    }

    fn log_file(&self, name: &str) -> anyhow::Result<File> {
        let path = self
            .config
            .work_dir
            .join("logs")
            .join(format!("{name}.log"));
        File::options()
            .create(true)
            .append(true)
            .open(&path)
            .with_context(|| format!("opening {}", path.display()))
    }

    /// Migrations (each service's own `migrate` step, as deployments run
    /// it: with nothing but the database's address, in production mode),
    /// the admin account and the demo catalog: all idempotent.
    fn prepare_data(&self) -> anyhow::Result<()> {
        let config = &self.config;
        for (service, database) in [
            ("auth-service", &config.auth_database),
            ("commerce-service", &config.commerce_database),
        ] {
            let status = Command::new(self.binary(service))
                .arg("migrate")
                .env_clear()
                .env("APP_ENV", "production")
                .env("DATABASE_URL", config.database_url(database))
                .stdout(self.log_file("setup")?)
                .stderr(self.log_file("setup")?)
                .status()
                .with_context(|| format!("running {service} migrate"))?;
            ensure!(
                status.success(),
                "{service} migrate failed; see {}",
                config.work_dir.join("logs/setup.log").display()
            );
        }
        let run = |name: &str,
                   database: &str,
                   args: &[&str],
                   extra: &[(&str, &str)]|
         -> anyhow::Result<()> {
            let mut command = Command::new(self.binary(name));
            command
                .args(args)
                .envs(config.service_env())
                .env("DATABASE_URL", config.database_url(database))
                .envs(extra.iter().copied())
                .stdout(self.log_file("setup")?)
                .stderr(self.log_file("setup")?);
            let status = command
                .status()
                .with_context(|| format!("running {name} {}", args.join(" ")))?;
            ensure!(
                status.success(),
                "{name} {} failed; see {}",
                args.join(" "),
                config.work_dir.join("logs/setup.log").display()
            );
            Ok(())
        };
        run(
            "auth-service",
            &config.auth_database,
            &[
                "create-admin",
                "--email",
                &config.admin_email,
                "--if-missing",
            ],
            &[("ADMIN_PASSWORD", &config.admin_password)],
        )?;
        run(
            "commerce-service",
            &config.commerce_database,
            &["seed"],
            &[],
        )?;
        Ok(())
    }

    /// Starts the replica `name` (e.g. `auth-service-2`) on its port.
    fn spawn_replica(&mut self, name: &str) -> anyhow::Result<()> {
        let (service, port) = self
            .config
            .replica(name)
            .with_context(|| format!("{name} is not a service replica of the stack"))?;
        let database = if service == "auth-service" {
            self.config.auth_database.clone()
        } else {
            self.config.commerce_database.clone()
        };
        let child = Command::new(self.binary(service))
            .envs(self.config.service_env())
            .env("LISTEN_ADDR", format!("127.0.0.1:{port}"))
            .env("DATABASE_URL", self.config.database_url(&database))
            .stdin(Stdio::null())
            .stdout(self.log_file(name)?)
            .stderr(self.log_file(name)?)
            .spawn()
            .with_context(|| format!("starting {name}"))?;
        self.children.push((name.to_owned(), child));
        Ok(())
    }

    fn spawn_gateway(&mut self) -> anyhow::Result<()> {
        let prefix = self.config.work_dir.join("gateway");
        let main_conf = gateway::render_local(
            &prefix,
            &gateway::Values {
                listen: format!("127.0.0.1:{}", self.config.gateway_port),
                auth_upstreams: self
                    .config
                    .auth_ports
                    .iter()
                    .map(|port| format!("127.0.0.1:{port}"))
                    .collect(),
                commerce_upstreams: self
                    .config
                    .commerce_ports
                    .iter()
                    .map(|port| format!("127.0.0.1:{port}"))
                    .collect(),
                // Generous locally: one address runs every automated journey.
                otp_rate: "6000r/m".to_owned(),
                otp_burst: "1000".to_owned(),
                access_log: prefix.join("logs/access.log").display().to_string(),
                // HTTPS when `cargo xtask up --tls` put a configuration here.
                tls_dir: prefix.join("tls").display().to_string(),
                admin_root: gateway::admin_root().display().to_string(),
                cache_dir: prefix.join("cache/catalog").display().to_string(),
            },
        )?;
        let child = Command::new(gateway::nginx_binary()?)
            .arg("-p")
            .arg(&prefix)
            .arg("-c")
            .arg(&main_conf)
            .arg("-g")
            .arg("daemon off;")
            .stdin(Stdio::null())
            .stdout(self.log_file("gateway")?)
            .stderr(self.log_file("gateway")?)
            .spawn()
            .context("starting nginx")?;
        self.children.push(("gateway".to_owned(), child));
        Ok(())
    }

    fn wait_healthy(&mut self, name: &str, url: &str) -> anyhow::Result<()> {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if http_status(url).is_ok_and(|status| status == 200) {
                return Ok(());
            }
            for (child_name, child) in &mut self.children {
                if let Ok(Some(status)) = child.try_wait() {
                    bail!(
                        "{child_name} exited ({status}) during start; see {}",
                        self.config
                            .work_dir
                            .join(format!("logs/{child_name}.log"))
                            .display()
                    );
                }
            }
            ensure!(
                Instant::now() < deadline,
                "{name} did not become ready at {url} within 60 s"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Starts one more commerce-service on `port` (same database), with
    /// `extra` variables on top (e.g. the status cache turned off).
    pub fn spawn_commerce_variant(
        &mut self,
        name: &str,
        port: u16,
        extra: &[(&str, &str)],
    ) -> anyhow::Result<()> {
        let mut command = Command::new(self.binary("commerce-service"));
        command
            .envs(self.config.service_env())
            .env("LISTEN_ADDR", format!("127.0.0.1:{port}"))
            .env(
                "DATABASE_URL",
                self.config.database_url(&self.config.commerce_database),
            )
            .envs(extra.iter().copied());
        self.spawn_beside(name, command, port)
    }

    /// Starts `command` as one more process of this stack, named `name`
    /// (its log in the work directory, stopped with the stack), and waits
    /// until it answers `/readyz` on `port`.
    pub fn spawn_beside(
        &mut self,
        name: &str,
        mut command: Command,
        port: u16,
    ) -> anyhow::Result<()> {
        let child = command
            .stdin(Stdio::null())
            .stdout(self.log_file(name)?)
            .stderr(self.log_file(name)?)
            .spawn()
            .with_context(|| format!("starting {name}"))?;
        self.children.push((name.to_owned(), child));
        self.wait_healthy(name, &format!("http://127.0.0.1:{port}/readyz"))
    }

    /// The process id of a started process (`auth-service`, `commerce-service`, `gateway`, ...).
    pub fn pid(&self, name: &str) -> Option<u32> {
        self.children
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, child)| child.id())
    }

    /// Stops the gateway (SIGTERM: nginx's fast shutdown, which drops the
    /// connections it holds, as a rolling restart or a crash of the gateway
    /// does) and starts it again on the same port.
    pub fn restart_gateway(&mut self) -> anyhow::Result<()> {
        let index = self
            .children
            .iter()
            .position(|(name, _)| name == "gateway")
            .context("the gateway is not running")?;
        let (_, mut child) = self.children.remove(index);
        let _ = Command::new("kill")
            .arg("-TERM")
            .arg(child.id().to_string())
            .stderr(Stdio::null())
            .status();
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline && matches!(child.try_wait(), Ok(None)) {
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = child.kill();
        let _ = child.wait();
        self.spawn_gateway()?;
        self.wait_healthy("gateway", &format!("{}/healthz", self.config.gateway_url()))
    }

    /// Sends `signal` (`KILL`, `TERM`, ...) to a started process and waits
    /// up to `within` for it to exit; its exit status, or `None` if it is
    /// still running (it is then left running and listed).
    pub fn signal_and_wait(
        &mut self,
        name: &str,
        signal: &str,
        within: Duration,
    ) -> anyhow::Result<Option<std::process::ExitStatus>> {
        let index = self
            .children
            .iter()
            .position(|(child_name, _)| child_name == name)
            .with_context(|| format!("{name} is not running"))?;
        let pid = self.children[index].1.id();
        let sent = Command::new("kill")
            .arg(format!("-{signal}"))
            .arg(pid.to_string())
            .status()?;
        ensure!(sent.success(), "kill -{signal} {pid} failed");
        let deadline = Instant::now() + within;
        loop {
            if let Some(status) = self.children[index].1.try_wait()? {
                self.children.remove(index);
                return Ok(Some(status));
            }
            if Instant::now() >= deadline {
                return Ok(None);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Starts a service that has exited (after [`Stack::signal_and_wait`])
    /// again on its port and database, and waits until it is ready.
    pub fn start_service_again(&mut self, name: &str) -> anyhow::Result<()> {
        let (_, port) = self
            .config
            .replica(name)
            .with_context(|| format!("{name} is not a service replica of the stack"))?;
        self.spawn_replica(name)?;
        self.wait_healthy(name, &format!("http://127.0.0.1:{port}/readyz"))
    }

    /// The name of a process that exited on its own, if any.
    pub fn exited(&mut self) -> Option<String> {
        self.children
            .iter_mut()
            .find_map(|(name, child)| matches!(child.try_wait(), Ok(Some(_))).then(|| name.clone()))
    }

    /// SIGTERM to every process (gateway first), then a kill for any that
    /// has not drained within five seconds.
    pub fn stop(&mut self) {
        for (_, child) in self.children.iter().rev() {
            let _ = Command::new("kill")
                .arg("-TERM")
                .arg(child.id().to_string())
                .stderr(Stdio::null())
                .status();
        }
        let deadline = Instant::now() + Duration::from_secs(5);
        for (_, child) in self.children.iter_mut().rev() {
            while Instant::now() < deadline && matches!(child.try_wait(), Ok(None)) {
                std::thread::sleep(Duration::from_millis(50));
            }
            let _ = child.kill();
            let _ = child.wait();
        }
        self.children.clear();
    }
}

impl Drop for Stack {
    fn drop(&mut self) {
        self.stop();
    }
}

/// A free port on 127.0.0.1 (for test stacks).
pub fn free_port() -> anyhow::Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

/// `count` distinct free ports.
pub fn free_ports(count: usize) -> anyhow::Result<Vec<u16>> {
    // Held until all are chosen, so the same port is not handed out twice.
    let listeners = (0..count)
        .map(|_| TcpListener::bind("127.0.0.1:0"))
        .collect::<Result<Vec<_>, _>>()?;
    listeners
        .iter()
        .map(|listener| Ok(listener.local_addr()?.port()))
        .collect()
}

/// The status code of a plain `GET` (no dependency on an HTTP client crate).
pub fn http_status(url: &str) -> anyhow::Result<u16> {
    let rest = url.strip_prefix("http://").context("only http:// URLs")?;
    let (host_port, path) = rest
        .split_once('/')
        .map_or((rest, "/".to_owned()), |(h, p)| (h, format!("/{p}")));
    let addr: SocketAddr = host_port.parse().context("an IP:port URL")?;
    let mut stream = TcpStream::connect_timeout(&addr, Duration::from_secs(2))?;
    stream.set_read_timeout(Some(Duration::from_secs(5)))?;
    write!(stream, "GET {path} HTTP/1.0\r\nHost: {host_port}\r\n\r\n")?;
    let mut head = [0u8; 32];
    let read = stream.read(&mut head)?;
    let line = String::from_utf8_lossy(&head[..read]);
    line.split_whitespace()
        .nth(1)
        .and_then(|code| code.parse().ok())
        .context("not an HTTP answer")
}

/// Where a stack's files go by default: `.dev/` in the workspace.
pub fn default_work_dir(root: &Path) -> PathBuf {
    root.join(".dev")
}
