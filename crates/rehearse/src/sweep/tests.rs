//! Unit tests of the sweep's knob parsing, trace comparison, shortlex order
//! and the choice of failures to shrink.

use super::determinism::first_difference;
use super::knobs::{parse_bytes, parse_seed_range, parse_shard, parse_stop_after, parse_switch};
use super::shrink::{shrink_order, simpler};

#[test]
fn seed_ranges_and_shards_parse() {
    assert_eq!(parse_seed_range("500").unwrap(), 0..500);
    assert_eq!(parse_seed_range("10..20").unwrap(), 10..20);
    assert!(parse_seed_range("ten").is_err());
    // A range that holds no seed would run nothing and pass.
    for empty in ["10..5", "7..7", "0"] {
        let err = parse_seed_range(empty).unwrap_err();
        assert!(err.contains("no seed") || err.contains("0 seeds"), "{empty}: {err}");
    }
    assert_eq!(parse_shard("2/4").unwrap(), (1, 4));
    assert!(parse_shard("0/4").is_err());
    assert!(parse_shard("5/4").is_err());
}

#[test]
fn first_difference_names_the_call() {
    let a = "(header)\n(i: 0, x)\n(i: 1, y)\n";
    let b = "(header)\n(i: 0, x)\n(i: 1, z)\n";
    let d = first_difference(a, b).unwrap();
    assert!(d.starts_with("call 1 differs"), "{d}");
    assert!(first_difference(a, a).is_none());
}

#[test]
fn first_difference_compares_calls_before_headers() {
    // A failing run's header carries its failure: the headers differ on
    // line 1, but the place to look is the first call that differs.
    let a = "(seed: 1, failure: (kind: \"x\"))\n(i: 0, x)\n(i: 1, y)\n";
    let b = "(seed: 1)\n(i: 0, x)\n(i: 1, z)\n";
    let d = first_difference(a, b).unwrap();
    assert!(d.starts_with("call 1 differs"), "{d}");
    assert!(d.contains("(i: 1, y)") && d.contains("(i: 1, z)"), "{d}");
    // Every call the same: the header is what differs.
    let b = "(seed: 1)\n(i: 0, x)\n(i: 1, y)\n";
    let d = first_difference(a, b).unwrap();
    assert!(
        d.starts_with("every call is the same (2 calls), the header differs"),
        "{d}"
    );
    // Calls of a named tape are numbered from its own start.
    let a = "(h)\n(i: 0, x)\n--- tape log\n(h2)\n(i: 0, p)\n(i: 1, q)\n";
    let b = "(h)\n(i: 0, x)\n--- tape log\n(h2)\n(i: 0, p)\n(i: 1, r)\n";
    let d = first_difference(a, b).unwrap();
    assert!(d.starts_with("call 1 of tape log differs"), "{d}");
    // Marks between calls do not shift the numbering.
    let a = "(h)\n(i: 0, x)\n(fault: \"net::drop\")\n(i: 1, y)\n";
    let b = "(h)\n(i: 0, x)\n(fault: \"net::drop\")\n(i: 1, z)\n";
    assert!(first_difference(a, b).unwrap().starts_with("call 1 differs"));
    let b = "(h)\n(i: 0, x)\n(fault: \"net::crash\")\n(i: 1, y)\n";
    assert!(
        first_difference(a, b)
            .unwrap()
            .starts_with("a mark after call 0 differs")
    );
}

#[test]
fn shortlex() {
    assert!(simpler(&[5], &[1, 1]));
    assert!(simpler(&[1, 2], &[1, 3]));
    assert!(!simpler(&[1, 3], &[1, 3]));
}

#[test]
fn a_version_1_summary_without_shrink_numbers_still_reads() {
    let text = r#"{"format": "rehearse sweep report", "version": 1, "name": "s", "seeds": [0, 10],
        "shard_count": 1, "shards": [1], "runs": 10, "failed_runs": 1, "calls": 50,
        "budget_exhausted": false, "elapsed_s": 0.5,
        "failed": [{"seed": 3, "kind": "k"}],
        "saved": [{"seed": 3, "kind": "k", "message": "k: m", "scenario": "seed-3.ron",
                   "shrunk": "seed-3.shrunk.ron", "shrunk_message": "k: m", "choices": 9,
                   "shrunk_choices": 2, "repro": "REHEARSE_SEED=3 x", "nondeterminism": null}],
        "faults": {}, "counters": {}}"#;
    let s = super::SweepSummary::parse(text).unwrap();
    let saved = &s.saved[0];
    assert_eq!((saved.calls, saved.shrunk_calls, saved.shrink_attempts), (0, None, 0));
    assert_eq!(saved.shrink_stopped, None);
    assert_eq!((s.saving_s, s.shrinking_s), (0.0, 0.0));
    assert_eq!((s.stopped_after, s.stopped_shards.len()), (None, 0));
    assert!(s.to_string().contains("shrunk:   seed-3.shrunk.ron\n"), "{s}");
}

#[test]
fn shrink_stops_read_for_people() {
    use super::ShrinkStop;
    assert_eq!(ShrinkStop::Exhausted.to_string(), "nothing left to try");
    assert_eq!(
        ShrinkStop::Attempts { limit: 200_000 }.to_string(),
        "attempt bound 200,000"
    );
    assert_eq!(ShrinkStop::Time { limit_s: 30.0 }.to_string(), "time limit 30 s");
    assert_eq!(super::shrink::thousands(1200), "1,200");
    assert_eq!(super::shrink::thousands(999), "999");
}

