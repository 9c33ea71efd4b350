//! The service's name in Route53: `dns prepare` lowers its TTL ahead of the
//! cutover, `dns status` says when the old TTL has run out everywhere, and the
//! cutover flips it to the ALB (an alias at the zone's apex, a CNAME below it) and
//! asks the zone's authoritative servers what they now answer.

use std::net::{ToSocketAddrs, UdpSocket};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{bail, Context};
use aws_sdk_route53::types::{
    AliasTarget, Change, ChangeAction, ChangeBatch, ChangeStatus, ResourceRecord, ResourceRecordSet, RrType,
};
use aws_sdk_route53::Client;
use serde::{Deserialize, Serialize};

/// One record set at the name, as saved (to put it back on rollback).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Record {
    pub name: String,
    pub kind: String,
    pub ttl: Option<i64>,
    pub values: Vec<String>,
    pub alias: Option<Alias>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Alias {
    pub zone_id: String,
    pub dns_name: String,
}

impl Record {
    fn from_aws(set: &ResourceRecordSet) -> Self {
        Record {
            name: set.name().trim_end_matches('.').to_string(),
            kind: set.r#type().as_str().to_string(),
            ttl: set.ttl(),
            values: set.resource_records().iter().map(|record| record.value().to_string()).collect(),
            alias: set.alias_target().map(|alias| Alias {
                zone_id: alias.hosted_zone_id().to_string(),
                dns_name: alias.dns_name().trim_end_matches('.').to_string(),
            }),
        }
    }

    fn to_aws(&self) -> anyhow::Result<ResourceRecordSet> {
        let mut builder =
            ResourceRecordSet::builder().name(format!("{}.", self.name)).r#type(RrType::from(self.kind.as_str()));
        if let Some(alias) = &self.alias {
            builder = builder.alias_target(
                AliasTarget::builder()
                    .hosted_zone_id(&alias.zone_id)
                    .dns_name(&alias.dns_name)
                    .evaluate_target_health(true)
                    .build()?,
            );
        } else {
            builder = builder.set_ttl(self.ttl);
            for value in &self.values {
                builder = builder.resource_records(ResourceRecord::builder().value(value).build()?);
            }
        }
        Ok(builder.build()?)
    }

    pub fn describe(&self) -> String {
        match &self.alias {
            Some(alias) => format!("{} {} alias → {} (zone {})", self.name, self.kind, alias.dns_name, alias.zone_id),
            None => format!("{} {} {} (TTL {} s)", self.name, self.kind, self.values.join(", "), self.ttl.unwrap_or(0)),
        }
    }
}

/// The record sets at `name` that say where it points (A, AAAA, CNAME).
pub async fn records(client: &Client, zone_id: &str, name: &str) -> anyhow::Result<Vec<Record>> {
    let wanted = name.trim_end_matches('.');
    let listed = client
        .list_resource_record_sets()
        .hosted_zone_id(zone_id)
        .start_record_name(format!("{wanted}."))
        .max_items(10)
        .send()
        .await
        .with_context(|| format!("listing the records of zone {zone_id}"))?;
    Ok(listed
        .resource_record_sets()
        .iter()
        .map(Record::from_aws)
        .filter(|record| {
            record.name.eq_ignore_ascii_case(wanted) && ["A", "AAAA", "CNAME"].contains(&record.kind.as_str())
        })
        .collect())
}

/// Applies a batch and waits until Route53 says every authoritative server has it.
pub async fn change(client: &Client, zone_id: &str, changes: Vec<Change>, comment: &str) -> anyhow::Result<String> {
    let batch = ChangeBatch::builder().set_changes(Some(changes)).comment(comment).build()?;
    let answer = client
        .change_resource_record_sets()
        .hosted_zone_id(zone_id)
        .change_batch(batch)
        .send()
        .await
        .context("changing the record")?;
    let id = answer.change_info().map(|info| info.id().to_string()).unwrap_or_default();
    let deadline = Instant::now() + Duration::from_secs(300);
    loop {
        let status = client.get_change().id(&id).send().await?.change_info().map(|info| info.status().clone());
        if status == Some(ChangeStatus::Insync) {
            return Ok(id);
        }
        if Instant::now() > deadline {
            bail!("Route53 change {id} is still not INSYNC after 5 minutes");
        }
        tokio::time::sleep(Duration::from_secs(2)).await;
    }
}

fn upsert(record: &Record) -> anyhow::Result<Change> {
    Ok(Change::builder().action(ChangeAction::Upsert).resource_record_set(record.to_aws()?).build()?)
}

fn delete(record: &Record) -> anyhow::Result<Change> {
    Ok(Change::builder().action(ChangeAction::Delete).resource_record_set(record.to_aws()?).build()?)
}

/// What `dns prepare` changed, kept in the work directory for `dns status`.
#[derive(Debug, Serialize, Deserialize)]
pub struct Prepared {
    pub before: Vec<Record>,
    pub ttl: i64,
    /// Seconds since the Unix epoch.
    pub lowered_at: f64,
}

