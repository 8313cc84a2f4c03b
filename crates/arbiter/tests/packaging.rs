//! What operators install stays true: the sample configuration
//! (`packaging/arbiter.toml`) loads, and mentions every field the
//! configuration accepts; `arbiter run --help` carries it; the systemd
//! unit (`packaging/arbiter.service`) passes `systemd-analyze verify`.
//!
//! The fields are not listed here: they are read from the configuration
//! itself. Every section is `#[serde(deny_unknown_fields)]`, so an unknown
//! key placed in a table makes `config::parse` name the fields that table
//! accepts ("unknown field `__probe__`, expected one of ..."). A new field
//! or section in `config.rs` fails this test until the sample explains it
//! (as a field, or commented out: `# field = ...` under its `[section]`).

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;

const SAMPLE: &str = include_str!("../packaging/arbiter.toml");
const PROBE: &str = "__probe__";

fn packaging(file: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("packaging").join(file)
}

/// What the sample mentions: its table headers, and per table (`""` for
/// the top level, `etcd`, `nodes`, ...) its keys, with the line each is
/// on; commented-out ones (`# key = value`, `# [table]`) included.
#[derive(Debug, Default)]
struct Mentioned {
    /// Header → (line, active): `[etcd]`, `[[nodes]]`, `# [hooks]`.
    headers: BTreeMap<String, (usize, bool)>,
    /// Table → key → commented out.
    keys: BTreeMap<String, BTreeMap<String, bool>>,
}

