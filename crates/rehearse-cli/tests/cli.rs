//! Every `rehearse` subcommand run as a process on fixture files, good and
//! bad: exit codes, messages and output asserted.

use assert_cmd::Command;
use predicates::prelude::*;
use predicates::str::contains;

fn fixture(name: &str) -> String {
    format!("{}/tests/fixtures/{name}", env!("CARGO_MANIFEST_DIR"))
}

/// A real recording from the repository (a live failover).
fn live() -> String {
    format!("{}/../../scenarios/live_failover.ron", env!("CARGO_MANIFEST_DIR"))
}

fn rehearse() -> Command {
    let mut cmd = Command::cargo_bin("rehearse").unwrap();
    cmd.env_remove("NO_COLOR").env_remove("CLICOLOR_FORCE");
    cmd
}

fn stdout_of(cmd: &mut Command) -> String {
    String::from_utf8(cmd.output().unwrap().stdout).unwrap()
}

#[test]
fn inspect_shows_a_timeline_with_times_errors_and_faults() {
    let out = stdout_of(rehearse().args(["inspect", &fixture("sim.ron")]));
    assert!(
        out.contains("8 calls, format 1, rehearse 0.1.0, seed 7, tape: arbiter-1"),
        "{out}"
    );
    assert!(
        out.contains("#1      0.002s  Cluster::node_status(\"10.0.0.1:6379\") -> Ok((role: Primary, offset: 22))"),
        "{out}"
    );
    assert!(
        out.contains("Election::leader() -> Err(Unavailable(\"injected: request timed out\"))  [injected fault]"),
        "{out}"
    );
    assert!(
        out.contains("Cluster::node_status(\"10.0.0.1:6379\") -> Err(Timeout)  [error]"),
        "{out}"
    );
    assert!(out.contains("8 of 8 calls shown, 2 of them errors"), "{out}");
    // Piped: no colour codes.
    assert!(!out.contains('\u{1b}'), "{out:?}");
}

#[test]
fn inspect_shows_a_format_2_file_with_its_marks_in_place_and_nodes() {
    let out = stdout_of(rehearse().args(["inspect", &fixture("net.ron"), "--width", "40"]));
    let body: Vec<&str> = out.lines().skip_while(|l| !l.contains("# note 3 nodes")).collect();
    let expected = [
        "        0.000s      # note 3 nodes; n0 leads term 1",
        "#0      0.010s  n0  Network::next_event(2000000) -> Some((at_us: 10000, node: 0, event: Req…",
        "#1      0.010s  n0  Network::perform(0, Append(file: \"log\", bytes: [3])) -> ()",
        "#2      0.010s  n0  Network::perform(0, Send(to: 1, msg: Append(3))) -> ()",
        "#3      0.010s  n0  Network::perform(0, Send(to: 2, msg: Append(3))) -> ()",
        "        0.010s  n0  ! fault net::drop  n0 -> n2: Append(3)",
        "#4      0.018s  n1  Network::next_event(2000000) -> Some((at_us: 18000, node: 1, event: Mes…",
        "#5      0.018s  n1  Network::perform(1, Append(file: \"log\", bytes: [3])) -> ()",
        "#6      0.018s  n1  Network::perform(1, Send(to: 0, msg: Ack(3))) -> ()",
        "#7      0.026s  n0  Network::next_event(2000000) -> Some((at_us: 26000, node: 0, event: Mes…",
        "#8      0.026s  n0  Network::perform(0, Reply(id: 1, msg: Ok)) -> ()",
        "        0.130s  n1  ! fault net::crash  n1 loses 1 unsynced write",
        "        0.130s  n1  # note n1 restarts with what it synced",
        "#9      0.130s  n1  Network::next_event(2000000) -> Some((at_us: 130000, node: 1, event: St…",
        "10 of 10 calls shown, 0 of them errors; 2 of 2 faults, 2 of 2 notes",
    ];
    assert_eq!(body, expected, "{out}");
    // The head of a saved failing run: its failure, params and a repro hint.
    let abs = std::fs::canonicalize(fixture("net.ron")).unwrap();
    let head: Vec<&str> = out.lines().take(4).collect();
    assert_eq!(
        head,
        [
            format!(
                "{}: 10 calls, 2 faults, 2 notes, format 2, rehearse 0.1.0, seed 12",
                fixture("net.ron")
            )
            .as_str(),
            "failure (lost acknowledged write): entry 3 was acknowledged to the client, then lost: n1 restarted without it",
            "params: bug=ack-before-sync, nodes=3",
            &format!(
                "repro: REHEARSE_REPLAY={} <command>  # params: bug=ack-before-sync nodes=3",
                abs.display()
            ),
        ],
        "{out}"
    );
    let out = stdout_of(rehearse().args(["inspect", &fixture("net.ron"), "--node", "n1", "--from", "5"]));
    assert!(
        out.contains("3 of 10 calls shown, 0 of them errors; 1 of 2 faults, 1 of 2 notes"),
        "{out}"
    );
    let colour = stdout_of(rehearse().args(["--color", "always", "inspect", &fixture("net.ron")]));
    assert!(
        colour.contains("\u{1b}[1m\u{1b}[35m! fault net::drop"),
        "faults in bold magenta: {colour:?}"
    );
}

