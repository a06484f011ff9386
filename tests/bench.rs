//! A tiny run of every benchmark scenario, so the tool never rots: each must
//! start its own server, load data, time calls and report real numbers.

use std::process::Command;

use serde_json::Value;

fn bench(args: &[&str]) -> Value {
    let out = Command::new(env!("CARGO_BIN_EXE_ladder"))
        .arg("bench")
        .args(args)
        .arg("--json")
        .env_remove("LADDER_SERVER")
        .env_remove("LADDER_TOKEN")
        .output()
        .expect("run ladder bench");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout).expect("JSON report")
}

/// The timed call named `name`, checked for real numbers.
fn call<'a>(report: &'a Value, name: &str, n: u64) -> &'a Value {
    let c = report["calls"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == name)
        .unwrap_or_else(|| panic!("no {name} in {report}"));
    assert_eq!(c["calls"], n, "{name}");
    for key in ["per_second", "p50_ms", "p99_ms", "p999_ms", "max_ms"] {
        assert!(c[key].as_f64().unwrap() > 0.0, "{name}.{key} in {report}");
    }
    assert!(c["p99_ms"].as_f64() >= c["p50_ms"].as_f64());
    c
}

fn common(report: &Value, scenario: &str) {
    assert_eq!(report["scenario"], scenario);
    assert!(report["server_peak_rss_mib"].as_f64().unwrap() > 1.0);
    assert!(report["store_disk_mib"].as_f64().unwrap() > 0.0);
    assert!(report["machine"]["cores"].as_u64().unwrap() >= 1);
    assert!(report["p99_over_floor_p99"].as_f64().unwrap() > 0.0);
    let load = &report["load"];
    assert_eq!(load["rows"], report["firms"], "every sample firm was loaded: {report}");
    assert!(load["rows_per_second"].as_f64().unwrap() > 0.0);
}

#[test]
fn suggest_runs_end_to_end_and_reports_numbers() {
    let r = bench(&["suggest", "--postings", "300", "--firms", "30", "--queries", "20"]);
    common(&r, "suggest");
    call(&r, "CreatePosting (load, durable)", 300);
    call(&r, "SuggestMatches", 20);
    call(&r, "Ping (floor)", 20);
    assert_eq!(r["open_postings"], 300.0);
    assert!(r["candidates_examined_avg"].as_f64().unwrap() > 0.0, "suggestions found candidates");
}

#[test]
fn registry_scenarios_run_end_to_end_and_report_numbers() {
    let r = bench(&["get", "--firms", "200", "--calls", "100", "--concurrency", "4"]);
    common(&r, "get");
    call(&r, "GetEnterprise", 100);
    assert!(r["throughput_over_floor"].as_f64().unwrap() > 0.0);

    let r = bench(&["write", "--firms", "50", "--calls", "60", "--concurrency", "4"]);
    common(&r, "write");
    call(&r, "UpdateEnterprise (durable)", 60);

    let r = bench(&["list", "--firms", "300", "--calls", "20", "--concurrency", "2"]);
    common(&r, "list");
    call(&r, "ListEnterprises, first page", 20);
    // Every fifth firm got its sample designations, every fourth of an
    // industry with an alliance joined it.
    for name in ["CreateDesignation (load, durable)", "CreateMembership (load, durable)"] {
        let row = r["calls"].as_array().unwrap().iter().find(|c| c["name"] == name).unwrap();
        assert!(row["calls"].as_u64().unwrap() > 10, "{name}: {row}");
    }
}

#[test]
fn watch_times_each_change_from_its_call_to_the_follower() {
    let r = bench(&["watch", "--firms", "100", "--calls", "80", "--concurrency", "8"]);
    common(&r, "watch");
    let write = call(&r, "UpdateEnterprise (durable)", 80);
    let delivered = call(&r, "WatchChanges delivery, from call start", 80);
    // A change reaches the follower after its call started, and not much
    // later than the call was answered.
    assert!(delivered["p50_ms"].as_f64().unwrap() > 0.0);
    assert!(delivered["max_ms"].as_f64().unwrap() < write["max_ms"].as_f64().unwrap() + 2000.0, "{r}");
    let after_ack = r["calls"].as_array().unwrap().iter().find(|c| c["name"] == "WatchChanges delivery, after the ack");
    assert_eq!(after_ack.unwrap()["calls"], 80);
}

#[test]
fn sync_runs_next_to_its_raw_sled_floors() {
    let r = bench(&["sync", "--firms", "400"]);
    assert_eq!(r["scenario"], "sync");
    assert_eq!(r["created"], 400, "{r}");
    assert_eq!(r["unchanged_again"], 400, "the second run changes nothing: {r}");
    let runs = r["runs"].as_array().unwrap();
    let names: Vec<&str> = runs.iter().map(|x| x["name"].as_str().unwrap()).collect();
    assert_eq!(
        names,
        [
            "SyncEnterprises, new firms (durable)",
            "SyncEnterprises, same rows again",
            "raw sled, same keys (floor)",
            "raw sled, record only"
        ]
    );
    for run in runs {
        assert_eq!(run["rows"], 400, "{run}");
        assert!(run["rows_per_second"].as_f64().unwrap() > 0.0, "{run}");
    }
    // The floor writes a row's record and change-log entry (and a run record
    // and revision per chunk); the record-only floor one key per row.
    let same = runs[2]["keys_per_row"].as_f64().unwrap();
    assert!((2.0..=2.1).contains(&same), "{r}");
    assert_eq!(runs[3]["keys_per_row"], 1.0);
    assert!(r["sync_over_floor"].as_f64().unwrap() > 0.0);
    assert!(r["server_peak_rss_mib"].as_f64().unwrap() > 1.0);
    assert!(r["reopen_seconds"].as_f64().unwrap() > 0.0, "the restart is timed: {r}");
}

#[test]
fn a_short_soak_of_mixed_clients_has_no_errors_but_conflicts() {
    let r = bench(&["soak", "--firms", "300", "--clients", "8", "--seconds", "2"]);
    assert_eq!(r["scenario"], "soak");
    assert_eq!(r["errors"], 0, "{r}");
    let runs = r["runs"].as_array().unwrap();
    assert_eq!(runs.len(), 4);
    let calls: u64 = runs.iter().map(|x| x["calls"].as_u64().unwrap()).sum();
    assert!(calls > 100, "the clients kept calling: {r}");
    assert!(!r["rss_mib"].as_array().unwrap().is_empty(), "memory is sampled: {r}");
}
