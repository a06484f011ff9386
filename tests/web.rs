//! The web workspace in a real browser: Debian's chromium, driven through
//! chromedriver (W3C WebDriver), against the real `ladder serve` binary on
//! a temp store filled by the real CLI (`generate`, `sync`, `seed`).
//!
//! A member of staff signs in with a token, searches a firm and opens its
//! page, edits it, runs into someone else's change (etag conflict), reads
//! the funnel (checked number by number against the API) and clicks
//! through it, opens the supply–demand map, uploads a CSV with a dry run
//! and then for real, reverts that run after its preview, looks at every
//! page at a phone's width, and signs in again as a viewer who is offered
//! no edits. Screenshots land in `target/tmp/web-screenshots/`.
//!
//! Needs `chromium` and `chromium-driver` (and a CJK font for readable
//! screenshots): `scripts/install-browser.sh` installs them, and the
//! README's test command (`scripts/test.sh`) runs it first.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::http::request;
use serde_json::{json, Value};

const ADMIN_TOKEN: &str = "ldr_web_test_admin_token";
const VIEWER_TOKEN: &str = "ldr_web_test_viewer_token";
const WAIT: Duration = Duration::from_secs(20);
/// The zones `ladder generate` spreads its firms over, as a zone configures them.
const ZONES: &str = "[[zones]]\nid = \"east\"\nname = \"东区片区\"\n\n[[zones]]\nid = \"west\"\nname = \"西区片区\"\n\n\
                     [[zones]]\nid = \"south\"\nname = \"南区片区\"\n\n[[zones]]\nid = \"north\"\nname = \"北区片区\"\n\n\
                     [[zones]]\nid = \"central\"\nname = \"中心片区\"\n\n";

/// A child process killed when the test ends, however it ends.
struct Process(Child);

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

