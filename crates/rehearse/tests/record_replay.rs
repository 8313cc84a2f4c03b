//! Record then replay: the replayed world answers exactly what the recorded
//! one did, for sync and async worlds, several traits on one tape, borrowed
//! arguments, every return shape, threads, redaction and panics.

#![allow(missing_docs, async_fn_in_trait)]

use std::collections::BTreeMap;
use std::future::Future;
use std::pin::pin;
use std::task::{Context, Poll, Waker};

use rehearse::{Recorder, Replayer, Tape, Trace};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NodeId(String);

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Role {
    Primary,
    Replica { of: String, offset: u64 },
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Status {
    role: Role,
    run_id: String,
    tags: BTreeMap<String, i32>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum ClusterError {
    Unreachable(String),
    Refused { code: u16 },
}

#[rehearse::world]
pub trait Cluster {
    fn gen_node_id(&self, prefix: Option<String>) -> NodeId;
    fn is_cluster_enabled(&self, endpoint: &str) -> Result<bool, ClusterError>;
    fn status(&self, node: &NodeId) -> Result<Status, ClusterError>;
    fn write(&mut self, key: &str, payload: &[u8]) -> Result<u64, ClusterError>;
    fn failover(&mut self, leader: String, replica: String) -> Result<(), ClusterError>;
    fn check_cluster_notifications(&self) -> Option<String>;
    fn reset(&mut self);
    fn login(&mut self, user: &str, #[rehearse(redact)] password: &str) -> bool;
}

#[rehearse::world]
pub trait Election {
    async fn create_node(&self, node: NodeId) -> Result<u64, ClusterError>;
    fn campaign(&mut self, epoch: u64) -> impl Future<Output = Result<bool, ClusterError>> + Send;
    fn resign(&self);
}

/// A deterministic stand-in for real servers; its answers change with its
/// own state, so a replay that returned the wrong recorded value would show.
#[derive(Default)]
struct Fake {
    counter: std::cell::Cell<u64>,
    writes: u64,
}

impl Cluster for Fake {
    fn gen_node_id(&self, prefix: Option<String>) -> NodeId {
        self.counter.set(self.counter.get() + 1);
        NodeId(format!("{}-{}", prefix.unwrap_or_default(), self.counter.get()))
    }
    fn is_cluster_enabled(&self, endpoint: &str) -> Result<bool, ClusterError> {
        if endpoint.contains("down") {
            Err(ClusterError::Unreachable(endpoint.to_string()))
        } else {
            Ok(endpoint.contains("cluster"))
        }
    }
    fn status(&self, node: &NodeId) -> Result<Status, ClusterError> {
        Ok(Status {
            role: if node.0.ends_with('1') {
                Role::Primary
            } else {
                Role::Replica {
                    of: "n-1".into(),
                    offset: 42,
                }
            },
            run_id: format!("run-{}", node.0),
            tags: [("zone".to_string(), 3), ("rack".to_string(), -1)].into(),
        })
    }
    fn write(&mut self, key: &str, payload: &[u8]) -> Result<u64, ClusterError> {
        if key.is_empty() {
            return Err(ClusterError::Refused { code: 400 });
        }
        self.writes += payload.len() as u64;
        Ok(self.writes)
    }
    fn failover(&mut self, leader: String, replica: String) -> Result<(), ClusterError> {
        if leader == replica {
            Err(ClusterError::Refused { code: 409 })
        } else {
            Ok(())
        }
    }
    fn check_cluster_notifications(&self) -> Option<String> {
        (self.counter.get() % 2 == 0).then(|| "node added".to_string())
    }
    fn reset(&mut self) {
        self.writes = 0;
    }
    fn login(&mut self, user: &str, password: &str) -> bool {
        user == "admin" && password == "hunter2"
    }
}

impl Election for Fake {
    async fn create_node(&self, node: NodeId) -> Result<u64, ClusterError> {
        Ok(node.0.len() as u64 * 10)
    }
    fn campaign(&mut self, epoch: u64) -> impl Future<Output = Result<bool, ClusterError>> + Send {
        let won = epoch % 2 == 1;
        async move { Ok(won) }
    }
    fn resign(&self) {}
}

/// Polls a future that never waits (every world here answers at once).
fn block_on<F: Future>(f: F) -> F::Output {
    let mut f = pin!(f);
    let mut cx = Context::from_waker(Waker::noop());
    match f.as_mut().poll(&mut cx) {
        Poll::Ready(v) => v,
        Poll::Pending => panic!("test futures complete at once"),
    }
}

/// One session of calls through both traits; returns everything observed.
fn session<W: Cluster + Election>(w: &mut W) -> Vec<String> {
    let mut seen = Vec::new();
    let id = w.gen_node_id(Some("n".into()));
    seen.push(format!("{id:?}"));
    seen.push(format!("{:?}", w.gen_node_id(None)));
    seen.push(format!("{:?}", w.is_cluster_enabled("redis://a")));
    seen.push(format!("{:?}", w.is_cluster_enabled("redis://down")));
    seen.push(format!("{:?}", w.status(&id)));
    seen.push(format!("{:?}", w.status(&NodeId("n-2".into()))));
    seen.push(format!("{:?}", w.write("k", &[1, 2, 3])));
    seen.push(format!("{:?}", w.write("", b"x")));
    seen.push(format!("{:?}", w.failover("a".into(), "b".into())));
    seen.push(format!("{:?}", w.failover("a".into(), "a".into())));
    seen.push(format!("{:?}", w.check_cluster_notifications()));
    w.reset();
    seen.push(format!("{:?}", w.login("admin", "hunter2")));
    seen.push(format!("{:?}", block_on(w.create_node(id.clone()))));
    seen.push(format!("{:?}", block_on(w.campaign(3))));
    seen.push(format!("{:?}", block_on(w.campaign(4))));
    w.resign();
    seen
}

#[test]
fn file_recording_replays_identical_outputs() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("session.ron");
    let tape = Tape::create(&path).unwrap();
    let mut world = Recorder::new(Fake::default(), tape.clone());
    let recorded = session(&mut world);
    tape.finish().unwrap();

    let trace = Trace::read(&path).unwrap();
    assert_eq!(trace.calls().len(), 17);
    assert_eq!(trace.calls()[0].name, "Cluster::gen_node_id");
    assert_eq!(trace.calls()[13].name, "Election::create_node");
    assert_eq!(trace.calls()[16].name, "Election::resign");
    assert!(
        trace.header().created.is_some(),
        "file recordings carry their creation time"
    );

    let mut replay = Replayer::open(&path).unwrap();
    let replayed = session(&mut replay);
    assert_eq!(recorded, replayed);
    assert_eq!(replay.position(), 17);
    replay.finish().unwrap();
}

#[test]
fn memory_recording_replays_and_is_deterministic() {
    let record = || {
        let tape = Tape::memory();
        let mut world = Recorder::new(Fake::default(), tape.clone());
        let seen = session(&mut world);
        (tape.contents(), seen)
    };
    let (first, seen) = record();
    let (second, _) = record();
    assert_eq!(first, second, "same run, same bytes");
    assert!(!first.contains("created"), "memory tapes carry no wall-clock time");

    let mut replay = Replayer::from_trace(Trace::parse(&first).unwrap());
    assert_eq!(session(&mut replay), seen);
    replay.finish().unwrap();
}

#[test]
fn the_file_is_readable_ron_one_call_per_line() {
    let tape = Tape::memory();
    let mut world = Recorder::new(Fake::default(), tape.clone());
    let id = world.gen_node_id(Some("n".into()));
    world.status(&id).unwrap();
    world.write("k", &[7, 8]).unwrap();
    let text = tape.contents();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 4);
    assert_eq!(lines[0], "(rehearse: 2, tool: \"rehearse 0.1.0\")");
    assert_eq!(
        lines[1],
        r#"(i: 0, call: "Cluster::gen_node_id", in: (Some("n")), out: ("n-1"))"#
    );
    assert_eq!(
        lines[2],
        r#"(i: 1, call: "Cluster::status", in: (("n-1")), out: Ok((role: Primary, run_id: "run-n-1", tags: {"rack": -1, "zone": 3})))"#
    );
    assert_eq!(
        lines[3],
        r#"(i: 2, call: "Cluster::write", in: ("k", [7, 8]), out: Ok(2))"#
    );
}

#[test]
fn redacted_arguments_never_reach_the_file_and_are_not_compared() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("login.ron");
    let tape = Tape::create(&path).unwrap();
    let mut world = Recorder::new(Fake::default(), tape.clone());
    assert!(world.login("admin", "hunter2"));
    tape.finish().unwrap();
    let text = std::fs::read_to_string(&path).unwrap();
    assert!(!text.contains("hunter2"), "{text}");
    assert!(text.contains(r#"in: ("admin", "<redacted>")"#), "{text}");

    // The replay answers the recorded result whatever the password is.
    let mut replay = Replayer::open(&path).unwrap();
    assert!(replay.login("admin", "another password"));
    replay.finish().unwrap();
}

#[test]
fn recorders_sharing_a_tape_across_threads_keep_one_global_order() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("threads.ron");
    let tape = Tape::create(&path).unwrap();
    std::thread::scope(|s| {
        for t in 0..4 {
            let tape = tape.clone();
            s.spawn(move || {
                let mut world = Recorder::new(Fake::default(), tape);
                for i in 0..500 {
                    world.write(&format!("t{t}"), &[i as u8]).unwrap();
                }
            });
        }
    });
    tape.finish().unwrap();
    let trace = Trace::read(&path).unwrap();
    assert_eq!(trace.calls().len(), 2000);
    // Indices are dense and in file order (the reader checks `i` too), and
    // each thread's own calls stay in its order.
    for t in 0..4 {
        let outs: Vec<String> = trace
            .calls()
            .iter()
            .filter(|c| c.inputs[0].as_str() == Some(&format!("t{t}")))
            .map(|c| c.output.to_string())
            .collect();
        let expected: Vec<String> = (1..=500).map(|n| format!("Ok({n})")).collect();
        assert_eq!(outs, expected);
    }
}

#[test]
fn a_panicking_caller_leaves_a_readable_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("panic.ron");
    let tape = Tape::create(&path).unwrap();
    let keep = tape.clone(); // another handle stays alive: only the recorder's unwind flush can help
    let thread_tape = tape.clone();
    let result = std::thread::spawn(move || {
        let mut world = Recorder::new(Fake::default(), thread_tape);
        world.write("a", b"12").unwrap();
        world.failover("x".into(), "y".into()).unwrap();
        panic!("the code under test crashed");
    })
    .join();
    assert!(result.is_err());
    // Without finishing the tape, the two calls are already on disk.
    let trace = Trace::read(&path).unwrap();
    assert_eq!(trace.calls().len(), 2);
    assert_eq!(trace.calls()[1].name, "Cluster::failover");
    drop(keep);
    drop(tape);
}

