//! `rehearse::net` held against reality: each scenario runs on real
//! loopback TCP sockets or real files (a killed, stopped or cut-off
//! process), and on `SimNet`; what the real system did must be something
//! the model produces for some seed (the model may do more: it is at least
//! as wide as reality, never narrower).
//!
//! What each check found is in `docs/simulating-message-passing.md`
//! ("What the model claims, held against reality"). The one-way partition
//! needs root, `unshare` and `iptables` (it cuts a port in a private
//! network namespace, so nothing outside the test sees the rule); it is
//! `#[ignore]`d and `scripts/test` runs it with `--include-ignored`.

#![allow(missing_docs)]

use std::collections::{BTreeSet, VecDeque};
use std::io::{BufRead, BufReader, ErrorKind, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use rehearse::Sim;
use rehearse::net::{Cluster, Event, Files, NetConfig, Node, NodeId, Output, SimNet};
use serde::{Deserialize, Serialize};

const ROLE: &str = "REHEARSE_CONFORMANCE_ROLE";
/// Ceiling of every wait on the real system: a behaviour check, never a
/// timing one (the waits end as soon as the awaited thing happens).
const CEILING: Duration = Duration::from_secs(30);
const MS: u64 = 1_000;

// ------------------------------------------------------------ the model side

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
enum Msg {
    Frame(u32),
    /// A client request: send these frames to `to`.
    Send {
        to: NodeId,
        frames: Vec<u32>,
    },
    /// A client request: append to the file `log`.
    Append(Vec<u8>),
    /// A client request: sync.
    Sync,
}

/// What a node saw of one peer's session, in order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Seen {
    Frame(u32),
    /// The session ended: EOF or an error on the real socket,
    /// `Disconnected` in the model.
    Ended,
}

/// Does what its client requests say; keeps everything it is told.
#[derive(Default)]
struct Actor {
    seen: Vec<(u64, NodeId, Event<Msg>)>,
    files: Option<Files>,
    out: VecDeque<Output<Msg>>,
}

impl Node for Actor {
    type Message = Msg;
    fn step(&mut self, now: Duration, event: Event<Msg>) {
        let now = now.as_micros() as u64;
        match &event {
            Event::Start { files, .. } => self.files = Some(files.clone()),
            Event::Request { msg, .. } => match msg.clone() {
                Msg::Send { to, frames } => {
                    for f in frames {
                        self.out.push_back(Output::Send { to, msg: Msg::Frame(f) });
                    }
                }
                Msg::Append(bytes) => self.out.push_back(Output::Append {
                    file: "log".into(),
                    bytes,
                }),
                Msg::Sync => self.out.push_back(Output::Sync),
                Msg::Frame(_) => {}
            },
            Event::Connected { peer } | Event::Disconnected { peer } | Event::Message { from: peer, .. } => {
                self.seen.push((now, *peer, event.clone()));
            }
            _ => {}
        }
    }
    fn poll_next_message(&mut self) -> Option<Output<Msg>> {
        self.out.pop_front()
    }
}

impl Actor {
    /// What the node saw on its first session with `peer` in `[from_us,
    /// to_us)`.
    fn first_session(&self, peer: NodeId, from_us: u64, to_us: u64) -> Vec<Seen> {
        let mut out = Vec::new();
        let mut sessions = 0;
        for (at, p, e) in &self.seen {
            if *p != peer {
                continue;
            }
            match e {
                Event::Connected { .. } => sessions += 1,
                _ if sessions != 1 || *at < from_us || *at >= to_us => {}
                Event::Message { msg: Msg::Frame(n), .. } => out.push(Seen::Frame(*n)),
                Event::Disconnected { .. } => out.push(Seen::Ended),
                _ => {}
            }
        }
        out
    }

    fn sessions_with(&self, peer: NodeId) -> usize {
        self.seen
            .iter()
            .filter(|(_, p, e)| *p == peer && matches!(e, Event::Connected { .. }))
            .count()
    }
}

