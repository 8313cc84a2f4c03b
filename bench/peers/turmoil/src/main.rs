//! failover-ref (`shared/bench/failover-ref.md`) on turmoil: N data nodes,
//! `coord`, and 3 controllers as turmoil hosts talking over turmoil's
//! simulated UDP, one 25-byte datagram per message.
//!
//! Latency: turmoil's own, between `min_message_latency` 1 ms and
//! `max_message_latency` 5 ms (turmoil draws from an exponential curve in
//! that range, not a uniform one). Loss: turmoil has no per-datagram loss
//! knob (its `fail_rate` takes whole links down for a while), so every
//! sender drops 1% of its datagrams with its own seeded RNG.
//!
//! Run: `cargo run --release -- --seeds 20 --nodes 3`

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use tokio::time::{Instant as SimInstant, MissedTickBehavior, interval, timeout_at};
use turmoil::net::UdpSocket;

const PORT: u16 = 9000;
const STATUS: u8 = 1;
const PROMOTE: u8 = 2;
const CAMPAIGN: u8 = 3;
const KEEPALIVE: u8 = 4;
const REPLICATE: u8 = 5;
const REPLY: u8 = 9;
const TIMEOUT: Duration = Duration::from_millis(50);
const RUN: Duration = Duration::from_secs(60);

#[derive(Default)]
struct Shared {
    round_trips: u64,
    replicate: u64,
    first_promotion: Option<Duration>,
    /// (is primary) per data node.
    primary: Vec<bool>,
}

type Counts = Arc<Mutex<Shared>>;

fn encode(tag: u8, id: u64, a: u64, b: u64) -> [u8; 25] {
    let mut m = [0u8; 25];
    m[0] = tag;
    m[1..9].copy_from_slice(&id.to_le_bytes());
    m[9..17].copy_from_slice(&a.to_le_bytes());
    m[17..25].copy_from_slice(&b.to_le_bytes());
    m
}

fn decode(m: &[u8]) -> (u8, u64, u64, u64) {
    let word = |r: std::ops::Range<usize>| u64::from_le_bytes(m[r].try_into().unwrap());
    (m[0], word(1..9), word(9..17), word(17..25))
}

fn addr(host: &str) -> SocketAddr {
    SocketAddr::new(turmoil::lookup(host), PORT)
}

fn any() -> SocketAddr {
    SocketAddr::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), PORT)
}

/// Sends unless the datagram is lost (1%).
async fn send(sock: &UdpSocket, rng: &mut SmallRng, to: SocketAddr, m: [u8; 25]) {
    if !rng.random_bool(0.01) {
        let _ = sock.send_to(&m, to).await;
    }
}

fn splitmix64(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    x ^ (x >> 31)
}

