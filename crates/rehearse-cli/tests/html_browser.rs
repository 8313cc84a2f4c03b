//! `rehearse html` pages rendered by a real browser: headless Chromium
//! (Debian's `chromium`, installed by `scripts/test`) loads the page from a
//! file, and the test reads back the DOM it built, a screenshot, and the
//! browser's network log, to prove that the timeline rendered and that
//! the page made no network request. A format 2 file from a real `Sim`
//! shows a lane per node and its fault marks, whose point and detail the
//! canvas shows on hover (a script appended to a copy of the page moves
//! the pointer over the timeline and reads the tooltip back).

mod support;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use assert_cmd::cargo::CommandCargoExt;

const BROWSER: &str = "chromium";

/// Runs headless Chromium on `page` with `extra` arguments and a fresh
/// profile; returns stdout (the DOM for `--dump-dom`). The network log is
/// written to `netlog`.
fn chromium(page: &Path, netlog: &Path, extra: &[&str]) -> String {
    let profile = tempfile::tempdir().unwrap();
    // Into a file, not a pipe: the DOM holds the page's data (megabytes),
    // more than a pipe buffers while nobody reads it.
    let dump = profile.path().join("stdout");
    let mut child = Command::new(BROWSER)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--window-size=1400,900",
        ])
        .arg(format!("--user-data-dir={}", profile.path().display()))
        .arg(format!("--log-net-log={}", netlog.display()))
        .args(extra)
        .arg(format!("file://{}", page.display()))
        .stdout(std::fs::File::create(&dump).unwrap())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {BROWSER} ({e}): run scripts/test, which installs it"));
    let start = Instant::now();
    loop {
        if child.try_wait().unwrap().is_some() {
            break;
        }
        if start.elapsed() > Duration::from_secs(120) {
            let _ = child.kill();
            panic!("{BROWSER} did not finish within 120 s");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    std::fs::read_to_string(&dump).unwrap()
}

/// The URLs the page itself requested, from Chromium's network log: the
/// requests made on behalf of a `file://` page (Chromium's own background
/// traffic, if any, belongs to no page and is left out).
fn page_requests(netlog: &Path) -> Vec<String> {
    let text = std::fs::read_to_string(netlog).unwrap();
    let log: serde_json::Value = serde_json::from_str(&text)
        .or_else(|_| serde_json::from_str(&format!("{}]}}", text.trim_end().trim_end_matches(','))))
        .unwrap_or_else(|e| panic!("unreadable net log ({e})"));
    let mut urls: Vec<String> = log["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|e| {
            let p = &e["params"];
            let key = p["network_isolation_key"].as_str()?;
            key.starts_with("file://")
                .then(|| p["url"].as_str().map(String::from))?
        })
        .collect();
    urls.dedup();
    urls
}

fn attribute(dom: &str, name: &str) -> Option<String> {
    let body = &dom[dom.find("<body")?..];
    let body = &body[..body.find('>')?];
    let at = body.find(&format!("{name}=\""))? + name.len() + 2;
    Some(body[at..at + body[at..].find('"')?].to_string())
}

fn call_elements(dom: &str) -> usize {
    dom.matches("class=\"call").count()
}

/// Appended to a copy of a page: moves the pointer over every lane of the
/// timeline, pixel by pixel, and keeps each distinct tooltip in
/// `data-tips` (JSON) on the body.
const HOVER_PROBE: &str = r#"<script>
(function () {
  const canvas = document.getElementById("canvas"), tip = document.getElementById("tip");
  const r = canvas.getBoundingClientRect(), found = [];
  for (let y = 4; y < r.height; y += 5) for (let x = 0; x < r.width; x += 1) {
    canvas.dispatchEvent(new MouseEvent("mousemove", { clientX: r.left + x, clientY: r.top + y }));
    if (tip.style.display === "block" && !found.includes(tip.textContent)) found.push(tip.textContent);
  }
  document.body.dataset.tips = JSON.stringify(found);
})();
</script>
</body>"#;

/// `&quot;` and friends back to text, for an attribute read from the DOM.
fn unescape(attr: &str) -> String {
    attr.replace("&quot;", "\"")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&amp;", "&")
}

fn render(scenarios: &[&Path], out: &Path) {
    let status = Command::cargo_bin("rehearse")
        .unwrap()
        .arg("html")
        .args(scenarios)
        .arg("-o")
        .arg(out)
        .status()
        .unwrap();
    assert!(status.success());
}

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