/// Two nodes on sessions, no drawn chaos (the scenario scripts its
/// fault), no `net::delay` (a loopback has no 1 s delays; the scenarios
/// wait for each other, not for the clock), `rates` set on the fault
/// points; run until both are connected (20 ms).
fn two_nodes(seed: u64, rates: &[(&str, f64)]) -> Cluster<Actor, SimNet<Msg>> {
    let sim = Sim::new(seed);
    sim.set_fault_rate("net::delay", 0.0);
    for (p, r) in rates {
        sim.set_fault_rate(p, *r);
    }
    let net = SimNet::new(sim, NetConfig::new(2).chaos_every_us(0));
    let mut cluster = Cluster::new(2, net, |_| Actor::default());
    cluster.run_until(ms(20), |_| Ok(())).unwrap();
    cluster
}

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

fn frames(n: u32) -> Vec<u32> {
    (0..n).collect()
}

/// The outcomes a scenario has on the model over `seeds`.
fn outcomes<T: Ord>(seeds: std::ops::Range<u64>, run: impl Fn(u64) -> T) -> BTreeSet<T> {
    seeds.map(run).collect()
}

// ------------------------------------------------------------ the real side

/// Runs this test binary again as a child process in `role`.
fn child(role: &str, args: &[(&str, String)]) -> Child {
    let mut cmd = Command::new(std::env::current_exe().unwrap());
    cmd.args(["child_process", "--exact", "--nocapture", "--include-ignored"])
        .env(ROLE, role)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit());
    for (k, v) in args {
        cmd.env(k, v);
    }
    cmd.spawn().unwrap()
}

/// Waits for the child to print `line` (it did what comes before it).
fn wait_for_line(child: &mut Child, line: &str) -> String {
    let out = child.stdout.as_mut().unwrap();
    let mut reader = BufReader::new(out);
    let mut text = String::new();
    loop {
        let mut l = String::new();
        if reader.read_line(&mut l).unwrap() == 0 {
            panic!("the child ended before {line:?}; it printed {text:?}");
        }
        if l.starts_with(line) {
            return l;
        }
        text.push_str(&l);
    }
}

/// A process killed with SIGKILL, reaped.
fn kill(mut child: Child) {
    child.kill().unwrap();
    child.wait().unwrap();
}

fn signal(child: &Child, sig: &str) {
    let ok = Command::new("kill")
        .args([sig, &child.id().to_string()])
        .status()
        .unwrap()
        .success();
    assert!(ok, "kill {sig} {}", child.id());
}

/// The state letter of a process (`R`, `S`, `T` for stopped...).
fn process_state(child: &Child) -> Option<char> {
    let stat = std::fs::read_to_string(format!("/proc/{}/stat", child.id())).ok()?;
    // After "pid (name) ": the name may hold spaces, not a ')'.
    stat.rsplit_once(") ")?.1.chars().next()
}

fn write_frame(s: &mut TcpStream, n: u32) -> std::io::Result<()> {
    s.write_all(&n.to_be_bytes())
}

/// Reads frames until the session ends (EOF or an error) or `until`
/// frames came; `Ended` last when it ended.
fn read_frames(s: &mut TcpStream, until: usize, wait: Duration) -> Vec<Seen> {
    s.set_read_timeout(Some(wait)).unwrap();
    let mut out = Vec::new();
    let mut buf = [0u8; 4];
    while out.len() < until {
        match s.read_exact(&mut buf) {
            Ok(()) => out.push(Seen::Frame(u32::from_be_bytes(buf))),
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => break,
            Err(_) => {
                out.push(Seen::Ended);
                break;
            }
        }
    }
    out
}

