//! The size limit of tapes: a memory or file tape keeps its first records
//! up to the limit and counts the rest; a sweep run that reaches it fails
//! with kind `limit`, saved with the calls before the limit, and one that
//! fails its own way keeps its failure.

#![allow(missing_docs)]

use rehearse::{Failure, Recorder, Sweep, Tape, Trace};

#[rehearse::world]
pub trait Counter {
    fn next(&mut self, step: u64) -> u64;
}

struct Count(u64);

impl Counter for Count {
    fn next(&mut self, step: u64) -> u64 {
        self.0 += step;
        self.0
    }
}

fn record(tape: &Tape, calls: u64) {
    let mut world = Recorder::new(Count(0), tape.clone());
    for i in 0..calls {
        world.next(i);
    }
}

#[test]
fn a_memory_tape_keeps_the_calls_before_its_limit_and_counts_the_rest() {
    let tape = Tape::options().limit_bytes(1000).memory();
    record(&tape, 10_000);
    tape.note("after the limit");
    let reached = tape.limit_reached().expect("the limit is reached");
    assert_eq!(reached.limit_bytes, 1000);
    assert!(reached.calls_kept > 10 && reached.calls_kept < 1000, "{reached:?}");
    assert_eq!(reached.calls_kept + reached.records_dropped, 10_001);
    let trace = Trace::parse(&tape.contents()).unwrap();
    assert_eq!(trace.calls().len(), reached.calls_kept);
    assert!(trace.marks().is_empty(), "the note came after the limit");
    let e = tape.flush().unwrap_err().to_string();
    assert!(
        e.contains("limit of 1000 bytes") && e.contains("TapeOptions::limit_bytes"),
        "{e}"
    );

    let unlimited = Tape::memory();
    record(&unlimited, 10_000);
    assert_eq!(unlimited.limit_reached(), None);
    assert_eq!(unlimited.len(), 10_000);
}

#[test]
fn a_file_tape_writes_the_calls_before_its_limit_and_finish_says_so() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("limited.ron");
    let tape = Tape::options().limit_bytes(2048).create(&path).unwrap();
    record(&tape, 10_000);
    let e = tape.finish().unwrap_err().to_string();
    assert!(e.contains("limit of 2 KiB"), "{e}");
    let kept = tape.limit_reached().unwrap().calls_kept;
    assert!(kept > 10 && kept < 10_000);
    assert_eq!(Trace::read(&path).unwrap().calls().len(), kept);
}

/// `calls` recorded calls on the run's tape, then `fails` or not.
fn run(sim: &mut rehearse::Sim, calls: u64, fails: bool) -> Result<(), Failure> {
    record(&sim.tape(), calls);
    if fails {
        return Err(Failure::with_kind("own", "the run's own failure"));
    }
    Ok(())
}

#[test]
fn a_sweep_run_past_the_limit_fails_with_kind_limit_and_is_saved_up_to_it() {
    let out = tempfile::tempdir().unwrap();
    let report = Sweep::new("limit")
        .seeds(0..4)
        .out_dir(out.path())
        .tape_limit_bytes(Some(4096))
        .shrink(false)
        .quiet()
        // Seeds 0 and 1 stay under the limit; 1 and 3 fail their own way.
        .run(|sim| {
            let seed = sim.seed();
            run(sim, if seed < 2 { 10 } else { 5_000 }, seed % 2 == 1)
        });
    let kinds: Vec<(u64, &str)> = report.failures.iter().map(|f| (f.seed, f.kind.as_str())).collect();
    assert_eq!(kinds, [(1, "own"), (2, "limit"), (3, "own")]);
    let limit = &report.failures[1];
    assert!(
        limit.message.contains("limit of 4 KiB")
            && limit.message.contains("Sweep::tape_limit_bytes")
            && limit.message.contains("REHEARSE_TAPE_LIMIT"),
        "{}",
        limit.message
    );
    assert!(limit.nondeterminism.is_none(), "{:?}", limit.nondeterminism);
    let saved = Trace::read(&limit.trace).unwrap();
    assert_eq!(saved.header().failure.as_ref().unwrap().kind, "limit");
    assert!(saved.calls().len() > 10 && saved.calls().len() < 5_000);
    assert!(
        report.failures[2]
            .message
            .contains("the run's own failure (and the run's tape: the tape reached its limit")
    );
    assert_eq!(report.failures[0].message, "the run's own failure");

    // No limit: every run keeps all its calls.
    let report = Sweep::new("no-limit")
        .seeds(2..3)
        .out_dir(out.path())
        .tape_limit_bytes(None)
        .quiet()
        .run(|sim| run(sim, 5_000, false));
    assert!(report.failures.is_empty(), "{report}");
}