#[test]
#[ignore = "needs chromium: run scripts/test"]
fn a_real_scenario_renders_every_call_and_fetches_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let page = dir.path().join("live.html");
    let scenario = repo().join("scenarios/live_failover.ron");
    render(&[&scenario], &page);
    // (the recording is re-made with the live tests: count its calls)
    let text = std::fs::read_to_string(&scenario).unwrap();
    let calls = text.lines().filter(|l| l.starts_with("(i: ")).count();
    let netlog = dir.path().join("net.json");
    let dom = chromium(&page, &netlog, &["--dump-dom"]);
    assert_eq!(
        attribute(&dom, "data-ready").as_deref(),
        Some("1"),
        "the script ran to the end"
    );
    assert_eq!(attribute(&dom, "data-total"), Some(calls.to_string()));
    assert_eq!(call_elements(&dom), calls, "one element per call");
    assert_eq!(
        attribute(&dom, "data-resources").as_deref(),
        Some("0"),
        "no resource loaded"
    );
    assert_eq!(page_requests(&netlog), Vec::<String>::new());
    assert!(dom.contains("Cluster::promote"), "the promotion is listed");

    // A screenshot of the same page.
    let shot = dir.path().join("live.png");
    chromium(
        &page,
        &dir.path().join("net2.json"),
        &[&format!("--screenshot={}", shot.display())],
    );
    let png = std::fs::read(&shot).unwrap();
    assert!(png.starts_with(b"\x89PNG") && png.len() > 10_000, "{} bytes", png.len());
}

#[test]
#[ignore = "needs chromium: run scripts/test"]
fn the_network_check_catches_a_page_that_fetches() {
    // The control for the test above: a page that loads an image and
    // fetches a URL is caught by the same net-log reading.
    let dir = tempfile::tempdir().unwrap();
    let page = dir.path().join("fetching.html");
    std::fs::write(
        &page,
        "<html><body><img src=\"http://127.0.0.1:9/x.png\"><script>fetch('http://127.0.0.1:9/y')</script></body></html>",
    )
    .unwrap();
    let netlog = dir.path().join("net.json");
    chromium(&page, &netlog, &["--dump-dom"]);
    let urls = page_requests(&netlog);
    assert!(urls.iter().any(|u| u == "http://127.0.0.1:9/x.png"), "{urls:?}");
    assert!(urls.iter().any(|u| u == "http://127.0.0.1:9/y"), "{urls:?}");
}

#[test]
#[ignore = "needs chromium: run scripts/test"]
fn a_100k_call_file_renders_a_window_of_rows_not_all_of_them() {
    let dir = tempfile::tempdir().unwrap();
    let big = dir.path().join("big.ron");
    let mut text = String::from("(rehearse: 1, tool: \"test\", seed: 1)\n");
    for i in 0..100_000u64 {
        let (name, out) = match i % 3 {
            0 => ("Cluster::node_status", format!("Ok((role: Primary, offset: {i}))")),
            1 => ("Host::sleep_until", format!("Tick({i})")),
            _ if i % 997 == 2 => (
                "Election::leader",
                "Err(Unavailable(\"injected: timeout\"))".to_string(),
            ),
            _ => ("Election::leader", "Ok(None)".to_string()),
        };
        let call = rehearse::Call {
            index: i as usize,
            name: name.to_string(),
            inputs: vec![rehearse::Value::Str("10.0.0.1:6379".into())],
            output: rehearse::Value::parse(&out).unwrap(),
            at_us: Some(i * 1000),
            node: None,
            line: 0,
        };
        text.push_str(&call.to_line());
        text.push('\n');
    }
    std::fs::write(&big, text).unwrap();
    let page = dir.path().join("big.html");
    render(&[&big], &page);
    let dom = chromium(&page, &dir.path().join("net.json"), &["--dump-dom"]);
    assert_eq!(attribute(&dom, "data-ready").as_deref(), Some("1"));
    assert_eq!(attribute(&dom, "data-total").as_deref(), Some("100000"));
    let rows = call_elements(&dom);
    assert!(
        rows > 10 && rows < 500,
        "{rows} rows in the DOM: a window, not every call"
    );
    let ms: u64 = attribute(&dom, "data-render-ms").unwrap().parse().unwrap();
    eprintln!("100,000 calls: {rows} rows in the DOM, first render {ms} ms");
}