#[test]
fn calls_after_finish_are_reported_not_silently_lost() {
    let tape = Tape::memory();
    let world = Recorder::new(Fake::default(), tape.clone());
    world.gen_node_id(None);
    tape.finish().unwrap();
    world.gen_node_id(None);
    let err = tape.finish().unwrap_err();
    assert!(
        err.to_string().contains("1 calls were recorded after finish()"),
        "{err}"
    );
    assert_eq!(tape.len(), 1);
}

#[test]
fn a_disabled_tape_records_nothing_and_costs_no_serialization() {
    let tape = Tape::disabled();
    let mut world = Recorder::new(Fake::default(), tape.clone());
    let seen = session(&mut world);
    assert_eq!(seen.len(), 15);
    assert!(tape.is_empty());
    assert_eq!(tape.contents(), "");
    tape.finish().unwrap();
}

#[test]
fn virtual_time_is_written_when_set() {
    let tape = Tape::memory();
    let world = Recorder::new(Fake::default(), tape.clone());
    tape.set_virtual_time(Some(std::time::Duration::from_millis(1500)));
    world.gen_node_id(None);
    tape.set_virtual_time(None);
    world.gen_node_id(None);
    let trace = tape.to_trace().unwrap();
    assert_eq!(trace.calls()[0].at_us, Some(1_500_000));
    assert_eq!(trace.calls()[1].at_us, None);
}

