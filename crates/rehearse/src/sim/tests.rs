//! Unit tests of `Sim`: the seed generator, choice replay, the zero rule,
//! event order and swarm selection.

use super::*;

#[test]
fn splitmix_matches_the_reference_values() {
    // failover-ref.md: splitmix64(0) % 25001 + 5000 = 11870, seed 1 gives 11788.
    let crash = |seed: u64| 5000 + SplitMix64(seed).next() % 25001;
    assert_eq!(crash(0), 11870);
    assert_eq!(crash(1), 11788);
}

#[test]
fn choices_replay_exactly_and_run_out_as_zero() {
    let sim = Sim::new(7);
    let drawn: Vec<u64> = (0..5).map(|_| sim.choice()).collect();
    assert_eq!(sim.choices(), drawn);
    let replay = Sim::from_choices(7, drawn[..3].to_vec());
    let again: Vec<u64> = (0..5).map(|_| replay.choice()).collect();
    assert_eq!(&again[..3], &drawn[..3]);
    assert_eq!(&again[3..], &[0, 0]);
}

#[test]
fn zero_means_nothing_happens() {
    let sim = Sim::from_choices(0, vec![]);
    assert!(!sim.chance(0.999));
    assert_eq!(sim.below(10), 0);
    assert!(!sim.fault("x"));
    assert!(!sim.fault("x"));
}

#[test]
fn events_pop_in_time_then_schedule_order() {
    let mut q = EventQueue::new();
    let ms = Duration::from_millis;
    q.schedule(ms(5), "c");
    q.schedule(ms(1), "a");
    q.schedule(ms(5), "d");
    q.schedule(ms(1), "b");
    let sim = Sim::new(0);
    let order: Vec<_> = std::iter::from_fn(|| q.pop_advancing(&sim).map(|(_, e)| e)).collect();
    assert_eq!(order, ["a", "b", "c", "d"]);
    assert_eq!(sim.now(), ms(5));
}

#[test]
fn swarm_enables_some_points_per_seed() {
    let enabled = |seed| {
        let sim = Sim::new(seed);
        for p in 0..8 {
            for _ in 0..50 {
                sim.fault(&format!("p{p}"));
            }
        }
        sim.state.borrow().faults.iter().filter(|(_, p)| p.enabled).count()
    };
    let counts: Vec<usize> = (0..20).map(enabled).collect();
    assert!(
        counts.iter().any(|&c| c < 8) && counts.iter().any(|&c| c > 0),
        "{counts:?}"
    );
}

#[test]
fn choice_encoding_round_trips() {
    let c = vec![0, 1, u64::MAX, 0xdead];
    assert_eq!(decode_choices(&encode_choices(&c)).unwrap(), c);
    assert!(decode_choices("1,zz").is_err());
}

#[test]
fn the_queue_pops_what_a_sorted_list_would_under_mixed_pushes_and_pops() {
    // The sorted list, then the 4-ary heap, and their slab of slots against
    // the obvious model: a list kept sorted by (time, order scheduled),
    // through 20,000 random steps with many equal times and slots reused as
    // events leave; on `Duration` (`EventQueue`) and on microseconds (the
    // network's queue, whose keys compare as one 128-bit number), from
    // zero and from near `u64::MAX`.
    for start in [0, u64::MAX - 1_000_000] {
        let mut by_duration = EventQueue::new();
        let mut by_micros = Timed::<u64, u64>::new();
        let mut rng = SplitMix64(42 ^ start);
        let mut model: Vec<(u64, u64)> = Vec::new();
        let (mut now, mut seq) = (start, 0u64);
        for _ in 0..20_000 {
            let r = rng.next();
            if r % 5 < 3 || model.is_empty() {
                let at = now + (r >> 8) % 7;
                by_duration.schedule(Duration::from_micros(at), seq);
                by_micros.schedule(at, seq);
                model.push((at, seq));
                seq += 1;
            } else {
                model.sort_unstable();
                let (at, want) = model.remove(0);
                assert_eq!(by_duration.peek_time(), Some(Duration::from_micros(at)));
                assert_eq!(by_duration.pop(), Some((Duration::from_micros(at), want)));
                assert_eq!(by_micros.peek_time(), Some(at));
                assert_eq!(by_micros.pop(), Some((at, want)));
                now = at;
            }
            assert_eq!(by_duration.len(), model.len());
            assert_eq!(by_micros.len(), model.len());
        }
        model.sort_unstable();
        let want: Vec<u64> = model.iter().map(|m| m.1).collect();
        let rest: Vec<u64> = std::iter::from_fn(|| by_duration.pop().map(|(_, e)| e)).collect();
        assert_eq!(rest, want);
        let rest: Vec<u64> = std::iter::from_fn(|| by_micros.pop().map(|(_, e)| e)).collect();
        assert_eq!(rest, want);
        assert!(by_duration.is_empty());
    }
}