/// The child processes: a role per scenario, chosen by the parent test.
#[test]
fn child_process() {
    let Ok(role) = std::env::var(ROLE) else {
        return; // only meaningful when spawned by a test below
    };
    let var = |k: &str| std::env::var(k).unwrap();
    let mut stdout = std::io::stdout();
    match role.as_str() {
        // Connects, writes N frames (one write(2) each), says so, waits
        // for its SIGKILL.
        "writer" => {
            let mut s = TcpStream::connect(("127.0.0.1", var("PORT").parse::<u16>().unwrap())).unwrap();
            for n in 0..var("N").parse::<u32>().unwrap() {
                write_frame(&mut s, n).unwrap();
            }
            writeln!(stdout, "written").unwrap();
            stdout.flush().unwrap();
            std::thread::sleep(CEILING * 2);
        }
        // Connects, reads N frames, answers how many it read, in order.
        "reader" => {
            let mut s = TcpStream::connect(("127.0.0.1", var("PORT").parse::<u16>().unwrap())).unwrap();
            writeln!(stdout, "connected").unwrap();
            stdout.flush().unwrap();
            let n = var("N").parse::<u32>().unwrap();
            let got = read_frames(&mut s, n as usize, CEILING);
            let in_order = got == frames(n).into_iter().map(Seen::Frame).collect::<Vec<_>>();
            write_frame(&mut s, if in_order { n } else { u32::MAX }).unwrap();
        }
        // Appends N records of 8 bytes (one write(2) each) to FILE,
        // fsyncs after the first half, says so, waits for its SIGKILL.
        "appender" => {
            let mut f = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(var("FILE"))
                .unwrap();
            let n = var("N").parse::<u64>().unwrap();
            for i in 0..n {
                f.write_all(&i.to_le_bytes()).unwrap();
                if i + 1 == n / 2 {
                    f.sync_all().unwrap();
                }
            }
            writeln!(stdout, "written").unwrap();
            stdout.flush().unwrap();
            std::thread::sleep(CEILING * 2);
        }
        "one_way_partition" => {
            let outcome = one_way_partition_in_this_namespace();
            writeln!(stdout, "outcome {}", ron::to_string(&outcome).unwrap()).unwrap();
        }
        other => panic!("unknown role {other}"),
    }
}

// ------------------------------------------------------------ 1. a killed sender

/// A process writes 20 frames to a socket and is killed (SIGKILL) before
/// its peer reads any: what the peer reads, and whether it learns. With
/// `unread`, the peer had sent 1 KB the victim never read, so the
/// victim's kernel answers the close with an RST instead of a FIN.
fn real_killed_sender(unread: bool) -> (Vec<Seen>, bool) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port().to_string();
    let mut writer = child("writer", &[("PORT", port), ("N", "20".into())]);
    let (mut peer, _) = listener.accept().unwrap();
    if unread {
        peer.write_all(&[7u8; 1024]).unwrap();
    }
    wait_for_line(&mut writer, "written");
    kill(writer);
    let seen = read_frames(&mut peer, 21, CEILING);
    // The survivor's writes fail soon (EPIPE or ECONNRESET): a bounded
    // number of tries, no timing.
    let write_fails = (0..1000).any(|_| {
        let failed = write_frame(&mut peer, 1).is_err();
        if !failed {
            std::thread::sleep(Duration::from_millis(5));
        }
        failed
    });
    (seen, write_fails)
}

/// The model: node 1 sends 20 frames to node 0 and crashes right after
/// (before any can arrive: latency is at least 1 ms): what node 0 saw on
/// that session.
fn model_killed_sender(seed: u64, linger: f64) -> Vec<Seen> {
    let mut c = two_nodes(seed, &[("net::linger", linger)]);
    c.submit(
        1,
        Duration::ZERO,
        Msg::Send {
            to: 0,
            frames: frames(20),
        },
    );
    c.run_until(ms(20) + Duration::from_micros(1), |_| Ok(())).unwrap();
    c.world_mut().crash(1);
    c.run_until(ms(2_000), |_| Ok(())).unwrap();
    c.node(0).unwrap().first_session(1, 0, u64::MAX)
}

