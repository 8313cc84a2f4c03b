//! failover-ref (`shared/bench/failover-ref.md`) on madsim: N data nodes,
//! `coord`, and 3 controllers as madsim nodes talking over madsim's
//! simulated UDP, one 25-byte datagram per message.
//!
//! Latency and loss are madsim's own: `send_latency` 1..6 ms (uniform, so
//! 1 to 5 ms and a fraction) and `packet_loss_rate` 0.01 per datagram.
//!
//! Run: `RUSTFLAGS="--cfg madsim" cargo run --release -- --seeds 20 --nodes 3`

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant as WallInstant};

use madsim::net::UdpSocket;
use madsim::runtime::{Handle, Runtime};
use madsim::time::{Instant, MissedTickBehavior, interval, sleep, sleep_until, timeout};

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

fn data_ip(j: usize) -> IpAddr {
    IpAddr::V4(Ipv4Addr::new(10, 0, 1, j as u8 + 1))
}

fn coord_ip() -> IpAddr {
    IpAddr::V4(Ipv4Addr::new(10, 0, 2, 1))
}

fn any() -> SocketAddr {
    SocketAddr::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), PORT)
}

fn splitmix64(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    x ^ (x >> 31)
}

/// Waits for the reply `id` until `deadline`; its two fields.
async fn reply(sock: &UdpSocket, deadline: Instant, id: u64) -> Option<(u64, u64)> {
    let mut buf = [0u8; 64];
    loop {
        let left = deadline.checked_duration_since(Instant::now())?;
        let Ok(Ok((len, _))) = timeout(left, sock.recv_from(&mut buf)).await else { return None };
        let (t, rid, a, b) = decode(&buf[..len.min(25)]);
        if t == REPLY && rid == id {
            return Some((a, b));
        }
    }
}

/// A data node's state.
struct Node {
    primary: bool,
    base: u64,
    since: Instant,
    replicated: u64,
}

impl Node {
    fn offset(&self) -> u64 {
        if self.primary {
            self.base + (self.since.elapsed().as_millis() as u64) / 10
        } else {
            self.replicated
        }
    }
}

async fn data_node(j: usize, n: usize, counts: Counts, started: Instant) {
    let sock = Arc::new(UdpSocket::bind(any()).await.unwrap());
    let node = Arc::new(Mutex::new(Node {
        primary: j == 0,
        base: 0,
        since: Instant::now(),
        replicated: 0,
    }));
    // REPLICATE every 100 ms while primary, on its own task.
    let (s2, node2, counts2) = (Arc::clone(&sock), Arc::clone(&node), Arc::clone(&counts));
    madsim::task::spawn(async move {
        let mut tick = interval(Duration::from_millis(100));
        tick.set_missed_tick_behavior(MissedTickBehavior::Delay);
        tick.tick().await;
        loop {
            tick.tick().await;
            let (primary, o) = {
                let nd = node2.lock().unwrap();
                (nd.primary, nd.offset())
            };
            if primary {
                for q in (0..n).filter(|&q| q != j) {
                    counts2.lock().unwrap().replicate += 1;
                    let _ = s2.send_to(SocketAddr::new(data_ip(q), PORT), &encode(REPLICATE, 0, o, 0)).await;
                }
            }
        }
    });
    let mut buf = [0u8; 64];
    loop {
        let Ok((len, from)) = sock.recv_from(&mut buf).await else { continue };
        if len != 25 {
            continue;
        }
        let (tag, id, a, _) = decode(&buf[..25]);
        match tag {
            STATUS => {
                let (p, o) = {
                    let nd = node.lock().unwrap();
                    (nd.primary, nd.offset())
                };
                let _ = sock.send_to(from, &encode(REPLY, id, u64::from(p), o)).await;
            }
            PROMOTE => {
                {
                    let mut nd = node.lock().unwrap();
                    if !nd.primary {
                        nd.base = nd.offset();
                        nd.since = Instant::now();
                        nd.primary = true;
                        let mut c = counts.lock().unwrap();
                        c.primary[j] = true;
                        c.first_promotion.get_or_insert(started.elapsed());
                    }
                }
                let _ = sock.send_to(from, &encode(REPLY, id, 1, 0)).await;
            }
            REPLICATE => {
                let mut nd = node.lock().unwrap();
                nd.replicated = nd.replicated.max(a);
            }
            _ => {}
        }
    }
}

async fn coord() {
    let sock = UdpSocket::bind(any()).await.unwrap();
    let mut holder: Option<(u64, Instant)> = None;
    let mut buf = [0u8; 64];
    loop {
        let Ok((len, from)) = sock.recv_from(&mut buf).await else { continue };
        if len != 25 {
            continue;
        }
        let (tag, id, who, _) = decode(&buf[..25]);
        let now = Instant::now();
        let live = holder.filter(|h| h.1 > now);
        let granted = match tag {
            CAMPAIGN => live.is_none_or(|h| h.0 == who),
            KEEPALIVE => live.is_some_and(|h| h.0 == who),
            _ => continue,
        };
        if granted {
            holder = Some((who, now + Duration::from_secs(3)));
        }
        let _ = sock.send_to(from, &encode(REPLY, id, u64::from(granted), 0)).await;
    }
}

