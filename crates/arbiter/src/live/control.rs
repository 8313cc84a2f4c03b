//! The group's operator state, kept in etcd (`PREFIX/control`, see
//! [`super::keys`]) rather than in each host's file: a pause and a
//! one-time permission to lose data, set with `arbiter pause`, `arbiter
//! resume` and `arbiter allow-data-loss --once | --withdraw`.
//!
//! Every instance, leader or follower, reads the key at every check and
//! lays it over its own file's `[settings]` ([`overlay`]) inside the
//! live world's `check_config` call, so the machine sees one
//! configuration whose `paused` and `allow_data_loss` are the effective
//! ones, and a recording carries them (a replay needs no etcd). An
//! instance that takes over later reads the same key: the group state
//! survives the leader.
//!
//! How the two sources combine:
//! - `paused`: either one pauses. The group's pause holds every
//!   instance; a host's `settings.paused = true` pauses that instance
//!   only (while it leads), a per-host override.
//! - `allow_data_loss`: either one allows. The group's grant is one-time:
//!   it names the group record's etcd mod revision when it was given and
//!   applies only while the record is still at that revision, so it lapses
//!   with the next record write (the failover it allowed, or any other),
//!   and never allows a second failover. A host's `settings.allow_data_loss
//!   = true` allows every failover while that instance leads.
//!
//! The leader acknowledges each revision of the key it has taken in by
//! writing a [`ControlAck`] to `PREFIX/control-ack` (guarded by its
//! epoch), which the commands wait for.

use serde::{Deserialize, Serialize};

use crate::types::GroupConfig;

/// Who did something, and when (UTC, RFC 3339), as the commands stamp it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Stamp {
    /// `user@host` of the operator's command.
    pub by: String,
    /// When, e.g. `2026-12-01T10:00:00Z`.
    pub at: String,
}

/// A one-time permission to lose data (`arbiter allow-data-loss --once`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DataLossGrant {
    /// The etcd mod revision of the group record when the grant was given
    /// (0: there was no record). The grant applies only while the record
    /// is at this revision.
    pub record_revision: i64,
    /// The primary that record named, for people reading it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub record_primary: Option<String>,
    /// Who granted it, and when.
    #[serde(flatten)]
    pub stamp: Stamp,
}

/// The last change made to the group's control, for `arbiter status`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Change {
    /// The command: `pause`, `resume`, `allow-data-loss --once`,
    /// `allow-data-loss --withdraw`.
    pub command: String,
    /// Who, and when.
    #[serde(flatten)]
    pub stamp: Stamp,
}

/// `PREFIX/control` as JSON, e.g.
/// `{"paused":{"by":"ops@db1","at":"2026-12-01T10:00:00Z"},"last_change":{"command":"pause","by":"ops@db1","at":"2026-12-01T10:00:00Z"}}`.
/// A missing key is the default: not paused, no grant.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct GroupControl {
    /// Set while the group is paused: who paused it, and when.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub paused: Option<Stamp>,
    /// A one-time permission to lose data, until the record changes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub allow_data_loss: Option<DataLossGrant>,
    /// The latest command that changed this.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_change: Option<Change>,
}

impl GroupControl {
    /// Parses the key's value; an error naming what is wrong.
    pub fn parse(json: &str) -> Result<Self, String> {
        serde_json::from_str(json).map_err(|e| format!("not a group control record: {e}"))
    }

    /// The value to write.
    pub fn to_json(&self) -> String {
        // (a struct of strings and numbers always serializes)
        serde_json::to_string(self).unwrap_or_default()
    }

    /// Whether the data-loss grant applies with the group record at
    /// `record_revision` (0: no record; `None`: unknown, then it does not).
    pub fn grant_in_force(&self, record_revision: Option<i64>) -> bool {
        self.allow_data_loss
            .as_ref()
            .is_some_and(|g| Some(g.record_revision) == record_revision)
    }
}

/// `file` (one host's configuration) with the group's `control` laid over
/// its settings, the group record being at `record_revision` (0: no
/// record, `None`: unknown): paused when either pauses, data loss allowed
/// when the file allows it or the group's grant is in force
/// ([`GroupControl::grant_in_force`]). Everything else is the file's.
pub fn overlay(file: &GroupConfig, control: &GroupControl, record_revision: Option<i64>) -> GroupConfig {
    let mut config = file.clone();
    config.settings.paused |= control.paused.is_some();
    config.settings.allow_data_loss |= control.grant_in_force(record_revision);
    config
}