impl Prepared {
    /// What `dns prepare` recorded in the work directory, if it ran there.
    pub fn load(work: &crate::migrate::workdir::WorkDir) -> anyhow::Result<Option<Self>> {
        work.read_json(PREPARED_FILE)
    }

    /// When every resolver has dropped what it cached under the old TTL.
    pub fn old_ttl_elapses_at(&self) -> f64 {
        let longest = self.before.iter().filter_map(|record| record.ttl).max().unwrap_or(0);
        self.lowered_at + longest as f64
    }
}

pub const PREPARED_FILE: &str = "dns-prepared.json";

/// Lowers the TTL of every record at the name to `ttl` (aliases have none).
pub async fn prepare(client: &Client, zone_id: &str, name: &str, ttl: i64) -> anyhow::Result<Prepared> {
    let before = records(client, zone_id, name).await?;
    if before.is_empty() {
        bail!("zone {zone_id} has no A, AAAA or CNAME record named {name}");
    }
    let lowered: Vec<Record> = before
        .iter()
        .filter(|record| record.alias.is_none() && record.ttl.is_some_and(|old| old > ttl))
        .map(|record| Record { ttl: Some(ttl), ..record.clone() })
        .collect();
    if !lowered.is_empty() {
        let changes = lowered.iter().map(upsert).collect::<anyhow::Result<_>>()?;
        change(client, zone_id, changes, &format!("tweetgen-infra dns prepare: TTL {ttl} s")).await?;
    }
    Ok(Prepared { before, ttl, lowered_at: now() })
}

/// The name's new target: the ALB, as an alias at the apex or a CNAME below it.
pub fn alb_record(name: &str, zone_name: &str, alb_dns_name: &str, alb_zone_id: &str, ttl: i64) -> Record {
    let name = name.trim_end_matches('.');
    if name.eq_ignore_ascii_case(zone_name.trim_end_matches('.')) {
        let alias =
            Alias { zone_id: alb_zone_id.to_string(), dns_name: alb_dns_name.trim_end_matches('.').to_string() };
        Record { name: name.to_string(), kind: "A".into(), ttl: None, values: Vec::new(), alias: Some(alias) }
    } else {
        let values = vec![alb_dns_name.trim_end_matches('.').to_string()];
        Record { name: name.to_string(), kind: "CNAME".into(), ttl: Some(ttl), values, alias: None }
    }
}

/// Points the name at `new` in one batch: records of other types at the name
/// (a CNAME may not sit beside anything) are deleted in the same change.
pub async fn point(client: &Client, zone_id: &str, new: &[Record], comment: &str) -> anyhow::Result<Vec<Record>> {
    let name = &new.first().context("no record to write")?.name;
    let before = records(client, zone_id, name).await?;
    let mut changes = Vec::new();
    for old in &before {
        if !new.iter().any(|record| record.kind == old.kind) {
            changes.push(delete(old)?);
        }
    }
    for record in new {
        changes.push(upsert(record)?);
    }
    change(client, zone_id, changes, comment).await?;
    Ok(before)
}

pub async fn zone(client: &Client, zone_id: &str) -> anyhow::Result<(String, Vec<String>)> {
    let zone = client.get_hosted_zone().id(zone_id).send().await.with_context(|| format!("reading zone {zone_id}"))?;
    let name = zone.hosted_zone().map(|zone| zone.name().trim_end_matches('.').to_string()).unwrap_or_default();
    let servers = zone.delegation_set().map(|set| set.name_servers().to_vec()).unwrap_or_default();
    Ok((name, servers))
}

/// What each authoritative server answers for the name now (or why it did not).
pub fn ask_authoritative(servers: &[String], name: &str) -> Vec<(String, Result<Vec<String>, String>)> {
    servers
        .iter()
        .map(|server| {
            (server.clone(), query(server, name, Duration::from_secs(2)).map_err(|error| format!("{error:#}")))
        })
        .collect()
}

fn query(server: &str, name: &str, timeout: Duration) -> anyhow::Result<Vec<String>> {
    let address = (server.trim_end_matches('.'), 53)
        .to_socket_addrs()
        .with_context(|| format!("resolving {server}"))?
        .next()
        .with_context(|| format!("{server} has no address"))?;
    let socket = UdpSocket::bind(if address.is_ipv4() { "0.0.0.0:0" } else { "[::]:0" })?;
    socket.set_read_timeout(Some(timeout))?;
    let id: u16 = rand::random();
    socket.send_to(&question(id, name), address)?;
    let mut buffer = [0u8; 4096];
    let (length, _) = socket.recv_from(&mut buffer).with_context(|| format!("no answer from {server}"))?;
    answers(&buffer[..length], id)
}

/// A DNS query for the name's A records (a CNAME comes back in their place).
fn question(id: u16, name: &str) -> Vec<u8> {
    let mut packet = Vec::with_capacity(64);
    packet.extend_from_slice(&id.to_be_bytes());
    packet.extend_from_slice(&[0, 0, 0, 1, 0, 0, 0, 0, 0, 0]);
    for label in name.trim_end_matches('.').split('.') {
        packet.push(label.len() as u8);
        packet.extend_from_slice(label.as_bytes());
    }
    packet.extend_from_slice(&[0, 0, 1, 0, 1]);
    packet
}

