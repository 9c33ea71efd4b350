//! Clients on the internet (the `client` host) using the service through both
//! front doors at once — the old host and the load balancer, as resolvers that
//! cached either address would — generating, training and reading throughout.
//! Every attempt is kept with its outcome, so that a test can say what was
//! acknowledged and where it must be.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use rand::{Rng, SeedableRng};
use reqwest::{header, Client, StatusCode};

use super::{browser, sign_in, train, wall_clock, Topology, USERS};

#[derive(Clone, Debug, PartialEq)]
pub enum Kind {
    Generate,
    Train(String),
    Read,
}

#[derive(Clone, Debug, PartialEq)]
pub enum Outcome {
    /// 200; a generation's id and text.
    Acknowledged(Option<(i64, String)>),
    /// 503 "NotOpenYet": a write to the new fleet while its database is a replica.
    NotOpenYet,
    /// 429 "TrainingUnderWay": another client was training the same account (one
    /// training at a time per account); nothing was written.
    TrainingUnderWay,
    /// Anything else: a 5xx, a 503 past the hold, a connection error.
    Failed(String),
}

#[derive(Clone, Debug)]
pub struct Attempt {
    /// `vps` or `lb`.
    pub via: &'static str,
    pub kind: Kind,
    /// Wall-clock seconds, to compare with the tool's timestamps.
    pub started: f64,
    pub seconds: f64,
    pub outcome: Outcome,
}

impl Attempt {
    pub fn writes(&self) -> bool {
        self.kind != Kind::Read
    }

    pub fn acknowledged_write(&self) -> bool {
        self.writes() && matches!(self.outcome, Outcome::Acknowledged(_))
    }

    pub fn ended(&self) -> f64 {
        self.started + self.seconds
    }
}

pub struct Load {
    stop: Arc<AtomicBool>,
    attempts: Arc<Mutex<Vec<Attempt>>>,
    /// When each client's attempt under way started, if one is.
    under_way: Arc<Mutex<Vec<Option<f64>>>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Load {
    /// `workers` clients through each door, until `stop`.
    pub fn start(topology: &Topology, workers: u64) -> Load {
        let (stop, attempts): (Arc<AtomicBool>, Arc<Mutex<Vec<Attempt>>>) = Default::default();
        let under_way = Arc::new(Mutex::new(vec![None; 2 * workers as usize]));
        let doors = [("vps", topology.url("vps")), ("lb", topology.url("lb"))];
        let host = topology.host("client").clone();
        let (ready_tx, ready_rx) = std::sync::mpsc::channel();
        let (go_tx, go_rx) = std::sync::mpsc::channel::<()>();
        let thread = {
            let (stop, attempts, under_way) = (stop.clone(), attempts.clone(), under_way.clone());
            std::thread::spawn(move || {
                host.enter().unwrap();
                let runtime =
                    tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
                runtime.block_on(async move {
                    let mut users = Vec::new();
                    for name in USERS {
                        users.push((name.to_string(), sign_in(&doors[0].1, name).await));
                    }
                    ready_tx.send(()).unwrap();
                    go_rx.recv().unwrap();
                    let mut tasks = Vec::new();
                    for (door, (via, url)) in doors.iter().enumerate() {
                        for worker in 0..workers {
                            let slot = door * workers as usize + worker as usize;
                            let (via, url, users) = (*via, url.clone(), users.clone());
                            let shared = Shared {
                                stop: stop.clone(),
                                attempts: attempts.clone(),
                                under_way: under_way.clone(),
                                slot,
                            };
                            tasks.push(tokio::spawn(client(slot as u64, via, url, users, shared)));
                        }
                    }
                    for task in tasks {
                        task.await.unwrap();
                    }
                });
            })
        };
        ready_rx.recv().expect("the clients signed in");
        // Their sessions must reach the new fleet too, before it is asked to train.
        topology.wait_until_target_has("SELECT count(*) FROM sessions");
        go_tx.send(()).unwrap();
        Load { stop, attempts, under_way, thread: Some(thread) }
    }

    /// What happened so far.
    pub fn attempts(&self) -> Vec<Attempt> {
        self.attempts.lock().unwrap().clone()
    }

    /// Every attempt that started before `moment`, once the last of them has
    /// its answer (and the ones since).
    pub async fn attempts_started_before(&self, moment: f64) -> Vec<Attempt> {
        while self.under_way.lock().unwrap().iter().flatten().any(|started| *started < moment) {
            tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        }
        self.attempts()
    }

    pub async fn stop(mut self) -> Vec<Attempt> {
        self.stop.store(true, Ordering::Relaxed);
        let thread = self.thread.take().unwrap();
        tokio::task::spawn_blocking(move || thread.join().unwrap()).await.unwrap();
        self.attempts()
    }
}

impl Drop for Load {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

/// What a client shares with the `Load`.
struct Shared {
    stop: Arc<AtomicBool>,
    attempts: Arc<Mutex<Vec<Attempt>>>,
    under_way: Arc<Mutex<Vec<Option<f64>>>>,
    slot: usize,
}

async fn client(seed: u64, via: &'static str, url: String, users: Vec<(String, Client)>, shared: Shared) {
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let anonymous = browser();
    while !shared.stop.load(Ordering::Relaxed) {
        let (name, signed_in) = &users[rng.random_range(0..users.len())];
        let kind = match rng.random_range(0..10) {
            0 => Kind::Train(name.clone()),
            1 | 2 => Kind::Read,
            _ => Kind::Generate,
        };
        let (started, clock) = (wall_clock(), Instant::now());
        shared.under_way.lock().unwrap()[shared.slot] = Some(started);
        let response = match &kind {
            Kind::Train(_) => train(signed_in, &url).await,
            Kind::Read => anonymous.get(format!("{url}/@{name}")).header(header::ACCEPT, "text/html").send().await,
            Kind::Generate => {
                anonymous
                    .post(format!("{url}/api/generate_tweet"))
                    .header(header::ACCEPT, "application/json")
                    .form(&[("screen_name", name.as_str())])
                    .send()
                    .await
            }
        };
        let outcome = match response {
            Ok(response) => {
                let status = response.status();
                let body = response.text().await.unwrap_or_default();
                match status {
                    StatusCode::OK if kind == Kind::Generate => {
                        let generated: serde_json::Value = serde_json::from_str(&body).unwrap();
                        let text = generated["text"].as_str().unwrap().to_string();
                        Outcome::Acknowledged(Some((generated["id"].as_i64().unwrap(), text)))
                    }
                    StatusCode::OK => Outcome::Acknowledged(None),
                    StatusCode::SERVICE_UNAVAILABLE if body == "\"NotOpenYet\"" => Outcome::NotOpenYet,
                    StatusCode::TOO_MANY_REQUESTS if body == "\"TrainingUnderWay\"" => Outcome::TrainingUnderWay,
                    status => Outcome::Failed(format!("{status} {}", body.chars().take(200).collect::<String>())),
                }
            }
            Err(error) => Outcome::Failed(format!("{error}")),
        };
        let seconds = clock.elapsed().as_secs_f64();
        shared.attempts.lock().unwrap().push(Attempt { via, kind, started, seconds, outcome });
        shared.under_way.lock().unwrap()[shared.slot] = None;
    }
}
