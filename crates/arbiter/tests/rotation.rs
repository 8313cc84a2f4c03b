//! A rotated recording replays file by file with the decisions of the
//! unrotated run: every committed scenario (the recorded real runs
//! `scenarios/live_*.ron` and the hand-written ones) is driven through
//! `arbiter::recording::Recording` as `arbiter run` drives a live world,
//! with a small `max_bytes`; each file it leaves replays on its own (the
//! later ones from their snapshot), and the files' outputs, one after the
//! other, are the outputs of the scenario replayed whole, down to the
//! machine's final state and knowledge. No server needed.

use std::path::{Path, PathBuf};

use arbiter::machine::Snapshot;
use arbiter::recording::{Recording, SNAPSHOT_CALL};
use arbiter::{Driver, Machine, Output};
use rehearse::{Recorder, Replayer, Rotation, Tape, Trace};

const MAX_STEPS: u64 = 1_000_000;

fn scenarios() -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scenarios");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "ron"))
        .collect();
    files.sort();
    assert!(files.len() >= 20, "{} scenarios in {}", files.len(), dir.display());
    files
}

/// A replay of `trace` from its start (or its snapshot): the outputs and
/// the machine at the end.
fn replay(trace: Trace) -> (Vec<Output>, Machine, bool) {
    let replayer = Replayer::from_trace(trace);
    let mut driver = Driver::for_recording(replayer.clone()).unwrap();
    driver.run_to_end_of_recording(MAX_STEPS).unwrap();
    replayer.finish().unwrap();
    (driver.outputs().to_vec(), driver.machine().clone(), driver.resumed())
}

/// What a rotating recording of `scenario` left: the rotation's files,
/// oldest first, and the machine at each rotation.
struct Rotated {
    files: Vec<PathBuf>,
    snapshots: Vec<Snapshot>,
    outputs: Vec<Output>,
}

/// Drives `scenario` as `arbiter run` drives its live world (through a
/// recorder on the recording's tape, `after_step` between two steps),
/// into `dir/run.ron`.
fn record_rotating(scenario: &Path, dir: &Path, max_bytes: u64, keep: usize) -> Rotated {
    let source = Replayer::open(scenario).unwrap();
    let header = Tape::options()
        .world("arbiter")
        .meta("scenario", scenario.display().to_string());
    let mut recording = Recording::start(dir.join("run.ron"), max_bytes, keep, header).unwrap();
    let mut driver = Driver::new(Recorder::new(source.clone(), recording.tape().clone()));
    let mut snapshots = Vec::new();
    let mut outputs = Vec::new();
    while source.position() < source.len() {
        let stop = driver.step_once().unwrap();
        outputs.extend(driver.outputs().iter().cloned());
        driver.clear_outputs();
        if stop.is_some() {
            break;
        }
        if let Some(rotated) = recording.after_step(&mut driver).unwrap() {
            assert_eq!(rotated.part as usize, snapshots.len() + 2);
            snapshots.push(driver.machine().snapshot());
        }
    }
    source.finish().unwrap();
    let calls = recording.finish().unwrap();
    assert_eq!(
        calls,
        source.len() + snapshots.len(),
        "every call recorded once, and one snapshot per rotation"
    );
    Rotated {
        files: Rotation::new(dir.join("run.ron"), keep).files(),
        snapshots,
        outputs,
    }
}

