//! How often one client may do each costly thing, on this instance.
//!
//! Invariant: each (action, client) key holds one instant, the GCRA "theoretical
//! arrival time": a request is let through while that time is at most the burst's
//! tolerance ahead of now, and pushes it one interval further. A key whose time
//! has passed is the same as no key, so those are what is dropped when the map
//! is full, and a map that is still full refuses no one (a flood of new addresses
//! must not lock out the ones already known, nor grow memory without bound).
//!
//! The limits are per instance: behind a load balancer that spreads one client
//! over N instances, the fleet lets through up to N times as much. The rates are
//! chosen for that (see `Rates::default`).

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use serde::Deserialize;

use crate::error::AppError;

/// Keys kept at most (each about 64 bytes).
const MAX_KEYS: usize = 100_000;

/// The things that cost the service enough to be limited.
#[derive(Clone, Copy, Debug, Hash, PartialEq, Eq)]
pub enum Action {
    /// Writing a tweet: a model from cache or database, CPU, a stored row.
    Generate,
    /// `GET /auth/login`: a stored pending sign-in.
    SignIn,
    /// An upload or a paste to learn from: the most CPU and memory of all.
    Train,
    /// A card image not in the cache: a PNG rendered.
    RenderCard,
}

/// Who a limit counts: a signed-in person by their account (many people can
/// share an address: mobile carriers' NAT), anyone else by their address.
#[derive(Clone, Copy, Debug, Hash, PartialEq, Eq)]
pub enum Client {
    Account(i64),
    Address(ClientAddress),
}

/// The address a request came from: the peer, or behind the configured proxies
/// the address they saw (`X-Forwarded-For`). IPv6 clients are counted by their
/// /64, which one subscriber usually has to themselves.
#[derive(Clone, Copy, Debug, Hash, PartialEq, Eq)]
pub struct ClientAddress(IpAddr);

impl ClientAddress {
    pub fn new(address: IpAddr) -> Self {
        match address.to_canonical() {
            IpAddr::V6(v6) => {
                let bits = u128::from(v6) & !((1u128 << 64) - 1);
                Self(IpAddr::V6(bits.into()))
            }
            v4 => Self(v4),
        }
    }

    /// The client's address, from `peer` and the `X-Forwarded-For` values: with
    /// `proxy_hops` trusted proxies in front (1 behind an ALB), the address the
    /// farthest of them saw; entries before it were written by the client and
    /// prove nothing. Fewer entries than hops: the leftmost one.
    pub fn from_peer(peer: IpAddr, forwarded_for: &[&str], proxy_hops: usize) -> Self {
        if proxy_hops == 0 {
            return Self::new(peer);
        }
        let hops: Vec<&str> =
            forwarded_for.iter().flat_map(|value| value.split(',')).map(str::trim).filter(|s| !s.is_empty()).collect();
        let seen = hops.len().checked_sub(proxy_hops).and_then(|index| hops.get(index)).or(hops.first());
        Self::new(seen.and_then(|address| address.parse().ok()).unwrap_or(peer))
    }

    pub fn ip(&self) -> IpAddr {
        self.0
    }
}

/// One action's limit: `per_minute` on average, `burst` at once.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Rate {
    pub per_minute: u32,
    pub burst: u32,
}

impl Rate {
    fn interval(&self) -> Duration {
        Duration::from_secs(60) / self.per_minute.max(1)
    }

    /// How far ahead of now the arrival time may run.
    fn tolerance(&self) -> Duration {
        self.interval() * self.burst.saturating_sub(1)
    }
}

/// The limits, per action (`[rate_limits]` in the server's settings).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Rates {
    pub generate: Rate,
    pub sign_in: Rate,
    pub train: Rate,
    pub render_card: Rate,
}

impl Default for Rates {
    /// Well above a person pressing buttons (a tweet every 2 s for a minute, a
    /// few sign-ins, an upload retried), far below a script's loop.
    fn default() -> Self {
        Self {
            generate: Rate { per_minute: 30, burst: 20 },
            sign_in: Rate { per_minute: 10, burst: 10 },
            train: Rate { per_minute: 2, burst: 5 },
            render_card: Rate { per_minute: 60, burst: 30 },
        }
    }
}

impl Rates {
    fn of(&self, action: Action) -> Rate {
        match action {
            Action::Generate => self.generate,
            Action::SignIn => self.sign_in,
            Action::Train => self.train,
            Action::RenderCard => self.render_card,
        }
    }
}

#[derive(Debug)]
pub struct RateLimits {
    rates: Rates,
    arrivals: Mutex<HashMap<(Action, Client), Instant>>,
}

impl RateLimits {
    pub fn new(rates: Rates) -> Self {
        Self { rates, arrivals: Mutex::new(HashMap::new()) }
    }

    /// Lets `client` do `action` now, or says when it may (429 with Retry-After).
    pub fn check(&self, action: Action, client: Client) -> Result<(), AppError> {
        self.check_at(action, client, Instant::now())
    }