async fn controller(c: u64, n: usize, counts: Counts) {
    let sock = UdpSocket::bind(any()).await.unwrap();
    let (mut leader, mut believed, mut fails, mut round, mut next_id) = (false, 0usize, 0u32, 0u64, 0u64);
    let mut tick = interval(Duration::from_millis(100));
    tick.set_missed_tick_behavior(MissedTickBehavior::Delay);
    let mut buf = [0u8; 64];
    loop {
        tick.tick().await;
        if round % 10 == 0 {
            next_id += 1;
            let tag = if leader { KEEPALIVE } else { CAMPAIGN };
            let _ = sock.send_to(SocketAddr::new(coord_ip(), PORT), &encode(tag, next_id, c, 0)).await;
            let r = reply(&sock, Instant::now() + TIMEOUT, next_id).await;
            if r.is_some() {
                counts.lock().unwrap().round_trips += 1;
            }
            leader = r.is_some_and(|r| r.0 == 1);
        }
        round += 1;
        let first = next_id + 1;
        next_id += n as u64;
        for j in 0..n {
            let _ = sock.send_to(SocketAddr::new(data_ip(j), PORT), &encode(STATUS, first + j as u64, 0, 0)).await;
        }
        let mut replies: Vec<Option<(bool, u64)>> = vec![None; n];
        let deadline = Instant::now() + TIMEOUT;
        let mut pending = n;
        while pending > 0 {
            let Some(left) = deadline.checked_duration_since(Instant::now()) else { break };
            let Ok(Ok((len, _))) = timeout(left, sock.recv_from(&mut buf)).await else { break };
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
                let _ = sock.send_to(SocketAddr::new(data_ip(j), PORT), &encode(PROMOTE, next_id, 0, 0)).await;
                if reply(&sock, Instant::now() + TIMEOUT, next_id).await.is_some() {
                    counts.lock().unwrap().round_trips += 1;
                }
                believed = j;
                fails = 0;
            }
        }
    }
}

fn run_seed(seed: u64, n: usize) -> (u64, u64, Option<u64>, bool) {
    let mut config = madsim::Config::default();
    config.net.packet_loss_rate = 0.01;
    config.net.send_latency = Duration::from_millis(1)..Duration::from_millis(6);
    let runtime = Runtime::with_seed_and_config(seed, config);
    let counts: Counts = Arc::new(Mutex::new(Shared {
        primary: (0..n).map(|j| j == 0).collect(),
        ..Shared::default()
    }));
    let crash_at = Duration::from_millis(5000 + splitmix64(seed) % 25001);
    let counts2 = Arc::clone(&counts);
    runtime.block_on(async move {
        let handle = Handle::current();
        let started = Instant::now();
        let mut d0 = None;
        for j in 0..n {
            let counts = Arc::clone(&counts2);
            let node = handle
                .create_node()
                .name(format!("d{j}"))
                .ip(data_ip(j))
                .init(move || data_node(j, n, Arc::clone(&counts), started))
                .build();
            if j == 0 {
                d0 = Some(node.id());
            }
        }
        handle.create_node().name("coord").ip(coord_ip()).init(coord).build();
        for c in 0..3u64 {
            let counts = Arc::clone(&counts2);
            handle
                .create_node()
                .name(format!("c{c}"))
                .ip(IpAddr::V4(Ipv4Addr::new(10, 0, 3, c as u8 + 1)))
                .init(move || controller(c, n, Arc::clone(&counts)))
                .build();
        }
        sleep(crash_at).await;
        handle.kill(d0.unwrap());
        sleep_until(started + RUN).await;
    });
    let c = counts.lock().unwrap();
    let live_primaries = (1..n).filter(|&j| c.primary[j]).count();
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
    let start = WallInstant::now();
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
        "summary: madsim nodes {n} seeds {seeds} record false mean_round_trips {:.1} mean_replicate {:.1} mean_failover_delay_ms {:.1} failed {failed} wall_s {wall:.3} sim_s_per_wall_s {:.0} round_trips_per_wall_s {:.0} seeds_per_wall_s {:.2}",
        rt as f64 / seeds as f64,
        rep as f64 / seeds as f64,
        delay as f64 / seeds as f64,
        seeds as f64 * RUN.as_secs_f64() / wall,
        rt as f64 / wall,
        seeds as f64 / wall,
    );
    if failed > 0 { std::process::ExitCode::from(1) } else { std::process::ExitCode::SUCCESS }
}
