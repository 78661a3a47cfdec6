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

use crate::gateway;

/// Everything that varies between the development stack and a test stack.
#[derive(Debug, Clone)]
pub struct StackConfig {
    pub gateway_port: u16,
    /// One port per auth-service replica (the gateway balances over them).
    pub auth_ports: Vec<u16>,
    /// One port per commerce-service replica.
    pub commerce_ports: Vec<u16>,
    /// PostgreSQL server URL without a database, e.g. `postgres://postgres@127.0.0.1:5432`.
    pub postgres_url: String,
    pub auth_database: String,
    pub commerce_database: String,
    pub redis_url: String,
    pub redis_key_prefix: String,
    /// Where `auth-service` and `commerce-service` binaries are.
    pub bin_dir: PathBuf,
    /// Rendered gateway configuration, nginx's scratch files and the logs.
    pub work_dir: PathBuf,
    pub admin_email: String,
    pub admin_password: String,
    /// Extra variables for both services (e.g. a short token lifetime).
    pub extra_env: Vec<(String, String)>,
}

/// A running stack; stopped (SIGTERM, then kill) when dropped.
pub struct Stack {
    pub config: StackConfig,
    /// Each process by name: `gateway`, `auth-service` and
    /// `commerce-service` (the first replicas), `auth-service-2`, ...
    children: Vec<(String, Child)>,
}

/// The process name of replica `index` (from 0) of `service`: the first
/// keeps the service's name.
pub fn replica_name(service: &str, index: usize) -> String {
    if index == 0 {
        service.to_owned()
    } else {
        format!("{service}-{}", index + 1)
    }
}

impl StackConfig {
    pub fn gateway_url(&self) -> String {
        format!("http://127.0.0.1:{}", self.gateway_port)
    }

    /// The first auth-service replica.
    pub fn auth_url(&self) -> String {
        format!("http://127.0.0.1:{}", self.auth_ports[0])
    }

    /// The first commerce-service replica.
    pub fn commerce_url(&self) -> String {
        format!("http://127.0.0.1:{}", self.commerce_ports[0])
    }

    /// Every replica of `service` (`auth-service` or `commerce-service`):
    /// its process name and base URL.
    pub fn replicas(&self, service: &str) -> Vec<(String, String)> {
        let ports = if service == "auth-service" {
            &self.auth_ports
        } else {
            &self.commerce_ports
        };
        ports
            .iter()
            .enumerate()
            .map(|(index, port)| {
                (
                    replica_name(service, index),
                    format!("http://127.0.0.1:{port}"),
                )
            })
            .collect()
    }

    /// The port and service of a replica's process name.
    fn replica(&self, name: &str) -> Option<(&'static str, u16)> {
        for service in ["auth-service", "commerce-service"] {
            let ports = if service == "auth-service" {
                &self.auth_ports
            } else {
                &self.commerce_ports
            };
            for (index, port) in ports.iter().enumerate() {
                if replica_name(service, index) == name {
                    return Some((service, *port));
                }
            }
        }
        None
    }

    fn database_url(&self, database: &str) -> String {
        let url = format!("{}/{database}", self.postgres_url.trim_end_matches('/'));
        // TLS to a server on this very machine protects nothing and costs
        // an encryption per query; elsewhere the default (prefer) stands.
        let host = crate::host_port(&self.postgres_url, 5432);
        if ["127.0.0.1:", "localhost:", "[::1]:"]
            .iter()
            .any(|loopback| host.starts_with(loopback))
        {
            format!("{url}?sslmode=disable")
        } else {
            url
        }
    }

    /// Variables of both services in this stack.
    fn service_env(&self) -> Vec<(String, String)> {
        let mut env: Vec<(String, String)> = [
            ("APP_ENV", "development".to_owned()),
            (
                "RUST_LOG",
                std::env::var("RUST_LOG").unwrap_or_else(|_| "info".to_owned()),
            ),
            ("REDIS_URL", self.redis_url.clone()),
            ("REDIS_KEY_PREFIX", self.redis_key_prefix.clone()),
            // Migrated by the `migrate` step before they start, as deployed.
            ("MIGRATE_ON_START", "false".to_owned()),
            // Every auth replica: commerce's client goes round them (no
            // load balancer stands between the services here).
            (
                "AUTH_URL",
                self.replicas("auth-service")
                    .into_iter()
                    .map(|(_, url)| url)
                    .collect::<Vec<_>>()
                    .join(","),
            ),
            ("TRUSTED_PROXIES", "127.0.0.1/32,::1/128".to_owned()),
            // One address runs every automated journey here: raise the per-IP caps.
            ("OTP_PER_IP_HOUR", "100000".to_owned()),
            ("OTP_VERIFY_PER_IP_HOUR", "100000".to_owned()),
            ("LOGIN_PER_IP_HOUR", "100000".to_owned()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v))
        .collect();
        env.extend(self.extra_env.iter().cloned());
        env
    }
}

/// Fails with a clear message when something the stack needs is missing.
pub fn check_prerequisites(config: &StackConfig) -> anyhow::Result<()> {
    gateway::nginx_binary()?;
    crate::check_services(&config.postgres_url, &config.redis_url)?;
    ensure!(
        !config.auth_ports.is_empty() && !config.commerce_ports.is_empty(),
        "a stack runs at least one replica of each service"
    );
    let ports = config.auth_ports.iter().chain(&config.commerce_ports);
    for &port in std::iter::once(&config.gateway_port).chain(ports) {
        ensure!(
            TcpListener::bind(("127.0.0.1", port)).is_ok(),
            "port {port} is already in use: is the stack already running? Stop it first (Ctrl-C where it runs)"
        );
    }
    for binary in ["auth-service", "commerce-service"] {
        let path = config.bin_dir.join(binary);
        ensure!(
            path.exists(),
            "{} is missing: build it with `cargo build -p {binary}`",
            path.display()
        );
    }
    Ok(())
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
        let child = Command::new(self.binary("commerce-service"))
            .envs(self.config.service_env())
            .env("LISTEN_ADDR", format!("127.0.0.1:{port}"))
            .env(
                "DATABASE_URL",
                self.config.database_url(&self.config.commerce_database),
            )
            .envs(extra.iter().copied())
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