/// Memory tapes keep calls encoded and write RON when read; file tapes
/// write RON from their background thread. The same calls, with virtual
/// times that change, stay and go away, give the same lines either way.
#[test]
fn memory_and_file_tapes_write_the_same_calls() {
    let run = |tape: &Tape| {
        let mut world = Recorder::new(Fake::default(), tape.clone());
        for at in [Some(0u64), Some(0), Some(7), None, Some(7), Some(u64::MAX / 2)] {
            tape.set_virtual_time(at.map(std::time::Duration::from_micros));
            session(&mut world);
        }
    };
    let memory = Tape::memory();
    run(&memory);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("same.ron");
    let file = Tape::create(&path).unwrap();
    run(&file);
    file.finish().unwrap();
    let calls = |text: &str| text.lines().skip(1).map(str::to_owned).collect::<Vec<_>>();
    let from_memory = calls(&memory.contents());
    assert_eq!(from_memory.len(), 6 * 17);
    assert_eq!(from_memory, calls(&std::fs::read_to_string(&path).unwrap()));
    assert!(from_memory.iter().any(|l| l.starts_with("(i: 34, at_us: 7, call: ")));
    let trace = memory.to_trace().unwrap();
    // The last call of each round.
    let times: Vec<Option<u64>> = trace.calls().iter().skip(16).step_by(17).map(|c| c.at_us).collect();
    assert_eq!(times, [Some(0), Some(0), Some(7), None, Some(7), Some(u64::MAX / 2)]);
}

