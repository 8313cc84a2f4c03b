//! The live world's clients against real servers: etcd's JSON gateway
//! (leases, guarded writes) and Redis (`INFO`, `REPLICAOF`, `FAILOVER TO`).
//! Each test starts its own servers; `scripts/test` installs them and runs
//! these with `--include-ignored`.

use arbiter_testkit::servers as support;

use std::time::Duration;

use arbiter::live::etcd::Etcd;
use arbiter::live::redis::RedisNodes;
use arbiter::types::{RedisError, Role};

fn eventually<T>(what: &str, f: impl FnMut() -> Option<T>) -> T {
    support::eventually(what, Duration::from_secs(20), f)
}

#[test]
#[ignore = "needs redis-server and etcd: run scripts/test"]
fn etcd_leases_creation_and_guarded_writes() {
    let server = support::etcd();
    let etcd = Etcd::new(vec![server.addr.clone()], Duration::from_secs(2));
    let a = etcd.grant(5).unwrap();
    let b = etcd.grant(5).unwrap();
    let (created, kv) = etcd.create("arbiter/election/a", "a", a).unwrap();
    assert!(created);
    let epoch = kv.unwrap().create_revision;
    let (created, _) = etcd.create("arbiter/election/a", "again", b).unwrap();
    assert!(!created, "a second create of the same key fails");
    etcd.create("arbiter/election/b", "b", b).unwrap();
    let entries = etcd.get_prefix("arbiter/election/").unwrap();
    let names: Vec<_> = entries.iter().map(|k| k.value.as_str()).collect();
    assert_eq!(
        names,
        ["a", "b"],
        "oldest first: the leader is the lowest create revision"
    );
    assert!(
        etcd.put_guarded("arbiter/election/a", epoch, "arbiter/record", "r1")
            .unwrap()
    );
    assert!(
        !etcd
            .put_guarded("arbiter/election/a", epoch + 100, "arbiter/record", "r2")
            .unwrap()
    );
    assert_eq!(etcd.get("arbiter/record", false).unwrap().unwrap().value, "r1");
    assert_eq!(
        etcd.get("arbiter/record", true).unwrap().unwrap().value,
        "r1",
        "serializable read"
    );
    assert!(etcd.keepalive(a).unwrap() > 0);
    etcd.revoke(a).unwrap();
    assert!(
        etcd.get("arbiter/election/a", false).unwrap().is_none(),
        "the key went with the lease"
    );
    assert!(
        !etcd
            .put_guarded("arbiter/election/a", epoch, "arbiter/record", "r3")
            .unwrap()
    );
    assert_eq!(etcd.keepalive(a).unwrap(), 0, "a revoked lease cannot be renewed");
    etcd.revoke(a).unwrap();
}

#[test]
#[ignore = "needs redis-server and etcd: run scripts/test"]
fn etcd_down_is_an_error_value() {
    let server = support::etcd();
    let addr = server.addr.clone();
    drop(server);
    let etcd = Etcd::new(vec![addr], Duration::from_millis(500));
    assert!(matches!(
        etcd.grant(5),
        Err(arbiter::live::etcd::EtcdError::Unreachable(_))
    ));
}

#[test]
#[ignore = "needs redis-server and etcd: run scripts/test"]
fn redis_status_promotion_repointing_and_failover_to() {
    let r1 = support::redis(None);
    let r2 = support::redis(Some(&r1.addr));
    let r3 = support::redis(Some(&r1.addr));
    let nodes = RedisNodes::new(Duration::from_secs(2), None);
    assert!(!nodes.is_cluster_enabled(&r1.addr).unwrap());
    let p = nodes.status(&r1.addr).unwrap();
    assert_eq!(p.role, Role::Primary);
    let linked = |addr: &str, primary: &str| {
        let s = nodes.status(addr).ok()?;
        matches!(&s.role, Role::Replica { primary: p, link_up: true, .. } if p == primary).then_some(s)
    };
    eventually("r2 linked to r1", || linked(&r2.addr, &r1.addr));
    eventually("r3 linked to r1", || linked(&r3.addr, &r1.addr));

    // FAILOVER TO is refused until the primary sees the target online
    // (its initial sync done); then r1 demotes itself, r2 gets a new
    // replid, and r3 stays on r1.
    eventually("FAILOVER TO accepted", || {
        match nodes.failover(&r1.addr, &r2.addr, 5000) {
            Ok(()) => Some(()),
            Err(RedisError::Refused(m)) if m.contains("not online") => None,
            Err(e) => panic!("FAILOVER TO: {e:?}"),
        }
    });
    let s2 = eventually("r2 primary", || {
        nodes.status(&r2.addr).ok().filter(|s| s.role == Role::Primary)
    });
    assert_ne!(s2.replid, p.replid, "a new replication id");
    eventually("r1 follows r2", || linked(&r1.addr, &r2.addr));
    let s3 = nodes.status(&r3.addr).unwrap();
    assert!(
        matches!(&s3.role, Role::Replica { primary, .. } if *primary == r1.addr),
        "a third replica stays attached to the old primary: {s3:?}"
    );

    // Repoint r3, then promote it.
    nodes.repoint(&r3.addr, &r2.addr).unwrap();
    eventually("r3 follows r2", || linked(&r3.addr, &r2.addr));
    nodes.promote(&r3.addr).unwrap();
    assert_eq!(nodes.status(&r3.addr).unwrap().role, Role::Primary);

    // A stopped node is unreachable, as a value.
    let gone = r3.addr.clone();
    drop(r3);
    assert!(matches!(nodes.status(&gone), Err(RedisError::Unreachable(_))));
}
