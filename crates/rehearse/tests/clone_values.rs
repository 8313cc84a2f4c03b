//! `#[rehearse::world(clone_values)]`: the recorder keeps clones of the
//! arguments and outputs on a memory tape and encodes them when the tape is
//! read. What it writes must be, byte for byte, what the recorder of the
//! same trait without the option writes (the encoding at the call), on
//! memory and file tapes, for every shape of argument (by value, `&str`,
//! `&[T]`, `&mut Vec<T>`, `&T`, redacted), interleaved with marks, lanes
//! and calls of a world that encodes at once; a replay of it checks every
//! call; and its size limit still holds.

#![allow(missing_docs)]

use std::collections::BTreeMap;

use rehearse::{Recorder, Replayer, Tape, Trace};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Shape {
    Point { x: i64, y: i64 },
    Named(String),
    Empty,
    Tagged(u8, Option<Vec<u16>>),
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Answer {
    pub shapes: Vec<Shape>,
    pub by_name: BTreeMap<String, u32>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub note: Option<String>,
}

macro_rules! world {
    ($name:ident, $($attr:tt)*) => {
        #[$($attr)*]
        pub trait $name {
            fn plain(&mut self, n: u64, flag: bool) -> u64;
            fn text(&mut self, name: &str, #[rehearse(redact)] secret: &str) -> Result<String, String>;
            fn slice(&mut self, shapes: &[Shape]) -> Answer;
            fn drain(&mut self, shapes: &mut Vec<Shape>, first: &Shape) -> Option<Shape>;
            fn none(&self);
        }
    };
}

world!(Encoding, rehearse::world);
world!(Keeping, rehearse::world(clone_values));

#[derive(Default)]
struct Real {
    calls: u64,
}

impl Real {
    fn answer(&mut self, shapes: &[Shape]) -> Answer {
        self.calls += 1;
        Answer {
            shapes: shapes.to_vec(),
            by_name: shapes
                .iter()
                .filter_map(|s| match s {
                    Shape::Named(n) => Some((n.clone(), self.calls as u32)),
                    _ => None,
                })
                .collect(),
            note: (self.calls % 2 == 0).then(|| format!("call {}", self.calls)),
        }
    }
}

macro_rules! real {
    ($name:ident) => {
        impl $name for Real {
            fn plain(&mut self, n: u64, flag: bool) -> u64 {
                self.calls += 1;
                if flag { n * 2 } else { n + self.calls }
            }
            fn text(&mut self, name: &str, secret: &str) -> Result<String, String> {
                self.calls += 1;
                if secret.is_empty() {
                    Err(format!("no secret for {name}"))
                } else {
                    Ok(name.to_uppercase())
                }
            }
            fn slice(&mut self, shapes: &[Shape]) -> Answer {
                self.answer(shapes)
            }
            fn drain(&mut self, shapes: &mut Vec<Shape>, first: &Shape) -> Option<Shape> {
                self.calls += 1;
                let last = shapes.pop();
                shapes.clear();
                last.or_else(|| Some(first.clone()))
            }
            fn none(&self) {}
        }
    };
}

real!(Encoding);
real!(Keeping);

fn shapes(i: u64) -> Vec<Shape> {
    let mut v = vec![Shape::Point {
        x: i as i64 - 3,
        y: -(i as i64),
    }];
    if i % 3 == 0 {
        v.push(Shape::Named(format!("n\"{i}\"")));
    }
    if i % 4 == 1 {
        v.push(Shape::Tagged(i as u8, (i % 8 == 1).then(|| vec![1, 2, i as u16])));
    }
    if i % 5 == 2 {
        v.push(Shape::Empty);
    }
    v
}

/// The same calls on both worlds, with marks, lanes and a call of another
/// world between them.
macro_rules! drive {
    ($fn_name:ident, $trait:ident) => {
        fn $fn_name<W: $trait>(world: &mut W, tape: &Tape, other: &mut Recorder<Real>) {
            for i in 0..200u64 {
                // 163 lanes: from the 128th on, a lane number takes two bytes.
                let lane = if i < 40 {
                    ["a", "b", "c"][(i % 3) as usize].to_string()
                } else {
                    format!("lane {i}")
                };
                tape.set_node(Some(&lane));
                tape.set_virtual_time(Some(std::time::Duration::from_micros(i / 2 * 10)));
                world.plain(i, i % 2 == 0);
                let _ = world.text(&format!("name {i}"), if i % 7 == 0 { "" } else { "hunter2" });
                if i % 11 == 0 {
                    tape.mark_fault("test::fault", Some(&format!("at {i}")));
                    Encoding::plain(other, i, false);
                }
                world.slice(&shapes(i));
                let mut v = shapes(i + 1);
                world.drain(&mut v, &Shape::Empty);
                assert!(v.is_empty());
                if i % 17 == 0 {
                    // Empty lists (kept without the tape's vector).
                    world.slice(&[]);
                    world.drain(&mut v, &Shape::Named(format!("{i}")));
                }
                if i % 13 == 0 {
                    tape.set_node(None);
                    tape.note("a note");
                    world.none();
                }
            }
        }
    };
}

drive!(drive_encoding, Encoding);
drive!(drive_keeping, Keeping);

/// The text with the keeping trait's calls named as the encoding one's
/// (the two traits differ only by name), compared line by line.
fn assert_same(kept: &str, encoded: &str) {
    let kept = kept.replace("\"Keeping::", "\"Encoding::");
    let (kept, encoded): (Vec<_>, Vec<_>) = (kept.lines().collect(), encoded.lines().collect());
    for (k, e) in kept.iter().zip(&encoded) {
        assert_eq!(k, e);
    }
    assert_eq!(kept.len(), encoded.len());
}

fn encoded(tape: Tape) -> Tape {
    let mut world = Recorder::new(Real::default(), tape.clone());
    let mut other = Recorder::new(Real::default(), tape.clone());
    drive_encoding(&mut world, &tape, &mut other);
    tape
}

fn kept(tape: Tape) -> Tape {
    let mut world = Recorder::new(Real::default(), tape.clone());
    let mut other = Recorder::new(Real::default(), tape.clone());
    drive_keeping(&mut world, &tape, &mut other);
    tape
}

#[test]
fn a_memory_tape_of_kept_values_reads_byte_for_byte_as_one_encoded_at_the_call() {
    let expected = encoded(Tape::options().seed(7).memory()).contents();
    let tape = kept(Tape::options().seed(7).memory());
    assert_eq!(tape.len(), 200 * 4 + 16 + 19 + 2 * 12);
    let got = tape.contents();
    assert_same(&got, &expected);
    // Read twice (the values were encoded by the first read), and after
    // more calls.
    assert_same(&tape.contents(), &expected);
    let mut world = Recorder::new(Real::default(), tape.clone());
    Keeping::slice(&mut world, &shapes(1));
    let mut world = Recorder::new(Real::default(), encoded(Tape::options().seed(7).memory()));
    Encoding::slice(&mut world, &shapes(1));
    assert_same(&tape.contents(), &world.tape().contents());
    assert!(!got.contains("hunter2"), "redacted arguments are not written");
}

#[test]
fn a_file_tape_of_a_keeping_world_writes_what_an_encoding_one_writes() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = (dir.path().join("encoded.ron"), dir.path().join("kept.ron"));
    let options = || Tape::options().meta("created", "fixed");
    encoded(options().create(&a).unwrap()).finish().unwrap();
    kept(options().create(&b).unwrap()).finish().unwrap();
    let (a, b) = (std::fs::read_to_string(a).unwrap(), std::fs::read_to_string(b).unwrap());
    // The headers hold the creation time; the calls must be equal.
    let body = |s: &str| s.split_once('\n').unwrap().1.to_string();
    assert_same(&body(&b), &body(&a));
}

#[test]
fn a_recording_of_kept_values_replays_every_call() {
    let tape = Tape::memory();
    let mut world = Recorder::new(Real::default(), tape.clone());
    let mut answers = Vec::new();
    for i in 0..50 {
        answers.push(Keeping::slice(&mut world, &shapes(i)));
        let mut v = shapes(i);
        assert_eq!(Keeping::drain(&mut world, &mut v, &Shape::Empty), shapes(i).pop());
    }
    let mut replay = Replayer::from_trace(Trace::parse(&tape.contents()).unwrap());
    for (i, answer) in (0..50).zip(answers) {
        assert_eq!(Keeping::slice(&mut replay, &shapes(i)), answer);
        let mut v = shapes(i);
        assert_eq!(Keeping::drain(&mut replay, &mut v, &Shape::Empty), shapes(i).pop());
    }
    replay.finish().unwrap();
}

#[test]
fn a_tape_of_kept_values_stops_at_its_limit() {
    let tape = Tape::options().limit_bytes(4096).memory();
    let mut world = Recorder::new(Real::default(), tape.clone());
    for i in 0..10_000 {
        Keeping::slice(&mut world, &shapes(i));
    }
    let reached = tape.limit_reached().expect("the limit is reached");
    assert!(reached.calls_kept > 10 && reached.calls_kept < 1000, "{reached:?}");
    assert_eq!(reached.calls_kept + reached.records_dropped, 10_000);
    let trace = Trace::parse(&tape.contents()).unwrap();
    assert_eq!(trace.calls().len(), reached.calls_kept);
    // What is kept is the first calls, as encoded at the call.
    let expected = Tape::memory();
    let mut world = Recorder::new(Real::default(), expected.clone());
    for i in 0..reached.calls_kept as u64 {
        Encoding::slice(&mut world, &shapes(i));
    }
    assert_same(&tape.contents(), &expected.contents());
}
