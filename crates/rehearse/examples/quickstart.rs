//! A tiny sans-IO machine, its world recorded, replayed, and then replayed
//! by a changed machine to show a divergence report.
//!
//! Run: `cargo run -p rehearse --example quickstart`

use std::panic::{self, AssertUnwindSafe};

use serde::{Deserialize, Serialize};

/// Everything non-deterministic the watchdog needs.
#[rehearse::world]
pub trait Network {
    /// Milliseconds on the world's clock.
    fn now_ms(&self) -> u64;
    /// Round-trip time to `host`, or why it failed.
    fn ping(&mut self, host: &str) -> Result<u32, NetError>;
    /// Makes `host` the primary.
    fn promote(&mut self, host: &str) -> Result<(), NetError>;
}

/// An error the world reports; a value, so it is recorded like any output.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum NetError {
    /// No answer in time.
    Timeout,
    /// Refused.
    Refused(String),
}

/// The machine: pings the primary, fails over after `threshold` failures.
#[derive(Debug)]
struct Watchdog {
    threshold: u32,
    failures: u32,
    now_ms: u64,
    primary: &'static str,
    standby: &'static str,
    state: State,
}

#[derive(Debug, Clone, PartialEq)]
enum State {
    Watching,
    FailingOver,
    Done { at_ms: u64 },
    Failure(String),
}

/// What the machine is told.
#[derive(Debug)]
enum Input {
    Tick { now_ms: u64 },
    PingAnswered(Result<u32, NetError>),
    Promoted(Result<(), NetError>),
}

/// What the machine wants done.
#[derive(Debug)]
enum Output {
    Ping(&'static str),
    Promote(&'static str),
}

impl Watchdog {
    fn step(&mut self, input: Input) -> Option<Output> {
        let (state, output) = match (&self.state, input) {
            (State::Watching, Input::Tick { now_ms }) => {
                self.now_ms = now_ms;
                (State::Watching, Some(Output::Ping(self.primary)))
            }
            (State::Watching, Input::PingAnswered(Ok(_))) => {
                self.failures = 0;
                (State::Watching, None)
            }
            (State::Watching, Input::PingAnswered(Err(_))) => {
                self.failures += 1;
                if self.failures >= self.threshold {
                    (State::FailingOver, Some(Output::Promote(self.standby)))
                } else {
                    (State::Watching, None)
                }
            }
            (State::FailingOver, Input::Promoted(Ok(()))) => (State::Done { at_ms: self.now_ms }, None),
            (state, input) => (State::Failure(format!("{input:?} in {state:?}")), None),
        };
        self.state = state;
        output
    }
}

/// The driver loop: the same for a real world, a replay and a simulation.
fn drive(world: &mut impl Network, threshold: u32) -> State {
    let mut machine = Watchdog {
        threshold,
        failures: 0,
        now_ms: 0,
        primary: "db-1",
        standby: "db-2",
        state: State::Watching,
    };
    for _ in 0..8 {
        let mut output = machine.step(Input::Tick { now_ms: world.now_ms() });
        while let Some(out) = output {
            let input = match out {
                Output::Ping(host) => Input::PingAnswered(world.ping(host)),
                Output::Promote(host) => Input::Promoted(world.promote(host)),
            };
            output = machine.step(input);
        }
        if matches!(machine.state, State::Done { .. } | State::Failure(_)) {
            break;
        }
    }
    machine.state
}

/// Stands in for the real network: db-1 answers twice, then goes silent.
struct FlakyNetwork {
    clock_ms: std::cell::Cell<u64>,
    pings: u32,
}

impl Network for FlakyNetwork {
    fn now_ms(&self) -> u64 {
        self.clock_ms.set(self.clock_ms.get() + 1000);
        self.clock_ms.get()
    }
    fn ping(&mut self, _host: &str) -> Result<u32, NetError> {
        self.pings += 1;
        if self.pings <= 2 { Ok(3) } else { Err(NetError::Timeout) }
    }
    fn promote(&mut self, _host: &str) -> Result<(), NetError> {
        Ok(())
    }
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let dir = tempfile_dir()?;
    let path = dir.join("quickstart.ron");

    // 1. Record a run against the "real" world.
    let tape = rehearse::Tape::create(&path)?;
    let mut world = rehearse::Recorder::new(
        FlakyNetwork {
            clock_ms: std::cell::Cell::new(0),
            pings: 0,
        },
        tape.clone(),
    );
    let recorded = drive(&mut world, 3);
    tape.finish()?;
    println!("1. recorded run ended in {recorded:?}; scenario {}:\n", path.display());
    print!("{}", std::fs::read_to_string(&path)?);

    // 2. Replay it: same calls, same answers, no network.
    let mut replay = rehearse::Replayer::open(&path)?;
    let replayed = drive(&mut replay, 3);
    replay.finish()?;
    println!(
        "\n2. replayed run ended in {replayed:?} after {} calls",
        replay.position()
    );
    assert_eq!(recorded, replayed);

    // 3. A changed machine (fails over after 2 failures instead of 3)
    //    replayed against the same scenario diverges.
    let mut replay = rehearse::Replayer::open(&path)?;
    panic::set_hook(Box::new(|_| {}));
    let result = panic::catch_unwind(AssertUnwindSafe(|| drive(&mut replay, 2)));
    let _ = panic::take_hook();
    let message = result.expect_err("the changed machine must diverge");
    let report = message.downcast_ref::<String>().cloned().unwrap_or_default();
    println!("\n3. the changed machine diverges:\n{report}");
    Ok(())
}

fn tempfile_dir() -> std::io::Result<std::path::PathBuf> {
    let dir = std::env::temp_dir().join(format!("rehearse-quickstart-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    Ok(dir)
}