#[test]
fn a_killed_senders_written_messages_still_arrive_then_its_peer_learns() {
    let (real, write_fails) = real_killed_sender(false);
    // Real TCP: every frame written before the kill arrives, then EOF.
    let all: Vec<Seen> = frames(20).into_iter().map(Seen::Frame).chain([Seen::Ended]).collect();
    assert_eq!(real, all, "what the peer of a killed writer read");
    assert!(write_fails, "the survivor's writes never failed");

    // The model produces it with net::linger (and learns: Ended)...
    let with = outcomes(0..300, |seed| model_killed_sender(seed, 0.5));
    assert!(with.contains(&real), "the model never delivers all: {with:?}");
    // ...and every outcome is a prefix, then Ended.
    for o in &with {
        assert_eq!(o.last(), Some(&Seen::Ended), "{o:?}");
        assert_eq!(o[..o.len() - 1], all[..o.len() - 1], "{o:?}");
    }
    // Without net::linger the model was narrower than TCP: all lost.
    let without = outcomes(0..50, |seed| model_killed_sender(seed, 0.0));
    assert_eq!(without, BTreeSet::from([vec![Seen::Ended]]));
}

#[test]
fn a_killed_sender_that_had_unread_data_resets_and_its_peer_gets_a_prefix() {
    let (real, write_fails) = real_killed_sender(true);
    // Real TCP answers the close with an RST: the peer reads a prefix
    // (what was still in the victim's send queue is dropped), then the
    // reset.
    assert_eq!(real.last(), Some(&Seen::Ended), "{real:?}");
    let k = real.len() - 1;
    assert_eq!(
        real[..k],
        frames(k as u32).into_iter().map(Seen::Frame).collect::<Vec<_>>()
    );
    assert!(write_fails);
    let model = outcomes(0..3_000, |seed| model_killed_sender(seed, 0.5));
    assert!(
        model.contains(&real),
        "{k} of 20 then the end: the model gives {model:?}"
    );
}

// ------------------------------------------------------------ 2. a paused peer

#[test]
fn a_stopped_process_keeps_its_connection_and_reads_everything_sent_meanwhile() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port().to_string();
    let mut reader = child("reader", &[("PORT", port), ("N", "50".into())]);
    let (mut peer, _) = listener.accept().unwrap();
    wait_for_line(&mut reader, "connected");
    signal(&reader, "-STOP");
    // kill(2) returns before the stop takes effect: wait for it.
    assert!(
        (0..10_000).any(|_| {
            let stopped = process_state(&reader) == Some('T');
            if !stopped {
                std::thread::sleep(Duration::from_millis(1));
            }
            stopped
        }),
        "the reader never stopped"
    );
    for n in 0..50 {
        write_frame(&mut peer, n).unwrap();
    }
    // Stopped, not dead: its connection stays up (nothing to read here).
    let meanwhile = read_frames(&mut peer, 1, Duration::from_millis(200));
    assert_eq!(meanwhile, vec![], "the peer of a stopped process saw {meanwhile:?}");
    assert!(reader.try_wait().unwrap().is_none());
    signal(&reader, "-CONT");
    // It read all 50 in order and answered on the same connection.
    let answer = read_frames(&mut peer, 1, CEILING);
    assert_eq!(answer, vec![Seen::Frame(50)]);
    assert!(reader.wait().unwrap().success());

    // The model: node 1 paused while node 0 sends 50; node 1 gets them
    // all after the pause, in order, and no end at either side.
    for seed in 0..20 {
        let mut c = two_nodes(seed, &[]);
        c.world_mut().pause(1, ms(200));
        c.submit(
            0,
            Duration::ZERO,
            Msg::Send {
                to: 1,
                frames: frames(50),
            },
        );
        c.run_until(ms(1_000), |_| Ok(())).unwrap();
        let got = c.node(1).unwrap().first_session(0, 0, u64::MAX);
        assert_eq!(got, frames(50).into_iter().map(Seen::Frame).collect::<Vec<_>>());
        assert!(
            c.node(1)
                .unwrap()
                .seen
                .iter()
                .all(|(at, _, _)| *at < 20 * MS || *at >= 220 * MS)
        );
        assert_eq!(c.node(0).unwrap().first_session(1, 0, u64::MAX), vec![]);
    }
}

// ------------------------------------------------------------ 3. a one-way partition

/// What each end saw of a one-way partition (A -> B cut) and its heal.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
struct Cut {
    /// B -> A while the cut lasts.
    a_during: Vec<u32>,
    /// A -> B while the cut lasts.
    b_during: Vec<u32>,
    /// A -> B after the heal.
    b_after: Vec<u32>,
    /// B -> A after the heal.
    a_after: Vec<u32>,
    /// Either end was told its session ended.
    ended: bool,
}

