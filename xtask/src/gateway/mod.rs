//! Renders `deploy/gateway/gateway.conf.template` for the local stack, the
//! same way the official nginx image renders it in docker-compose.

use std::fs;
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};

/// The template's variables.
#[derive(Debug, Clone)]
pub struct Values {
    pub listen: String,
    /// `host:port` of each auth-service replica.
    pub auth_upstreams: Vec<String>,
    /// `host:port` of each commerce-service replica.
    pub commerce_upstreams: Vec<String>,
    pub otp_rate: String,
    pub otp_burst: String,
    /// Where the access log goes (a file, or `/dev/stdout`).
    pub access_log: String,
    /// A directory whose `*.conf` (`deploy/gateway/tls.conf` and its
    /// certificate) turns HTTPS on; empty for plain HTTP.
    pub tls_dir: String,
    /// The directory holding `admin/`, the admin panel's built files.
    pub admin_root: String,
    /// Where the catalog's cached answers go.
    pub cache_dir: String,
}

/// Where `npm run build` in admin-web/ puts the panel (its `admin/`).
pub fn admin_root() -> PathBuf {
    crate::workspace_root().join("admin-web/dist")
}

pub fn template_path() -> PathBuf {
    crate::workspace_root().join("deploy/gateway/gateway.conf.template")
}

/// nginx, from `PATH` or Debian's `/usr/sbin`.
pub fn nginx_binary() -> anyhow::Result<PathBuf> {
    let candidates = std::env::var_os("PATH")
        .map(|path| {
            std::env::split_paths(&path)
                .map(|dir| dir.join("nginx"))
                .collect::<Vec<_>>()
        })
        .unwrap_or_default();
    candidates
        .into_iter()
        .chain([PathBuf::from("/usr/sbin/nginx")])
        .find(|candidate| candidate.is_file())
        .context("nginx is not installed. Install it with: sudo apt-get install -y nginx")
}

/// Substitutes `${NAME}` for the known variables only (nginx's own `$vars`
/// stay), as the image's envsubst step does with defined variables. A line
/// naming an upstream list (`server ${AUTH_UPSTREAM} ...;`) is repeated once
/// per replica; docker-compose instead names one service, whose DNS name
/// resolves to every replica.
pub fn render(template: &str, values: &Values) -> anyhow::Result<String> {
    let lists = [
        ("AUTH_UPSTREAM", &values.auth_upstreams),
        ("COMMERCE_UPSTREAM", &values.commerce_upstreams),
    ];
    let pairs = [
        ("GATEWAY_LISTEN", &values.listen),
        ("GATEWAY_OTP_RATE", &values.otp_rate),
        ("GATEWAY_OTP_BURST", &values.otp_burst),
        ("GATEWAY_ACCESS_LOG", &values.access_log),
        ("GATEWAY_TLS_DIR", &values.tls_dir),
        ("GATEWAY_ADMIN_ROOT", &values.admin_root),
        ("GATEWAY_CACHE_DIR", &values.cache_dir),
    ];
    let mut lines = Vec::new();
    for line in template.lines() {
        // Comments keep their `${NAME}`s: they document the variables.
        if line.trim_start().starts_with('#') {
            lines.push(line.to_owned());
            continue;
        }
        let line = pairs.iter().fold(line.to_owned(), |line, (name, value)| {
            line.replace(&format!("${{{name}}}"), value)
        });
        match lists
            .iter()
            .find(|(name, _)| line.contains(&format!("${{{name}}}")))
        {
            Some((name, items)) => lines.extend(
                items
                    .iter()
                    .map(|item| line.replace(&format!("${{{name}}}"), item)),
            ),
            None => lines.push(line),
        }
    }
    let text = lines.join("\n") + "\n";
    let body = text
        .lines()
        .filter(|line| !line.trim_start().starts_with('#'))
        .collect::<Vec<_>>()
        .join("\n");
    if let Some(start) = body.find("${") {
        bail!(
            "the gateway template uses an unknown variable near {:?}",
            &body[start..(start + 30).min(body.len())]
        );
    }
    Ok(text)
}

/// The HTTPS configuration of the gateway (`deploy/gateway/tls.conf`).
pub fn tls_conf_path() -> PathBuf {
    crate::workspace_root().join("deploy/gateway/tls.conf")
}

/// Writes a self-signed certificate for `localhost` and `127.0.0.1`
/// (`cert.pem`, `key.pem`, with OpenSSL's command line) and the gateway's
/// `tls.conf` into `dir`: HTTPS for development.
pub fn write_dev_certificate(dir: &Path) -> anyhow::Result<()> {
    fs::create_dir_all(dir)?;
    let status = std::process::Command::new("openssl")
        .args(["req", "-x509", "-nodes", "-days", "365", "-newkey", "ec"])
        .args(["-pkeyopt", "ec_paramgen_curve:prime256v1"])
        .args(["-subj", "/CN=localhost"])
        .args(["-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1"])
        .arg("-keyout")
        .arg(dir.join("key.pem"))
        .arg("-out")
        .arg(dir.join("cert.pem"))
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .context("openssl is not installed: sudo apt-get install -y openssl")?;
    if !status.success() {
        bail!("openssl could not make a certificate in {}", dir.display());
    }
    fs::copy(tls_conf_path(), dir.join("tls.conf"))?;
    Ok(())
}

/// Writes the rendered configuration and a main `nginx.conf` that runs
/// unprivileged with every scratch path under `prefix`; returns the latter.
pub fn render_local(prefix: &Path, values: &Values) -> anyhow::Result<PathBuf> {
    fs::create_dir_all(&values.tls_dir)?;
    // nginx makes the cache's own directory, not its parents.
    fs::create_dir_all(&values.cache_dir)?;
    for dir in [
        "logs",
        "tmp/body",
        "tmp/proxy",
        "tmp/fastcgi",
        "tmp/uwsgi",
        "tmp/scgi",
    ] {
        fs::create_dir_all(prefix.join(dir))?;
    }
    let template = fs::read_to_string(template_path()).context("reading the gateway template")?;
    fs::write(prefix.join("gateway.conf"), render(&template, values)?)?;
    let main = format!(
        "# Rendered by xtask for the local stack; the routing lives in gateway.conf.\n\
         worker_processes 1;\n\
         pid {prefix}/nginx.pid;\n\
         error_log {prefix}/logs/error.log warn;\n\
         events {{ worker_connections 4096; }}\n\
         http {{\n\
         \x20   default_type application/octet-stream;\n\
         \x20   client_body_temp_path {prefix}/tmp/body;\n\
         \x20   proxy_temp_path {prefix}/tmp/proxy;\n\
         \x20   fastcgi_temp_path {prefix}/tmp/fastcgi;\n\
         \x20   uwsgi_temp_path {prefix}/tmp/uwsgi;\n\
         \x20   scgi_temp_path {prefix}/tmp/scgi;\n\
         \x20   keepalive_requests 100000;\n\
         \x20   include {prefix}/gateway.conf;\n\
         }}\n",
        prefix = prefix.display()
    );
    let path = prefix.join("nginx.conf");
    fs::write(&path, main)?;
    Ok(path)
}

#[cfg(test)]
mod hostile_input_tests;
#[cfg(test)]
mod tests;