/// `PREFIX/control-ack` as JSON: the leader has taken in the control at
/// `revision` (the mod revision of `PREFIX/control` it read), e.g.
/// `{"revision":57,"instance":"arbiter-db1-4242-0a1b2c3d","epoch":12,"paused":true,"allow_data_loss":false}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ControlAck {
    /// The mod revision of `PREFIX/control` the leader runs with.
    pub revision: i64,
    /// The leader's instance id.
    pub instance: String,
    /// Its epoch.
    pub epoch: i64,
    /// Whether it is paused now (the group's pause or its own file's).
    pub paused: bool,
    /// Whether it may lose data now (the group's grant or its own file's).
    pub allow_data_loss: bool,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::types::{RedisNode, Settings};

    fn file(paused: bool, allow_data_loss: bool) -> GroupConfig {
        GroupConfig {
            nodes: vec![RedisNode {
                name: "r1".into(),
                addr: "10.0.0.1:6379".into(),
                priority: 100,
            }],
            settings: Settings {
                paused,
                allow_data_loss,
                ..Settings::default()
            },
        }
    }

    fn stamp() -> Stamp {
        Stamp {
            by: "ops@db1".into(),
            at: "2026-12-01T10:00:00Z".into(),
        }
    }

    fn grant(record_revision: i64) -> GroupControl {
        GroupControl {
            allow_data_loss: Some(DataLossGrant {
                record_revision,
                record_primary: Some("r1".into()),
                stamp: stamp(),
            }),
            ..GroupControl::default()
        }
    }

    #[test]
    fn either_the_group_or_the_file_pauses() {
        let paused = GroupControl {
            paused: Some(stamp()),
            ..GroupControl::default()
        };
        let none = GroupControl::default();
        let p = |file_paused: bool, control: &GroupControl| {
            overlay(&file(file_paused, false), control, Some(7)).settings.paused
        };
        assert!(!p(false, &none));
        assert!(p(true, &none), "the file's pause is a per-host override");
        assert!(p(false, &paused));
        assert!(p(true, &paused));
        // Nothing else changes.
        let o = overlay(&file(false, false), &paused, Some(7));
        assert_eq!(o.nodes, file(false, false).nodes);
        assert_eq!(
            Settings {
                paused: false,
                ..o.settings
            },
            file(false, false).settings
        );
    }

    #[test]
    fn a_one_time_grant_lapses_as_soon_as_the_record_changes() {
        let g = grant(41);
        let allowed = |rev: Option<i64>| overlay(&file(false, false), &g, rev).settings.allow_data_loss;
        assert!(allowed(Some(41)), "the record is still where it was when granted");
        assert!(!allowed(Some(42)), "the failover it allowed wrote the record: lapsed");
        assert!(!allowed(Some(90)), "and every later change");
        assert!(!allowed(None), "a record that cannot be read: not in force");
        // Granted with no record yet: until the first one is written.
        let before_any = grant(0);
        assert!(
            overlay(&file(false, false), &before_any, Some(0))
                .settings
                .allow_data_loss
        );
        assert!(
            !overlay(&file(false, false), &before_any, Some(5))
                .settings
                .allow_data_loss
        );
        // The file's own setting allows whatever the grant says.
        assert!(overlay(&file(false, true), &g, Some(42)).settings.allow_data_loss);
        assert!(
            overlay(&file(false, true), &GroupControl::default(), None)
                .settings
                .allow_data_loss
        );
    }

    #[test]
    fn the_control_record_is_the_json_documented() {
        let c = GroupControl {
            paused: Some(stamp()),
            allow_data_loss: grant(41).allow_data_loss,
            last_change: Some(Change {
                command: "pause".into(),
                stamp: stamp(),
            }),
        };
        let json = c.to_json();
        assert_eq!(
            json,
            r#"{"paused":{"by":"ops@db1","at":"2026-12-01T10:00:00Z"},"allow_data_loss":{"record_revision":41,"record_primary":"r1","by":"ops@db1","at":"2026-12-01T10:00:00Z"},"last_change":{"command":"pause","by":"ops@db1","at":"2026-12-01T10:00:00Z"}}"#
        );
        assert_eq!(GroupControl::parse(&json), Ok(c));
        assert_eq!(GroupControl::parse("{}"), Ok(GroupControl::default()));
        assert_eq!(GroupControl::default().to_json(), "{}");
        let e = GroupControl::parse("paused").unwrap_err();
        assert!(e.starts_with("not a group control record"), "{e}");
        let ack = ControlAck {
            revision: 57,
            instance: "arbiter-db1-4242-0a1b2c3d".into(),
            epoch: 12,
            paused: true,
            allow_data_loss: false,
        };
        assert_eq!(
            serde_json::to_string(&ack).unwrap(),
            r#"{"revision":57,"instance":"arbiter-db1-4242-0a1b2c3d","epoch":12,"paused":true,"allow_data_loss":false}"#
        );
    }
}