#[test]
fn inspect_filters_by_call_range_and_errors() {
    let out = stdout_of(rehearse().args([
        "inspect",
        &fixture("sim.ron"),
        "--call",
        "Cluster::*",
        "--from",
        "2",
        "--to",
        "5",
    ]));
    assert!(out.contains("2 of 8 calls shown, 1 of them errors"), "{out}");
    assert!(out.contains("#4 ") && out.contains("#5 "), "{out}");
    assert!(
        !out.contains("#1 ") && !out.contains("#2 ") && !out.contains("#6 "),
        "{out}"
    );
    let out = stdout_of(rehearse().args(["inspect", &fixture("sim.ron"), "--errors"]));
    assert!(
        out.contains("#2") && out.contains("#4") && out.contains("2 of 8 calls shown"),
        "{out}"
    );
    let out = stdout_of(rehearse().args(["inspect", &fixture("sim.ron"), "--call", "publish", "--width", "12"]));
    assert!(out.contains("Election::publish(3, (epoch: …) -> Ok(true)"), "{out}");
}

#[test]
fn inspect_colours_on_request() {
    let out = stdout_of(rehearse().args(["--color", "always", "inspect", &fixture("sim.ron"), "--errors"]));
    assert!(out.contains("\u{1b}[31m"), "errors in red: {out:?}");
    assert!(
        out.contains("\u{1b}[1m\u{1b}[35m") || out.contains("\u{1b}[35m"),
        "faults in magenta: {out:?}"
    );
}

#[test]
fn inspect_of_a_torn_file_shows_the_complete_calls_and_warns() {
    rehearse()
        .args(["inspect", &fixture("torn.ron")])
        .assert()
        .success()
        .stdout(contains("3 of 3 calls shown"))
        .stderr(contains("torn.ron:5: truncated after call 3"));
}

#[test]
fn bad_files_are_errors_naming_file_line_and_column() {
    rehearse()
        .args(["inspect", &fixture("bad_syntax.ron")])
        .assert()
        .code(2)
        .stderr(contains(
            "bad_syntax.ron:3:46: expected `,` or `]` in a list, found `3`",
        ));
    rehearse()
        .args(["stats", &fixture("future.ron")])
        .assert()
        .code(2)
        .stderr(contains(format!(
            "future.ron:1: format version 99 is newer than this rehearse reads (up to {})",
            rehearse::FORMAT_VERSION
        )));
    rehearse()
        .args(["inspect", "/no/such/file.ron"])
        .assert()
        .code(2)
        .stderr(contains("/no/such/file.ron"));
}

