//! The `rehearse` command on format 2 files written by a real `Sim`: fault
//! marks (`Sim::fault_with`, and a `Faulty` world's injected errors), notes
//! (`Sim::note`) and lanes (`Sim::set_node`). Every fault the simulation
//! fired is counted by `stats` and shown by `inspect`, with no string
//! convention (the injected error's text does not say "injected").

#![allow(missing_docs)]

use std::collections::BTreeMap;
use std::path::PathBuf;

use assert_cmd::Command;
use predicates::prelude::*;
use predicates::str::contains;

mod support;

use rehearse::{Failure, Sweep};
use support::{SEED, replicate, simulate};

fn rehearse() -> Command {
    let mut cmd = Command::cargo_bin("rehearse").unwrap();
    cmd.env_remove("NO_COLOR").env_remove("CLICOLOR_FORCE");
    cmd
}

fn stdout_of(cmd: &mut Command) -> String {
    let out = cmd.output().unwrap();
    assert!(
        out.status.code().is_some_and(|c| c < 2),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

fn fixture(dir: &tempfile::TempDir) -> (PathBuf, BTreeMap<String, u64>, usize) {
    let path = dir.path().join("replication.ron");
    let (fired, notes) = simulate(&path);
    // The seed exercises every point, so that each count below means something.
    for point in ["net::drop", "net::crash", "Wire::deliver"] {
        assert!(fired.get(point).is_some_and(|&n| n > 0), "seed {SEED}: {fired:?}");
    }
    (path, fired, notes)
}

#[test]
fn inspect_shows_every_fault_and_note_in_place_with_its_node() {
    let dir = tempfile::tempdir().unwrap();
    let (path, fired, notes) = fixture(&dir);
    let out = stdout_of(rehearse().arg("inspect").arg(&path));
    let lines: Vec<&str> = out.lines().collect();
    for (point, n) in &fired {
        let shown = lines.iter().filter(|l| l.contains(&format!("! fault {point}"))).count();
        assert_eq!(shown as u64, *n, "{point}: {out}");
    }
    let shown_notes = lines.iter().filter(|l| l.contains("# note ")).count();
    assert_eq!(shown_notes, notes, "{out}");
    let total: u64 = fired.values().sum();
    assert!(
        out.contains(&format!("; {total} of {total} faults, {notes} of {notes} notes")),
        "{out}"
    );
    assert!(out.contains(", format 2, "), "{out}");
    // A drop names its message and node; the note before the first call
    // has no node.
    let drop = lines.iter().find(|l| l.contains("! fault net::drop")).unwrap();
    assert!(
        drop.contains("  n1  ! fault net::drop  n0 -> n1: Append(")
            || drop.contains("  n2  ! fault net::drop  n0 -> n2: Append("),
        "{drop}"
    );
    // The head: the file, then a repro hint (the tape has a seed), then
    // the first note, before any call.
    assert!(
        lines[1].starts_with(&format!(
            "repro: REHEARSE_REPLAY={} <command>",
            path.canonicalize().unwrap().display()
        )),
        "{out}"
    );
    assert!(
        lines[2]
            .trim_start()
            .starts_with("0.000s      # note 3 nodes; n0 leads"),
        "{out}"
    );
    // An injected error: its mark, then its call, an error like any other.
    let at = lines.iter().position(|l| l.contains("! fault Wire::deliver")).unwrap();
    assert!(
        lines[at + 1].contains("Wire::deliver(\"n0\", ") && lines[at + 1].ends_with("-> Err(())  [error]"),
        "{}\n{}",
        lines[at],
        lines[at + 1]
    );
    assert!(!out.contains("[injected fault]"), "{out}");
    // Calls carry their node.
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with('#') && l.contains("  n1  Wire::deliver(\"n0\", \"n1\", ")),
        "{out}"
    );
}