fn is_name(s: &str) -> bool {
    !s.is_empty()
        && s.split('.')
            .all(|part| !part.is_empty() && part.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-'))
}

fn mentioned(text: &str) -> Mentioned {
    let mut m = Mentioned::default();
    let mut table = String::new();
    for (i, line) in text.lines().enumerate() {
        let trimmed = line.trim();
        let (commented, body) = match trimmed.strip_prefix('#') {
            Some(rest) => (true, rest.trim()),
            None => (false, trimmed),
        };
        let header = body
            .strip_prefix("[[")
            .and_then(|b| b.strip_suffix("]]"))
            .or_else(|| body.strip_prefix('[').and_then(|b| b.strip_suffix(']')));
        if let Some(name) = header.map(str::trim).filter(|n| is_name(n)) {
            m.headers.entry(name.to_string()).or_insert((i, !commented));
            table = name.to_string();
            continue;
        }
        if let Some((key, value)) = body.split_once('=') {
            let key = key.trim();
            // `key = value` where value is TOML (prose does not parse).
            let valid = toml::from_str::<toml::Table>(&format!("x = {}", value.trim())).is_ok();
            if is_name(key) && !key.contains('.') && valid {
                let keys = m.keys.entry(table.clone()).or_default();
                let was_active = keys.get(key).is_some_and(|c| !c);
                keys.insert(key.to_string(), commented && !was_active);
            }
        }
    }
    m
}

/// The fields the table `table` (`""`: the top level) accepts, read from
/// the error an unknown key there gives; `None` when the probe does not
/// give that error (not a table, or a table that takes any key).
fn accepted_fields(m: &Mentioned, table: &str) -> Option<Vec<String>> {
    let probe = format!("{PROBE} = 0\n");
    let texts: Vec<String> = if table.is_empty() {
        vec![format!("{probe}{SAMPLE}")]
    } else if let Some((line, true)) = m.headers.get(table) {
        let mut lines: Vec<&str> = SAMPLE.lines().collect();
        lines.insert(line + 1, probe.trim_end());
        vec![lines.join("\n")]
    } else {
        vec![
            format!("{SAMPLE}\n[{table}]\n{probe}"),
            format!("{SAMPLE}\n[[{table}]]\n{probe}"),
        ]
    };
    for text in texts {
        let Err(e) = arbiter::config::parse(&text) else {
            continue;
        };
        if !e.contains(&format!("unknown field `{PROBE}`")) {
            continue;
        }
        // serde: "expected `a`", "expected `a` or `b`", "expected one of
        // `a`, `b`, `c`", "there are no fields".
        let Some((_, list)) = e.split_once("expected ") else {
            return Some(Vec::new());
        };
        return Some(list.split('`').skip(1).step_by(2).map(str::to_string).collect());
    }
    None
}

/// Every field of `table` and of the tables below it, as the sample
/// mentions them: `(path, problem)` for each one it does not.
fn check_table(m: &Mentioned, table: &str, fields: &[String], all: &mut BTreeSet<String>, missing: &mut Vec<String>) {
    let keys = m.keys.get(table).cloned().unwrap_or_default();
    for key in keys.keys() {
        if !fields.contains(key) {
            missing.push(format!(
                "[{table}] {key}: in the sample but not accepted by the configuration (a typo?)"
            ));
        }
    }
    for field in fields {
        let path = if table.is_empty() {
            field.clone()
        } else {
            format!("{table}.{field}")
        };
        all.insert(path.clone());
        let as_key = keys.contains_key(field);
        let as_header = m.headers.contains_key(&path);
        if !as_key && !as_header {
            let place = if table.is_empty() {
                format!("a [{field}] table, or a commented-out `# [{field}]` with its fields")
            } else {
                format!("it under [{table}], commented out if it has no sensible example value")
            };
            missing.push(format!(
                "{path}: accepted by the configuration, not explained in packaging/arbiter.toml (add {place})"
            ));
            continue;
        }
        if as_header {
            match accepted_fields(m, &path) {
                Some(sub) => check_table(m, &path, &sub, all, missing),
                None => missing.push(format!(
                    "[{path}]: its fields cannot be listed (mark its struct #[serde(deny_unknown_fields)])"
                )),
            }
        }
    }
}

#[test]
fn the_sample_configuration_loads_as_it_is() {
    let config = arbiter::config::load(&packaging("arbiter.toml")).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(config.group.nodes.len(), 3);
    assert!(!config.record.enabled, "the sample leaves recording off");
    assert_eq!(config.record.path, Path::new("/var/lib/arbiter/arbiter.ron"));
    // The values it shows are the defaults, unless it says otherwise.
    let defaults = arbiter::types::Settings::default();
    assert_eq!(config.group.settings, defaults);
    assert_eq!(config.record.max_bytes, arbiter::config::DEFAULT_RECORD_MAX_BYTES);
    assert_eq!(config.record.keep, arbiter::config::DEFAULT_RECORD_KEEP);
}

#[test]
fn the_sample_configuration_explains_every_field_the_configuration_accepts() {
    let m = mentioned(SAMPLE);
    let top = accepted_fields(&m, "").expect("the top level lists its sections");
    assert!(
        top.contains(&"etcd".to_string()) && top.contains(&"record".to_string()),
        "{top:?}"
    );
    let mut all = BTreeSet::new();
    let mut missing = Vec::new();
    check_table(&m, "", &top, &mut all, &mut missing);
    assert!(
        missing.is_empty(),
        "packaging/arbiter.toml:\n  {}",
        missing.join("\n  ")
    );
    // The probe really reads nested fields.
    for field in [
        "etcd.ttl_s",
        "nodes.priority",
        "settings.paused",
        "record.max_bytes",
        "record.keep",
    ] {
        assert!(all.contains(field), "{field} not found by the probe: {all:?}");
    }
}

#[test]
fn the_probe_notices_a_field_the_sample_does_not_explain() {
    let m = mentioned(&SAMPLE.replace("max_bytes = ", "# (max_bytes removed) "));
    let top = accepted_fields(&m, "").unwrap();
    let mut missing = Vec::new();
    check_table(&m, "", &top, &mut BTreeSet::new(), &mut missing);
    assert_eq!(missing.len(), 1, "{missing:?}");
    assert!(missing[0].starts_with("record.max_bytes: "), "{missing:?}");
    // And a commented-out key with a typo.
    let m = mentioned(&SAMPLE.replace("# password = ", "# pasword = "));
    let mut missing = Vec::new();
    check_table(&m, "", &top, &mut BTreeSet::new(), &mut missing);
    assert!(missing.iter().any(|p| p.starts_with("[redis] pasword")), "{missing:?}");
}

#[test]
fn run_help_explains_every_section_and_field() {
    let out = Command::new(env!("CARGO_BIN_EXE_arbiter"))
        .args(["run", "--help"])
        .output()
        .unwrap();
    assert!(out.status.success());
    let help = String::from_utf8(out.stdout).unwrap();
    assert!(
        help.contains(SAMPLE.trim_end()),
        "the sample is in the help verbatim:\n{help}"
    );
    assert!(!help.contains("arbiter::config"), "no pointer at Rust docs:\n{help}");
    let m = mentioned(SAMPLE);
    let top = accepted_fields(&m, "").unwrap();
    for section in &top {
        assert!(
            help.contains(&format!("[{section}]")) || help.contains(&format!("[[{section}]]")),
            "{section} missing from run --help"
        );
    }
    // -h stays short and says where the fields are.
    let out = Command::new(env!("CARGO_BIN_EXE_arbiter"))
        .args(["run", "-h"])
        .output()
        .unwrap();
    let short = String::from_utf8(out.stdout).unwrap();
    assert!(short.lines().count() < 30, "{short}");
    assert!(short.contains("--help"), "{short}");
}

/// `systemd-analyze verify` on the unit, with `ExecStart` pointing at the
/// binary just built (verify checks that it exists); skipped, saying so,
/// where systemd is not installed.
#[test]
fn the_systemd_unit_verifies() {
    let unit = std::fs::read_to_string(packaging("arbiter.service")).unwrap();
    let exec = "ExecStart=/usr/local/bin/arbiter run --config /etc/arbiter/arbiter.toml";
    assert!(unit.contains(exec), "{unit}");
    for line in [
        "Type=simple",
        "Restart=on-failure",
        "KillSignal=SIGTERM",
        "NoNewPrivileges=yes",
        "ProtectSystem=strict",
        "PrivateTmp=yes",
        "ReadWritePaths=/var/lib/arbiter",
        "User=arbiter",
    ] {
        assert!(unit.lines().any(|l| l == line), "{line} missing");
    }
    // The recording directory the unit allows is the sample's.
    assert!(SAMPLE.contains("path = \"/var/lib/arbiter/arbiter.ron\""));
    if Command::new("systemd-analyze").arg("--version").output().is_err() {
        eprintln!("systemd-analyze is not installed: the unit is not verified (apt-get install systemd)");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("arbiter.service");
    std::fs::write(
        &path,
        unit.replace("/usr/local/bin/arbiter", env!("CARGO_BIN_EXE_arbiter")),
    )
    .unwrap();
    let out = Command::new("systemd-analyze")
        .arg("verify")
        .arg(&path)
        .output()
        .unwrap();
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    // Warnings about this host's other units are not the unit's.
    let ours: Vec<&str> = said.lines().filter(|l| l.contains("arbiter")).collect();
    assert!(
        out.status.success() && ours.is_empty(),
        "systemd-analyze verify:\n{said}"
    );
    if !said.trim().is_empty() {
        eprintln!("systemd-analyze verify, about other units:\n{said}");
    }
}
