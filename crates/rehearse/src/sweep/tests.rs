//! Unit tests of the sweep's knob parsing, trace comparison and shortlex order.

use super::determinism::first_difference;
use super::knobs::{parse_seed_range, parse_shard};
use super::shrink::simpler;

#[test]
fn seed_ranges_and_shards_parse() {
    assert_eq!(parse_seed_range("500").unwrap(), 0..500);
    assert_eq!(parse_seed_range("10..20").unwrap(), 10..20);
    assert!(parse_seed_range("ten").is_err());
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
    assert!(first_difference(a, b).unwrap().starts_with("a mark after call 0 differs"));
}

#[test]
fn shortlex() {
    assert!(simpler(&[5], &[1, 1]));
    assert!(simpler(&[1, 2], &[1, 3]));
    assert!(!simpler(&[1, 3], &[1, 3]));
}