#[test]
fn inspect_filters_by_node() {
    let dir = tempfile::tempdir().unwrap();
    let (path, _, _) = fixture(&dir);
    let out = stdout_of(rehearse().arg("inspect").arg(&path).args(["--node", "n2"]));
    let body: Vec<&str> = out.lines().skip(2).filter(|l| !l.contains(" calls shown")).collect();
    assert!(!body.is_empty());
    for line in &body {
        assert!(line.contains("  n2  "), "{line}");
    }
    let errors = stdout_of(rehearse().arg("inspect").arg(&path).args(["--errors"]));
    assert!(!errors.contains("# note"), "{errors}");
    assert!(errors.contains("! fault net::drop"), "{errors}");
}

#[test]
fn stats_counts_every_fault_from_the_marks_per_point_and_node() {
    let dir = tempfile::tempdir().unwrap();
    let (path, fired, notes) = fixture(&dir);
    let json = stdout_of(rehearse().arg("stats").arg(&path).arg("--json"));
    let v: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(v["format"], 2);
    assert_eq!(v["faults_counted_by"], "marks");
    assert_eq!(v["faults"], fired.values().sum::<u64>());
    for (point, n) in &fired {
        assert_eq!(v["fault_points"][point]["count"], *n, "{point}: {json}");
    }
    assert_eq!(v["notes"], notes);
    assert!(v.get("injected").is_none(), "no string convention: {json}");
    let per_node: u64 = ["n1", "n2"]
        .iter()
        .map(|n| v["nodes"][n]["faults"].as_u64().unwrap())
        .sum();
    assert_eq!(per_node, fired.values().sum::<u64>(), "{json}");
    assert_eq!(v["nodes"]["(no node)"]["notes"], 1, "{json}");
    let text = stdout_of(rehearse().arg("stats").arg(&path));
    assert!(
        text.contains(&format!(
            "faults: {} (counted from fault marks)",
            fired.values().sum::<u64>()
        )),
        "{text}"
    );
    assert!(text.contains(&format!("notes: {notes}")), "{text}");
}

#[test]
fn diff_reports_a_missing_mark_where_the_calls_are_the_same() {
    let dir = tempfile::tempdir().unwrap();
    let (path, _, _) = fixture(&dir);
    let out = stdout_of(rehearse().arg("diff").arg(&path).arg(&path));
    assert!(out.starts_with("identical: ") && out.contains(" marks"), "{out}");
    // The same run with its first drop deleted by hand.
    let text = std::fs::read_to_string(&path).unwrap();
    let (n, line) = text
        .lines()
        .enumerate()
        .find(|(_, l)| l.contains("fault: \"net::drop\""))
        .unwrap();
    let edited = dir.path().join("edited.ron");
    std::fs::write(&edited, text.replacen(&format!("{line}\n"), "", 1)).unwrap();
    let assert = rehearse().arg("diff").arg(&path).arg(&edited).assert().code(1);
    let out = String::from_utf8(assert.get_output().stdout.clone()).unwrap();
    assert!(out.contains("but the marks differ, first before call #"), "{out}");
    assert!(out.contains(&format!("replication.ron line {}", n + 1)), "{out}");
    assert!(
        out.lines()
            .any(|l| l.starts_with("- A ") && l.contains("! fault net::drop")),
        "{out}"
    );
    assert!(out.contains("faults by point where they differ (A / B):"), "{out}");
}

#[test]
fn check_says_which_files_are_old_and_passes_them() {
    let dir = tempfile::tempdir().unwrap();
    let (path, _, _) = fixture(&dir);
    std::fs::copy(
        format!("{}/tests/fixtures/sim.ron", env!("CARGO_MANIFEST_DIR")),
        dir.path().join("old.ron"),
    )
    .unwrap();
    rehearse()
        .arg("check")
        .arg(dir.path())
        .assert()
        .success()
        .stdout(contains("old  ").and(contains("old.ron: 8 calls, format 1")))
        .stdout(contains(format!("ok   {}: ", path.display())))
        .stdout(contains("2 files checked, 0 bad, 1 old"));
    rehearse()
        .arg("check")
        .arg("--quiet")
        .arg(dir.path())
        .assert()
        .success()
        .stdout(predicates::ord::eq(
            "2 files checked, 0 bad, 1 old (an older format than 2: they still read)\n",
        ));
}

