//! The events a change of view becomes, in Sentinel's formats.

use super::fixtures::config;
use super::*;
use crate::types::Epoch;

fn status(role: Role) -> NodeStatus {
    super::fixtures::status(role, 10, "x", None)
}

fn replica_of(addr: &str) -> Option<NodeStatus> {
    Some(status(Role::Replica {
        primary: addr.into(),
        link_up: true,
        link_down_ms: None,
    }))
}

fn view(primary: &str, revision: i64) -> GroupView {
    GroupView {
        nodes: nodes_of(&config()),
        record: Some(RecordSeen {
            record: GroupRecord {
                epoch: Epoch(3),
                primary: primary.into(),
                run_id: None,
                lost_data: false,
            },
            revision,
        }),
        ..GroupView::default()
    }
}

fn texts(events: &[Event]) -> Vec<String> {
    events.iter().map(|e| format!("{} {}", e.channel, e.message)).collect()
}

#[test]
fn a_primary_going_down_is_sdown_and_odown_and_coming_back_minus_both() {
    let before = view("r1", 5);
    let mut after = before.clone();
    after.nodes[0].seen.down = true;
    let mut awaiting = Vec::new();
    assert_eq!(
        texts(&events("mymaster", &before, &after, &mut awaiting)),
        [
            "+sdown master mymaster 127.0.0.1 7001",
            "+odown master mymaster 127.0.0.1 7001 #quorum 1/1"
        ]
    );
    assert_eq!(
        texts(&events("mymaster", &after, &before, &mut awaiting)),
        [
            "-sdown master mymaster 127.0.0.1 7001",
            "-odown master mymaster 127.0.0.1 7001"
        ]
    );
}

#[test]
fn a_replica_going_down_is_named_as_sentinel_names_a_slave() {
    let before = view("r1", 5);
    let mut after = before.clone();
    after.nodes[2].seen.down = true;
    assert_eq!(
        texts(&events("mymaster", &before, &after, &mut Vec::new())),
        ["+sdown slave 127.0.0.1:7003 127.0.0.1 7003 @ mymaster 127.0.0.1 7001"]
    );
}

#[test]
fn a_new_primary_switches_master_then_each_replica_is_reconfigured_once() {
    let mut before = view("r1", 5);
    before.nodes[1].seen.status = replica_of("127.0.0.1:7001");
    before.nodes[2].seen.status = replica_of("127.0.0.1:7001");
    before.nodes[0].seen.down = true;
    let mut after = view("r2", 9);
    after.nodes[0].seen.down = true;
    after.nodes[1].seen.status = Some(status(Role::Primary));
    after.nodes[2].seen.status = replica_of("127.0.0.1:7001");
    let mut awaiting = Vec::new();
    assert_eq!(
        texts(&events("mymaster", &before, &after, &mut awaiting)),
        [
            "+switch-master mymaster 127.0.0.1 7001 127.0.0.1 7002",
            "+failover-end master mymaster 127.0.0.1 7002",
            "+sdown slave 127.0.0.1:7001 127.0.0.1 7001 @ mymaster 127.0.0.1 7002"
        ]
    );
    assert_eq!(awaiting, ["r1", "r3"]);
    let mut later = after.clone();
    later.nodes[2].seen.status = replica_of("127.0.0.1:7002");
    assert_eq!(
        texts(&events("mymaster", &after, &later, &mut awaiting)),
        ["+slave-reconf-done slave 127.0.0.1:7003 127.0.0.1 7003 @ mymaster 127.0.0.1 7002"]
    );
    assert!(events("mymaster", &later, &later, &mut awaiting).is_empty());
    assert_eq!(awaiting, ["r1"]);
}

#[test]
fn a_primary_seen_down_in_the_step_of_its_switch_is_told_down_as_the_master_first() {
    // The leader failed over before this follower's down_after ran out:
    // one step sees r1 down and the record on r2.
    let mut before = view("r1", 5);
    before.nodes[1].seen.status = replica_of("127.0.0.1:7001");
    before.nodes[2].seen.status = replica_of("127.0.0.1:7001");
    let mut after = view("r2", 9);
    after.nodes[0].seen.down = true;
    after.nodes[1].seen.status = Some(status(Role::Primary));
    after.nodes[2].seen.status = replica_of("127.0.0.1:7001");
    assert_eq!(
        texts(&events("mymaster", &before, &after, &mut Vec::new())),
        [
            "+sdown master mymaster 127.0.0.1 7001",
            "+odown master mymaster 127.0.0.1 7001 #quorum 1/1",
            "+switch-master mymaster 127.0.0.1 7001 127.0.0.1 7002",
            "+failover-end master mymaster 127.0.0.1 7002",
            "+sdown slave 127.0.0.1:7001 127.0.0.1 7001 @ mymaster 127.0.0.1 7002"
        ]
    );
}

#[test]
fn no_record_no_switch_and_replicas_already_following_at_start_say_nothing() {
    let mut first = GroupView {
        nodes: nodes_of(&config()),
        ..GroupView::default()
    };
    let mut then = view("r1", 5);
    then.nodes[1].seen.status = replica_of("127.0.0.1:7001");
    let mut awaiting = Vec::new();
    assert!(events("m", &first, &then, &mut awaiting).is_empty());
    first.record = then.record.clone();
    assert!(events("m", &first, &then, &mut awaiting).is_empty());
}

#[test]
fn addresses_split_into_host_and_port() {
    assert_eq!(split_addr("10.0.0.1:6379"), Some(("10.0.0.1".into(), 6379)));
    assert_eq!(split_addr("[::1]:6379"), Some(("::1".into(), 6379)));
    assert_eq!(split_addr("redis-a:x"), None);
    assert_eq!(split_addr("nohost"), None);
}

#[test]
fn a_subscriber_that_does_not_read_is_dropped_not_waited_for() {
    let hub = Hub::default();
    let (_, slow) = hub.subscribe();
    let (_, fast) = hub.subscribe();
    let e = Event {
        channel: "+sdown".into(),
        message: "x".into(),
    };
    for _ in 0..SUBSCRIBER_QUEUE {
        hub.publish(&e);
        assert!(fast.try_recv().is_ok());
    }
    assert_eq!(hub.len(), 2);
    hub.publish(&e);
    assert_eq!(hub.len(), 1, "the full queue's subscriber is dropped");
    drop(slow);
}