/// The answer section as `A 192.0.2.1 (TTL 60)` / `CNAME x.example (TTL 60)` lines.
fn answers(packet: &[u8], id: u16) -> anyhow::Result<Vec<String>> {
    let short = || anyhow::anyhow!("a truncated DNS answer");
    let u16_at = |at: usize| -> anyhow::Result<u16> {
        Ok(u16::from_be_bytes(packet.get(at..at + 2).ok_or_else(short)?.try_into()?))
    };
    anyhow::ensure!(u16_at(0)? == id, "an answer to another question");
    let code = packet.get(3).ok_or_else(short)? & 0x0f;
    anyhow::ensure!(code == 0 || code == 3, "the server answered with error code {code}");
    let (questions, answer_count) = (u16_at(4)?, u16_at(6)?);
    let mut at = 12;
    for _ in 0..questions {
        at = read_name(packet, at)?.1 + 4;
    }
    let mut found = Vec::new();
    for _ in 0..answer_count {
        at = read_name(packet, at)?.1;
        let kind = u16_at(at)?;
        let ttl = u32::from_be_bytes(packet.get(at + 4..at + 8).ok_or_else(short)?.try_into()?);
        let length = u16_at(at + 8)? as usize;
        let data = at + 10;
        let rdata = packet.get(data..data + length).ok_or_else(short)?;
        found.push(match kind {
            1 if length == 4 => format!("A {}.{}.{}.{} (TTL {ttl})", rdata[0], rdata[1], rdata[2], rdata[3]),
            5 => format!("CNAME {} (TTL {ttl})", read_name(packet, data)?.0),
            other => format!("type {other} (TTL {ttl})"),
        });
        at = data + length;
    }
    Ok(found)
}

/// A (possibly compressed) name at `at`, and where the record goes on after it.
fn read_name(packet: &[u8], mut at: usize) -> anyhow::Result<(String, usize)> {
    let mut labels = Vec::new();
    let mut after = None;
    for _ in 0..128 {
        let length = *packet.get(at).context("a truncated name")? as usize;
        if length == 0 {
            return Ok((labels.join("."), after.unwrap_or(at + 1)));
        }
        if length & 0xc0 == 0xc0 {
            let pointer = (length & 0x3f) << 8 | *packet.get(at + 1).context("a truncated name")? as usize;
            after.get_or_insert(at + 2);
            at = pointer;
            continue;
        }
        let label = packet.get(at + 1..at + 1 + length).context("a truncated name")?;
        labels.push(String::from_utf8_lossy(label).into_owned());
        at += 1 + length;
    }
    bail!("a DNS name that loops")
}

pub fn now() -> f64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default().as_secs_f64()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_apex_gets_an_alias_and_a_subdomain_a_cname() {
        let apex =
            alb_record("tweetgen.example", "tweetgen.example.", "alb-1.elb.amazonaws.com.", "Z14GRHDCWA56QT", 60);
        assert_eq!((apex.kind.as_str(), apex.ttl), ("A", None));
        assert_eq!(apex.alias.unwrap().dns_name, "alb-1.elb.amazonaws.com");
        let sub =
            alb_record("www.tweetgen.example.", "tweetgen.example", "alb-1.elb.amazonaws.com", "Z14GRHDCWA56QT", 60);
        assert_eq!(
            (sub.kind.as_str(), sub.ttl, sub.values),
            ("CNAME", Some(60), vec!["alb-1.elb.amazonaws.com".into()])
        );
    }

    #[test]
    fn a_dns_answer_with_compressed_names_reads() {
        // Question www.example (A), answers: CNAME → alb.example, A 192.0.2.7.
        let mut packet = question(0x1234, "www.example");
        packet[2] = 0x84;
        packet[7] = 2;
        packet.extend_from_slice(&[0xc0, 12, 0, 5, 0, 1, 0, 0, 0, 60, 0, 6, 3, b'a', b'l', b'b', 0xc0, 16]);
        packet.extend_from_slice(&[0xc0, 41, 0, 1, 0, 1, 0, 0, 0, 30, 0, 4, 192, 0, 2, 7]);
        assert_eq!(answers(&packet, 0x1234).unwrap(), ["CNAME alb.example (TTL 60)", "A 192.0.2.7 (TTL 30)"]);
        assert!(answers(&packet, 0x9999).is_err(), "another question's answer");
        assert!(answers(&packet[..packet.len() - 3], 0x1234).is_err(), "truncated");
    }

    #[test]
    fn the_old_ttl_elapses_after_the_longest_one() {
        let record = |ttl| Record { name: "x".into(), kind: "A".into(), ttl: Some(ttl), values: vec![], alias: None };
        let prepared = Prepared { before: vec![record(300), record(3600)], ttl: 60, lowered_at: 1000.0 };
        assert_eq!(prepared.old_ttl_elapses_at(), 4600.0);
    }
}