#[test]
fn an_unwritable_path_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("no/such/dir/x.ron");
    let err = Tape::create(&path).unwrap_err();
    let text = err.to_string();
    assert!(text.contains("no/such/dir/x.ron"), "{text}");
}

/// Run as a child process: records, flushes, records more and aborts like a
/// killed process (no destructors, no unwinding).
#[test]
fn killed_process_child() {
    let Ok(path) = std::env::var("REHEARSE_TEST_KILL_PATH") else {
        return; // only meaningful when spawned by `a_killed_process_loses_at_most_the_calls_in_flight`
    };
    let tape = Tape::create(&path).unwrap();
    let mut world = Recorder::new(Fake::default(), tape.clone());
    for i in 0..100u8 {
        world.write("k", &[i]).unwrap();
    }
    tape.flush().unwrap();
    for i in 0..100u8 {
        world.write("k", &[i]).unwrap();
    }
    std::process::abort();
}

#[test]
fn a_killed_process_loses_at_most_the_calls_in_flight() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("killed.ron");
    let status = std::process::Command::new(std::env::current_exe().unwrap())
        .args(["killed_process_child", "--exact", "--nocapture"])
        .env("REHEARSE_TEST_KILL_PATH", &path)
        .stderr(std::process::Stdio::null())
        .status()
        .unwrap();
    assert!(!status.success(), "the child aborts");
    // Everything flushed before the kill is there; a torn last record, if
    // any, is reported and the complete calls before it stay usable.
    let trace = match Trace::read(&path) {
        Ok(t) => t,
        Err(e) => {
            let n = e.truncated_after().unwrap_or_else(|| panic!("unexpected error: {e}"));
            let t = Trace::recover(&path).unwrap();
            assert!(t.is_truncated());
            assert_eq!(t.calls().len(), n);
            t
        }
    };
    assert!(trace.calls().len() >= 100, "{} calls survived", trace.calls().len());
    assert!(trace.calls().len() <= 200);
}

