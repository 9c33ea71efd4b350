//! The app servers' admin endpoints (`server/src/routes/admin.rs`): read-only
//! mode and the database each one uses.

use std::time::Duration;

use anyhow::{bail, Context};
use serde::Deserialize;
use serde_json::json;

#[derive(Clone)]
pub struct Fleet {
    client: reqwest::Client,
    token: String,
}

#[derive(Debug, Deserialize)]
pub struct ServerStatus {
    pub read_only: bool,
    pub database: String,
    pub writes_in_flight: usize,
    #[serde(default)]
    pub drained_ms: Option<u64>,
}

impl Fleet {
    pub fn new(token: &str) -> anyhow::Result<Self> {
        let client = reqwest::Client::builder().timeout(Duration::from_secs(30)).build()?;
        Ok(Self { client, token: token.to_string() })
    }

    async fn call(&self, server: &str, path: &str, body: Option<serde_json::Value>) -> anyhow::Result<ServerStatus> {
        let url = format!("{}/admin/{path}", server.trim_end_matches('/'));
        let request = match body {
            Some(body) => self.client.post(&url).json(&body),
            None => self.client.get(&url),
        };
        let response = request.bearer_auth(&self.token).send().await.with_context(|| format!("calling {url}"))?;
        let status = response.status();
        if !status.is_success() {
            let text = response.text().await.unwrap_or_default();
            bail!("{url} answered {status}: {}", text.trim());
        }
        let answer: ServerStatus = response.json().await.with_context(|| format!("reading {url}'s answer"))?;
        if status == reqwest::StatusCode::ACCEPTED {
            bail!("{url}: {} writes were still running when the wait ended", answer.writes_in_flight);
        }
        Ok(answer)
    }

    pub async fn status(&self, server: &str) -> anyhow::Result<ServerStatus> {
        self.call(server, "status", None).await
    }

    /// On: answers once the server's writes under way have finished.
    pub async fn set_read_only(&self, server: &str, read_only: bool) -> anyhow::Result<ServerStatus> {
        self.call(server, "read-only", Some(json!({ "read_only": read_only }))).await
    }

    /// Answers once requests still on the old database have finished.
    pub async fn switch_database(&self, server: &str, url: &str) -> anyhow::Result<ServerStatus> {
        self.call(server, "database", Some(json!({ "url": url }))).await
    }

    /// `/readyz`: the server's database answers.
    pub async fn ready(&self, server: &str) -> anyhow::Result<()> {
        let url = format!("{}/readyz", server.trim_end_matches('/'));
        let response = self.client.get(&url).send().await.with_context(|| format!("calling {url}"))?;
        if !response.status().is_success() {
            bail!("{url} answered {}", response.status());
        }
        Ok(())
    }
}
