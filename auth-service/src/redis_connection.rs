//! The connection to Redis: one server, or a Redis Cluster.
//!
//! `REDIS_URL` names either one server (`redis://host:port/db`) or a
//! cluster: `redis+cluster://[user:password@]host:port,host:port,...`, or a
//! comma-separated list of `redis://` URLs. Both connect lazily (the service
//! starts, and reports not ready, while Redis is down) and reconnect by
//! themselves. Every key of a multi-key step shares one hash tag
//! (`store.rs`), so every script and pipeline runs unchanged on a cluster.

use std::time::Duration;

use anyhow::{Context as _, bail};
use redis::aio::{ConnectionLike, ConnectionManager, ConnectionManagerConfig};
use redis::cluster::{ClusterClient, ClusterConfig};
use redis::cluster_async::ClusterConnection;
use redis::{Cmd, Pipeline, RedisFuture, Value};

/// A connection handle of either kind; cheap to clone (both are handles to
/// a shared multiplexed connection).
#[derive(Clone)]
pub enum RedisConnection {
    Single(ConnectionManager),
    Cluster(ClusterConnection),
}

/// Where `REDIS_URL` points.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RedisTarget {
    Single(String),
    /// The seed nodes of a cluster, each a `redis://` URL.
    Cluster(Vec<String>),
}

impl RedisTarget {
    pub fn parse(url: &str) -> anyhow::Result<Self> {
        let url = url.trim();
        if let Some(rest) = url.strip_prefix("redis+cluster://") {
            let rest = rest.trim_end_matches('/');
            let (credentials, hosts) = match rest.rsplit_once('@') {
                Some((credentials, hosts)) => (format!("{credentials}@"), hosts),
                None => (String::new(), rest),
            };
            let nodes: Vec<String> = hosts
                .split(',')
                .map(str::trim)
                .filter(|host| !host.is_empty())
                .map(|host| format!("redis://{credentials}{host}"))
                .collect();
            if nodes.is_empty() {
                bail!("REDIS_URL: redis+cluster:// names no node");
            }
            return Ok(Self::Cluster(nodes));
        }
        if url.contains(',') {
            let nodes: Vec<String> = url
                .split(',')
                .map(str::trim)
                .filter(|node| !node.is_empty())
                .map(str::to_owned)
                .collect();
            return Ok(Self::Cluster(nodes));
        }
        Ok(Self::Single(url.to_owned()))
    }
}

impl RedisConnection {
    /// Sets up a lazy connection to `url` with `timeout` for connecting and
    /// for each answer. Must be called inside the Tokio runtime.
    pub fn open(url: &str, timeout: Duration) -> anyhow::Result<Self> {
        match RedisTarget::parse(url)? {
            RedisTarget::Single(url) => {
                let client =
                    redis::Client::open(url).context("REDIS_URL is not a valid Redis URL")?;
                let config = ConnectionManagerConfig::new()
                    .set_connection_timeout(Some(timeout))
                    .set_response_timeout(Some(timeout))
                    .set_number_of_retries(2);
                let manager = client
                    .get_connection_manager_lazy(config)
                    .context("cannot set up the Redis connection")?;
                Ok(Self::Single(manager))
            }
            RedisTarget::Cluster(nodes) => {
                let client = ClusterClient::builder(nodes)
                    .retries(2)
                    .build()
                    .context("REDIS_URL does not name a valid Redis Cluster")?;
                let config = ClusterConfig::new()
                    .set_connection_timeout(timeout)
                    .set_response_timeout(timeout);
                Ok(Self::Cluster(
                    client.get_pending_async_connection_with_config(config),
                ))
            }
        }
    }

    pub fn is_cluster(&self) -> bool {
        matches!(self, Self::Cluster(_))
    }
}

impl ConnectionLike for RedisConnection {
    fn req_packed_command<'a>(&'a mut self, cmd: &'a Cmd) -> RedisFuture<'a, Value> {
        match self {
            Self::Single(conn) => conn.req_packed_command(cmd),
            Self::Cluster(conn) => conn.req_packed_command(cmd),
        }
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        pipeline: &'a Pipeline,
        offset: usize,
        count: usize,
    ) -> RedisFuture<'a, Vec<Value>> {
        match self {
            Self::Single(conn) => conn.req_packed_commands(pipeline, offset, count),
            Self::Cluster(conn) => conn.req_packed_commands(pipeline, offset, count),
        }
    }

    fn get_db(&self) -> i64 {
        match self {
            Self::Single(conn) => conn.get_db(),
            Self::Cluster(conn) => conn.get_db(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::RedisTarget;

    #[test]
    fn redis_url_names_one_server_or_a_cluster() {
        assert_eq!(
            RedisTarget::parse("redis://127.0.0.1:6379/2").unwrap(),
            RedisTarget::Single("redis://127.0.0.1:6379/2".into())
        );
        assert_eq!(
            RedisTarget::parse("redis+cluster://a:7000,b:7001,c:7002").unwrap(),
            RedisTarget::Cluster(vec![
                "redis://a:7000".into(),
                "redis://b:7001".into(),
                "redis://c:7002".into()
            ])
        );
        assert_eq!(
            RedisTarget::parse("redis+cluster://app:s3cret@a:7000,b:7001/").unwrap(),
            RedisTarget::Cluster(vec![
                "redis://app:s3cret@a:7000".into(),
                "redis://app:s3cret@b:7001".into()
            ])
        );
        assert_eq!(
            RedisTarget::parse("redis://a:7000, redis://b:7001").unwrap(),
            RedisTarget::Cluster(vec!["redis://a:7000".into(), "redis://b:7001".into()])
        );
        assert!(RedisTarget::parse("redis+cluster://").is_err());
    }
}