fn run_seed(seed: u64, n: usize) -> (u64, u64, Option<u64>, bool) {
    let mut sim = turmoil::Builder::new()
        .simulation_duration(RUN + Duration::from_secs(1))
        .tick_duration(Duration::from_millis(1))
        .min_message_latency(Duration::from_millis(1))
        .max_message_latency(Duration::from_millis(5))
        .rng_seed(seed)
        .build();
    let counts: Counts = Arc::new(Mutex::new(Shared {
        primary: (0..n).map(|j| j == 0).collect(),
        ..Shared::default()
    }));
    for j in 0..n {
        let counts = Arc::clone(&counts);
        sim.host(format!("d{j}"), move || {
            let counts = Arc::clone(&counts);
            async move {
                let sock = UdpSocket::bind(any()).await?;
                let mut rng = SmallRng::seed_from_u64(splitmix64(seed ^ (j as u64 + 1)));
                let mut primary = j == 0;
                let (mut base, mut since) = (0u64, SimInstant::now());
                let mut replicated = 0u64;
                let offset = |primary: bool, base: u64, since: SimInstant, replicated: u64| {
                    if primary {
                        base + (since.elapsed().as_millis() as u64) / 10
                    } else {
                        replicated
                    }
                };
                let mut tick = interval(Duration::from_millis(100));
                tick.set_missed_tick_behavior(MissedTickBehavior::Delay);
                tick.tick().await;
                let mut buf = [0u8; 64];
                loop {
                    tokio::select! {
                        _ = tick.tick() => {
                            if primary {
                                let o = offset(primary, base, since, replicated);
                                for q in (0..n).filter(|&q| q != j) {
                                    counts.lock().unwrap().replicate += 1;
                                    send(&sock, &mut rng, addr(&format!("d{q}")), encode(REPLICATE, 0, o, 0)).await;
                                }
                            }
                        }
                        r = sock.recv_from(&mut buf) => {
                            let (len, from) = r?;
                            if len != 25 { continue; }
                            let (tag, id, a, _) = decode(&buf[..25]);
                            match tag {
                                STATUS => {
                                    let o = offset(primary, base, since, replicated);
                                    send(&sock, &mut rng, from, encode(REPLY, id, u64::from(primary), o)).await;
                                }
                                PROMOTE => {
                                    if !primary {
                                        base = offset(primary, base, since, replicated);
                                        since = SimInstant::now();
                                        primary = true;
                                        let mut c = counts.lock().unwrap();
                                        c.primary[j] = true;
                                        c.first_promotion.get_or_insert(turmoil::elapsed());
                                    }
                                    send(&sock, &mut rng, from, encode(REPLY, id, 1, 0)).await;
                                }
                                REPLICATE => replicated = replicated.max(a),
                                _ => {}
                            }
                        }
                    }
                }
            }
        });
    }
    sim.host("coord", move || async move {
        let sock = UdpSocket::bind(any()).await?;
        let mut rng = SmallRng::seed_from_u64(splitmix64(seed ^ 0xC0));
        let mut holder: Option<(u64, SimInstant)> = None;
        let mut buf = [0u8; 64];
        loop {
            let (len, from) = sock.recv_from(&mut buf).await?;
            if len != 25 {
                continue;
            }
            let (tag, id, who, _) = decode(&buf[..25]);
            let now = SimInstant::now();
            let live = holder.filter(|h| h.1 > now);
            let granted = match tag {
                CAMPAIGN => live.is_none_or(|h| h.0 == who),
                KEEPALIVE => live.is_some_and(|h| h.0 == who),
                _ => continue,
            };
            if granted {
                holder = Some((who, now + Duration::from_secs(3)));
            }
            send(&sock, &mut rng, from, encode(REPLY, id, u64::from(granted), 0)).await;
        }
    });
    for c in 0..3u64 {
        let counts = Arc::clone(&counts);
        sim.host(format!("c{c}"), move || {
            let counts = Arc::clone(&counts);
            async move {
                let sock = UdpSocket::bind(any()).await?;
                let mut rng = SmallRng::seed_from_u64(splitmix64(seed ^ (0x100 + c)));
                let (mut leader, mut believed, mut fails, mut round, mut next_id) = (false, 0usize, 0u32, 0u64, 0u64);
                let mut tick = interval(Duration::from_millis(100));
                tick.set_missed_tick_behavior(MissedTickBehavior::Delay);
                let mut buf = [0u8; 64];
                loop {
                    tick.tick().await;
                    if round % 10 == 0 {
                        next_id += 1;
                        let id = next_id;
                        let tag = if leader { KEEPALIVE } else { CAMPAIGN };
                        send(&sock, &mut rng, addr("coord"), encode(tag, id, c, 0)).await;
                        let deadline = SimInstant::now() + TIMEOUT;
                        leader = false;
                        while let Ok(Ok((len, _))) = timeout_at(deadline, sock.recv_from(&mut buf)).await {
                            let (t, rid, a, _) = decode(&buf[..len.min(25)]);
                            if t == REPLY && rid == id {
                                counts.lock().unwrap().round_trips += 1;
                                leader = a == 1;
                                break;
                            }
                        }
                    }
                    round += 1;
                    // STATUS to every data node at once.
                    let first = next_id + 1;
                    next_id += n as u64;
                    for j in 0..n {
                        send(&sock, &mut rng, addr(&format!("d{j}")), encode(STATUS, first + j as u64, 0, 0)).await;
                    }
                    let mut replies: Vec<Option<(bool, u64)>> = vec![None; n];
                    let deadline = SimInstant::now() + TIMEOUT;
                    let mut pending = n;
                    while pending > 0 {
                        let Ok(Ok((len, _))) = timeout_at(deadline, sock.recv_from(&mut buf)).await else { break };
                        let (t, rid, a, b) = decode(&buf[..len.min(25)]);
                        if t == REPLY && rid >= first && rid < first + n as u64 {
                            let j = (rid - first) as usize;
                            if replies[j].is_none() {
                                replies[j] = Some((a == 1, b));
                                pending -= 1;
                                counts.lock().unwrap().round_trips += 1;
                            }
                        }
                    }
                    if let Some(p) = replies.iter().position(|r| r.is_some_and(|r| r.0)) {
                        believed = p;
                    }
                    fails = if replies[believed].is_some_and(|r| r.0) { 0 } else { fails + 1 };
                    if leader && fails >= 10 {
                        let pick = (0..n)
                            .filter(|&j| j != believed)
                            .filter_map(|j| replies[j].filter(|r| !r.0).map(|r| (r.1, j)))
                            .max_by(|a, b| a.0.cmp(&b.0).then(b.1.cmp(&a.1)));
                        if let Some((_, j)) = pick {
                            next_id += 1;
                            let id = next_id;
                            send(&sock, &mut rng, addr(&format!("d{j}")), encode(PROMOTE, id, 0, 0)).await;
                            let deadline = SimInstant::now() + TIMEOUT;
                            while let Ok(Ok((len, _))) = timeout_at(deadline, sock.recv_from(&mut buf)).await {
                                let (t, rid, _, _) = decode(&buf[..len.min(25)]);
                                if t == REPLY && rid == id {
                                    counts.lock().unwrap().round_trips += 1;
                                    break;
                                }
                            }
                            believed = j;
                            fails = 0;
                        }
                    }
                }
            }
        });
    }
    let crash_at = Duration::from_millis(5000 + splitmix64(seed) % 25001);
    let mut crashed = false;
    while sim.elapsed() < RUN {
        if !crashed && sim.elapsed() >= crash_at {
            sim.crash("d0");
            crashed = true;
        }
        sim.step().expect("the simulation failed");
    }
    let c = counts.lock().unwrap();
    let live_primaries = (0..n).filter(|&j| c.primary[j] && j != 0).count() + usize::from(!crashed && c.primary[0]);
    let delay = c.first_promotion.map(|t| t.saturating_sub(crash_at).as_millis() as u64);
    (c.round_trips, c.replicate, delay, live_primaries == 1 && c.first_promotion.is_some())
}