#[test]
fn stop_after_counts_parse() {
    assert_eq!(parse_stop_after(" 3 ").unwrap(), 3);
    assert!(parse_stop_after("0").unwrap_err().contains("use 1 or more"));
    assert!(
        parse_stop_after("three")
            .unwrap_err()
            .contains("`three` is not a count")
    );
    assert!(parse_stop_after("-1").is_err());
}

#[test]
fn sizes_parse() {
    assert_eq!(parse_bytes("4096").unwrap(), Some(4096));
    assert_eq!(parse_bytes("64M").unwrap(), Some(64 << 20));
    assert_eq!(parse_bytes(" 2g ").unwrap(), Some(2 << 30));
    assert_eq!(parse_bytes("off").unwrap(), None);
    assert!(parse_bytes("64MB").is_err());
    assert!(parse_bytes("M").is_err());
    assert!(parse_bytes("99999999999G").is_err());
}

#[test]
fn require_sometimes_knob_is_on_or_off_and_a_typo_is_an_error() {
    for on in ["1", "true", "YES", " on "] {
        assert_eq!(parse_switch(on), Ok(true), "{on}");
    }
    for off in ["0", "false", "no", "off", ""] {
        assert_eq!(parse_switch(off), Ok(false), "{off}");
    }
    assert!(
        parse_switch("sometimes")
            .unwrap_err()
            .contains("`sometimes` is not on or off")
    );
}

/// A shrinking candidate stops at its next draw once its tape holds more
/// calls than its limit, and fails with the call limit's kind: one that
/// would never end ends.
#[test]
fn a_candidate_stops_past_its_call_limit() {
    use super::pool::{CALL_LIMIT_KIND, install_panic_hook, run_candidate, run_once};
    use crate::sim::FaultConfig;
    use crate::{Failure, Sim};

    install_panic_hook();
    let step = |sim: &Sim| {
        crate::__private::record(&sim.tape(), "step", &mut crate::__private::ArgWriter::new(), &());
        sim.below(10)
    };
    // Fails at its 50th call; with a limit of 20, it is cut at the 21st.
    let fails_late = |sim: &mut Sim| -> Result<(), Failure> {
        for _ in 0..49 {
            step(sim);
        }
        step(sim);
        Err(Failure::with_kind("late", "the 50th call"))
    };
    let faults = FaultConfig::default();
    let o = run_candidate(&fails_late, 1, vec![0; 60], &faults, 20);
    assert_eq!(o.result.unwrap_err().kind(), CALL_LIMIT_KIND);
    assert_eq!(o.calls, 21);
    // Within its limit it runs as an unlimited run does.
    let o = run_candidate(&fails_late, 1, vec![0; 60], &faults, 50);
    assert_eq!(o.result.unwrap_err().kind(), "late");
    assert_eq!(o.calls, 50);
    let o = run_once(&fails_late, 1, Some(vec![0; 60]), &faults);
    assert_eq!(o.calls, 50);
    // A run that never ends but draws is stopped too.
    let endless = |sim: &mut Sim| -> Result<(), Failure> {
        loop {
            step(sim);
        }
    };
    let o = run_candidate(&endless, 1, Vec::new(), &faults, 100);
    assert_eq!(o.result.unwrap_err().kind(), CALL_LIMIT_KIND);
    assert_eq!(o.calls, 101);
}

#[test]
fn the_smallest_failure_of_each_kind_is_shrunk_first() {
    // (kind, calls, choices, seed), in seed order as a sweep holds them.
    let found = [
        ("S5", 3054, 3413, 17),
        ("L3", 900, 800, 20),
        ("S5", 9000, 9000, 43),
        ("L3", 900, 700, 50),
        ("S5", 375, 420, 299),
    ];
    let chosen = |limit| -> Vec<u64> {
        let places = shrink_order(&found, limit);
        assert_eq!(places.len(), found.len());
        let mut chosen: Vec<(usize, u64)> = found
            .iter()
            .zip(places)
            .filter_map(|(f, p)| p.map(|p| (p, f.3)))
            .collect();
        chosen.sort();
        chosen.into_iter().map(|(_, seed)| seed).collect()
    };
    assert_eq!(chosen(0), Vec::<u64>::new());
    // S5's smallest (299, not its lowest seed 17), then L3's (50: the
    // same calls as 20, fewer choices), then the second smallest of each.
    assert_eq!(chosen(1), vec![299]);
    assert_eq!(chosen(2), vec![299, 50]);
    assert_eq!(chosen(3), vec![299, 50, 17]);
    assert_eq!(chosen(4), vec![299, 50, 17, 20]);
    assert_eq!(chosen(9), vec![299, 50, 17, 20, 43]);
    // Ties in size go to the lowest seed.
    let same = [("x", 5, 5, 8), ("x", 5, 5, 3)];
    assert_eq!(shrink_order(&same, 1), vec![None, Some(0)]);
}

#[test]
fn the_failure_rate_keeps_a_rare_failure_visible() {
    use super::report::rate;
    assert_eq!(rate(0, 2000), "0.0%; ");
    assert_eq!(rate(19, 2000), "0.950%; ");
    assert_eq!(rate(1, 100_000), "0.001%; ");
    assert_eq!(rate(3, 60), "5.0%; ");
    assert_eq!(rate(60, 60), "100.0%; ");
    // (a sweep that did not start has no runs: no rate)
    assert_eq!(rate(1, 0), "");
}