#[test]
fn diff_shows_the_first_divergence_with_context_then_a_summary() {
    let assert = rehearse()
        .args(["diff", &fixture("sim.ron"), &fixture("sim_rerun.ron"), "--context", "2"])
        .assert()
        .code(1);
    let out = String::from_utf8(assert.get_output().stdout.clone()).unwrap();
    assert!(
        out.contains("first divergence at call #4 (") && out.contains("sim.ron line 6"),
        "{out}"
    );
    assert!(
        out.contains("the output: Err(Timeout) vs Ok((role: Primary, offset: 30))"),
        "{out}"
    );
    // Two calls of context, then both sides.
    assert!(out.contains("    #2      0.003s  Election::leader()"), "{out}");
    assert!(out.contains("    #3      1.003s  Host::sleep_until(1003)"), "{out}");
    assert!(!out.contains("    #1 "), "{out}");
    assert!(
        out.contains("- A #4      1.004s  Cluster::node_status(\"10.0.0.1:6379\") -> Err(Timeout)"),
        "{out}"
    );
    assert!(
        out.contains("+ B #4      1.004s  Cluster::node_status(\"10.0.0.1:6379\") -> Ok((role: Primary, offset: 30))"),
        "{out}"
    );
    assert!(
        out.contains("summary: A has 8 calls, B has 7; aligned, 4 are the same, 4 only in A, 3 only in B, in 1 hunk"),
        "{out}"
    );
    assert!(out.contains("  Cluster::promote: 1 / 0"), "{out}");
    assert!(out.contains("  Host::sleep_until: 0 / 1"), "{out}");
}

#[test]
fn diff_of_a_file_with_itself_is_identical_and_a_path_inside_a_value_is_named() {
    // (the recording is re-made with the live tests: count its calls)
    let text = std::fs::read_to_string(live()).unwrap();
    let calls = text.lines().filter(|l| l.starts_with("(i: ")).count();
    rehearse()
        .args(["diff", &live(), &live()])
        .assert()
        .success()
        .stdout(contains(format!("identical: {calls} calls")));
    let dir = tempfile::tempdir().unwrap();
    let edited = dir.path().join("edited.ron");
    std::fs::write(&edited, text.replacen("link_up: true", "link_up: false", 1)).unwrap();
    rehearse()
        .args(["diff", &live()])
        .arg(&edited)
        .assert()
        .code(1)
        .stdout(contains("the output[0].role.link_up: true vs false"));
    rehearse()
        .args(["diff", &live(), &fixture("bad_syntax.ron")])
        .assert()
        .code(2);
}

#[test]
fn stats_counts_calls_errors_and_gaps() {
    let out = stdout_of(rehearse().args(["stats", &fixture("sim.ron")]));
    // Columns: method, calls, errors, injected, rate.
    let squashed: Vec<String> = out
        .lines()
        .map(|l| l.split_whitespace().collect::<Vec<_>>().join(" "))
        .collect();
    let has = |line: &str| squashed.iter().any(|l| l == line);
    assert!(has("method calls errors injected rate"), "{out}");
    assert!(has("Cluster::node_status 3 1 0 33.3%"), "{out}");
    assert!(has("Election::leader 1 1 1 100.0%"), "{out}");
    assert!(has("Cluster::promote 1 0 0 0.0%"), "{out}");
    assert!(has("all 8 2 1 25.0%"), "{out}");
    assert!(out.contains("virtual time: 0.001s to 4.006s (4.005s in all)"), "{out}");
    assert!(out.contains("gap of 3.000s between #5 and #6"), "{out}");
    assert!(out.contains("gap of 1.000s between #2 and #3"), "{out}");
    let out = stdout_of(rehearse().args(["stats", &live()]));
    assert!(out.contains("no virtual time in this file"), "{out}");
}