/// The real scenario, in a private network namespace (the child runs
/// under `unshare -n`): A and B connected over loopback, A -> B dropped
/// by an iptables rule on the connection's ports, A sends 0 and 1, B sends
/// 100; the rule goes after 500 ms; B sends 101.
fn one_way_partition_in_this_namespace() -> Cut {
    run(&["ip", "link", "set", "lo", "up"]);
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let mut a = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
    let (mut b, _) = listener.accept().unwrap();
    for s in [&a, &b] {
        s.set_nodelay(true).unwrap();
    }
    let rule = IptablesRule::add(a.local_addr().unwrap().port(), b.local_addr().unwrap().port());
    write_frame(&mut a, 0).unwrap();
    write_frame(&mut a, 1).unwrap();
    write_frame(&mut b, 100).unwrap();
    let frames_of = |seen: Vec<Seen>, ended: &mut bool| -> Vec<u32> {
        seen.into_iter()
            .filter_map(|s| match s {
                Seen::Frame(n) => Some(n),
                Seen::Ended => {
                    *ended = true;
                    None
                }
            })
            .collect()
    };
    let mut ended = false;
    let a_during = frames_of(read_frames(&mut a, 1, CEILING), &mut ended);
    let b_during = frames_of(read_frames(&mut b, 2, Duration::from_millis(500)), &mut ended);
    drop(rule);
    let b_after = frames_of(read_frames(&mut b, 2, CEILING), &mut ended);
    write_frame(&mut b, 101).unwrap();
    let a_after = frames_of(read_frames(&mut a, 1, CEILING), &mut ended);
    Cut {
        a_during,
        b_during,
        b_after,
        a_after,
        ended,
    }
}

fn run(cmd: &[&str]) {
    let status = Command::new(cmd[0]).args(&cmd[1..]).status();
    assert!(
        status.as_ref().is_ok_and(|s| s.success()),
        "{}: {status:?} (the partition check needs root and iptables)",
        cmd.join(" ")
    );
}

/// An iptables rule dropping what the local port `from` sends to the
/// local port `to`; deleted when dropped, even on a panic (and it lives
/// in the test's own network namespace, which goes with the process).
struct IptablesRule(Vec<String>);