#[test]
fn html_draws_a_lane_per_node_from_one_tape() {
    let dir = tempfile::tempdir().unwrap();
    let (path, fired, notes) = fixture(&dir);
    let page = dir.path().join("replication.html");
    let calls = rehearse::Trace::read(&path).unwrap().calls().len();
    rehearse()
        .arg("html")
        .arg(&path)
        .arg("-o")
        .arg(&page)
        .assert()
        .success()
        .stdout(contains(format!(
            "({calls} calls, {} faults, {notes} notes)",
            fired.values().sum::<u64>()
        )));
    let html = std::fs::read_to_string(&page).unwrap();
    assert!(
        html.contains("\"lanes\":[\"n1\",\"n2\",\"(no node)\"]"),
        "lanes per node"
    );
    assert!(
        html.contains("\"net::drop\",\"n0 -> n1: Append("),
        "a drop with its detail"
    );
}

#[test]
fn a_saved_failing_run_shows_its_failure_params_and_repro_hint() {
    let dir = tempfile::tempdir().unwrap();
    let report = Sweep::new("cli-failure")
        .out_dir(dir.path())
        .seeds(0..20)
        .threads(1)
        .shrink(false)
        .param("bug", "ack before sync")
        .command("cargo run --example replication -- --bug {bug}")
        .quiet()
        .run(|sim| {
            sim.set_param("nodes", 3);
            replicate(sim);
            match sim.faults_fired().get("net::crash") {
                Some(&n) if n > 0 => Err(Failure::with_kind(
                    "lost acknowledged write",
                    format!("{n} crashes lost acknowledged entries\nthe first at entry 3"),
                )),
                _ => Ok(()),
            }
        });
    let failure = &report.failures[0];
    let saved = failure.trace.canonicalize().unwrap();
    let out = stdout_of(rehearse().arg("inspect").arg(&saved));
    let head: Vec<&str> = out.lines().take(5).collect();
    assert!(
        head[0].contains(", format 2, ") && head[0].contains(&format!("seed {}", failure.seed)),
        "{out}"
    );
    assert_eq!(
        head[1..],
        [
            format!(
                "failure (lost acknowledged write): {}",
                failure.message.lines().next().unwrap()
            )
            .as_str(),
            "  the first at entry 3",
            "params: bug=ack before sync, nodes=3",
            &format!(
                "repro: REHEARSE_REPLAY={} <command>  # params: bug='ack before sync' nodes=3",
                saved.display()
            ),
        ],
        "{out}"
    );
    // The sweep's own repro line fills the command; the hint names the file.
    assert!(failure.repro.contains("--bug 'ack before sync'"), "{}", failure.repro);
    let json = stdout_of(rehearse().arg("stats").arg(&saved).arg("--json"));
    let v: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(v["failure"]["kind"], "lost acknowledged write");
    assert_eq!(v["params"]["nodes"], "3");
    assert!(v["fault_points"]["net::crash"]["count"].as_u64().unwrap() > 0, "{json}");
    let text = stdout_of(rehearse().arg("stats").arg(&saved));
    assert!(text.contains("failure (lost acknowledged write): "), "{text}");
    // The page shows it at the top.
    let page = dir.path().join("failure.html");
    rehearse()
        .arg("html")
        .arg(&saved)
        .arg("-o")
        .arg(&page)
        .assert()
        .success();
    let html = std::fs::read_to_string(&page).unwrap();
    assert!(
        html.contains("\"failure\":{\"kind\":\"lost acknowledged write\""),
        "failure in the page data"
    );
}