#[test]
fn stats_json_is_for_machines() {
    let out = stdout_of(rehearse().args(["stats", &fixture("sim.ron"), "--json", "--gaps", "1"]));
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["calls"], 8);
    assert_eq!(v["errors"], 2);
    assert_eq!(v["injected"], 1);
    assert_eq!(v["methods"]["Cluster::node_status"]["calls"], 3);
    assert_eq!(v["methods"]["Cluster::node_status"]["errors"], 1);
    assert_eq!(v["span_us"], 4_005_000);
    assert_eq!(v["longest_gaps"].as_array().unwrap().len(), 1);
    assert_eq!(v["longest_gaps"][0]["us"], 3_000_000);
}

#[test]
fn check_passes_good_files_and_fails_on_any_bad_one() {
    let repo = format!("{}/../..", env!("CARGO_MANIFEST_DIR"));
    rehearse()
        .args(["check", &format!("{repo}/scenarios")])
        .assert()
        .success()
        .stdout(contains("0 bad"));
    let assert = rehearse().args(["check", &fixture("")]).assert().code(1);
    let out = String::from_utf8(assert.get_output().stdout.clone()).unwrap();
    assert!(out.contains("bad_syntax.ron:3:46: expected `,` or `]`"), "{out}");
    assert!(out.contains("future.ron:1: format version 99"), "{out}");
    assert!(out.contains("torn.ron:5: truncated after call 3"), "{out}");
    // The format 1 fixtures are old: listed, counted, not failed.
    assert!(
        out.contains("old  ") && out.contains("sim.ron: 8 calls, format 1"),
        "{out}"
    );
    assert!(
        out.contains(
            "(format 1 is older than the 2 this rehearse writes: it still reads and replays; re-record it to upgrade)"
        ),
        "{out}"
    );
    assert!(
        out.contains("ok   ") && out.contains("net.ron: 10 calls, 2 faults, 2 notes, format 2"),
        "{out}"
    );
    assert!(
        out.contains("6 files checked, 3 bad, 2 old (an older format than 2: they still read)"),
        "{out}"
    );
    let empty = tempfile::tempdir().unwrap();
    rehearse()
        .arg("check")
        .arg(empty.path())
        .assert()
        .code(2)
        .stderr(contains("no scenario files found"));
}

#[test]
fn html_writes_one_self_contained_page() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("live.html");
    let calls = std::fs::read_to_string(live())
        .unwrap()
        .lines()
        .filter(|l| l.starts_with("(i: "))
        .count();
    rehearse()
        .args(["html", &live(), "-o"])
        .arg(&out)
        .assert()
        .success()
        .stdout(contains(format!("({calls} calls")));
    let page = std::fs::read_to_string(&out).unwrap();
    // No external asset: nothing is fetched from anywhere.
    for needle in ["src=", "href=", "http://", "https://", "@import", "url("] {
        assert!(!page.contains(needle), "the page references {needle:?}");
    }
    assert!(page.contains("default-src 'none'"), "a CSP forbids loads");
    assert!(page.contains("Cluster::node_status"));
    // Several files of one seed: one lane per file, in the order given.
    let many = dir.path().join("many.html");
    rehearse()
        .args(["html", &fixture("sim.ron"), &fixture("sim_rerun.ron"), "-o"])
        .arg(&many)
        .assert()
        .success()
        .stdout(contains("(15 calls)"));
    let page = std::fs::read_to_string(&many).unwrap();
    // Both files say tape arbiter-1: their file names tell them apart.
    assert!(page.contains("\"lanes\":[\"sim\",\"sim_rerun\"]"), "lanes by file");
    rehearse()
        .args(["html", &fixture("torn.ron"), "-o"])
        .arg(dir.path().join("torn.html"))
        .assert()
        .success()
        .stderr(contains("truncated after call 3"));
}