impl IptablesRule {
    fn add(from: u16, to: u16) -> Self {
        let spec: Vec<String> = [
            "INPUT",
            "-p",
            "tcp",
            "--sport",
            &from.to_string(),
            "--dport",
            &to.to_string(),
            "-j",
            "DROP",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        let mut add = vec!["iptables", "-A"];
        add.extend(spec.iter().map(String::as_str));
        run(&add);
        Self(spec)
    }
}

impl Drop for IptablesRule {
    fn drop(&mut self) {
        let _ = Command::new("iptables").arg("-D").args(&self.0).status();
    }
}

/// The model: node 0 is A, node 1 is B.
fn model_one_way_partition(seed: u64, stall: f64) -> Cut {
    let mut c = two_nodes(seed, &[("net::stall", stall)]);
    c.world_mut().partition_one_way(0, 1);
    c.submit(
        0,
        Duration::ZERO,
        Msg::Send {
            to: 1,
            frames: vec![0, 1],
        },
    );
    c.submit(
        1,
        Duration::ZERO,
        Msg::Send {
            to: 0,
            frames: vec![100],
        },
    );
    c.run_until(ms(520), |_| Ok(())).unwrap();
    c.world_mut().heal_partitions();
    c.run_until(ms(1_000), |_| Ok(())).unwrap();
    c.submit(
        1,
        Duration::ZERO,
        Msg::Send {
            to: 0,
            frames: vec![101],
        },
    );
    c.run_until(ms(2_000), |_| Ok(())).unwrap();
    let frames = |node: NodeId, peer, from_ms: u64, to_ms: u64| -> Vec<u32> {
        c.node(node)
            .unwrap()
            .first_session(peer, from_ms * MS, to_ms * MS)
            .into_iter()
            .filter_map(|s| match s {
                Seen::Frame(n) => Some(n),
                Seen::Ended => None,
            })
            .collect()
    };
    let ended = [(0, 1), (1, 0)].into_iter().any(|(n, p)| {
        c.node(n).unwrap().first_session(p, 0, u64::MAX).contains(&Seen::Ended)
            || c.node(n).unwrap().sessions_with(p) > 1
    });
    Cut {
        a_during: frames(0, 1, 0, 520),
        b_during: frames(1, 0, 0, 520),
        b_after: frames(1, 0, 520, 2_000),
        a_after: frames(0, 1, 520, 2_000),
        ended,
    }
}

#[test]
#[ignore = "needs root, unshare and iptables: scripts/test runs it"]
fn a_one_way_partition_keeps_the_session_delivers_the_other_way_and_the_cut_way_after_the_heal() {
    let out = Command::new("unshare")
        .args(["-n", "--"])
        .arg(std::env::current_exe().unwrap())
        .args(["child_process", "--exact", "--nocapture", "--include-ignored"])
        .env(ROLE, "one_way_partition")
        .output()
        .expect("unshare (util-linux) runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "the partition child failed (needs root, unshare and iptables): {stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let line = stdout
        .lines()
        .find_map(|l| l.strip_prefix("outcome "))
        .unwrap_or_else(|| panic!("no outcome in {stdout}"));
    let real: Cut = ron::from_str(line).unwrap();
    // Real TCP: B -> A flows during the cut; A -> B is retransmitted and
    // arrives after the heal, in order; neither end is told anything.
    assert_eq!(
        real,
        Cut {
            a_during: vec![100],
            b_during: vec![],
            b_after: vec![0, 1],
            a_after: vec![101],
            ended: false,
        }
    );
    let with = outcomes(0..40, |seed| model_one_way_partition(seed, 0.5));
    assert!(with.contains(&real), "the model gives {with:?}");
    // Without net::stall the model was narrower: the cut ends the session.
    let without = outcomes(0..20, |seed| model_one_way_partition(seed, 0.0));
    assert!(without.iter().all(|o| o.ended && o.a_during.is_empty()), "{without:?}");
}

// ------------------------------------------------------------ 4. the disk at a process kill

#[test]
fn a_killed_process_keeps_every_write_it_made_synced_or_not_in_order() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("log");
    let mut appender = child("appender", &[("FILE", file.display().to_string()), ("N", "50".into())]);
    wait_for_line(&mut appender, "written");
    kill(appender);
    let real = std::fs::read(&file).unwrap();
    let all: Vec<u8> = (0..50u64).flat_map(|i| i.to_le_bytes()).collect();
    // The kernel keeps what write(2) returned for: a process kill is not
    // a power loss.
    assert_eq!(real, all);

    // The model: 25 appends, a sync, 25 more, a crash. disk::flushed keeps
    // a prefix of the unsynced ones: all of them in some seeds.
    let model = outcomes(0..200, |seed| {
        let mut c = two_nodes(
            seed,
            &[("disk::flushed", 0.5), ("disk::torn", 0.5), ("disk::corrupt", 0.0)],
        );
        for i in 0..50u64 {
            c.submit(0, Duration::ZERO, Msg::Append(i.to_le_bytes().to_vec()));
            if i == 24 {
                c.submit(0, Duration::ZERO, Msg::Sync);
            }
        }
        // The real process crashed after its fsync returned: here after the
        // sync's at most 2 ms.
        c.run_until(ms(25), |_| Ok(())).unwrap();
        c.world_mut().crash(0);
        c.world_mut().restart(0);
        c.run_until(ms(40), |_| Ok(())).unwrap();
        let files = c.node(0).unwrap().files.clone().unwrap();
        files.get("log").cloned().unwrap_or_default()
    });
    assert!(model.contains(&real), "{} outcomes, none keeps all", model.len());
    assert!(model.iter().all(|f| f.len() >= 25 * 8 && all.starts_with(f)));
}