/// Pings every connected peer every 10 ms and appends each round to its
/// log, syncing every third round: enough traffic and disk use for every
/// network and disk fault point to fire.
#[derive(Default)]
struct Pinger {
    peers: Vec<rehearse::net::NodeId>,
    round: u64,
    out: std::collections::VecDeque<rehearse::net::Output<u64>>,
}

impl rehearse::net::Node for Pinger {
    type Message = u64;
    fn step(&mut self, _now: std::time::Duration, event: rehearse::net::Event<u64>) {
        use rehearse::net::{Event, Output};
        match event {
            Event::Start { .. } => self.out.push_back(Output::SetTimer {
                id: 0,
                after_us: 10_000,
            }),
            Event::Connected { peer } => self.peers.push(peer),
            Event::Disconnected { peer } => self.peers.retain(|p| *p != peer),
            Event::Timer { .. } => {
                self.round += 1;
                for &to in &self.peers {
                    self.out.push_back(Output::Send { to, msg: self.round });
                }
                self.out.push_back(Output::Append {
                    file: "log".into(),
                    bytes: self.round.to_le_bytes().to_vec(),
                });
                if self.round % 3 == 0 {
                    self.out.push_back(Output::Sync);
                }
                self.out.push_back(Output::SetTimer {
                    id: 0,
                    after_us: 10_000,
                });
            }
            _ => {}
        }
    }
    fn poll_next_message(&mut self) -> Option<rehearse::net::Output<u64>> {
        self.out.pop_front()
    }
}

#[test]
fn every_fault_of_a_simulated_network_is_counted_by_stats_and_shown_by_inspect() {
    use rehearse::net::{Cluster, NetConfig, SimNet};
    let sim = rehearse::Sim::new(5);
    let points = [
        "net::drop",
        "net::duplicate",
        "net::delay",
        "net::crash",
        "net::pause",
        "net::partition",
        "net::partition_one_way",
        "net::isolate",
        "disk::flushed",
        "disk::torn",
    ];
    for p in points {
        sim.set_fault_rate(p, 0.1);
    }
    let net = rehearse::Recorder::new(SimNet::new(sim.clone(), NetConfig::new(3)), sim.tape());
    let mut cluster = Cluster::new(3, net, |_| Pinger::default());
    cluster
        .run_until(std::time::Duration::from_secs(3), |_| Ok(()))
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("pings.ron");
    sim.tape().save(&path).unwrap();
    let fired: BTreeMap<String, u64> = sim.faults_fired().into_iter().filter(|(_, n)| *n > 0).collect();
    assert!(fired.len() >= 6, "seed 5 exercises most points: {fired:?}");
    let total: u64 = fired.values().sum();

    let json = stdout_of(rehearse().arg("stats").arg(&path).arg("--json"));
    let v: serde_json::Value = serde_json::from_str(&json).unwrap();
    let counted: BTreeMap<String, u64> = v["fault_points"]
        .as_object()
        .unwrap()
        .iter()
        .map(|(k, p)| (k.clone(), p["count"].as_u64().unwrap()))
        .collect();
    assert_eq!(counted, fired);
    assert_eq!(v["faults"], total);
    let per_node: u64 = v["nodes"]
        .as_object()
        .unwrap()
        .values()
        .map(|n| n["faults"].as_u64().unwrap())
        .sum();
    assert_eq!(per_node, total, "every fault in some node's row: {json}");
    for n in ["n0", "n1", "n2"] {
        assert!(v["nodes"][n]["calls"].as_u64().unwrap() > 0, "{n}: {json}");
    }

    let out = stdout_of(rehearse().arg("inspect").arg(&path));
    for (point, n) in &fired {
        let shown = out
            .lines()
            .filter(|l| l.contains(&format!("! fault {point}  ")) || l.ends_with(&format!("! fault {point}")))
            .count();
        assert_eq!(shown as u64, *n, "{point}");
    }
    assert!(out.contains(&format!("; {total} of {total} faults, ")), "{out}");
}
