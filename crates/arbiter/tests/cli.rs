//! `arbiter replay`: exit codes and messages for a good scenario, a
//! diverging one, and an unreadable one.

use std::process::Command;

fn arbiter(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_arbiter")).args(args).output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn scenario(name: &str) -> String {
    format!("{}/../../scenarios/{name}.ron", env!("CARGO_MANIFEST_DIR"))
}

#[test]
fn replaying_a_scenario_prints_the_decisions_and_final_state() {
    let (code, out, err) = arbiter(&["replay", &scenario("failover")]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("Promote { addr: \"10.0.0.3:6379\", epoch: 100 }"), "{out}");
    assert!(out.contains("final state: Leading { epoch: 100 }"), "{out}");
    assert!(out.contains("group record: primary r3 (epoch 100)"), "{out}");
}

#[test]
fn a_diverging_scenario_exits_1_with_the_report() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("edited.ron");
    let text = std::fs::read_to_string(scenario("paused"))
        .unwrap()
        .replacen("paused: true", "paused: false", 1);
    std::fs::write(&path, text).unwrap();
    let (code, _, err) = arbiter(&["replay", path.to_str().unwrap()]);
    assert_eq!(code, 1);
    assert!(err.contains("replay diverged at call"), "{err}");
    assert!(err.contains("edited.ron:"), "{err}");
}

#[test]
fn an_unreadable_scenario_exits_2_naming_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("torn.ron");
    std::fs::write(
        &path,
        "(rehearse: 1)\n(i: 0, call: \"Host::now\", in: (), out: 0)\n(i: 1, call: \"Ho",
    )
    .unwrap();
    let (code, _, err) = arbiter(&["replay", path.to_str().unwrap()]);
    assert_eq!(code, 2);
    assert!(err.contains("torn.ron:3: truncated after call 1"), "{err}");
    let (code, _, err) = arbiter(&["replay", "/no/such.ron"]);
    assert_eq!(code, 2);
    assert!(err.contains("/no/such.ron"), "{err}");
}