#[test]
fn every_scenario_rotated_replays_file_by_file_with_the_decisions_of_the_whole() {
    let mut rotations = 0;
    for scenario in scenarios() {
        let (whole, whole_end, _) = replay(Trace::read(&scenario).unwrap());
        let dir = tempfile::tempdir().unwrap();
        let rotated = record_rotating(&scenario, dir.path(), 3000, 1000);
        assert_eq!(
            rotated.outputs,
            whole,
            "{}: recording changes nothing",
            scenario.display()
        );
        assert_eq!(
            rotated.files.len(),
            rotated.snapshots.len() + 1,
            "{}",
            scenario.display()
        );
        rotations += rotated.snapshots.len();

        let mut outputs = Vec::new();
        let mut end = None;
        for (i, file) in rotated.files.iter().enumerate() {
            let trace = Trace::read(file).unwrap();
            assert_eq!(
                trace.header().meta.get("part").map(String::as_str),
                Some((i + 1).to_string().as_str())
            );
            let resumes = trace.calls().first().is_some_and(|c| c.name == SNAPSHOT_CALL);
            assert_eq!(
                resumes,
                i > 0,
                "{}: only later files start with a snapshot",
                file.display()
            );
            if i > 0 {
                // The snapshot in the file is the machine at the cut, and
                // the file goes on with the tick it was waiting for.
                let recorded = Replayer::from_trace(trace.clone())
                    .try_replay::<Snapshot>(SNAPSHOT_CALL, &[])
                    .unwrap();
                assert_eq!(recorded, rotated.snapshots[i - 1], "{}", file.display());
                assert!(matches!(recorded.pending, Some(Output::Wait { .. })));
                // (A cut after the scenario's last call leaves a file
                // holding only the snapshot.)
                if let Some(next) = trace.calls().get(1) {
                    assert_eq!(next.name, "Host::sleep_until");
                }
            }
            let (part, machine, resumed) = replay(trace);
            assert_eq!(resumed, i > 0);
            outputs.extend(part);
            end = Some(machine);
        }
        assert_eq!(outputs, whole, "{}: the files' outputs, in order", scenario.display());
        let end = end.unwrap();
        assert_eq!(end.state(), whole_end.state(), "{}", scenario.display());
        assert_eq!(end.context(), whole_end.context(), "{}", scenario.display());
    }
    assert!(
        rotations >= 100,
        "only {rotations} rotations: max_bytes too large to test much"
    );
}

#[test]
fn with_keep_the_files_left_replay_the_tail_of_the_run() {
    let scenario = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scenarios/live_rejoin.ron");
    let (whole, _, _) = replay(Trace::read(&scenario).unwrap());
    let dir = tempfile::tempdir().unwrap();
    let rotated = record_rotating(&scenario, dir.path(), 2000, 2);
    assert!(rotated.snapshots.len() > 4, "{} rotations", rotated.snapshots.len());
    assert_eq!(rotated.files.len(), 3, "the current file and 2 older ones");
    assert_eq!(rotated.files[0], dir.path().join("run.2.ron"));
    let mut tail = Vec::new();
    for file in &rotated.files {
        let (part, _, resumed) = replay(Trace::read(file).unwrap());
        assert!(
            resumed,
            "{}: the first file is gone, every one left resumes",
            file.display()
        );
        tail.extend(part);
    }
    assert!(tail.len() < whole.len());
    assert_eq!(tail[..], whole[whole.len() - tail.len()..]);
    assert!(
        tail.iter().any(Output::is_decision),
        "the tail holds decisions, not only waits"
    );
}

#[test]
fn a_file_an_earlier_run_left_is_moved_aside_at_start() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("run.ron");
    std::fs::write(&path, "(rehearse: 1)\n").unwrap();
    std::fs::write(dir.path().join("run.1.ron"), "(rehearse: 1)\n").unwrap();
    let recording = Recording::start(path.clone(), 1 << 20, 1, Tape::options()).unwrap();
    assert_eq!(recording.earlier_file(), Some(dir.path().join("run.1.ron").as_path()));
    recording.finish().unwrap();
    // keep = 1: the earlier run's file is run.1.ron, the one before it gone.
    assert_eq!(
        std::fs::read_to_string(dir.path().join("run.1.ron")).unwrap(),
        "(rehearse: 1)\n"
    );
    assert!(!dir.path().join("run.2.ron").exists());
    let fresh = Trace::read(&path).unwrap();
    assert_eq!(fresh.header().meta.get("part").map(String::as_str), Some("1"));
    // An empty file (a crash before the header) is reused, not kept.
    std::fs::write(&path, "").unwrap();
    let recording = Recording::start(path.clone(), 1 << 20, 1, Tape::options()).unwrap();
    assert_eq!(recording.earlier_file(), None);
    recording.finish().unwrap();
}

#[test]
fn a_snapshot_that_does_not_decode_is_an_error_naming_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bad.ron");
    std::fs::write(
        &path,
        "(rehearse: 1)\n(i: 0, call: \"Resume::snapshot\", in: (), out: (state: Nowhere))\n",
    )
    .unwrap();
    let replayer = Replayer::open(&path).unwrap();
    let Err(e) = Driver::for_recording(replayer) else {
        panic!("a bad snapshot was accepted");
    };
    let e = e.to_string();
    assert!(e.contains("bad.ron"), "{e}");
    assert!(e.contains("does not decode"), "{e}");
}