#[test]
fn a_short_queue_pops_what_a_sorted_list_would_and_only_what_is_due() {
    // The sorted list alone (never more than 60 keys, under the heap's
    // threshold) against the model, with keys placed both near its end
    // (walked to) and far from it (searched): times spread like a
    // network's, most a few ms away, some 100 ms, many equal; events
    // popped through `pop_before` with deadlines before, at and after the
    // earliest time (nothing due before the earliest time, and a key due
    // at the deadline is not before it).
    let mut q = Timed::<u64, u64>::new();
    let mut rng = SplitMix64(7);
    let mut model: Vec<(u64, u64)> = Vec::new();
    let (mut now, mut seq) = (0u64, 0u64);
    for _ in 0..50_000 {
        let r = rng.next();
        if (r % 8 < 5 && model.len() < 60) || model.is_empty() {
            let after = match (r >> 8) % 10 {
                0 => 100_000,
                1 => 0,
                k => 1_000 + (r >> 16) % (k * 500),
            };
            q.schedule(now + after, seq);
            model.push((now + after, seq));
            seq += 1;
        } else {
            model.sort_unstable();
            let (at, want) = model[0];
            let until = match (r >> 8) % 3 {
                0 => at,
                1 => at + 1,
                _ => at + 50_000,
            };
            if until == at {
                assert_eq!(q.pop_before(until), None);
                continue;
            }
            assert_eq!(q.pop_before(until), Some((at, want)));
            model.remove(0);
            now = at;
        }
        assert_eq!(q.len(), model.len());
    }
    model.sort_unstable();
    let want: Vec<u64> = model.iter().map(|m| m.1).collect();
    let rest: Vec<u64> = std::iter::from_fn(|| q.pop_before(u64::MAX).map(|(_, e)| e)).collect();
    assert_eq!(rest, want);
}

#[test]
fn lanes_switched_by_position_land_on_every_tape_by_name() {
    // Lanes set by name, then by position (the network's way), on the main
    // tape and on a named tape made after some lanes were met (so its lane
    // numbers differ from the main tape's), and on a tape whose own
    // `set_node` numbered a lane first: every note lands in its node's lane.
    let sim = Sim::new(5);
    sim.set_node(Some("n1"));
    let n1 = sim.node_hint();
    sim.set_node(Some("a-name-longer-than-eight"));
    let long = sim.node_hint();
    let named = sim.tape_named("side");
    named.set_node(Some("other"));
    sim.set_node(Some("n0"));
    let n0 = sim.node_hint();
    for (hint, name) in [(n1, "n1"), (long, "a-name-longer-than-eight"), (n0, "n0"), (n1, "n1")] {
        sim.set_node_at(hint);
        sim.note(name);
        named.note(name);
    }
    sim.set_node_at(usize::MAX);
    sim.note("none");
    named.note("none");
    for tape in [sim.tape(), named] {
        let trace = tape.to_trace().unwrap();
        assert_eq!(trace.marks().len(), 5);
        for mark in trace.marks() {
            let crate::MarkKind::Note { text } = &mark.kind else {
                panic!("a note: {mark:?}");
            };
            assert_eq!(mark.node.as_deref(), (text != "none").then_some(text.as_str()));
        }
    }
}