fn wait_for_port(port: u16, what: &str) {
    let until = Instant::now() + Duration::from_secs(30);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < until, "{what} did not start listening on port {port}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn ladder(args: &[&str]) -> std::process::Output {
    let out = Command::new(env!("CARGO_BIN_EXE_ladder"))
        .args(args)
        .env_remove("LADDER_SERVER")
        .env_remove("LADDER_DATA")
        .env("LADDER_TOKEN", ADMIN_TOKEN)
        .output()
        .expect("run ladder");
    assert!(out.status.success(), "ladder {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    out
}

fn screenshots() -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("web-screenshots");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// A WebDriver session in headless chromium.
struct Browser {
    driver: String,
    session: String,
    _chromedriver: Process,
}

impl Browser {
    fn start(profile: &Path) -> Browser {
        let binary = ["/usr/bin/chromedriver", "/usr/lib/chromium/chromedriver"]
            .into_iter()
            .find(|p| Path::new(p).exists())
            .unwrap_or_else(|| {
                panic!(
                    "the browser test needs chromium and chromedriver: run scripts/install-browser.sh \
                     (the README's test command, scripts/test.sh, does)"
                )
            });
        let port = free_port();
        let child = Command::new(binary)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start chromedriver");
        let chromedriver = Process(child);
        wait_for_port(port, "chromedriver");
        let driver = format!("127.0.0.1:{port}");
        let args = [
            "--headless=new",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--disable-dev-shm-usage",
            "--window-size=1366,768",
            "--lang=zh-CN",
        ]
        .iter()
        .map(|a| a.to_string())
        .chain([format!("--user-data-dir={}", profile.display())])
        .collect::<Vec<_>>();
        let capabilities = json!({"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": {"binary": "/usr/bin/chromium", "args": args},
            "goog:loggingPrefs": {"browser": "ALL"},
        }}});
        let answer = post(&driver, "/session", &capabilities);
        let session =
            answer["value"]["sessionId"].as_str().unwrap_or_else(|| panic!("no session: {answer}")).to_string();
        Browser { driver, session, _chromedriver: chromedriver }
    }

    fn cmd(&self, method: &str, path: &str, body: Value) -> Value {
        let path = format!("/session/{}{path}", self.session);
        let body = if method == "GET" { Vec::new() } else { body.to_string().into_bytes() };
        let r = request(&self.driver, method, &path, &[("content-type", "application/json")], &body);
        let v: Value = serde_json::from_slice(&r.body).unwrap_or(Value::Null);
        assert!(r.status < 300, "WebDriver {method} {path}: HTTP {} {}", r.status, r.text());
        v["value"].clone()
    }

    fn goto(&self, url: &str) {
        self.cmd("POST", "/url", json!({ "url": url }));
    }

    fn find_all(&self, css: &str) -> Vec<String> {
        let found = self.cmd("POST", "/elements", json!({"using": "css selector", "value": css}));
        found
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|e| e.as_object()?.values().next()?.as_str().map(String::from))
            .collect()
    }

    fn find(&self, css: &str) -> Option<String> {
        self.find_all(css).into_iter().next()
    }

    /// Waits for an element; on time-out saves a screenshot and tells what the page shows.
    fn wait(&self, css: &str) -> String {
        let mut found = None;
        self.wait_until(&format!("element {css}"), || {
            found = self.find(css);
            found.is_some()
        });
        found.unwrap()
    }

    fn wait_until(&self, what: &str, mut ok: impl FnMut() -> bool) {
        let until = Instant::now() + WAIT;
        while !ok() {
            if Instant::now() > until {
                self.screenshot(&format!("failed-{}", what.replace(|c: char| !c.is_alphanumeric(), "_")));
                let text = self.script("return document.body.innerText.slice(0, 3000)", json!([]));
                panic!("timed out waiting for {what}\npage: {}\nconsole: {:?}", text, self.console());
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    fn click(&self, element: &str) {
        self.cmd("POST", &format!("/element/{element}/click"), json!({}));
    }

    fn click_css(&self, css: &str) {
        let e = self.wait(css);
        self.click(&e);
    }

    fn type_into(&self, css: &str, text: &str) {
        let e = self.wait(css);
        self.cmd("POST", &format!("/element/{e}/clear"), json!({}));
        self.cmd("POST", &format!("/element/{e}/value"), json!({ "text": text }));
    }

    fn text(&self, element: &str) -> String {
        self.cmd("GET", &format!("/element/{element}/text"), Value::Null).as_str().unwrap_or("").to_string()
    }

    fn attr(&self, element: &str, name: &str) -> Option<String> {
        self.cmd("GET", &format!("/element/{element}/attribute/{name}"), Value::Null).as_str().map(String::from)
    }

    fn script(&self, js: &str, args: Value) -> Value {
        self.cmd("POST", "/execute/sync", json!({"script": js, "args": args}))
    }

    fn resize(&self, width: u32, height: u32) {
        self.cmd("POST", "/window/rect", json!({"width": width, "height": height}));
    }

    fn screenshot(&self, name: &str) -> PathBuf {
        use base64::Engine as _;
        let png = self.cmd("GET", "/screenshot", Value::Null);
        let bytes = base64::engine::general_purpose::STANDARD.decode(png.as_str().unwrap_or("")).unwrap_or_default();
        let path = screenshots().join(format!("{name}.png"));
        std::fs::write(&path, bytes).unwrap();
        path
    }

    /// The browser console's errors since the last call (CSP violations and
    /// uncaught exceptions land here).
    fn console(&self) -> Vec<String> {
        let path = format!("/session/{}/se/log", self.session);
        let r =
            request(&self.driver, "POST", &path, &[("content-type", "application/json")], b"{\"type\":\"browser\"}");
        let v: Value = serde_json::from_slice(&r.body).unwrap_or(Value::Null);
        v["value"]
            .as_array()
            .map(|entries| {
                entries
                    .iter()
                    .filter(|e| e["level"] == "SEVERE")
                    .filter_map(|e| e["message"].as_str().map(String::from))
                    .collect()
            })
            .unwrap_or_default()
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = request(&self.driver, "DELETE", &format!("/session/{}", self.session), &[], b"");
    }
}

fn post(addr: &str, path: &str, body: &Value) -> Value {
    let r = request(addr, "POST", path, &[("content-type", "application/json")], body.to_string().as_bytes());
    serde_json::from_slice(&r.body).unwrap_or_else(|_| panic!("{path}: HTTP {} {}", r.status, r.text()))
}

/// A JSON call to the server's API as the admin (what the test checks against).
fn api(addr: &str, method: &str, body: Value) -> Value {
    let auth = format!("Bearer {ADMIN_TOKEN}");
    let r = request(
        addr,
        "POST",
        &format!("/api/ladder.v1.{method}"),
        &[("x-ladder-client", "web"), ("authorization", &auth), ("content-type", "application/json")],
        body.to_string().as_bytes(),
    );
    let v: Value =
        serde_json::from_slice(&r.body).unwrap_or_else(|_| panic!("{method}: HTTP {} {}", r.status, r.text()));
    assert_eq!(r.status, 200, "{method}: {v}");
    v
}

fn count(v: &Value) -> u64 {
    match v {
        Value::String(s) => s.parse().unwrap_or(0),
        Value::Number(n) => n.as_u64().unwrap_or(0),
        _ => 0,
    }
}

#[test]
fn staff_work_in_the_browser() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("ladder.toml");
    std::fs::write(
        &config,
        format!(
            "{ZONES}[[tokens]]\nname = \"admin1\"\nrole = \"admin\"\nsha256 = \"{}\"\n\n\
             [[tokens]]\nname = \"viewer1\"\nrole = \"viewer\"\nsha256 = \"{}\"\n",
            ladder::auth::hash_token(ADMIN_TOKEN),
            ladder::auth::hash_token(VIEWER_TOKEN)
        ),
    )
    .unwrap();
    let port = free_port();
    let addr = format!("127.0.0.1:{port}");
    let data = dir.path().join("data");
    let server = Command::new(env!("CARGO_BIN_EXE_ladder"))
        .args(["serve", "--listen", &addr, "--data", data.to_str().unwrap(), "--config", config.to_str().unwrap()])
        .env_remove("LADDER_WEB_DIR")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start ladder serve");
    let _server = Process(server);
    wait_for_port(port, "ladder serve");
    let url = format!("http://{addr}");

    // Sample data through the real CLI.
    let firms = dir.path().join("firms.csv");
    let generated = ladder(&["generate", "--firms", "300"]);
    std::fs::write(&firms, &generated.stdout).unwrap();
    ladder(&["sync", firms.to_str().unwrap(), "--source", "market-registry", "--server", &url]);
    ladder(&["seed", "--server", &url]);

    let browser = Browser::start(&dir.path().join("profile"));

    // Sign in.
    browser.goto(&url);
    browser.wait("#signin");
    browser.screenshot("01-sign-in");
    browser.type_into("#token", ADMIN_TOKEN);
    browser.click_css("#signin button[type=submit]");
    let who = browser.wait("#who-name");
    assert_eq!(browser.text(&who), "admin1");

    // The funnel, number by number against the API, then a click through to its firms.
    let funnel = api(&addr, "CultivationService/GetFunnel", json!({}));
    browser.wait("#funnel .bar[data-stage]");
    browser.screenshot("02-overview");
    let bars = browser.find_all("#funnel .bar[data-stage]");
    assert!(bars.len() >= 5, "a bar per stage, got {}", bars.len());
    let mut checked = 0;
    for bar in &bars {
        let stage = browser.attr(bar, "data-stage").unwrap();
        let shown: u64 = browser.attr(bar, "data-count").unwrap().parse().unwrap();
        let expected = funnel["by_stage"].as_array().unwrap().iter().find(|s| s["stage"] == stage.as_str());
        let expected = count(&expected.unwrap_or_else(|| panic!("{stage} is not in the API's funnel"))["count"]);
        assert_eq!(shown, expected, "the funnel's {stage}");
        checked += 1;
    }
    assert!(checked >= 5);
    let climb =
        count(&funnel["by_stage"].as_array().unwrap().iter().find(|s| s["stage"] == "STAGE_CLIMB").unwrap()["count"]);
    assert!(climb > 0, "the sample has firms at 登高");
    browser.click_css("#funnel .bar[data-stage=STAGE_CLIMB]");
    browser.wait_until("the firms list behind the 登高 bar", || {
        browser.find(".page-status[data-total]").and_then(|e| browser.attr(&e, "data-total")) == Some(climb.to_string())
    });
    let hash = browser.script("return location.hash", json!([]));
    assert!(hash.as_str().unwrap().contains("stage=STAGE_CLIMB"), "{hash}");

    // Search a firm by name and open its page.
    // A firm high on the ladder, so its page has designations to draw.
    let listed =
        api(&addr, "EnterpriseService/ListEnterprises", json!({"page_size": 1, "filter": "stage = STAGE_ADVANCE"}));
    let firm = &listed["enterprises"][0];
    let (name, display) =
        (firm["name"].as_str().unwrap().to_string(), firm["display_name"].as_str().unwrap().to_string());
    browser.goto(&format!("{url}/#/firms"));
    browser.type_into("#firm-search", &display);
    browser.click_css("#firm-search-go");
    let mut link = None;
    browser.wait_until("the firm in the search results", || {
        link = browser.find_all("a.firm-link").into_iter().find(|l| browser.text(l) == display);
        link.is_some()
    });
    browser.click(&link.unwrap());
    browser.wait_until("the firm's page", || browser.find("h1#firm-name").is_some_and(|h| browser.text(&h) == display));
    browser.wait("#timeline svg");
    browser.wait("#history");
    browser.screenshot("03-firm");

    // Edit it.
    browser.click_css("#edit-firm");
    browser.wait("#firm-form");
    browser.type_into("#firm-form [name=notes]", "网页上编辑的备注");
    browser.click_css("#save-firm");
    browser.wait_until("the edit to be stored", || {
        api(&addr, "EnterpriseService/GetEnterprise", json!({"name": name}))["notes"] == "网页上编辑的备注"
    });
    let changes = api(&addr, "ChangeService/ListChanges", json!({"resource": name}));
    let last = changes["changes"].as_array().unwrap().iter().max_by_key(|c| count(&c["revision"])).unwrap().clone();
    assert_eq!((last["actor"].as_str(), last["origin"].as_str()), (Some("admin1"), Some("web")), "{last}");

    // Someone else changes the firm while the form is open: the save is refused, nothing is lost.
    browser.wait_until("the page after saving", || browser.find("#edit-firm").is_some());
    browser.click_css("#edit-firm");
    browser.wait("#firm-form");
    api(
        &addr,
        "EnterpriseService/UpdateEnterprise",
        json!({"enterprise": {"name": name, "notes": "另一位同事的修改"}, "update_mask": "notes"}),
    );
    browser.type_into("#firm-form [name=notes]", "我的修改");
    browser.click_css("#save-firm");
    browser.wait("#conflict .error[data-reason=ETAG_MISMATCH]");
    browser.screenshot("04-conflict");
    assert_eq!(
        api(&addr, "EnterpriseService/GetEnterprise", json!({"name": name}))["notes"],
        "另一位同事的修改",
        "the stale edit did not overwrite the colleague's"
    );
    browser.click_css("#reload-firm");
    browser.wait_until("the reloaded record", || {
        browser.find("#conflict").is_none() && browser.find("h1#firm-name").is_some()
    });

    // The supply–demand map: drawn, pannable and zoomable, firms clickable.
    browser.goto(&format!("{url}/#/supply?tab=map&level=FIRM"));
    browser.wait("#map svg");
    browser.wait("#map g.node[data-node]");
    let before = browser.script("return document.querySelector('#map svg').style.transform", json!([]));
    browser.click_css("#map-zoom-in");
    let after = browser.script("return document.querySelector('#map svg').style.transform", json!([]));
    assert_ne!(before, after, "zooming changes the map's transform");
    browser.screenshot("05-map");

    // Upload a CSV: a dry run first (nothing written), then for real.
    let new_codes: Vec<String> = (1..=3).map(common::code).collect();
    let csv = format!(
        "统一社会信用代码,企业名称,成立日期,片区\n{},西安网页导入一号科技有限公司,2021-05-01,east\n{},西安网页导入二号科技有限公司,2022-06-01,west\n{},西安网页导入三号科技有限公司,2023-07-01,east\n91610116MA00000000,代码有误的公司,2020-01-01,east\n",
        new_codes[0], new_codes[1], new_codes[2]
    );
    let upload = dir.path().join("upload.csv");
    std::fs::write(&upload, csv).unwrap();
    let total_before = count(&api(&addr, "EnterpriseService/ListEnterprises", json!({"page_size": 1}))["total_size"]);
    browser.goto(&format!("{url}/#/sync"));
    let file = browser.wait("#sync-file");
    browser.cmd("POST", &format!("/element/{file}/value"), json!({"text": upload.to_str().unwrap()}));
    browser.type_into("#sync-source", "web-test");
    browser.click_css("#sync-dry-run");
    let result = browser.wait("#sync-result[data-dry-run=true]");
    assert_eq!(browser.attr(&result, "data-created").as_deref(), Some("3"));
    assert_eq!(browser.attr(&result, "data-failed").as_deref(), Some("1"));
    browser.screenshot("06-upload-dry-run");
    let total = count(&api(&addr, "EnterpriseService/ListEnterprises", json!({"page_size": 1}))["total_size"]);
    assert_eq!(total, total_before, "a dry run writes no firm");
    browser.click_css("#sync-apply");
    let result = browser.wait("#sync-result[data-dry-run=false]");
    assert_eq!(browser.attr(&result, "data-created").as_deref(), Some("3"));
    let run = browser.attr(&result, "data-run").expect("the run's name");
    let total = count(&api(&addr, "EnterpriseService/ListEnterprises", json!({"page_size": 1}))["total_size"]);
    assert_eq!(total, total_before + 3);
    let imported =
        api(&addr, "EnterpriseService/GetEnterprise", json!({"name": format!("enterprises/{}", new_codes[1])}));
    assert_eq!(imported["promotion_zone"], "west");

    // Revert it after a preview.
    browser.goto(&format!("{url}/#/sync/runs/{}", run.trim_start_matches("syncRuns/")));
    browser.click_css("#revert-preview");
    browser.wait("#revert-plan");
    browser.screenshot("07-revert-preview");
    assert_eq!(
        count(&api(&addr, "EnterpriseService/ListEnterprises", json!({"page_size": 1}))["total_size"]),
        total_before + 3,
        "a preview changes nothing"
    );
    browser.click_css("#revert-confirm");
    let reverted = browser.wait("#revert-result[data-deleted]");
    assert_eq!(browser.attr(&reverted, "data-deleted").as_deref(), Some("3"));
    let total = count(&api(&addr, "EnterpriseService/ListEnterprises", json!({"page_size": 1}))["total_size"]);
    assert_eq!(total, total_before, "the run's firms are deleted again");

    // A firm the revert deleted is restored from its page.
    let restored = format!("enterprises/{}", new_codes[0]);
    browser.goto(&format!("{url}/#/firms/{}", new_codes[0]));
    browser.click_css("#undelete-firm");
    browser.wait_until("the firm to be restored", || {
        api(&addr, "EnterpriseService/GetEnterprise", json!({"name": restored}))["delete_time"].is_null()
    });
    browser.wait_until("the page to show it live", || browser.find("#edit-firm").is_some());

    // Every page opens without an error, at desktop and at phone width.
    for (width, height, suffix) in [(1366, 768, ""), (390, 844, "-phone")] {
        browser.resize(width, height);
        for route in ["", "firms", "cultivation", "alliances", "supply", "projects", "sync"] {
            browser.goto(&format!("{url}/#/{route}"));
            browser.wait_until(&format!("page {route} to load"), || {
                browser.find(".page").is_some()
                    && browser.find(".loading").is_none()
                    && browser.script("return document.querySelector('.page').innerText.length", json!([])).as_u64()
                        > Some(20)
            });
            assert!(browser.find(".page .error").is_none(), "page {route} shows an error");
            let fits =
                browser.script("return document.documentElement.scrollWidth <= window.innerWidth + 1", json!([]));
            assert_eq!(fits, json!(true), "page {route} fits {width} px without scrolling sideways");
            let label = if route.is_empty() { "overview" } else { route };
            browser.screenshot(&format!("10-{label}{suffix}"));
        }
        browser.goto(&format!("{url}/#/firms/{}", name.trim_start_matches("enterprises/")));
        browser.wait("#timeline svg");
        browser.wait_until("the firm page's sections", || browser.find(".loading").is_none());
        let fits = browser.script("return document.documentElement.scrollWidth <= window.innerWidth + 1", json!([]));
        assert_eq!(fits, json!(true), "the firm page fits {width} px without scrolling sideways");
        browser.screenshot(&format!("11-firm{suffix}"));
    }
    // An alliance's roster (a list without totals: counted to its last page).
    browser.goto(&format!("{url}/#/alliances"));
    browser.click_css("a[data-alliance]");
    browser.wait("#roster .page-status");
    browser.wait_until("the roster's rows", || !browser.find_all("#roster a.firm-link, #roster td").is_empty());
    assert!(browser.find(".page .error").is_none(), "the alliance page shows an error");
    browser.screenshot("12-alliance");

    // Refused calls the page handles (the 401 before signing in, the 409 of the
    // conflict) are logged by the browser as failed loads; anything else
    // (a CSP violation, an uncaught exception) is a fault.
    let errors: Vec<String> = browser
        .console()
        .into_iter()
        .filter(|m| !m.contains("Failed to load resource: the server responded with a status of"))
        .collect();
    assert!(errors.is_empty(), "the console shows errors (CSP violations, exceptions): {errors:#?}");

    // A viewer is offered no edits (and the server would refuse them anyway).
    browser.resize(1366, 768);
    browser.goto(&url);
    browser.click_css("#sign-out");
    browser.type_into("#token", VIEWER_TOKEN);
    browser.click_css("#signin button[type=submit]");
    browser.wait_until("the viewer signed in", || {
        browser.find("#who-name").is_some_and(|w| browser.text(&w) == "viewer1")
    });
    browser.goto(&format!("{url}/#/firms/{}", name.trim_start_matches("enterprises/")));
    browser.wait("h1#firm-name");
    assert!(browser.find("#edit-firm").is_none(), "a viewer gets no edit button");
    browser.goto(&format!("{url}/#/sync"));
    browser.wait("#runs");
    assert!(browser.find("#sync-dry-run").is_none(), "a viewer gets no upload");
    let token_in_url = browser.script("return location.href", json!([]));
    assert!(!token_in_url.as_str().unwrap().contains(VIEWER_TOKEN), "the token never goes into the URL");
}
