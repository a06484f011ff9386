//! The real `ladder` binary as staff use it, against a real server.

mod common;

use std::process::{Command, Output};

use common::{code, TestServer};
use ladder::config::Config;
use serde_json::Value;

/// Runs the CLI (off the async runtime, so the in-process server keeps serving).
async fn ladder(args: Vec<String>) -> Output {
    common::run_ladder(args).await
}

fn args(server: &TestServer, words: &[&str]) -> Vec<String> {
    let mut v: Vec<String> = words.iter().map(|s| s.to_string()).collect();
    v.extend(["--server".to_string(), format!("http://{}", server.addr)]);
    v
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn json(o: &Output) -> Value {
    serde_json::from_slice(&o.stdout).unwrap_or_else(|e| panic!("not JSON ({e}): {}", stdout(o)))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn staff_walk_through_with_the_cli() {
    let server = TestServer::start().await;
    let c1 = code(1);

    let out = ladder(args(
        &server,
        &[
            "enterprise",
            "create",
            &c1,
            "--name",
            "西安航天动力有限公司",
            "--industry",
            "3742",
            "--tag",
            "专精特新",
            "--contact",
            "王敏|总经理|029-88886666|wm@example.cn",
        ],
    ))
    .await;
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    assert!(text.contains("西安航天动力有限公司") && text.contains("C3742 航天器及运载火箭制造"), "{text}");

    let out = ladder(args(&server, &["enterprise", "get", &c1.to_lowercase(), "--json"])).await;
    assert!(out.status.success(), "{}", stderr(&out));
    let got = json(&out);
    assert_eq!(got["credit_code"], c1.as_str());
    assert_eq!(got["contacts"][0]["phone"], "029-88886666");
    let etag = got["etag"].as_str().unwrap().to_string();

    let out = ladder(args(
        &server,
        &["enterprise", "update", &c1, "--name", "西安航天动力股份有限公司", "--etag", &etag, "--json"],
    ))
    .await;
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(json(&out)["former_names"][0]["display_name"], "西安航天动力有限公司");

    // The same etag again is stale: one clear error line naming the reason.
    let out = ladder(args(&server, &["enterprise", "update", &c1, "--notes", "x", "--etag", &etag])).await;
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(err.starts_with("error: Aborted ETAG_MISMATCH"), "{err}");

    let out =
        ladder(args(&server, &["enterprise", "create", &code(2), "--name", "锂电科技", "--industry", "C3841"])).await;
    assert!(out.status.success(), "{}", stderr(&out));
    let out = ladder(args(&server, &["enterprise", "list", "--filter", "industry_code = C37", "--json"])).await;
    let listed = json(&out);
    assert_eq!(listed["total_size"], 1);
    assert_eq!(listed["enterprises"][0]["display_name"], "西安航天动力股份有限公司");
    let out = ladder(args(&server, &["enterprise", "list"])).await;
    let table = stdout(&out);
    assert_eq!(table.lines().count(), 3, "header and two rows:\n{table}");
    assert!(stderr(&out).contains("2 shown of 2"));

    let out = ladder(args(&server, &["enterprise", "delete", &c1, "--reason", "迁出"])).await;
    assert!(out.status.success(), "{}", stderr(&out));
    let out = ladder(args(&server, &["enterprise", "list", "--json"])).await;
    assert_eq!(json(&out)["total_size"], 1);
    let out = ladder(args(&server, &["enterprise", "undelete", &c1])).await;
    assert!(out.status.success(), "{}", stderr(&out));

    let out = ladder(args(&server, &["changes", "--resource", &c1, "--json"])).await;
    let changes = json(&out)["changes"].as_array().unwrap().clone();
    let kinds: Vec<&str> = changes.iter().map(|c| c["kind"].as_str().unwrap()).collect();
    assert_eq!(kinds, ["created", "updated", "deleted", "undeleted"]);
    assert!(changes.iter().all(|c| c["origin"] == "cli"));
    let out = ladder(args(&server, &["changes"])).await;
    assert!(stdout(&out).contains("display_name"), "{}", stdout(&out));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_check_character_is_one_clear_line() {
    let server = TestServer::start().await;
    let good = code(5);
    let last = good.chars().last().unwrap();
    let bad = format!("{}{}", &good[..17], if last == '0' { '1' } else { '0' });
    let out = ladder(args(&server, &["enterprise", "create", &bad, "--name", "错码公司"])).await;
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert_eq!(err.trim_end().lines().count(), 1, "{err}");
    assert!(err.contains("enterprise.credit_code") && err.contains(&format!("should be '{last}'")), "{err}");
    let out = ladder(args(&server, &["enterprise", "create", &bad, "--name", "错码公司", "--json"])).await;
    let body = json(&out);
    assert_eq!(body["error"]["reason"], "CHECK_CHARACTER_MISMATCH");
    assert_eq!(body["error"]["field_violations"][0]["field"], "enterprise.credit_code");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn minted_tokens_work_and_missing_ones_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let config_path = dir.path().join("ladder.toml");
    let out = ladder(vec![
        "token".into(),
        "mint".into(),
        "--name".into(),
        "王敏".into(),
        "--role".into(),
        "editor".into(),
        "--config".into(),
        config_path.display().to_string(),
    ])
    .await;
    assert!(out.status.success(), "{}", stderr(&out));
    let token = stdout(&out).trim().to_string();
    let file = std::fs::read_to_string(&config_path).unwrap();
    assert!(!file.contains(&token), "the token itself is never stored");
    assert!(file.contains(&ladder::auth::hash_token(&token)));

    let server = TestServer::with_config(Config::load(&config_path).unwrap()).await;
    let mut with_token = args(&server, &["enterprise", "create", &code(1), "--name", "有令牌"]);
    with_token.extend(["--token".to_string(), token]);
    let out = ladder(with_token).await;
    assert!(out.status.success(), "{}", stderr(&out));
    let out = ladder(args(&server, &["enterprise", "list"])).await;
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("Unauthenticated MISSING_TOKEN"), "{}", stderr(&out));

    let out =
        ladder(vec!["token".into(), "mint".into(), "--name".into(), "x".into(), "--role".into(), "boss".into()]).await;
    assert_eq!(out.status.code(), Some(2));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_refuses_a_public_address_without_tokens() {
    let dir = tempfile::tempdir().unwrap();
    let out = ladder(vec![
        "serve".into(),
        "--listen".into(),
        "0.0.0.0:0".into(),
        "--data".into(),
        dir.path().join("d").display().to_string(),
    ])
    .await;
    assert!(!out.status.success());
    assert!(stderr(&out).contains("refusing to listen on 0.0.0.0:0 without tokens"), "{}", stderr(&out));
    assert!(!dir.path().join("d").exists(), "nothing was created");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreachable_server_is_explained() {
    let out = ladder(vec!["enterprise".into(), "list".into(), "--server".into(), "127.0.0.1:1".into()]).await;
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("cannot reach the ladder server at http://127.0.0.1:1"), "{}", stderr(&out));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn alliance_rosters_with_the_cli() {
    let server = TestServer::start().await;
    let (c1, c2) = (code(1), code(2));
    for (code, name) in [(&c1, "航天甲"), (&c2, "航天乙")] {
        let out = ladder(args(&server, &["enterprise", "create", code, "--name", name, "--industry", "C3742"])).await;
        assert!(out.status.success(), "{}", stderr(&out));
    }
    let out = ladder(args(&server, &["alliance", "list", "--json"])).await;
    assert_eq!(json(&out)["alliances"].as_array().map(Vec::len), Some(9));

    let out = ladder(args(
        &server,
        &["member", "add", "commercial-space", &c1, "--role", "理事长单位", "--date", "2024-01-01"],
    ))
    .await;
    assert!(out.status.success(), "{}", stderr(&out));
    let out = ladder(args(&server, &["member", "add", "commercial-space", &c2, "--role", "CHAIR"])).await;
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("CHAIR_TAKEN"), "{}", stderr(&out));
    let out = ladder(args(&server, &["member", "add", "commercial-space", &c2, "--date", "2024-02-01"])).await;
    assert!(out.status.success(), "{}", stderr(&out));
    let out = ladder(args(
        &server,
        &[
            "member",
            "role",
            "commercial-space",
            &c2,
            "chair",
            "--previous-chair-role",
            "vice_chair",
            "--date",
            "2025-01-01",
        ],
    ))
    .await;
    assert!(out.status.success(), "{}", stderr(&out));
    let out =
        ladder(args(&server, &["member", "end", "commercial-space", &c1, "--reason", "withdrew", "--json"])).await;
    let ended = json(&out);
    assert_eq!(ended["state"], "ENDED");
    let events: Vec<&str> = ended["events"].as_array().unwrap().iter().map(|e| e["kind"].as_str().unwrap()).collect();
    assert_eq!(
        events,
        ["MEMBERSHIP_EVENT_KIND_JOINED", "MEMBERSHIP_EVENT_KIND_ROLE_CHANGED", "MEMBERSHIP_EVENT_KIND_ENDED"]
    );

    let out = ladder(args(&server, &["member", "list", "--firm", &c2, "--json"])).await;
    assert_eq!(json(&out)["memberships"][0]["role"], "CHAIR");
    let out = ladder(args(&server, &["enterprise", "list", "--filter", "alliance = commercial-space", "--json"])).await;
    assert_eq!(json(&out)["total_size"], 1);
    let out = ladder(args(&server, &["alliance", "show", "commercial-space", "--from", "2024-01-01"])).await;
    assert!(stdout(&out).contains("2 joined, 1 left"), "{}", stdout(&out));
    let out = ladder(args(&server, &["member", "add", "commercial-space", &c1, "--role", "boss"])).await;
    assert_eq!(out.status.code(), Some(2));
    let out = ladder(args(&server, &["alliance", "create", "hydrogen", "--name", "氢能产业联盟"])).await;
    assert!(out.status.success(), "{}", stderr(&out));
    let out =
        ladder(args(&server, &["alliance", "update", "hydrogen", "--secretariat", "西安氢能研究院", "--json"])).await;
    assert_eq!(json(&out)["secretariat"], "西安氢能研究院");
    let out = ladder(args(&server, &["alliance", "delete", "commercial-space"])).await;
    assert!(stderr(&out).contains("ACTIVE_MEMBERS"), "{}", stderr(&out));
    let out = ladder(args(&server, &["alliance", "delete", "commercial-space", "--force", "--json"])).await;
    assert_eq!(json(&out)["deleted"], true);
    let out = ladder(args(&server, &["alliance", "undelete", "commercial-space", "--json"])).await;
    assert_eq!(json(&out)["deleted"], false);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_ladder_with_the_cli() {
    let server = TestServer::start().await;
    let c1 = code(1);
    let out =
        ladder(args(&server, &["enterprise", "create", &c1, "--name", "梯度企业", "--founded", "2016-05-01"])).await;
    assert!(out.status.success(), "{}", stderr(&out));
    let out = ladder(args(
        &server,
        &["designation", "add", &c1, "--kind", "科技型中小企业", "--from", "2024-03-01", "--until", "2099-12-31"],
    ))
    .await;
    assert!(out.status.success(), "{}", stderr(&out));
    let out = ladder(args(
        &server,
        &["designation", "add", &c1, "--kind", "HIGH_TECH", "--from", "2024-06-01", "--certificate", "GR1", "--json"],
    ))
    .await;
    let gr = json(&out);
    assert_eq!(gr["stage"], "STAGE_CLIMB");
    let out = ladder(args(&server, &["enterprise", "get", &c1, "--json"])).await;
    assert_eq!(json(&out)["stage"], "STAGE_CLIMB");
    let id = gr["name"].as_str().unwrap().rsplit('/').next().unwrap().to_string();
    let out = ladder(args(&server, &["designation", "revoke", &c1, &id, "--reason", "年报未报"])).await;
    assert!(out.status.success(), "{}", stderr(&out));
    let out = ladder(args(&server, &["stage", &c1, "--json"])).await;
    let stage = json(&out);
    assert_eq!(stage["stage"], "STAGE_NURTURE");
    assert_eq!(stage["history"].as_array().unwrap().last().unwrap()["cause"], "REVOKED");
    let out = ladder(args(&server, &["stage", &c1])).await;
    assert!(stdout(&out).contains("登高 → 育小") && stdout(&out).contains("年报未报"), "{}", stdout(&out));

    // 高企 R&D intensity is judged over the last three years.
    for year in ["2023", "2024", "2025"] {
        let figures = ["indicators", "set", &c1, year, "--revenue", "8000", "--employees", "100", "--tech-staff", "20"];
        let more = ["--rd", "400", "--rd-domestic-share", "100", "--high-tech-revenue", "6000"];
        let out = ladder(args(&server, &[&figures[..], &more[..]].concat())).await;
        assert!(out.status.success(), "{}", stderr(&out));
    }
    let out = ladder(args(&server, &["candidates", "--target", "high_tech", "--year", "2025", "--json"])).await;
    let candidates = json(&out);
    assert_eq!(candidates["candidates"][0]["met"], 5);
    assert_eq!(candidates["policy_version"], "2022");
    let out = ladder(args(&server, &["funnel", "--json"])).await;
    let nurture = json(&out)["by_stage"].as_array().unwrap().iter().find(|s| s["stage"] == "STAGE_NURTURE").unwrap()
        ["count"]
        .clone();
    assert_eq!(nurture, 1);
    let out = ladder(args(&server, &["indicators", "set", &c1, "2025", "--employees=-5"])).await;
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("indicators.employees"), "{}", stderr(&out));
    let out = ladder(args(&server, &["designation", "add", &c1, "--kind", "boss", "--from", "2024-01-01"])).await;
    assert_eq!(out.status.code(), Some(2));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn designation_kinds_by_their_official_chinese_names() {
    let server = TestServer::start().await;
    let c1 = code(1);
    let out = ladder(args(&server, &["enterprise", "create", &c1, "--name", "梯度企业"])).await;
    assert!(out.status.success(), "{}", stderr(&out));
    let official = [
        ("专精特新小巨人企业", "LITTLE_GIANT"),
        ("国家级专精特新\"小巨人\"企业", "LITTLE_GIANT"),
        ("规模以上工业企业", "ABOVE_SCALE_INDUSTRY"),
        ("高新技术企业", "HIGH_TECH"),
        ("专精特新中小企业", "SPECIALISED_SME"),
        ("科技型中小企业", "TECH_SME"),
        ("创新型中小企业", "INNOVATIVE_SME"),
    ];
    for (name, kind) in official {
        let out =
            ladder(args(&server, &["designation", "add", &c1, "--kind", name, "--from", "2024-01-01", "--json"])).await;
        assert!(out.status.success(), "{name}: {}", stderr(&out));
        assert_eq!(json(&out)["kind"], kind, "{name}");
    }
    let out = ladder(args(&server, &["expiring", "--days", "3650", "--kind", "小巨人", "--json"])).await;
    assert!(out.status.success(), "{}", stderr(&out));

    // A wrong kind is a usage error naming the kinds in Chinese.
    let out = ladder(args(&server, &["designation", "add", &c1, "--kind", "小巨", "--from", "2024-01-01"])).await;
    assert_eq!(out.status.code(), Some(2));
    let err = stderr(&out);
    for name in ["专精特新“小巨人”企业", "规模以上工业企业", "高新技术企业", "科技型中小企业", "LITTLE_GIANT"]
    {
        assert!(err.contains(name), "{name} missing from {err}");
    }
    // So does the help.
    let out = ladder(vec!["designation".into(), "add".into(), "--help".into()]).await;
    let help = stdout(&out);
    for name in ["专精特新“小巨人”企业（小巨人）", "规模以上工业企业（规上工业）", "高新技术企业（高企）"]
    {
        assert!(help.contains(name), "{name} missing from {help}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sync_files_in_utf8_and_gbk_with_the_cli() {
    let server = TestServer::start().await;
    let dir = tempfile::tempdir().unwrap();
    let generated = ladder(vec!["generate".into(), "--firms".into(), "300".into()]).await;
    assert!(generated.status.success());
    let path = dir.path().join("firms.csv");
    std::fs::write(&path, &generated.stdout).unwrap();
    let file = path.display().to_string();

    let out = ladder(args(&server, &["sync", &file, "--source", "incubator", "--json"])).await;
    assert!(out.status.success(), "{}", stderr(&out));
    let run = json(&out);
    assert_eq!((run["created"].as_i64(), run["failed"].as_i64()), (Some(300), Some(0)));
    let out = ladder(args(&server, &["sync", &file, "--source", "incubator", "--json"])).await;
    assert_eq!(json(&out)["unchanged"], 300, "re-running the same file changes nothing");

    // An Excel workbook: three good rows and one with a wrong check character.
    let xlsx = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/firms.xlsx");
    let out = ladder(args(&server, &["sync", xlsx, "--source", "excel", "--json"])).await;
    let run = json(&out);
    assert_eq!((run["rows"].as_i64(), run["failed"].as_i64()), (Some(4), Some(1)), "{run}");
    assert_eq!(run["failures"][0]["row"], 5, "the sheet's row number");
    assert!(stderr(&out).contains("XLSX"), "{}", stderr(&out));

    // A GBK file, as Excel in China saves it, with one broken row.
    let text = format!(
        "统一社会信用代码,企业名称,行业代码\r\n{},甲公司,C3742\r\n{}X,乙公司,C3742\r\n{},丙公司,Z99\r\n",
        code(9001),
        &code(9002)[..17],
        code(9003)
    );
    let (gbk, _, _) = encoding_rs::GBK.encode(&text);
    let gbk_path = dir.path().join("gbk.csv");
    std::fs::write(&gbk_path, &gbk).unwrap();
    let errors = dir.path().join("failed.csv");
    let out = ladder(args(
        &server,
        &[
            "sync",
            &gbk_path.display().to_string(),
            "--source",
            "stats-bureau",
            "--errors",
            &errors.display().to_string(),
        ],
    ))
    .await;
    assert_eq!(out.status.code(), Some(1), "failed rows make the command fail");
    assert!(stderr(&out).contains("GBK"), "{}", stderr(&out));
    let failed = std::fs::read_to_string(&errors).unwrap();
    assert!(failed.contains("乙公司") && failed.contains("丙公司") && !failed.contains("甲公司"), "{failed}");
    assert!(failed.contains("enterprise.industry_code"), "{failed}");
    let out = ladder(args(&server, &["enterprise", "get", &code(9001), "--json"])).await;
    assert_eq!(json(&out)["display_name"], "甲公司");

    // The run is listed, and reverting it soft-deletes what it created.
    let out = ladder(args(&server, &["run", "list", "--source", "stats-bureau"])).await;
    let listing = stdout(&out);
    let run = listing.lines().nth(1).and_then(|l| l.split_whitespace().next()).unwrap().to_string();
    let out = ladder(args(&server, &["run", "revert", &run, "--dry-run"])).await;
    assert!(stdout(&out).contains("1 firms would be soft-deleted"), "{}", stdout(&out));
    let out = ladder(args(&server, &["enterprise", "get", &code(9001), "--json"])).await;
    assert!(json(&out)["delete_time"].is_null(), "the preview changed nothing");
    let out = ladder(args(&server, &["run", "revert", &run])).await;
    assert!(stdout(&out).contains("1 firms soft-deleted"), "{}", stdout(&out));
    let out = ladder(args(&server, &["enterprise", "get", &code(9001), "--json"])).await;
    assert!(!json(&out)["delete_time"].is_null());

    // More failures than a run record carries: the error file has them all,
    // paged from ListSyncFailures; a dry run keeps only the first 1000.
    let mut many = String::from("统一社会信用代码,企业名称,行业代码\n");
    for n in 0..1050 {
        many.push_str(&format!("{},坏行{n},Z99\n", code(20_000 + n)));
    }
    let many_path = dir.path().join("many.csv");
    std::fs::write(&many_path, many).unwrap();
    let errors = errors.display().to_string();
    let many = many_path.display().to_string();
    let out = ladder(args(&server, &["sync", &many, "--source", "x", "--errors", &errors])).await;
    assert!(!stderr(&out).contains("not in"), "{}", stderr(&out));
    let written = std::fs::read_to_string(&errors).unwrap();
    assert_eq!(written.lines().count(), 1 + 1050, "header and every failed row");
    assert!(written.contains("坏行1049"), "the last failure too");
    let out = ladder(args(&server, &["sync", &many, "--source", "x", "--dry-run", "--errors", &errors])).await;
    assert!(stderr(&out).contains("50 failed rows are not in"), "{}", stderr(&out));
    assert_eq!(std::fs::read_to_string(&errors).unwrap().lines().count(), 1 + 1000, "a dry run keeps 1000");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn run_list_show_and_revert_print_json_when_asked() {
    let server = TestServer::start().await;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("firms.csv");
    let text = format!("统一社会信用代码,企业名称,行业代码\n{},甲公司,C3742\n{},乙公司,Z99\n", code(31), code(32));
    std::fs::write(&path, text).unwrap();
    let out = ladder(args(&server, &["sync", &path.display().to_string(), "--source", "registry"])).await;
    assert_eq!(out.status.code(), Some(1), "one failed row: {}", stderr(&out));

    let out = ladder(args(&server, &["run", "list", "--json"])).await;
    assert!(out.status.success(), "{}", stderr(&out));
    let listed = json(&out);
    let runs = listed["runs"].as_array().unwrap_or_else(|| panic!("{listed}"));
    assert_eq!(runs.len(), 1, "{listed}");
    assert_eq!((runs[0]["source"].as_str(), runs[0]["created"].as_i64()), (Some("registry"), Some(1)));
    assert_eq!(runs[0]["state"], "SUCCEEDED");
    let run = runs[0]["name"].as_str().unwrap().to_string();

    let out = ladder(args(&server, &["run", "show", &run, "--json"])).await;
    assert!(out.status.success(), "{}", stderr(&out));
    let shown = json(&out);
    assert_eq!((shown["name"].as_str(), shown["failed"].as_i64()), (Some(run.as_str()), Some(1)));
    assert_eq!(shown["failures"][0]["field"], "enterprise.industry_code", "{shown}");

    let out = ladder(args(&server, &["run", "revert", &run, "--json"])).await;
    assert!(out.status.success(), "{}", stderr(&out));
    let reverted = json(&out);
    assert_eq!((reverted["deleted"].as_i64(), reverted["conflict_count"].as_i64()), (Some(1), Some(0)));
    assert_eq!(reverted["run"]["name"], run.as_str());
    assert!(!reverted["run"]["revert_time"].is_null(), "{reverted}");

    // An error is JSON too.
    let out = ladder(args(&server, &["run", "show", "nosuchrun", "--json"])).await;
    assert_eq!(out.status.code(), Some(1));
    assert!(json(&out)["error"]["code"].is_string());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn supply_demand_from_posting_to_picture_with_the_cli() {
    let server = TestServer::start().await;
    for (n, name, zone) in [(1, "西安储能需求有限公司", "east"), (2, "西安电芯制造有限公司", "east")]
    {
        let out = ladder(args(
            &server,
            &["enterprise", "create", &code(n), "--name", name, "--industry", "C3841", "--zone", zone],
        ))
        .await;
        assert!(out.status.success(), "{}", stderr(&out));
    }
    let post = |n: u32, kind: &'static str, title: &'static str, tags: &'static [&'static str]| {
        let mut words: Vec<String> = ["posting", "add", "--credit-code", &code(n), "--kind", kind, "--title", title]
            .iter()
            .map(|s| s.to_string())
            .collect();
        words.extend(["--industry", "C3841", "--quantity", "500", "--unit", "套", "--json"].map(String::from));
        for t in tags {
            words.extend(["--tag".to_string(), t.to_string()]);
        }
        words
    };
    let demand = json(
        &ladder(args(
            &server,
            &post(1, "需求", "采购储能电芯", &["电芯", "储能"]).iter().map(String::as_str).collect::<Vec<_>>(),
        ))
        .await,
    );
    let supply = json(
        &ladder(args(
            &server,
            &post(2, "supply", "储能电芯供货", &["电芯"]).iter().map(String::as_str).collect::<Vec<_>>(),
        ))
        .await,
    );
    let (d, s) = (demand["name"].as_str().unwrap().to_string(), supply["name"].as_str().unwrap().to_string());
    assert_eq!(demand["kind"], "DEMAND");

    let out = ladder(args(&server, &["match", "suggest", &d])).await;
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    assert!(text.contains("储能电芯供货") && text.contains("同属小类 C3841"), "{text}");

    let created = json(
        &ladder(args(&server, &["match", "create", "--supply", &s, "--demand", &d, "--broker", "王主任", "--json"]))
            .await,
    );
    let m = created["name"].as_str().unwrap().to_string();
    for (to, extra) in
        [("contacted", vec![]), ("NEGOTIATING", vec![]), ("已签约", vec!["--amount", "260"]), ("delivered", vec![])]
    {
        let mut words = vec!["match", "advance", &m, "--to", to];
        words.extend(extra);
        let out = ladder(args(&server, &words)).await;
        assert!(out.status.success(), "{to}: {}", stderr(&out));
    }
    let out = ladder(args(&server, &["match", "advance", &m, "--to", "contacted"])).await;
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("ILLEGAL_TRANSITION"), "{}", stderr(&out));
    let shown = json(&ladder(args(&server, &["match", "show", &m, "--json"])).await);
    assert_eq!(shown["state"], "DELIVERED");
    assert_eq!(shown["events"].as_array().unwrap().len(), 5);

    let dir = tempfile::tempdir().unwrap();
    let svg = dir.path().join("map.svg");
    let out = ladder(args(&server, &["map", "--format", "svg", "--out", svg.to_str().unwrap()])).await;
    assert!(out.status.success(), "{}", stderr(&out));
    let picture = std::fs::read_to_string(&svg).unwrap();
    assert!(
        picture.starts_with("<svg") && picture.contains("西安电芯制造有限公司") && picture.contains("已交付 260 万元")
    );
    let dot = stdout(&ladder(args(&server, &["map", "--format", "dot"])).await);
    assert!(dot.starts_with("digraph") && dot.contains(&format!("\"{}\" -> \"{}\"", code(2), code(1))));

    let out = ladder(args(
        &server,
        &[
            "posting",
            "add",
            "--credit-code",
            &code(1),
            "--kind",
            "demand",
            "--title",
            "采购刻蚀设备",
            "--industry",
            "C3562",
            "--amount",
            "900",
        ],
    ))
    .await;
    assert!(out.status.success(), "{}", stderr(&out));
    let gaps = json(&ladder(args(&server, &["gaps", "--json"])).await);
    assert_eq!(gaps["gaps"][0]["industry_code"], "C3562");
    assert_eq!(gaps["gaps"].as_array().unwrap().len(), 1, "C3841 has in-zone supply");
    let rate = stdout(&ladder(args(&server, &["sourcing"])).await);
    assert!(rate.contains("100.0%"), "{rate}");
    let out = ladder(args(
        &server,
        &["posting", "add", "--credit-code", &code(1), "--kind", "both", "--title", "x", "--industry", "C38"],
    ))
    .await;
    assert_eq!(out.status.code(), Some(2), "a usage error");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn changes_follow_streams_new_changes_as_json_lines() {
    use std::io::BufRead as _;
    let server = TestServer::start().await;
    let mut child = Command::new(env!("CARGO_BIN_EXE_ladder"))
        .args(["changes", "--follow", "--prefix", "enterprises/", "--json", "--since"])
        .arg((server.base + 1).to_string())
        .args(["--server", &format!("http://{}", server.addr)])
        .env_remove("LADDER_TOKEN")
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("run ladder changes --follow");
    for n in 1..=3 {
        let out = ladder(args(&server, &["enterprise", "create", &code(n), "--name", &format!("企业{n}")])).await;
        assert!(out.status.success(), "{}", stderr(&out));
    }
    let stdout = child.stdout.take().unwrap();
    let lines = tokio::task::spawn_blocking(move || {
        std::io::BufReader::new(stdout).lines().take(3).map(|l| l.unwrap()).collect::<Vec<_>>()
    });
    let lines = tokio::time::timeout(std::time::Duration::from_secs(10), lines).await.expect("three lines").unwrap();
    let _ = child.kill();
    let _ = child.wait();
    let changes: Vec<Value> = lines.iter().map(|l| serde_json::from_str(l).unwrap()).collect();
    let resources: Vec<String> = changes.iter().map(|c| c["resource"].as_str().unwrap().to_string()).collect();
    assert_eq!(resources, (1..=3).map(|n| format!("enterprises/{}", code(n))).collect::<Vec<_>>());
    assert!(changes.windows(2).all(|w| w[0]["revision"].as_u64() < w[1]["revision"].as_u64()), "in order");
    assert_eq!(changes[0]["kind"], "created");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn seed_fills_registered_firms_with_sample_data_once() {
    let server = TestServer::start().await;
    let dir = tempfile::tempdir().unwrap();
    let generated = ladder(vec!["generate".into(), "--firms".into(), "200".into()]).await;
    let path = dir.path().join("firms.csv");
    std::fs::write(&path, &generated.stdout).unwrap();
    let out = ladder(args(&server, &["sync", &path.display().to_string(), "--source", "registry"])).await;
    assert!(out.status.success(), "{}", stderr(&out));

    let out = ladder(args(&server, &["seed", "--postings", "60", "--json"])).await;
    assert!(out.status.success(), "{}", stderr(&out));
    let seeded = json(&out);
    assert_eq!((seeded["firms"].as_u64(), seeded["indicators"].as_u64()), (Some(200), Some(200)));
    assert_eq!((seeded["postings"].as_u64(), seeded["failed"].as_u64()), (Some(60), Some(0)));
    assert!(seeded["designations"].as_u64().unwrap() > 100, "{seeded}");
    assert!(seeded["memberships"].as_u64().unwrap() > 20, "{seeded}");
    let funnel = stdout(&ladder(args(&server, &["funnel"])).await);
    assert!(funnel.contains("登高"), "{funnel}");

    assert_eq!(seeded["already_recorded"]["designations"], 0, "{seeded}");

    // The same seed again replays its requests: nothing more is written, and
    // the report says what was already there.
    let head = server.store.next_revision().unwrap();
    let out = ladder(args(&server, &["seed", "--postings", "60", "--json"])).await;
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(server.store.next_revision().unwrap(), head);
    let again = json(&out);
    for kind in ["indicators", "designations", "memberships", "postings"] {
        assert_eq!(again[kind], 0, "{kind} written again: {again}");
        assert_eq!(again["already_recorded"][kind], seeded[kind], "{kind}: {again}");
    }
    let out = ladder(args(&server, &["seed", "--postings", "60"])).await;
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    assert!(text.contains("nothing new written"), "{text}");
    let designations = format!("designations: 0 new, {} already recorded", seeded["designations"]);
    assert!(text.contains(&designations), "{text}");
    assert!(ladder::store::check_consistency(&server.store).unwrap().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_header_only_file_is_refused_and_a_repeat_sync_says_nothing_was_written() {
    let server = TestServer::start().await;
    let dir = tempfile::tempdir().unwrap();
    let empty = dir.path().join("empty.csv");
    std::fs::write(&empty, "\u{feff}统一社会信用代码,企业名称,行业代码\r\n").unwrap();
    let out = ladder(args(&server, &["sync", &empty.display().to_string(), "--source", "registry", "--full"])).await;
    assert_eq!(out.status.code(), Some(2), "{}", stdout(&out));
    assert!(stderr(&out).contains("no data rows"), "{}", stderr(&out));
    let out = ladder(args(&server, &["run", "list", "--json"])).await;
    assert_eq!(json(&out)["runs"].as_array().map(Vec::len), Some(0), "no run was recorded");

    let path = dir.path().join("firms.csv");
    std::fs::write(&path, format!("统一社会信用代码,企业名称\n{},甲公司\n{},乙公司\n", code(41), code(42))).unwrap();
    let file = path.display().to_string();
    let out = ladder(args(&server, &["sync", &file, "--source", "registry"])).await;
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stdout(&out).contains("2 firms created, 0 updated, 0 already recorded"), "{}", stdout(&out));
    let out = ladder(args(&server, &["sync", &file, "--source", "registry"])).await;
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stdout(&out).contains("nothing written (2 rows already recorded as they are)"), "{}", stdout(&out));
}

/// A minimal XLSX workbook whose first sheet is `sheet_data` (the XML inside
/// `<sheetData>`), with `dimension` declared when given.
fn workbook(dimension: Option<&str>, sheet_data: &str) -> Vec<u8> {
    use std::io::Write as _;
    let mut zip = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let options = zip::write::SimpleFileOptions::default().compression_method(zip::CompressionMethod::Deflated);
    let dimension = dimension.map(|d| format!("<dimension ref=\"{d}\"/>")).unwrap_or_default();
    let parts = [
        (
            "[Content_Types].xml",
            r#"<?xml version="1.0" encoding="UTF-8"?><Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types"><Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/><Default Extension="xml" ContentType="application/xml"/><Override PartName="/xl/workbook.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/><Override PartName="/xl/worksheets/sheet1.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"/></Types>"#.to_string(),
        ),
        (
            "_rels/.rels",
            r#"<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships"><Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument" Target="xl/workbook.xml"/></Relationships>"#.to_string(),
        ),
        (
            "xl/workbook.xml",
            r#"<?xml version="1.0" encoding="UTF-8"?><workbook xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships"><sheets><sheet name="企业" sheetId="1" r:id="rId1"/></sheets></workbook>"#.to_string(),
        ),
        (
            "xl/_rels/workbook.xml.rels",
            r#"<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships"><Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/worksheet" Target="worksheets/sheet1.xml"/></Relationships>"#.to_string(),
        ),
        (
            "xl/worksheets/sheet1.xml",
            format!(
                r#"<?xml version="1.0" encoding="UTF-8"?><worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main">{dimension}<sheetData>{sheet_data}</sheetData></worksheet>"#
            ),
        ),
    ];
    for (name, text) in parts {
        zip.start_file(name, options).unwrap();
        zip.write_all(text.as_bytes()).unwrap();
    }
    zip.finish().unwrap().into_inner()
}

/// A header row (A1, B1) and one firm row, as inline strings.
fn table_rows() -> String {
    format!(
        r#"<row r="1"><c r="A1" t="inlineStr"><is><t>统一社会信用代码</t></is></c><c r="B1" t="inlineStr"><is><t>企业名称</t></is></c></row><row r="2"><c r="A2" t="inlineStr"><is><t>{}</t></is></c><c r="B2" t="inlineStr"><is><t>甲公司</t></is></c></row>"#,
        code(1)
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_workbooks_are_refused_with_bounded_memory() {
    let server = TestServer::start().await;
    let dir = tempfile::tempdir().unwrap();
    let write = |name: &str, bytes: Vec<u8>| {
        let path = dir.path().join(name);
        std::fs::write(&path, bytes).unwrap();
        path.display().to_string()
    };
    // A well-formed hand-made workbook syncs.
    let good = write("good.xlsx", workbook(Some("A1:B2"), &table_rows()));
    let out = ladder(args(&server, &["sync", &good, "--source", "excel", "--json"])).await;
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(json(&out)["created"], 1);

    // One cell at XFD1048576: a dense grid of 17 billion cells before.
    let far = format!(r#"{}<row r="1048576"><c r="XFD1048576"><v>1</v></c></row>"#, table_rows());
    let bomb = write("xfd.xlsx", workbook(Some("A1:XFD1048576"), &far));
    let out = ladder(args(&server, &["sync", &bomb, "--source", "excel"])).await;
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains("XFD1048576"), "{}", stderr(&out));
    // The same cell without a declared dimension is met while reading.
    let bomb = write("xfd-undeclared.xlsx", workbook(None, &far));
    let out = ladder(args(&server, &["sync", &bomb, "--source", "excel"])).await;
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains("XFD1048576"), "{}", stderr(&out));

    // One cell at Z1048576 is within the limits: read sparsely, and refused
    // as a value beyond the header's columns.
    let z = format!(r#"{}<row r="1048576"><c r="Z1048576"><v>1</v></c></row>"#, table_rows());
    let sparse = write("z.xlsx", workbook(None, &z));
    let out = ladder(args(&server, &["sync", &sparse, "--source", "excel"])).await;
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains("line 1048576: cell 26 is beyond the header"), "{}", stderr(&out));

    // A sheet that says it unpacks to 400 MB is refused before it is unpacked.
    let mut big = workbook(Some("A1:B2"), &table_rows());
    let name = b"xl/worksheets/sheet1.xml";
    let entry = (0..big.len() - 4)
        .rev()
        .find(|&at| big[at..].starts_with(b"PK\x01\x02") && big[at + 46..].starts_with(name))
        .expect("the sheet's directory entry");
    big[entry + 24..entry + 28].copy_from_slice(&400_000_000u32.to_le_bytes());
    let big = write("big.xlsx", big);
    let out = ladder(args(&server, &["sync", &big, "--source", "excel"])).await;
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains("unpacks to 381 MiB"), "{}", stderr(&out));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ambiguous_headers_and_extra_cells_are_refused_naming_the_columns() {
    let server = TestServer::start().await;
    let dir = tempfile::tempdir().unwrap();
    let write = |name: &str, text: String| {
        let path = dir.path().join(name);
        std::fs::write(&path, text).unwrap();
        path.display().to_string()
    };
    let two_names = write("names.csv", format!("credit_code,display_name,企业名称\n{},甲,乙\n", code(1)));
    let out = ladder(args(&server, &["sync", &two_names, "--source", "registry"])).await;
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(
        stderr(&out).contains(r#"columns 2 "display_name" and 3 "企业名称" both fill display_name"#),
        "{}",
        stderr(&out)
    );
    let two_codes = write("codes.csv", format!("统一社会信用代码,企业名称,credit_code\n{},甲,{}\n", code(1), code(2)));
    let out = ladder(args(&server, &["sync", &two_codes, "--source", "registry"])).await;
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains("both fill credit_code"), "{}", stderr(&out));
    // 10,000 cells under a two-column header.
    let wide = write("wide.csv", format!("credit_code,display_name\n{},甲{}\n", code(1), ",x".repeat(9_998)));
    let out = ladder(args(&server, &["sync", &wide, "--source", "registry"])).await;
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("line 2: cell 3 is beyond the header's 2 columns (the row has 10000 cells)"),
        "{}",
        stderr(&out)
    );
    // Trailing empty cells (Excel leaves them) are fine.
    let trailing = write("trailing.csv", format!("credit_code,display_name\n{},甲,,\n", code(1)));
    let out = ladder(args(&server, &["sync", &trailing, "--source", "registry"])).await;
    assert!(out.status.success(), "{}", stderr(&out));
    let out = ladder(args(&server, &["run", "list", "--json"])).await;
    assert_eq!(json(&out)["runs"].as_array().map(Vec::len), Some(1), "only the good file ran");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_errors_file_is_safe_to_open_and_errors_are_cut() {
    let server = TestServer::start().await;
    let dir = tempfile::tempdir().unwrap();
    // A formula in a failing row is written back quoted, so Excel shows it as
    // text; read back, the file means what it meant.
    let path = dir.path().join("formula.csv");
    let text = format!(
        "credit_code,display_name,industry_code,notes\n{},=HYPERLINK(\"http://evil\"),Z99,@SUM(A1)\n{},-2+3,C3742,+1\n",
        code(1),
        code(2)
    );
    std::fs::write(&path, text).unwrap();
    let errors = dir.path().join("failed.csv");
    let (file, errors_arg) = (path.display().to_string(), errors.display().to_string());
    let out = ladder(args(&server, &["sync", &file, "--source", "registry", "--errors", &errors_arg])).await;
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let written = std::fs::read_to_string(&errors).unwrap();
    let row = written.lines().nth(1).unwrap();
    assert!(row.contains(r#""'=HYPERLINK(""http://evil"")""#) && row.contains(",'@SUM(A1),"), "{written}");
    assert!(written.lines().all(|l| !l.split(',').any(|cell| cell.starts_with(['=', '+', '-', '@']))), "{written}");
    let out = ladder(args(&server, &["enterprise", "get", &code(2), "--json"])).await;
    assert_eq!((json(&out)["display_name"].as_str(), json(&out)["notes"].as_str()), (Some("-2+3"), Some("+1")));
    // The corrected errors file reads its cells back unquoted.
    let fixed = written.replace("Z99", "C3742");
    std::fs::write(&errors, fixed).unwrap();
    let out = ladder(args(&server, &["sync", &errors_arg, "--source", "registry", "--json"])).await;
    // The two added columns are unknown to a sync: the file is refused, so
    // check the quoting rule through a file without them.
    assert_eq!(out.status.code(), Some(2));
    let back = dir.path().join("back.csv");
    std::fs::write(&back, format!("credit_code,display_name,notes\n{},'=HYPERLINK(1),'@x\n", code(3))).unwrap();
    let out = ladder(args(&server, &["sync", &back.display().to_string(), "--source", "registry"])).await;
    assert!(out.status.success(), "{}", stderr(&out));
    let out = ladder(args(&server, &["enterprise", "get", &code(3), "--json"])).await;
    assert_eq!(json(&out)["display_name"], "=HYPERLINK(1)");

    // A 5 MB header cell is not printed whole.
    let huge = dir.path().join("huge.csv");
    std::fs::write(&huge, format!("credit_code,{}\n{},x\n", "列".repeat(5 << 20), code(1))).unwrap();
    let out = ladder(args(&server, &["sync", &huge.display().to_string(), "--source", "registry"])).await;
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("unknown column") && out.stderr.len() < 4096, "{} bytes", out.stderr.len());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tables_name_alliances_show_china_time_and_write_no_empty_errors_file() {
    let server = TestServer::start().await;
    let c1 = code(1);
    let out = ladder(args(&server, &["enterprise", "create", &c1, "--name", "航天甲", "--industry", "C3742"])).await;
    assert!(out.status.success(), "{}", stderr(&out));
    let out = ladder(args(&server, &["member", "add", "commercial-space", &c1])).await;
    assert!(out.status.success(), "{}", stderr(&out));

    // Alliances by their names, not their ids, in both tables that show them.
    let listed = stdout(&ladder(args(&server, &["enterprise", "list"])).await);
    let roster = stdout(&ladder(args(&server, &["member", "list", "--firm", &c1])).await);
    let name = json(&ladder(args(&server, &["alliance", "show", "commercial-space", "--json"])).await)["alliance"]
        ["display_name"]
        .as_str()
        .unwrap()
        .to_string();
    for table in [&listed, &roster] {
        let row = table.lines().find(|l| l.contains(&c1)).unwrap_or_else(|| panic!("{table}"));
        assert!(row.contains(&name) && !row.contains("commercial-space"), "{row}");
    }
    let got = json(&ladder(args(&server, &["member", "list", "--firm", &c1, "--json"])).await);
    assert_eq!(got["memberships"][0]["alliance_display_name"], name.as_str());

    // The change log's times are China Standard Time and say so; --utc
    // shows UTC; the two differ by exactly eight hours.
    let created = json(&ladder(args(&server, &["enterprise", "get", &c1, "--json"])).await)["create_time"]
        .as_str()
        .unwrap()
        .to_string();
    let utc: chrono_free::Stamp = created.parse().unwrap();
    let cst = stdout(&ladder(args(&server, &["changes", "--resource", &c1])).await);
    assert!(cst.lines().next().unwrap().contains("时间 TIME (UTC+8)"), "{cst}");
    assert!(cst.contains(&utc.shifted(8).to_string()), "{cst} lacks {}", utc.shifted(8));
    let plain = stdout(&ladder(args(&server, &["changes", "--resource", &c1, "--utc"])).await);
    assert!(plain.lines().next().unwrap().contains("时间 TIME (UTC)"), "{plain}");
    assert!(plain.contains(&utc.to_string()), "{plain} lacks {utc}");
    let shown = stdout(&ladder(args(&server, &["enterprise", "get", &c1])).await);
    assert!(shown.contains(&format!("{} UTC+8", utc.shifted(8))), "{shown}");

    // A sync with no failures writes no --errors file and says so.
    let dir = tempfile::tempdir().unwrap();
    let csv = dir.path().join("ok.csv");
    std::fs::write(&csv, format!("credit_code,display_name\n{},航天乙\n", code(2))).unwrap();
    let errors = dir.path().join("failed.csv");
    let out = ladder(args(
        &server,
        &["sync", &csv.display().to_string(), "--source", "x", "--errors", &errors.display().to_string()],
    ))
    .await;
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(!errors.exists());
    assert!(stderr(&out).contains("no rows failed"), "{}", stderr(&out));
}

/// Just enough time arithmetic for the test above, without a date crate.
mod chrono_free {
    /// `YYYY-MM-DD HH:MM:SS` read from an RFC 3339 UTC time.
    #[derive(Debug, Clone, Copy)]
    pub struct Stamp(i64);

    impl std::str::FromStr for Stamp {
        type Err = String;
        fn from_str(s: &str) -> Result<Self, String> {
            let t: prost_types::Timestamp = s.parse().map_err(|e| format!("{e:?}"))?;
            Ok(Stamp(t.seconds))
        }
    }

    impl Stamp {
        pub fn shifted(self, hours: i64) -> Stamp {
            Stamp(self.0 + hours * 3600)
        }
    }

    impl std::fmt::Display for Stamp {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            let s = prost_types::Timestamp { seconds: self.0, nanos: 0 }.to_string();
            f.write_str(s.trim_end_matches('Z').replacen('T', " ", 1).as_str())
        }
    }
}

/// A workbook's sheets, each as rows of cells (calamine, the reader `ladder
/// sync` imports XLSX with).
fn read_workbook(path: &std::path::Path) -> Vec<(String, Vec<Vec<calamine::Data>>)> {
    use calamine::Reader as _;
    let mut book: calamine::Xlsx<_> = calamine::open_workbook(path).expect("a readable workbook");
    let names = book.sheet_names().to_vec();
    names
        .into_iter()
        .map(|name| {
            let range = book.worksheet_range(&name).expect("sheet");
            (name, range.rows().map(<[calamine::Data]>::to_vec).collect())
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lists_and_reports_export_to_excel_with_real_dates_and_numbers() {
    use calamine::Data;
    let server = TestServer::start().await;
    let dir = tempfile::tempdir().unwrap();
    // 2,500 firms: the list arrives in three pages and lands in one sheet.
    let generated = ladder(vec!["generate".into(), "--firms".into(), "2500".into()]).await;
    let csv = dir.path().join("firms.csv");
    std::fs::write(&csv, &generated.stdout).unwrap();
    let out = ladder(args(&server, &["sync", &csv.display().to_string(), "--source", "registry"])).await;
    assert!(out.status.success(), "{}", stderr(&out));

    let xlsx = dir.path().join("firms.xlsx");
    let out = ladder(args(
        &server,
        &["enterprise", "list", "--all", "--page-size", "1000", "--xlsx", &xlsx.display().to_string()],
    ))
    .await;
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stdout(&out).is_empty(), "the table goes to the file, not the terminal");
    assert!(stderr(&out).contains("2500 rows in 1 sheets"), "{}", stderr(&out));
    let book = read_workbook(&xlsx);
    assert_eq!(book.iter().map(|(n, _)| n.as_str()).collect::<Vec<_>>(), ["表1", "导出说明"]);
    let rows = &book[0].1;
    assert_eq!(rows.len(), 1 + 2500);
    assert_eq!(rows[0][0], Data::String("信用代码".into()));
    assert_eq!(rows[0][1], Data::String("名称".into()));
    let codes: std::collections::HashSet<String> = rows[1..].iter().map(|r| r[0].to_string()).collect();
    assert_eq!(codes.len(), 2500, "every firm once");
    assert!(rows[1..].iter().all(|r| r[0].to_string().len() == 18), "codes stay text");
    let about = &book[1].1;
    assert!(about[0][1].to_string().contains("enterprise list --all"), "{about:?}");
    assert!(about[1][1].to_string().ends_with("UTC+8"), "{about:?}");

    // Times are date-times (China Standard Time) and counts are numbers.
    let changes = dir.path().join("changes.xlsx");
    let out = ladder(args(&server, &["changes", "--limit", "5", "--xlsx", &changes.display().to_string()])).await;
    assert!(out.status.success(), "{}", stderr(&out));
    let book = read_workbook(&changes);
    let rows = &book[0].1;
    assert_eq!(rows[0][1], Data::String("时间 (UTC+8)".into()));
    assert!(matches!(rows[1][0], Data::Float(_)), "the revision is a number: {:?}", rows[1][0]);
    assert!(matches!(rows[1][1], Data::DateTime(_)), "the time is a date-time: {:?}", rows[1][1]);

    // A command that fails leaves no file; an existing file is never overwritten.
    let failed = dir.path().join("failed.xlsx");
    let out = ladder(args(
        &server,
        &["enterprise", "list", "--filter", "colour = red", "--xlsx", &failed.display().to_string()],
    ))
    .await;
    assert!(!out.status.success());
    assert!(!failed.exists());
    let out = ladder(args(&server, &["funnel", "--xlsx", &changes.display().to_string()])).await;
    assert!(!out.status.success() && stderr(&out).contains("exists"), "{}", stderr(&out));

    // CSV: UTF-8 with a byte-order mark and the Chinese headers.
    let csv_out = dir.path().join("funnel.csv");
    let out = ladder(args(&server, &["funnel", "--csv", &csv_out.display().to_string()])).await;
    assert!(out.status.success(), "{}", stderr(&out));
    let text = std::fs::read_to_string(&csv_out).unwrap();
    assert!(text.starts_with("\u{feff}梯度,企业数,分布"), "{text}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_official_list_is_matched_by_code_name_and_former_name_and_imported_once() {
    let server = TestServer::start().await;
    let mut c = server.enterprises().await;
    for (n, name) in [
        (1, "西安甲航天有限公司"),
        (2, "西安乙电子有限公司"),
        (3, "西安同名科技有限公司"),
        (4, "西安同名科技有限公司"),
        (5, "西安丙新材料有限公司"),
    ] {
        c.create_enterprise(common::create(common::firm(n, name))).await.unwrap();
    }
    let renamed = ladder::pb::v1::Enterprise {
        name: format!("enterprises/{}", code(2)),
        display_name: "西安乙电子股份有限公司".into(),
        ..Default::default()
    };
    c.update_enterprise(ladder::pb::v1::UpdateEnterpriseRequest {
        enterprise: Some(renamed),
        update_mask: Some(prost_types::FieldMask { paths: vec!["display_name".into()] }),
        ..Default::default()
    })
    .await
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let list = dir.path().join("2024年高企名单.csv");
    std::fs::write(
        &list,
        format!(
            "序号,企业名称,统一社会信用代码,证书编号\n\
             1,,{},GR001\n\
             2,西安甲航天有限公司,,GR002\n\
             3,西安乙电子有限公司,,GR003\n\
             4,西安同名科技有限公司,,GR004\n\
             5,西安甲航天有限责任公司,,GR005\n",
            code(5)
        ),
    )
    .unwrap();
    let path = list.display().to_string();
    let import = |apply: bool| {
        let mut words = vec!["designation", "import", &path, "--kind", "高企", "--valid-from", "2024-12-01", "--json"];
        if apply {
            words.push("--apply");
        }
        args(&server, &words)
    };
    let dry = json(&ladder(import(false)).await);
    assert_eq!(
        (dry["matched"].as_u64(), dry["ambiguous"].as_u64(), dry["unmatched"].as_u64()),
        (Some(3), Some(1), Some(1))
    );
    let rows = dry["rows"].as_array().unwrap();
    let how: Vec<&str> = rows.iter().map(|r| r["detail"].as_str().unwrap()).collect();
    assert!(how[0].contains("信用代码") && how[1].contains("名称") && how[2].contains("曾用名"), "{how:?}");
    assert_eq!(rows[2]["credit_code"], code(2), "the former name finds the renamed firm");
    assert!(how[3].contains(&code(3)) && how[3].contains(&code(4)), "both namesakes are named: {}", how[3]);
    assert!(how[4].contains(&code(1)), "the closest registered name is offered: {}", how[4]);
    assert_eq!(dry["written"], 0, "a dry run writes nothing");

    let applied = json(&ladder(import(true)).await);
    assert_eq!(applied["written"], 3);
    let held = json(&ladder(args(&server, &["designation", "list", &code(2), "--json"])).await);
    let held = held["designations"].as_array().unwrap();
    assert_eq!(held.len(), 1);
    assert_eq!(held[0]["certificate_number"], "GR003");
    // Importing the same list again records nothing new.
    let again = json(&ladder(import(true)).await);
    assert_eq!((again["written"].as_u64(), again["already_recorded"].as_u64()), (Some(0), Some(3)));

    // A designation revoked by mistake is recorded again by the same list
    // (the state the import saw changed, so it is a new request, not a replay).
    let held = json(&ladder(args(&server, &["designation", "list", &code(2), "--json"])).await);
    let name = held["designations"][0]["name"].as_str().unwrap().to_string();
    let mut cultivation =
        ladder::pb::v1::cultivation_service_client::CultivationServiceClient::new(server.channel().await);
    cultivation
        .delete_designation(ladder::pb::v1::DeleteDesignationRequest { name, ..Default::default() })
        .await
        .unwrap();
    let redo = json(&ladder(import(true)).await);
    assert_eq!(redo["written"], 1, "{redo}");
    let held = json(&ladder(args(&server, &["designation", "list", &code(2), "--json"])).await);
    assert_eq!(held["designations"].as_array().unwrap().len(), 1, "recorded again: {held}");

    // A code is authoritative: an unregistered code does not fall back to
    // the name, a registered code with another firm's name is a conflict,
    // and a firm listed twice is a repeat.
    let tricky = dir.path().join("tricky.csv");
    std::fs::write(
        &tricky,
        format!(
            "企业名称,统一社会信用代码,证书编号\n西安乙电子有限公司,{},GR101\n西安甲航天有限公司,{},GR102\n西安丙新材料有限公司,,GR103\n西安丙新材料有限公司,,GR103\n",
            code(77),
            code(5)
        ),
    )
    .unwrap();
    let tricky = tricky.display().to_string();
    let got = json(
        &ladder(args(
            &server,
            &["designation", "import", &tricky, "--kind", "高企", "--valid-from", "2024-12-01", "--json"],
        ))
        .await,
    );
    let outcomes: Vec<&str> = got["rows"].as_array().unwrap().iter().map(|r| r["outcome"].as_str().unwrap()).collect();
    assert_eq!(outcomes, ["未匹配 unmatched", "有误 invalid", "可导入 matched", "有误 invalid"], "{got}");
    assert!(got["rows"][1]["detail"].as_str().unwrap().contains("代码与名称不符"));
    assert!(got["rows"][3]["detail"].as_str().unwrap().contains("重复"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn figures_and_rosters_import_by_name_once() {
    let server = TestServer::start().await;
    let mut c = server.enterprises().await;
    for (n, name) in [(1, "西安甲航天有限公司"), (2, "西安乙电子有限公司")] {
        c.create_enterprise(common::create(common::firm(n, name))).await.unwrap();
    }
    let dir = tempfile::tempdir().unwrap();
    let figures = dir.path().join("2025年指标.csv");
    std::fs::write(
        &figures,
        "企业名称,营业收入(万元),从业人员\n西安甲航天有限公司,\"1,200.5\",80\n西安乙电子有限公司,很多,10\n",
    )
    .unwrap();
    let path = figures.display().to_string();
    let run = |apply: bool| {
        let mut words = vec!["indicators", "import", &path, "--year", "2025", "--json"];
        if apply {
            words.push("--apply");
        }
        args(&server, &words)
    };
    let dry = json(&ladder(run(false)).await);
    assert_eq!((dry["matched"].as_u64(), dry["invalid"].as_u64()), (Some(1), Some(1)), "{dry}");
    assert!(dry["rows"][1]["detail"].as_str().unwrap().contains("not a number"));
    assert_eq!(json(&ladder(run(true)).await)["written"], 1);
    let shown = json(&ladder(args(&server, &["indicators", "list", &code(1), "--json"])).await);
    let year = &shown["indicators"][0];
    assert_eq!(
        (year["year"].as_i64(), year["revenue"].as_f64(), year["employees"].as_i64()),
        (Some(2025), Some(1200.5), Some(80)),
        "{shown}"
    );
    let again = json(&ladder(run(true)).await);
    assert_eq!((again["written"].as_u64(), again["already_recorded"].as_u64()), (Some(0), Some(1)));

    let roster = dir.path().join("联盟名册.csv");
    std::fs::write(&roster, "单位名称,角色,入会日期\n西安甲航天有限公司,理事长单位,2024-01-01\n西安乙电子有限公司,,\n")
        .unwrap();
    let path = roster.display().to_string();
    let run = |apply: bool| {
        let mut words = vec!["member", "import", &path, "--alliance", "commercial-space", "--json"];
        if apply {
            words.push("--apply");
        }
        args(&server, &words)
    };
    assert_eq!(json(&ladder(run(false)).await)["matched"], 2);
    assert_eq!(json(&ladder(run(true)).await)["written"], 2);
    let members = json(&ladder(args(&server, &["member", "list", "--firm", &code(1), "--json"])).await);
    assert_eq!(members["memberships"][0]["role"], "CHAIR");
    assert_eq!(members["memberships"][0]["join_date"], "2024-01-01");
    let again = json(&ladder(run(true)).await);
    assert_eq!((again["written"].as_u64(), again["already_recorded"].as_u64()), (Some(0), Some(2)));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn projects_from_lead_to_the_investment_report_with_the_cli() {
    let server = TestServer::start().await;
    let out = ladder(args(&server, &["enterprise", "create", &code(1), "--name", "陕西储能电芯有限公司"])).await;
    assert!(out.status.success(), "{}", stderr(&out));
    let add = |name: &'static str, lead: &'static str| {
        let words = [
            "project",
            "add",
            "--name",
            name,
            "--investor",
            "某集团",
            "--industry",
            "C3841",
            "--planned-wan",
            "5000",
            "--key-level",
            "市级",
            "--lead-date",
            lead,
            "--json",
        ];
        ladder(args(&server, &words))
    };
    let out = add("甲项目", "2025-01-10").await;
    assert!(out.status.success(), "{}", stderr(&out));
    let p1 = json(&out)["name"].as_str().unwrap().to_string();
    let p2 = json(&add("乙项目", "2025-01-12").await)["name"].as_str().unwrap().to_string();
    let firm = format!("enterprises/{}", code(1));
    for step in [
        vec!["project", "step", &p1, "签约", "--date", "2025-02-01", "--amount-wan", "900"],
        vec!["project", "step", &p1, "registered", "--date", "2025-03-01", "--enterprise", &firm],
        vec!["project", "step", &p1, "开工", "--date", "2025-04-01"],
        vec!["project", "plan", &p1, "2025", "--planned-wan", "1200", "--construction-by", "2025-06-30"],
        vec!["project", "invest", &p1, "2025", "3", "500"],
        vec!["project", "invest", &p1, "2025", "4", "400"],
        vec!["project", "plan", &p2, "2025", "--planned-wan", "800", "--construction-by", "2025-09-30"],
        vec!["project", "invest", &p2, "2025", "5", "900"],
    ] {
        let out = ladder(args(&server, &step)).await;
        assert!(out.status.success(), "{step:?}: {}", stderr(&out));
    }
    // A signing without its amount is refused, naming the reason.
    let out = ladder(args(&server, &["project", "step", &p2, "签约", "--date", "2025-02-01"])).await;
    assert!(!out.status.success());
    assert!(stderr(&out).contains("AMOUNT_REQUIRED"), "{}", stderr(&out));

    let out = ladder(args(
        &server,
        &["project", "report", "investment", "--year", "2025", "--filter", "key_level = MUNICIPAL", "--json"],
    ))
    .await;
    assert!(out.status.success(), "{}", stderr(&out));
    let report = json(&out);
    // 500 + 400 of 1,200 and 900 of 800 (an overrun): 1,800 of 2,000.
    assert_eq!(report["overall"]["planned_wan"], 2000.0);
    assert_eq!(report["overall"]["completed_wan"], 1800.0);
    assert_eq!(report["overall"]["completion_percent"], 90.0);
    assert_eq!(report["overall"]["overrun"], 1);
    assert_eq!(
        (report["construction_rate"]["planned"].as_i64(), report["construction_rate"]["reached"].as_i64()),
        (Some(2), Some(1))
    );
    assert_eq!(report["summary"], "2个项目累计完成投资0.18亿元，占年计划的90.00%");
    let out = ladder(args(&server, &["project", "report", "investment", "--year", "2025"])).await;
    let text = stdout(&out);
    assert!(text.contains("90.00%") && text.contains("50.00%") && text.contains("合计 TOTAL"), "{text}");

    let funnel = json(&ladder(args(&server, &["project", "report", "funnel", "--json"])).await);
    let at = |stage: &str| {
        funnel["overall"]["stages"].as_array().unwrap().iter().find(|s| s["stage"] == stage).unwrap()["count"].as_i64()
    };
    assert_eq!((at("LEAD"), at("CONSTRUCTION")), (Some(1), Some(1)));
    let stalled = json(&ladder(args(&server, &["project", "stalled", "--json"])).await);
    assert_eq!(stalled["total_size"], 2);
    let listed = stdout(&ladder(args(&server, &["project", "list", "--stage", "开工"])).await);
    assert!(listed.contains("甲项目") && !listed.contains("乙项目"), "{listed}");

    // A target that bites becomes a project.
    let target =
        json(&ladder(args(&server, &["target", "add", "--name", "宁德时代", "--reason", "链主", "--json"])).await);
    let target = target["name"].as_str().unwrap().to_string();
    let words = ["project", "add", "--name", "丙项目", "--investor", "宁德时代", "--target", &target];
    let out = ladder(args(&server, &words)).await;
    assert!(out.status.success(), "{}", stderr(&out));
    let shown = json(&ladder(args(&server, &["target", "show", &target, "--json"])).await);
    assert_eq!(shown["status"], "CONVERTED", "{shown}");
    assert!(ladder::store::check_consistency(&server.store).unwrap().is_empty());
}