#[test]
fn a_cached_fault_ask_decides_and_draws_as_an_uncached_one() {
    // Same seed, same points, same order of asks: one Sim asks through the
    // cache, the other without; a rate set and faults switched off midway
    // must drop the cache.
    let run = |cached: bool| {
        let sim = Sim::new(9);
        sim.set_fault_rate("off", 0.0);
        let mut caches = [FaultCache::default(); 3];
        let mut fired = Vec::new();
        for i in 0..3_000 {
            if i == 1_000 {
                sim.set_fault_rate("a", 0.5);
            }
            if i == 2_000 {
                sim.set_faults_enabled(false);
            }
            if i == 2_500 {
                sim.set_faults_enabled(true);
            }
            for (k, point) in ["a", "b", "off"].into_iter().enumerate() {
                let f = if cached {
                    sim.fires_cached(point, &mut caches[k])
                } else {
                    sim.fires(point)
                };
                fired.push(f);
            }
        }
        (fired, sim.choices(), sim.faults_fired())
    };
    let (plain, cached) = (run(false), run(true));
    assert!(plain.0.iter().any(|f| *f), "some fault fires");
    assert_eq!(plain, cached);
}

#[test]
fn each_draw_kind_maps_levels_to_the_smallest_raw_choice_that_gives_them() {
    use super::Draw;
    for n in [1u64, 2, 3, 7, 30, 1000, u64::MAX] {
        let d = Draw::Below(n);
        for level in [0, 1, 2, n / 2, n.saturating_sub(1)] {
            let level = level.min(n - 1);
            let raw = d.raw(level);
            assert_eq!(d.level(raw), level, "below({n}) level {level}");
            if raw > 0 {
                assert!(
                    d.level(raw - 1) < level,
                    "below({n}): {raw} is the smallest for {level}"
                );
            }
            // What `below` itself gives for that raw choice.
            assert_eq!(Sim::from_choices(1, vec![raw]).below(n), level);
        }
    }
    let t = super::threshold(0.3);
    let d = Draw::Above(t);
    assert_eq!((d.level(d.raw(0)), d.level(d.raw(1))), (0, 1));
    assert!(!Sim::from_choices(1, vec![d.raw(0)]).chance(0.3));
    assert!(Sim::from_choices(1, vec![d.raw(1)]).chance(0.3));
    assert_eq!(Draw::Low32.level(0xABCD_0000_0000_0007), 7);
}

#[test]
fn replayed_runs_record_how_each_choice_was_read() {
    use super::Draw;
    use rand::RngCore;
    let sim = Sim::from_choices(1, vec![5, 6, 7, 8]);
    sim.below(10);
    sim.chance(0.5);
    sim.rng().next_u32();
    sim.choice();
    let t = super::threshold(0.5);
    assert_eq!(
        sim.draws(),
        vec![Draw::Below(10), Draw::Above(t), Draw::Low32, Draw::Raw]
    );
    // A fresh run keeps none: exploring pays nothing for it.
    let fresh = Sim::new(1);
    fresh.below(10);
    assert!(fresh.draws().is_empty());
}

#[test]
fn the_draw_helpers_give_the_simplest_outcome_on_zero_choices() {
    let sim = Sim::from_choices(1, vec![]);
    assert!(!sim.coin());
    assert_eq!(sim.maybe(0.9, || 1), None);
    assert_eq!(sim.weighted(&[0, 5, 5]), 1, "an option of weight 0 is never drawn");
    assert_eq!(sim.pick::<u8>(&[]), None);
    assert_eq!(sim.range(3..9), 3);
    // Small raw choices give small `next_u32` values: `% n` shrinks to 1.
    use rand::RngCore;
    assert_eq!(Sim::from_choices(1, vec![1]).rng().next_u32() % 30, 1);
    // Weighted draws follow the weights.
    let sim = Sim::new(4);
    let mut counts = [0u32; 3];
    for _ in 0..10_000 {
        counts[sim.weighted(&[80, 15, 5])] += 1;
    }
    assert!(counts[0] > 7_500 && counts[1] > 1_200 && counts[2] > 300, "{counts:?}");
}