#[test]
fn review_accepts_rejects_and_skips() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let sim = std::fs::read_to_string(fixture("sim.ron")).unwrap();
    let rerun = std::fs::read_to_string(fixture("sim_rerun.ron")).unwrap();
    for name in ["a", "b", "c"] {
        std::fs::write(d.join(format!("{name}.ron")), &sim).unwrap();
        std::fs::write(d.join(format!("{name}.ron.new")), &rerun).unwrap();
    }
    std::fs::create_dir(d.join("target")).unwrap();
    std::fs::write(d.join("target/ignored.ron.new"), &rerun).unwrap();
    // Answers on stdin: accept a, reject b, skip c.
    let assert = rehearse()
        .arg("review")
        .arg(d)
        .write_stdin("a\nr\ns\n")
        .assert()
        .success();
    let out = String::from_utf8(assert.get_output().stdout.clone()).unwrap();
    assert!(
        out.contains("[1/3]") && out.contains("first divergence at call #4"),
        "{out}"
    );
    assert!(out.contains("1 accepted, 1 rejected, 1 skipped"), "{out}");
    assert_eq!(std::fs::read_to_string(d.join("a.ron")).unwrap(), rerun);
    assert!(!d.join("a.ron.new").exists());
    assert_eq!(std::fs::read_to_string(d.join("b.ron")).unwrap(), sim);
    assert!(!d.join("b.ron.new").exists());
    assert!(d.join("c.ron.new").exists(), "skipped stays pending");
    assert!(d.join("target/ignored.ron.new").exists(), "target/ is not searched");

    rehearse()
        .arg("review")
        .arg(d)
        .arg("--accept-all")
        .assert()
        .success()
        .stdout(contains("1 accepted, 0 rejected, 0 skipped"));
    assert_eq!(std::fs::read_to_string(d.join("c.ron")).unwrap(), rerun);

    // A new scenario with nothing to replace; rejected without asking.
    std::fs::write(d.join("fresh.ron.new"), &sim).unwrap();
    rehearse()
        .arg("review")
        .arg(d)
        .arg("--reject-all")
        .assert()
        .success()
        .stdout(contains("new scenario (no ").and(contains("0 accepted, 1 rejected")));
    assert!(!d.join("fresh.ron.new").exists() && !d.join("fresh.ron").exists());
    rehearse()
        .arg("review")
        .arg(d)
        .assert()
        .success()
        .stdout(contains("no pending recordings"));
}

#[test]
fn review_reports_an_unreadable_recording_and_keeps_it() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::copy(fixture("sim.ron"), d.join("x.ron")).unwrap();
    std::fs::copy(fixture("torn.ron"), d.join("y.ron")).unwrap();
    std::fs::copy(fixture("bad_syntax.ron"), d.join("x.ron.new")).unwrap();
    rehearse()
        .arg("review")
        .arg(d)
        .arg("--accept-all")
        .assert()
        .code(2)
        .stderr(contains("x.ron.new:3:46"))
        .stdout(contains("1 could not be handled"));
    assert!(d.join("x.ron.new").exists());
    assert_eq!(
        std::fs::read_to_string(d.join("x.ron")).unwrap(),
        std::fs::read_to_string(fixture("sim.ron")).unwrap()
    );
}

#[test]
fn help_has_examples_and_completions_are_generated() {
    rehearse()
        .args(["inspect", "--help"])
        .assert()
        .success()
        .stdout(contains("Examples:").and(contains("--call <PATTERN>")));
    let out = stdout_of(rehearse().args(["completions", "bash"]));
    assert!(
        out.contains("_rehearse()") && out.contains("inspect") && out.contains("review"),
        "{out}"
    );
    rehearse().args(["completions", "nosuchshell"]).assert().code(2);
}

/// Two shard reports written by sweeps in this process, as two CI jobs
/// would (`REHEARSE_SHARD=i/2 REHEARSE_REPORT=shard-i.json`).
fn shard_reports(dir: &std::path::Path) -> Vec<String> {
    (1..=2)
        .map(|i| {
            let file = dir.join(format!("shard-{i}.json"));
            rehearse::Sweep::new("merge-cli")
                .seeds(0..60)
                .shard(i, 2)
                .out_dir(dir.join("out"))
                .shrink(false)
                .report_file(&file)
                .quiet()
                .run(|sim| {
                    sim.count("runs counted", 1);
                    if sim.fault("disk::torn") && sim.below(2) == 0 {
                        return Err(rehearse::Failure::with_kind("torn", "a torn write was read back"));
                    }
                    Ok(())
                });
            file.display().to_string()
        })
        .collect()
}