fn main() -> std::process::ExitCode {
    let mut seeds = 10u64;
    let mut n = 3usize;
    let mut quiet = false;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--seeds" => seeds = args.next().and_then(|v| v.parse().ok()).unwrap_or(seeds),
            "--nodes" => n = args.next().and_then(|v| v.parse().ok()).unwrap_or(n),
            "--quiet" => quiet = true,
            other => {
                eprintln!("unknown argument {other:?} (--seeds N, --nodes N, --quiet)");
                return std::process::ExitCode::from(2);
            }
        }
    }
    let start = Instant::now();
    let (mut rt, mut rep, mut delay, mut failed) = (0u64, 0u64, 0u64, 0u64);
    for seed in 0..seeds {
        let (r, p, d, ok) = run_seed(seed, n);
        if !quiet {
            println!(
                "seed {seed}: round_trips {r} replicate {p} failover_delay_ms {} {}",
                d.map_or("none".into(), |d| d.to_string()),
                if ok { "ok" } else { "FAILED" }
            );
        }
        rt += r;
        rep += p;
        delay += d.unwrap_or(0);
        failed += u64::from(!ok);
    }
    let wall = start.elapsed().as_secs_f64();
    println!(
        "summary: turmoil nodes {n} seeds {seeds} record false mean_round_trips {:.1} mean_replicate {:.1} mean_failover_delay_ms {:.1} failed {failed} wall_s {wall:.3} sim_s_per_wall_s {:.0} round_trips_per_wall_s {:.0} seeds_per_wall_s {:.2}",
        rt as f64 / seeds as f64,
        rep as f64 / seeds as f64,
        delay as f64 / seeds as f64,
        seeds as f64 * RUN.as_secs_f64() / wall,
        rt as f64 / wall,
        seeds as f64 / wall,
    );
    if failed > 0 { std::process::ExitCode::from(1) } else { std::process::ExitCode::SUCCESS }
}