#[test]
fn a_recorder_switched_to_a_new_tape_splits_the_run_into_files_that_each_replay() {
    let dir = tempfile::tempdir().unwrap();
    let rotation = rehearse::Rotation::new(dir.path().join("run.ron"), 1);
    let first = Tape::create(rotation.path()).unwrap();
    let mut world = Recorder::new(Fake::default(), first.clone());
    let a = world.gen_node_id(Some("n".into()));
    let b = world.gen_node_id(Some("n".into()));

    // Between two calls: finish the file, move it aside, start the next.
    first.finish().unwrap();
    rotation.rotate().unwrap();
    let second = Tape::create(rotation.path()).unwrap();
    let old = world.replace_tape(second.clone());
    assert_eq!(old.path(), first.path());
    let c = world.gen_node_id(Some("n".into()));
    second.finish().unwrap();

    let files = rotation.files();
    assert_eq!(files, [dir.path().join("run.1.ron"), dir.path().join("run.ron")]);
    let counts: Vec<usize> = files.iter().map(|f| Trace::read(f).unwrap().calls().len()).collect();
    assert_eq!(counts, [2, 1], "each call is in exactly one file, numbered from 0");
    let older = Replayer::open(&files[0]).unwrap();
    assert_eq!(
        (older.gen_node_id(Some("n".into())), older.gen_node_id(Some("n".into()))),
        (a, b)
    );
    older.finish().unwrap();
    let newer = Replayer::open(&files[1]).unwrap();
    assert_eq!(newer.gen_node_id(Some("n".into())), c);
    newer.finish().unwrap();

    // A disabled tape stops recording.
    world.replace_tape(Tape::disabled());
    world.gen_node_id(None);
    assert_eq!(Trace::read(&files[1]).unwrap().calls().len(), 1);
}

/// A generic world: the recorder and the replayer work for every message
/// type the trait's bounds allow.
pub trait Message: serde::Serialize + serde::de::DeserializeOwned + Clone + std::fmt::Debug {}
impl<T: serde::Serialize + serde::de::DeserializeOwned + Clone + std::fmt::Debug> Message for T {}

#[rehearse::world]
pub trait Mailbox<M: Message> {
    fn send(&mut self, to: u32, msg: M);
    fn receive(&mut self) -> Option<(u32, M)>;
}

struct Loopback<M>(std::collections::VecDeque<(u32, M)>);
impl<M: Message> Mailbox<M> for Loopback<M> {
    fn send(&mut self, to: u32, msg: M) {
        self.0.push_back((to, msg));
    }
    fn receive(&mut self) -> Option<(u32, M)> {
        self.0.pop_front()
    }
}

#[test]
fn generic_world_traits_record_and_replay() {
    let tape = rehearse::Tape::memory();
    let mut world = rehearse::Recorder::new(Loopback(Default::default()), tape.clone());
    world.send(1, ("hello".to_string(), 7u8));
    assert_eq!(world.receive(), Some((1, ("hello".to_string(), 7u8))));
    let text = tape.contents();
    assert!(
        text.contains(r#"call: "Mailbox::send", in: (1, ("hello", 7))"#),
        "{text}"
    );
    let mut replay = rehearse::Replayer::from_trace(rehearse::Trace::parse(&text).unwrap());
    Mailbox::<(String, u8)>::send(&mut replay, 1, ("hello".to_string(), 7));
    assert_eq!(replay.receive(), Some((1, ("hello".to_string(), 7u8))));
    replay.finish().unwrap();
    // A different message diverges, naming the argument.
    let mut replay = rehearse::Replayer::from_trace(rehearse::Trace::parse(&text).unwrap());
    let panic = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        Mailbox::<(String, u8)>::send(&mut replay, 1, ("bye".to_string(), 7));
    }))
    .expect_err("a different message diverges");
    let text = panic.downcast_ref::<String>().cloned().unwrap_or_default();
    assert!(text.contains("msg") && text.contains("bye"), "{text}");
}