#[test]
fn merge_combines_shard_reports_and_exits_1_on_failures() {
    let dir = tempfile::tempdir().unwrap();
    let files = shard_reports(dir.path());
    let merged = dir.path().join("merged.json");
    let out = rehearse()
        .args(["merge", &files[0], &files[1], "--out", merged.to_str().unwrap()])
        .assert()
        .code(1)
        .get_output()
        .stdout
        .clone();
    let out = String::from_utf8(out).unwrap();
    assert!(out.contains("seeds failed ("), "{out}");
    assert!(out.contains("%; seeds 0..60, 2 of 2 shards"), "{out}");
    assert!(out.contains("- torn: "), "{out}");
    assert!(out.contains("reproduce: REHEARSE_SEED="), "{out}");
    assert!(out.contains("disk::torn"), "{out}");
    assert!(out.contains("runs counted  60"), "{out}");
    let summary = rehearse::SweepSummary::read(&merged).unwrap();
    assert_eq!((summary.runs, summary.shards.clone()), (60, vec![1, 2]));
    // The merged file merges again (it covers both shards: no shard twice
    // with a third file means an error naming both files).
    rehearse()
        .args(["merge", merged.to_str().unwrap(), &files[0]])
        .assert()
        .code(2)
        .stderr(contains("shard 1 of 2 is in both").and(contains("merged.json")));
    // A missing shard is an error unless --partial.
    rehearse()
        .args(["merge", &files[0]])
        .assert()
        .code(2)
        .stderr(contains("shard 2 (of 2) is missing (pass --partial to accept)"));
    rehearse()
        .args(["merge", &files[0], "--partial", "--json"])
        .assert()
        .stdout(contains("\"format\": \"rehearse sweep report\""));
    // Not a report: the file is named.
    let bad = dir.path().join("bad.json");
    std::fs::write(&bad, "[1, 2]").unwrap();
    rehearse()
        .args(["merge", bad.to_str().unwrap()])
        .assert()
        .code(2)
        .stderr(contains("bad.json: not a sweep report"));
}

#[test]
fn merge_require_sometimes_exits_1_when_no_shard_hit_one() {
    let dir = tempfile::tempdir().unwrap();
    let files: Vec<String> = (1..=2)
        .map(|i| {
            let file = dir.path().join(format!("assert-{i}.json"));
            rehearse::Sweep::new("merge-assert")
                .seeds(0..20)
                .shard(i, 2)
                .assertions_in("cli::no_catalog")
                .report_file(&file)
                .quiet()
                .run(|sim| {
                    // Seed 3 is in shard 2 only.
                    rehearse::sometimes!("merge: seed 3", sim.seed() == 3);
                    rehearse::sometimes!("merge: seed 99", sim.seed() == 99);
                    Ok(())
                });
            file.display().to_string()
        })
        .collect();
    // Not required: the merge passes and lists both.
    let out = rehearse()
        .args(["merge", &files[0], &files[1]])
        .assert()
        .code(0)
        .get_output()
        .stdout
        .clone();
    let out = String::from_utf8(out).unwrap();
    assert!(
        out.contains("merge: seed 3") && out.contains("true 1 of 20 times, in 1 run"),
        "{out}"
    );
    assert!(out.contains("merge: seed 99") && out.contains("NEVER HIT"), "{out}");
    // Required: seed 99 was hit by no shard.
    let out = rehearse()
        .args(["merge", &files[0], &files[1], "--require-sometimes"])
        .assert()
        .code(1)
        .get_output()
        .stdout
        .clone();
    let out = String::from_utf8(out).unwrap();
    assert!(
        out.contains("FAILED: 1 sometimes!/reachable! assertion never hit"),
        "{out}"
    );
    assert!(out.contains(": merge: seed 99"), "{out}");
}
