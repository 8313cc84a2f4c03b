//! `Scenario::open_with`: what each mode does with existing and missing
//! scenarios, like VCR's record modes and insta's pending snapshots.

#![allow(missing_docs)]

use rehearse::{Mode, ModeError, Recorder, Scenario};

#[rehearse::world]
pub trait Dice {
    fn roll(&self) -> u8;
}

struct Four;
impl Dice for Four {
    fn roll(&self) -> u8 {
        4
    }
}

fn record(path: &std::path::Path) {
    match Scenario::open_with(path, Mode::Auto, false).unwrap() {
        Scenario::Record(rec) => {
            assert!(!rec.pending);
            let w = Recorder::new(Four, rec.tape.clone());
            w.roll();
            rec.tape.finish().unwrap();
        }
        Scenario::Replay(_) => panic!("nothing to replay yet"),
    }
}

#[test]
fn auto_records_a_missing_scenario_then_replays_it() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("nested/dice.ron");
    record(&path);
    assert!(path.exists());
    match Scenario::open_with(&path, Mode::Auto, false).unwrap() {
        Scenario::Replay(r) => {
            assert_eq!(r.roll(), 4);
            r.finish().unwrap();
        }
        Scenario::Record(_) => panic!("an existing scenario replays"),
    }
}

#[test]
fn auto_under_ci_never_records() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("dice.ron");
    let err = Scenario::open_with(&path, Mode::Auto, true).unwrap_err();
    assert!(matches!(err, ModeError::Missing { ci: true, .. }));
    let text = err.to_string();
    assert!(text.contains("dice.ron does not exist (CI never records)"), "{text}");
    assert!(text.contains("REHEARSE=record"), "{text}");
    assert!(!path.exists());
}

#[test]
fn replay_requires_the_scenario() {
    let dir = tempfile::tempdir().unwrap();
    let err = Scenario::open_with(dir.path().join("x.ron"), Mode::Replay, false).unwrap_err();
    assert!(err.to_string().contains("x.ron does not exist; record it"), "{err}");
}

#[test]
fn record_over_an_existing_scenario_writes_a_pending_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("dice.ron");
    record(&path);
    let before = std::fs::read_to_string(&path).unwrap();
    match Scenario::open_with(&path, Mode::Record, true).unwrap() {
        Scenario::Record(rec) => {
            assert!(rec.pending);
            assert_eq!(rec.path, dir.path().join("dice.ron.new"));
            Recorder::new(Four, rec.tape.clone()).roll();
            rec.tape.finish().unwrap();
        }
        Scenario::Replay(_) => panic!("record mode records"),
    }
    assert_eq!(
        std::fs::read_to_string(&path).unwrap(),
        before,
        "the reviewed scenario is untouched"
    );
    assert!(dir.path().join("dice.ron.new").exists());
}

#[test]
fn a_corrupt_existing_scenario_is_an_error_not_a_rerecord() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("dice.ron");
    std::fs::write(&path, "garbage").unwrap();
    let err = Scenario::open_with(&path, Mode::Auto, false).unwrap_err();
    assert!(matches!(err, ModeError::Trace(_)), "{err}");
}

#[test]
fn modes_parse() {
    assert_eq!(Mode::parse("record").unwrap(), Mode::Record);
    assert_eq!(Mode::parse(" Replay ").unwrap(), Mode::Replay);
    assert_eq!(Mode::parse("").unwrap(), Mode::Auto);
    let err = Mode::parse("yes").unwrap_err();
    assert_eq!(
        err.to_string(),
        "REHEARSE=\"yes\" is not a mode: use record, replay or auto"
    );
}
