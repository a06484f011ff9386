//! A tiny run of every benchmark scenario, so the tool never rots: it must
//! start its own server, load data, time calls and report real numbers.

use std::process::Command;

use serde_json::Value;

#[test]
fn the_suggest_benchmark_runs_end_to_end_and_reports_numbers() {
    let out = Command::new(env!("CARGO_BIN_EXE_ladder"))
        .args(["bench", "suggest", "--postings", "300", "--firms", "30", "--queries", "20", "--json"])
        .env_remove("LADDER_SERVER")
        .env_remove("LADDER_TOKEN")
        .output()
        .expect("run ladder bench");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let report: Value = serde_json::from_slice(&out.stdout).expect("JSON report");
    assert_eq!(report["scenario"], "suggest");
    assert_eq!(report["postings"], 300);
    assert_eq!(report["load_postings"]["calls"], 300);
    assert_eq!(report["suggest"]["calls"], 20);
    assert_eq!(report["floor_empty_rpc"]["calls"], 20);
    for path in
        [("suggest", "p50_ms"), ("suggest", "p99_ms"), ("floor_empty_rpc", "p50_ms"), ("load_postings", "per_second")]
    {
        let v = report[path.0][path.1].as_f64().unwrap_or(0.0);
        assert!(v > 0.0, "{path:?} = {v} in {report}");
    }
    assert!(report["suggest"]["p99_ms"].as_f64() >= report["suggest"]["p50_ms"].as_f64());
    assert!(report["candidates_examined_avg"].as_f64().unwrap() > 0.0, "suggestions found candidates");
    assert!(report["server_peak_rss_mib"].as_f64().unwrap() > 1.0);
    assert!(report["store_disk_mib"].as_f64().unwrap() > 0.0);
    assert!(report["machine"]["cores"].as_u64().unwrap() >= 1);
}
