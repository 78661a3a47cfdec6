//! Renders `deploy/gateway/gateway.conf.template` for the local stack, the
//! same way the official nginx image renders it in docker-compose.

use std::fs;
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};

/// The template's variables.
#[derive(Debug, Clone)]
pub struct Values {
    pub listen: String,
    pub auth_upstream: String,
    pub commerce_upstream: String,
    pub otp_rate: String,
    pub otp_burst: String,
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
/// stay), as the image's envsubst step does with defined variables.
pub fn render(template: &str, values: &Values) -> anyhow::Result<String> {
    let pairs = [
        ("GATEWAY_LISTEN", &values.listen),
        ("AUTH_UPSTREAM", &values.auth_upstream),
        ("COMMERCE_UPSTREAM", &values.commerce_upstream),
        ("GATEWAY_OTP_RATE", &values.otp_rate),
        ("GATEWAY_OTP_BURST", &values.otp_burst),
    ];
    let mut text = template.to_owned();
    for (name, value) in pairs {
        text = text.replace(&format!("${{{name}}}"), value);
    }
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

/// Writes the rendered configuration and a main `nginx.conf` that runs
/// unprivileged with every scratch path under `prefix`; returns the latter.
pub fn render_local(prefix: &Path, values: &Values) -> anyhow::Result<PathBuf> {
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
         \x20   access_log {prefix}/logs/access.log;\n\
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
mod tests {
    use super::*;

    fn values() -> Values {
        Values {
            listen: "127.0.0.1:18080".into(),
            auth_upstream: "127.0.0.1:18081".into(),
            commerce_upstream: "127.0.0.1:18082".into(),
            otp_rate: "10r/m".into(),
            otp_burst: "5".into(),
        }
    }

    #[test]
    fn the_template_renders_and_keeps_nginx_variables() {
        let text = render(&fs::read_to_string(template_path()).unwrap(), &values()).unwrap();
        assert!(text.contains("listen 127.0.0.1:18080;"));
        assert!(text.contains("server 127.0.0.1:18081;"));
        assert!(text.contains("rate=10r/m"));
        assert!(text.contains("$remote_addr"));
        assert!(render("x ${UNKNOWN} y", &values()).is_err());
    }

    #[test]
    fn nginx_accepts_the_rendered_configuration() {
        let Ok(nginx) = nginx_binary() else {
            eprintln!("nginx is not installed; skipping nginx -t");
            return;
        };
        let prefix = std::env::temp_dir().join(format!("gateway-check-{}", std::process::id()));
        let main = render_local(&prefix, &values()).unwrap();
        let output = std::process::Command::new(nginx)
            .arg("-t")
            .arg("-p")
            .arg(&prefix)
            .arg("-c")
            .arg(&main)
            .output()
            .unwrap();
        let _ = fs::remove_dir_all(&prefix);
        assert!(
            output.status.success(),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
}
