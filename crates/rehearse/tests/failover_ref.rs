//! The `failover_ref` example on `rehearse::net`: a seed's recording, saved
//! to a file, drives fresh nodes with a `Replayer` alone to the same counts;
//! a file edited by one output no longer replays.

#[path = "../examples/failover_ref.rs"]
#[allow(dead_code, unreachable_pub)]
mod failover_ref;

#[test]
fn a_recorded_seed_replays_from_the_file_alone_with_the_same_counts() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("seed-3.ron");
    let (counts, tape) = failover_ref::run_seed(3, 3, true);
    assert!(counts.ok, "{counts:?}");
    // The workload's figures, as the spec gives them for N = 3.
    assert!((3_500..5_000).contains(&counts.round_trips), "{counts:?}");
    assert!(
        counts.failover_delay_ms.is_some_and(|d| (700..1_500).contains(&d)),
        "{counts:?}"
    );
    let tape = tape.unwrap();
    tape.save(&path).unwrap();

    // Not recording changes nothing the nodes see.
    assert_eq!(failover_ref::run_seed(3, 3, false).0, counts);

    let (seed, replayed) = failover_ref::replay(&path, None).unwrap();
    assert_eq!(seed, 3);
    assert_eq!(replayed, counts);
}

#[test]
fn a_replay_checks_what_the_nodes_ask_for_against_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("seed-1.ron");
    let (_, tape) = failover_ref::run_seed(1, 3, true);
    let text = tape.unwrap().contents();
    // The primary's first REPLICATE timer, as if it had asked for another delay.
    // (Handed to the world by the step that delivers the next event.)
    let recorded = "in: (0, [SetTimer(id: 0, after_us: 100000)],";
    assert!(text.contains(recorded));
    std::fs::write(
        &path,
        text.replacen(recorded, "in: (0, [SetTimer(id: 0, after_us: 100001)],", 1),
    )
    .unwrap();
    let message = match failover_ref::replay(&path, None) {
        Ok(counts) => panic!("an edited file replayed: {counts:?}"),
        Err(e) => e,
    };
    assert!(message.contains("replay diverged"), "{message}");
    assert!(message.contains("after_us: 100000"), "{message}");
}