#[test]
#[ignore = "needs chromium: run scripts/test"]
fn a_simulated_run_gets_a_lane_per_node_and_its_faults_show_on_hover() {
    let dir = tempfile::tempdir().unwrap();
    let scenario = dir.path().join("replication.ron");
    let (fired, notes) = support::simulate(&scenario);
    let faults: u64 = fired.values().sum();
    let calls = rehearse::Trace::read(&scenario).unwrap().calls().len();
    let page = dir.path().join("replication.html");
    render(&[&scenario], &page);
    let netlog = dir.path().join("net.json");
    let dom = chromium(&page, &netlog, &["--dump-dom"]);
    assert_eq!(attribute(&dom, "data-ready").as_deref(), Some("1"));
    assert_eq!(attribute(&dom, "data-total"), Some(calls.to_string()));
    assert_eq!(attribute(&dom, "data-faults"), Some(faults.to_string()));
    assert_eq!(attribute(&dom, "data-notes"), Some(notes.to_string()));
    // n1, n2, and the first note's lane (it has no node).
    assert_eq!(attribute(&dom, "data-lanes").as_deref(), Some("3"));
    assert_eq!(call_elements(&dom), calls, "one element per call");
    assert_eq!(
        dom.matches("class=\"mark fault").count() as u64,
        faults,
        "one row per fault"
    );
    assert_eq!(dom.matches("class=\"mark note").count(), notes, "one row per note");
    assert!(
        dom.contains("n0 -&gt; n1: Append(") || dom.contains("n0 -&gt; n2: Append("),
        "a drop's detail in the list"
    );
    assert_eq!(page_requests(&netlog), Vec::<String>::new());

    // Hover over the timeline: the faults' points and details.
    let html = std::fs::read_to_string(&page).unwrap();
    let probe = dir.path().join("probe.html");
    std::fs::write(&probe, html.replacen("</body>", HOVER_PROBE, 1)).unwrap();
    let dom = chromium(&probe, &dir.path().join("net2.json"), &["--dump-dom"]);
    let tips: Vec<String> = serde_json::from_str(&unescape(&attribute(&dom, "data-tips").unwrap())).unwrap();
    assert!(
        tips.iter()
            .any(|t| t.starts_with("fault net::drop\nn0 -> n") && t.contains(": Append(")),
        "{tips:#?}"
    );
    assert!(tips.iter().any(|t| t.starts_with("fault net::crash\n")), "{tips:#?}");
    assert!(
        tips.iter().any(
            |t| t.starts_with("fault Wire::deliver\nthe call failed before reaching the world")
                || t.starts_with("fault Wire::deliver\nthe call reached the world")
        ),
        "{tips:#?}"
    );
    assert!(
        tips.iter().any(|t| t.starts_with("note\n3 nodes; n0 leads")),
        "{tips:#?}"
    );
    assert!(
        tips.iter().any(|t| t.starts_with('#') && t.contains("Wire::deliver(")),
        "{tips:#?}"
    );

    // The screenshot renders too.
    let shot = dir.path().join("replication.png");
    chromium(
        &page,
        &dir.path().join("net3.json"),
        &[&format!("--screenshot={}", shot.display())],
    );
    let png = std::fs::read(&shot).unwrap();
    assert!(png.starts_with(b"\x89PNG") && png.len() > 10_000, "{} bytes", png.len());
}

#[test]
#[ignore = "needs chromium: run scripts/test"]
fn a_saved_failing_run_shows_its_failure_at_the_top() {
    let dir = tempfile::tempdir().unwrap();
    let page = dir.path().join("net.html");
    let fixture = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/net.ron");
    render(&[&fixture], &page);
    let dom = chromium(&page, &dir.path().join("net.json"), &["--dump-dom"]);
    assert_eq!(attribute(&dom, "data-ready").as_deref(), Some("1"));
    assert!(
        dom.contains("<div class=\"failure\">failure (lost acknowledged write): entry 3 was acknowledged to the client, then lost: n1 restarted without it</div>"),
        "{dom}"
    );
    assert!(
        dom.contains("<div class=\"params\">params: bug=ack-before-sync, nodes=3</div>"),
        "{dom}"
    );
    assert!(dom.contains("<div class=\"repro\">repro: REHEARSE_REPLAY="), "{dom}");
    // n0, n1 and the first note's lane.
    assert_eq!(attribute(&dom, "data-lanes").as_deref(), Some("3"));
    assert_eq!(dom.matches("class=\"mark fault").count(), 2);
}
