//! arbiter against real servers: three `redis-server` nodes (r1 primary),
//! a real `etcd`, and the machine driven through the concrete world. The
//! primary is killed; a replica must be promoted and the other repointed
//! within down-after plus a bound, and the etcd record must name it.

mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use arbiter::Driver;
use arbiter::io::Stop;
use arbiter::live::etcd::Etcd;
use arbiter::live::redis::RedisNodes;
use arbiter::live::world::{ConfigSource, LiveOptions, LiveWorld};
use arbiter::types::{GroupConfig, GroupRecord, RedisNode, Role, Settings};

fn eventually<T>(what: &str, limit: Duration, mut f: impl FnMut() -> Option<T>) -> T {
    let start = Instant::now();
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(start.elapsed() < limit, "{what}: not within {limit:?}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
#[ignore = "needs redis-server and etcd: run scripts/test"]
fn a_killed_primary_is_failed_over_and_the_other_replica_repointed() {
    let etcd_server = support::etcd();
    let r1 = support::redis(None);
    let r2 = support::redis(Some(&r1.addr));
    let r3 = support::redis(Some(&r1.addr));
    let nodes = RedisNodes::new(Duration::from_secs(1), None);
    for r in [&r2, &r3] {
        eventually("replicas linked", Duration::from_secs(20), || {
            nodes
                .status(&r.addr)
                .ok()
                .filter(|s| matches!(s.role, Role::Replica { link_up: true, .. }))
        });
    }
    let settings = Settings {
        check_interval_ms: 200,
        down_after_ms: 1000,
        ..Settings::default()
    };
    let config = GroupConfig {
        nodes: [&r1, &r2, &r3]
            .iter()
            .enumerate()
            .map(|(i, r)| RedisNode {
                name: format!("r{}", i + 1),
                addr: r.addr.clone(),
                priority: 100,
            })
            .collect(),
        settings,
    };
    let options = LiveOptions {
        etcd: vec![etcd_server.addr.clone()],
        prefix: "arbiter/test".into(),
        ttl_s: 5,
        timeout: Duration::from_millis(500),
        password: None,
    };
    let shutdown = Arc::new(AtomicBool::new(false));
    let world = LiveWorld::new(options, ConfigSource::Fixed(config), Arc::clone(&shutdown));
    let controller = std::thread::spawn(move || {
        let mut driver = Driver::new(world);
        driver.run_until(u64::MAX, |_| false)
    });

    let etcd = Etcd::new(vec![etcd_server.addr.clone()], Duration::from_secs(1));
    let record = |etcd: &Etcd| -> Option<GroupRecord> {
        let kv = etcd.get("arbiter/test/record", false).ok()??;
        serde_json::from_str(&kv.value).ok()
    };
    let first = eventually("the record names r1", Duration::from_secs(20), || {
        record(&etcd).filter(|r| r.primary == "r1")
    });

    let killed = Instant::now();
    drop(r1);
    let promoted = eventually("a replica promoted", Duration::from_secs(15), || {
        [(&r2, "r2"), (&r3, "r3")]
            .into_iter()
            .find(|(r, _)| nodes.status(&r.addr).is_ok_and(|s| s.role == Role::Primary))
            .map(|(r, name)| (r.addr.clone(), name))
    });
    let took = killed.elapsed();
    assert!(
        took >= Duration::from_millis(1000),
        "not before down-after (no flapping): {took:?}"
    );
    let other = if promoted.1 == "r2" { &r3 } else { &r2 };
    eventually("the other replica follows it", Duration::from_secs(15), || {
        nodes
            .status(&other.addr)
            .ok()
            .filter(|s| matches!(&s.role, Role::Replica { primary, link_up: true, .. } if *primary == promoted.0))
    });
    let now = record(&etcd).unwrap();
    assert_eq!(now.primary, promoted.1, "the record names the new primary");
    assert!(now.epoch >= first.epoch);

    shutdown.store(true, Ordering::SeqCst);
    let stop = controller.join().unwrap().unwrap();
    assert_eq!(stop, Stop::Terminal, "shut down cleanly");
    let leaders = etcd.get_prefix("arbiter/test/election/").unwrap();
    assert!(leaders.is_empty(), "it resigned: {leaders:?}");
    eprintln!("failover took {took:?} after the kill (down-after 1 s, check interval 200 ms)");
}