    fn check_at(&self, action: Action, client: Client, now: Instant) -> Result<(), AppError> {
        let rate = self.rates.of(action);
        let mut arrivals = self.arrivals.lock().expect("rate limits lock");
        if arrivals.len() >= MAX_KEYS && !arrivals.contains_key(&(action, client)) {
            arrivals.retain(|_, arrival| *arrival > now);
            if arrivals.len() >= MAX_KEYS {
                tracing::warn!(keys = arrivals.len(), "rate limits full: letting a new client through");
                return Ok(());
            }
        }
        let arrival = arrivals.get(&(action, client)).map_or(now, |&arrival| arrival.max(now));
        let ahead = arrival - now;
        if ahead > rate.tolerance() {
            let wait = ahead - rate.tolerance();
            let seconds = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
            let retry_after_secs = u32::try_from(seconds.max(1)).unwrap_or(u32::MAX);
            return Err(AppError::RateLimited { retry_after_secs });
        }
        arrivals.insert((action, client), arrival + rate.interval());
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn address(text: &str) -> Client {
        Client::Address(ClientAddress::new(text.parse().unwrap()))
    }

    #[test]
    fn a_burst_then_the_rate() {
        let limits = RateLimits::new(Rates { generate: Rate { per_minute: 60, burst: 3 }, ..Rates::default() });
        let (client, start) = (address("192.0.2.1"), Instant::now());
        for _ in 0..3 {
            limits.check_at(Action::Generate, client, start).unwrap();
        }
        assert_eq!(
            limits.check_at(Action::Generate, client, start),
            Err(AppError::RateLimited { retry_after_secs: 1 })
        );
        // Others, and other actions, are counted apart.
        limits.check_at(Action::Generate, address("192.0.2.2"), start).unwrap();
        limits.check_at(Action::Generate, Client::Account(7), start).unwrap();
        limits.check_at(Action::SignIn, client, start).unwrap();
        // One more a second.
        let later = start + Duration::from_secs(1);
        limits.check_at(Action::Generate, client, later).unwrap();
        assert!(limits.check_at(Action::Generate, client, later).is_err());
        // Idle long enough: the whole burst again.
        let idle = start + Duration::from_secs(60);
        for _ in 0..3 {
            limits.check_at(Action::Generate, client, idle).unwrap();
        }
    }

    #[test]
    fn retry_after_says_when_the_next_one_passes() {
        let limits = RateLimits::new(Rates { train: Rate { per_minute: 2, burst: 1 }, ..Rates::default() });
        let (client, start) = (Client::Account(1), Instant::now());
        limits.check_at(Action::Train, client, start).unwrap();
        let Err(AppError::RateLimited { retry_after_secs }) = limits.check_at(Action::Train, client, start) else {
            panic!("the second training within 30 s passed")
        };
        assert_eq!(retry_after_secs, 30);
        limits.check_at(Action::Train, client, start + Duration::from_secs(30)).unwrap();
    }

    #[test]
    fn the_address_is_the_one_the_trusted_proxies_saw() {
        let peer: IpAddr = "10.0.1.5".parse().unwrap();
        let ip = |forwarded: &[&str], hops| ClientAddress::from_peer(peer, forwarded, hops).ip().to_string();
        // No proxy trusted: whatever the header says, the peer.
        assert_eq!(ip(&["198.51.100.7"], 0), "10.0.1.5");
        // Behind an ALB: the last entry, which the ALB wrote; the client's own are ignored.
        assert_eq!(ip(&["1.2.3.4, 198.51.100.7"], 1), "198.51.100.7");
        assert_eq!(ip(&["1.2.3.4", "198.51.100.7"], 1), "198.51.100.7");
        // Two proxies (a CDN, then the ALB).
        assert_eq!(ip(&["1.2.3.4, 198.51.100.7, 203.0.113.9"], 2), "198.51.100.7");
        // Fewer entries than hops, or none, or garbage.
        assert_eq!(ip(&["198.51.100.7"], 2), "198.51.100.7");
        assert_eq!(ip(&[], 1), "10.0.1.5");
        assert_eq!(ip(&["not an address"], 1), "10.0.1.5");
        // IPv6 by its /64; IPv4-mapped as IPv4.
        assert_eq!(ip(&["2001:db8:1:2:aaaa::1"], 1), "2001:db8:1:2::");
        assert_eq!(ip(&["::ffff:198.51.100.7"], 1), "198.51.100.7");
    }

    #[test]
    fn a_full_map_drops_the_expired_and_never_locks_out() {
        let limits = RateLimits::new(Rates { generate: Rate { per_minute: 60, burst: 1 }, ..Rates::default() });
        let start = Instant::now();
        for account in 0..MAX_KEYS as i64 {
            limits.check_at(Action::Generate, Client::Account(account), start).unwrap();
        }
        // Full of live keys: a newcomer passes (and is not stored).
        limits.check_at(Action::Generate, Client::Account(-1), start).unwrap();
        assert_eq!(limits.arrivals.lock().unwrap().len(), MAX_KEYS);
        // Once they expire, they make room.
        limits.check_at(Action::Generate, Client::Account(-1), start + Duration::from_secs(2)).unwrap();
        assert_eq!(limits.arrivals.lock().unwrap().len(), 1);
    }
}
