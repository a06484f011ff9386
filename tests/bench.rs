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
    for key in ["per_second", "p50_ms", "p99_ms", "max_ms"] {
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
    call(&r, "CreateEnterprise (load, durable)", 200);
    call(&r, "GetEnterprise", 100);
    assert!(r["throughput_over_floor"].as_f64().unwrap() > 0.0);

    let r = bench(&["write", "--firms", "50", "--calls", "60", "--concurrency", "4"]);
    common(&r, "write");
    call(&r, "UpdateEnterprise (durable)", 60);

    let r = bench(&["list", "--firms", "300", "--calls", "20", "--concurrency", "2"]);
    common(&r, "list");
    call(&r, "ListEnterprises, first page", 20);
}
