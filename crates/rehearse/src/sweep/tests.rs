//! Unit tests of the sweep's knob parsing, trace comparison and shortlex order.

use super::determinism::first_difference;
use super::knobs::{parse_bytes, parse_seed_range, parse_shard};
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
    assert!(d.starts_with("line 3 (call 1) differs"), "{d}");
    assert!(first_difference(a, a).is_none());
}

#[test]
fn shortlex() {
    assert!(simpler(&[5], &[1, 1]));
    assert!(simpler(&[1, 2], &[1, 3]));
    assert!(!simpler(&[1, 3], &[1, 3]));
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
