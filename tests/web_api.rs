//! The web workspace's endpoints over a real socket: the page and its
//! security headers, the JSON mapping of the gRPC API (answers, errors,
//! tokens and roles), the guards against other sites and DNS rebinding, the
//! upload as a sync run with its revert, the XLSX download and the map.

mod common;

use common::http::{send, HttpResponse};
use common::{code, TestServer};
use ladder::auth::{hash_token, Role, TokenEntry};
use ladder::config::Config;
use ladder::pb::v1;
use serde_json::{json, Value};

const WEB: (&str, &str) = ("x-ladder-client", "web");

/// A JSON call of `Service/Method` as the page makes it, with extra headers.
async fn api_with(server: &TestServer, method: &str, body: Value, extra: &[(&str, &str)]) -> HttpResponse {
    let mut headers = vec![WEB, ("content-type", "application/json")];
    headers.extend_from_slice(extra);
    let addr = server.addr.to_string();
    send(&addr, "POST", &format!("/api/ladder.v1.{method}"), &headers, body.to_string().as_bytes()).await
}

async fn api(server: &TestServer, method: &str, body: Value) -> HttpResponse {
    api_with(server, method, body, &[]).await
}

async fn head_revision(server: &TestServer) -> u64 {
    let r = api(server, "ChangeService/ListChanges", json!({"page_size": 1})).await;
    assert_eq!(r.status, 200, "{}", r.text());
    r.json()["head_revision"].as_str().unwrap().parse().unwrap()
}

fn assert_error(r: &HttpResponse, status: u16, code: &str, reason: &str) {
    assert_eq!(r.status, status, "{}", r.text());
    let body = r.json();
    assert_eq!(body["code"], code, "{body}");
    assert_eq!(body["reason"], reason, "{body}");
}

#[tokio::test]
async fn the_page_is_served_beside_grpc_with_strict_security_headers() {
    let server = TestServer::start().await;
    let addr = server.addr.to_string();
    let page = send(&addr, "GET", "/", &[], b"").await;
    assert_eq!(page.status, 200);
    assert!(page.header("content-type").unwrap().starts_with("text/html"));
    assert!(page.text().contains("/assets/app.js"), "{}", page.text());
    let csp = page.header("content-security-policy").unwrap();
    assert!(csp.contains("script-src 'self'") && csp.contains("frame-ancestors 'none'"), "{csp}");
    assert!(!csp.contains("unsafe-inline"), "{csp}");
    assert_eq!(page.header("x-frame-options"), Some("DENY"));
    assert_eq!(page.header("x-content-type-options"), Some("nosniff"));

    let app = send(&addr, "GET", "/assets/app.js", &[], b"").await;
    assert_eq!(app.status, 200);
    assert!(app.header("content-type").unwrap().starts_with("text/javascript"));
    let tag = app.header("etag").unwrap().to_string();
    let again = send(&addr, "GET", "/assets/app.js", &[("if-none-match", &tag)], b"").await;
    assert_eq!(again.status, 304, "an unchanged file is revalidated, not sent again");
    assert!(again.body.is_empty());

    let head = send(&addr, "HEAD", "/assets/app.js", &[], b"").await;
    assert_eq!((head.status, head.header("etag")), (200, Some(tag.as_str())));
    assert!(head.body.is_empty());
    for missing in ["/assets/nope.js", "/assets/../Cargo.toml", "/etc/passwd"] {
        assert_eq!(send(&addr, "GET", missing, &[], b"").await.status, 404, "{missing}");
    }
    assert_eq!(send(&addr, "PUT", "/", &[], b"").await.status, 405);

    // gRPC still answers on the same port.
    let mut grpc = server.enterprises().await;
    grpc.ping(()).await.expect("gRPC on the web port");
}

#[tokio::test]
async fn json_calls_reach_the_same_api_with_the_same_errors() {
    let server = TestServer::start().await;
    let me = api(&server, "EnterpriseService/WhoAmI", json!({})).await;
    assert_eq!(me.status, 200);
    let me = me.json();
    assert_eq!(me["name"], "local-admin");
    assert_eq!(me["role"], "admin");
    assert_eq!(me["tokens_required"], false);
    assert_eq!(me["may_sync"], true);

    let created = api(
        &server,
        "EnterpriseService/CreateEnterprise",
        json!({"enterprise": {"credit_code": code(1), "display_name": "西安网页测试科技有限公司", "tags": ["网页"]}}),
    )
    .await;
    assert_eq!(created.status, 200, "{}", created.text());
    let created = created.json();
    let name = created["name"].as_str().unwrap().to_string();
    assert_eq!(name, format!("enterprises/{}", code(1)));
    // Every field is present (defaults too), 64-bit integers as strings, enums by name.
    assert_eq!(created["notes"], "");
    assert!(created["revision"].is_string(), "{created}");
    assert_eq!(created["stage"], "STAGE_UNSPECIFIED");

    // The same record through gRPC, written by the web origin.
    let mut grpc = server.enterprises().await;
    let stored = grpc.get_enterprise(v1::GetEnterpriseRequest { name: name.clone() }).await;
    assert_eq!(stored.unwrap().into_inner().display_name, "西安网页测试科技有限公司");
    let changes = api(&server, "ChangeService/ListChanges", json!({"resource": name})).await.json();
    let change = &changes["changes"][0];
    assert_eq!(change["origin"], "web");
    assert_eq!(change["actor"], "local-admin");

    // A field mask travels as one camelCase string; a stale etag is refused.
    let etag = created["etag"].as_str().unwrap();
    let update = |etag: &str, notes: &str| json!({"enterprise": {"name": name, "notes": notes}, "update_mask": "notes", "etag": etag});
    let ok = api(&server, "EnterpriseService/UpdateEnterprise", update(etag, "第一次")).await;
    assert_eq!(ok.status, 200, "{}", ok.text());
    assert_eq!(ok.json()["notes"], "第一次");
    let before = head_revision(&server).await;
    let stale = api(&server, "EnterpriseService/UpdateEnterprise", update(etag, "第二次")).await;
    assert_error(&stale, 409, "ABORTED", "ETAG_MISMATCH");
    assert_eq!(head_revision(&server).await, before, "a refused update writes nothing");

    // Field violations come through with the field.
    let bad = api(&server, "EnterpriseService/GetEnterprise", json!({"name": "enterprises/123"})).await;
    assert_error(&bad, 400, "INVALID_ARGUMENT", "WRONG_LENGTH");
    assert_eq!(bad.json()["violations"][0]["field"], "name");
    let missing =
        api(&server, "EnterpriseService/GetEnterprise", json!({"name": format!("enterprises/{}", code(2))})).await;
    assert_error(&missing, 404, "NOT_FOUND", "RESOURCE_NOT_FOUND");

    // What the mapping itself refuses.
    let unknown_field = api(&server, "EnterpriseService/WhoAmI", json!({"bogus": 1})).await;
    assert_error(&unknown_field, 400, "INVALID_ARGUMENT", "UNDECODABLE_REQUEST");
    let addr = server.addr.to_string();
    let not_json = send(
        &addr,
        "POST",
        "/api/ladder.v1.EnterpriseService/ListEnterprises",
        &[WEB, ("content-type", "application/json")],
        b"{\"page_size\": ",
    )
    .await;
    assert_error(&not_json, 400, "INVALID_ARGUMENT", "UNDECODABLE_REQUEST");
    let wrong_type = api(&server, "EnterpriseService/ListEnterprises", json!({"page_size": "many"})).await;
    assert_error(&wrong_type, 400, "INVALID_ARGUMENT", "UNDECODABLE_REQUEST");
    let no_method = api(&server, "EnterpriseService/DropEverything", json!({})).await;
    assert_error(&no_method, 404, "NOT_FOUND", "RESOURCE_NOT_FOUND");
    let stream = api(&server, "ChangeService/WatchChanges", json!({})).await;
    assert_error(&stream, 400, "FAILED_PRECONDITION", "STREAMING_METHOD");
    let negative = api(&server, "EnterpriseService/ListEnterprises", json!({"page_size": -1})).await;
    assert_error(&negative, 400, "INVALID_ARGUMENT", "NEGATIVE_PAGE_SIZE");
    // An empty body is the empty request.
    let empty = send(&addr, "POST", "/api/ladder.v1.EnterpriseService/ListEnterprises", &[WEB], b"").await;
    assert_eq!(empty.status, 200, "{}", empty.text());
    assert_eq!(empty.json()["total_size"], 1);
    assert!(ladder::store::check_consistency(&server.store).unwrap().is_empty());
}

#[tokio::test]
async fn other_sites_and_rebound_names_are_refused_before_anything_runs() {
    let server = TestServer::start().await;
    let addr = server.addr.to_string();
    let before = head_revision(&server).await;
    let body = json!({"enterprise": {"credit_code": code(3), "display_name": "跨站请求伪造"}}).to_string();
    let path = "/api/ladder.v1.EnterpriseService/CreateEnterprise";
    // A form on another site cannot send the client header.
    let no_header = send(&addr, "POST", path, &[("content-type", "text/plain")], body.as_bytes()).await;
    assert_error(&no_header, 403, "PERMISSION_DENIED", "MISSING_CLIENT_HEADER");
    // A page of another origin.
    let cross = send(&addr, "POST", path, &[WEB, ("origin", "http://evil.example")], body.as_bytes()).await;
    assert_error(&cross, 403, "PERMISSION_DENIED", "CROSS_ORIGIN");
    // DNS rebinding: a name that now points here, on a server without tokens.
    let host = format!("evil.example:{}", server.addr.port());
    let origin = format!("http://{host}");
    let rebound = send(&addr, "POST", path, &[WEB, ("host", &host), ("origin", &origin)], body.as_bytes()).await;
    assert_error(&rebound, 403, "PERMISSION_DENIED", "HOST_NOT_LOOPBACK");
    for endpoint in ["/web/import?source=x", "/web/map.svg", "/web/export.xlsx"] {
        let r = send(&addr, "POST", endpoint, &[], b"{}").await;
        assert_error(&r, 403, "PERMISSION_DENIED", "MISSING_CLIENT_HEADER");
    }
    assert_eq!(head_revision(&server).await, before, "nothing was written");
    // The same origin is welcome.
    let same_origin = format!("http://{addr}");
    let ok = send(&addr, "POST", path, &[WEB, ("origin", &same_origin)], body.as_bytes()).await;
    assert_eq!(ok.status, 200, "{}", ok.text());

    // A body beyond the limit is refused without being read whole.
    let huge = vec![b' '; 9 << 20];
    let r = send(&addr, "POST", "/api/ladder.v1.EnterpriseService/ListEnterprises", &[WEB], &huge).await;
    assert_error(&r, 413, "RESOURCE_EXHAUSTED", "REQUEST_TOO_LARGE");

    // A page after DNS rebinding cannot speak gRPC over HTTP/1.1 either.
    let delete = ladder::web::gateway::frame(&prost::Message::encode_to_vec(&v1::DeleteEnterpriseRequest {
        name: format!("enterprises/{}", code(3)),
        ..Default::default()
    }));
    let grpc = send(
        &addr,
        "POST",
        "/ladder.v1.EnterpriseService/DeleteEnterprise",
        &[("host", &host), ("content-type", "application/grpc")],
        &delete,
    )
    .await;
    assert_eq!(grpc.status, 415, "{}", grpc.text());
    let still =
        api(&server, "EnterpriseService/GetEnterprise", json!({"name": format!("enterprises/{}", code(3))})).await;
    assert_eq!(still.json()["delete_time"], Value::Null, "the firm was not deleted: {}", still.text());
}

fn config_with_tokens() -> Config {
    let token =
        |name: &str, role: Role| TokenEntry { name: name.into(), role, sha256: hash_token(&format!("{name}-secret")) };
    Config {
        tokens: vec![token("viewer1", Role::Viewer), token("editor1", Role::Editor), token("sync1", Role::Sync)],
        ..Config::default()
    }
}

#[tokio::test]
async fn tokens_and_roles_hold_for_the_web_as_for_grpc() {
    let server = TestServer::with_config(config_with_tokens()).await;
    let bearer = |name: &str| format!("Bearer {name}-secret");
    let none = api(&server, "EnterpriseService/WhoAmI", json!({})).await;
    assert_error(&none, 401, "UNAUTHENTICATED", "MISSING_TOKEN");
    let wrong = api_with(&server, "EnterpriseService/WhoAmI", json!({}), &[("authorization", "Bearer nope")]).await;
    assert_error(&wrong, 401, "UNAUTHENTICATED", "INVALID_TOKEN");

    let viewer = bearer("viewer1");
    let me = api_with(&server, "EnterpriseService/WhoAmI", json!({}), &[("authorization", &viewer)]).await.json();
    assert_eq!((me["name"].as_str(), me["role"].as_str()), (Some("viewer1"), Some("viewer")));
    assert_eq!((me["may_write"].as_bool(), me["tokens_required"].as_bool()), (Some(false), Some(true)));
    let create = json!({"enterprise": {"credit_code": code(4), "display_name": "只读用户不能写"}});
    let refused =
        api_with(&server, "EnterpriseService/CreateEnterprise", create.clone(), &[("authorization", &viewer)]).await;
    assert_error(&refused, 403, "PERMISSION_DENIED", "ROLE_NOT_ALLOWED");

    let editor = bearer("editor1");
    let made = api_with(&server, "EnterpriseService/CreateEnterprise", create, &[("authorization", &editor)]).await;
    assert_eq!(made.status, 200, "{}", made.text());
    let changes = api_with(
        &server,
        "ChangeService/ListChanges",
        json!({"resource": format!("enterprises/{}", code(4))}),
        &[("authorization", &editor)],
    )
    .await
    .json();
    assert_eq!(changes["changes"][0]["actor"], "editor1", "the token's holder is the actor");

    // An editor may not sync; the upload says so as the API does.
    let addr = server.addr.to_string();
    let csv = format!("统一社会信用代码,企业名称\n{},编辑不能同步\n", code(5));
    let upload =
        send(&addr, "POST", "/web/import?source=web-upload", &[WEB, ("authorization", &editor)], csv.as_bytes()).await;
    assert_error(&upload, 403, "PERMISSION_DENIED", "ROLE_NOT_ALLOWED");
    // With tokens, the server may be reached by any name (the token guards it).
    let host = format!("ladder.zone.example:{}", server.addr.port());
    let named = send(
        &addr,
        "POST",
        "/api/ladder.v1.EnterpriseService/WhoAmI",
        &[WEB, ("host", &host), ("authorization", &editor)],
        b"{}",
    )
    .await;
    assert_eq!(named.status, 200, "{}", named.text());
}

#[tokio::test]
async fn an_uploaded_file_is_tried_then_applied_then_reverted() {
    let server = TestServer::start().await;
    let addr = server.addr.to_string();
    let csv = format!(
        "\u{feff}统一社会信用代码,企业名称,成立日期\n{},西安上传一号有限公司,2019-03-01\n{},西安上传二号有限公司,2020/07/15\n91610116MA0000000X,坏代码公司,2020-01-01\n",
        code(11),
        code(12)
    );
    let upload = |query: &'static str| {
        let (addr, csv) = (addr.clone(), csv.clone());
        async move { send(&addr, "POST", &format!("/web/import?{query}"), &[WEB], csv.as_bytes()).await }
    };
    let before = head_revision(&server).await;
    let dry = upload("source=web-upload&dry_run=true").await;
    assert_eq!(dry.status, 200, "{}", dry.text());
    let dry = dry.json();
    assert_eq!(dry["encoding"], "UTF-8 with BOM");
    assert_eq!(dry["rows"], 3);
    assert_eq!(dry["run"]["dry_run"], true);
    assert_eq!((dry["run"]["created"].as_str(), dry["run"]["failed"].as_str()), (Some("2"), Some("1")));
    assert_eq!(dry["run"]["failures"][0]["row_number"], "4", "{dry}");
    let listed = api(&server, "EnterpriseService/ListEnterprises", json!({})).await.json();
    assert_eq!(listed["total_size"], 0, "a dry run writes no firm");
    assert!(head_revision(&server).await >= before);

    let applied = upload("source=web-upload&dry_run=false").await.json();
    assert_eq!(applied["run"]["dry_run"], false);
    assert_eq!(applied["run"]["created"], "2");
    let run = applied["run"]["name"].as_str().unwrap().to_string();
    let listed = api(&server, "EnterpriseService/ListEnterprises", json!({})).await.json();
    assert_eq!(listed["total_size"], 2);
    let second = api(&server, "EnterpriseService/GetEnterprise", json!({"name": format!("enterprises/{}", code(12))}))
        .await
        .json();
    assert_eq!(second["founding_date"], "2020-07-15", "Excel's slashes are read as a date");

    let preview = api(&server, "SyncService/RevertSyncRun", json!({"name": run, "validate_only": true})).await.json();
    assert_eq!(preview["deleted"], "2");
    assert_eq!(api(&server, "EnterpriseService/ListEnterprises", json!({})).await.json()["total_size"], 2);
    let reverted = api(&server, "SyncService/RevertSyncRun", json!({"name": run})).await.json();
    assert_eq!(reverted["deleted"], "2");
    assert_eq!(api(&server, "EnterpriseService/ListEnterprises", json!({})).await.json()["total_size"], 0);

    // A file that is no sync file is refused whole, with the reason.
    let bad = send(&addr, "POST", "/web/import?source=web-upload", &[WEB], "名称,地址\n甲,乙\n".as_bytes()).await;
    assert_error(&bad, 400, "INVALID_ARGUMENT", "UNREADABLE_FILE");
    assert!(bad.json()["message"].as_str().unwrap().contains("credit_code column"), "{}", bad.text());
    assert!(ladder::store::check_consistency(&server.store).unwrap().is_empty());
}

#[tokio::test]
async fn tables_download_as_typed_workbooks_and_the_map_draws_the_postings() {
    use calamine::{Data, Reader as _};
    let server = TestServer::start().await;
    let addr = server.addr.to_string();
    let table = json!({
        "title": "企业名单",
        "columns": ["企业名称 NAME", "成立日期 DATE", "金额(万元) AMOUNT"],
        "rows": [["西安甲公司", "2020-01-02", "1234.5"], ["=HYPERLINK(\"x\")", "", "abc"]],
    });
    let r = send(&addr, "POST", "/web/export.xlsx", &[WEB], table.to_string().as_bytes()).await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert!(r.header("content-type").unwrap().contains("spreadsheetml"));
    let mut book = calamine::Xlsx::new(std::io::Cursor::new(r.body.clone())).expect("a workbook");
    let sheet = book.worksheet_range("企业名单").expect("the table's sheet, named after the table");
    assert_eq!(sheet.get_value((0, 0)), Some(&Data::String("企业名称".into())));
    assert!(matches!(sheet.get_value((1, 1)), Some(Data::DateTime(_))), "{:?}", sheet.get_value((1, 1)));
    assert_eq!(sheet.get_value((1, 2)), Some(&Data::Float(1234.5)));
    assert_eq!(sheet.get_value((2, 0)), Some(&Data::String("=HYPERLINK(\"x\")".into())), "formulas stay text");
    let bad = send(&addr, "POST", "/web/export.xlsx", &[WEB], b"{\"title\": 1}").await;
    assert_error(&bad, 400, "INVALID_ARGUMENT", "UNDECODABLE_REQUEST");
    let no_columns = json!({"title": "t", "columns": [], "rows": []}).to_string();
    let bad = send(&addr, "POST", "/web/export.xlsx", &[WEB], no_columns.as_bytes()).await;
    assert_error(&bad, 400, "INVALID_ARGUMENT", "TOO_MANY");
    let wide = json!({"title": "t", "columns": vec!["列 COLUMN"; 201], "rows": []}).to_string();
    let bad = send(&addr, "POST", "/web/export.xlsx", &[WEB], wide.as_bytes()).await;
    assert_error(&bad, 400, "INVALID_ARGUMENT", "TOO_MANY");
    let nowhere = send(&addr, "POST", "/web/nothing", &[WEB], b"{}").await;
    assert_error(&nowhere, 404, "NOT_FOUND", "RESOURCE_NOT_FOUND");

    for (n, name) in [(21, "西安储能电芯有限公司"), (22, "西安储能系统集成有限公司")] {
        let r = api(
            &server,
            "EnterpriseService/CreateEnterprise",
            json!({"enterprise": {"credit_code": code(n), "display_name": name, "industry_code": "C3841"}}),
        )
        .await;
        assert_eq!(r.status, 200, "{}", r.text());
    }
    for (n, kind, title) in
        [(21, "POSTING_KIND_SUPPLY", "供应磷酸铁锂电芯"), (22, "POSTING_KIND_DEMAND", "采购磷酸铁锂电芯")]
    {
        let r = api(
            &server,
            "SupplyDemandService/CreatePosting",
            json!({"posting": {"credit_code": code(n), "kind": kind, "title": title, "industry_code": "C3841", "amount_wan": 100.0}}),
        )
        .await;
        assert_eq!(r.status, 200, "{}", r.text());
    }
    let svg = send(&addr, "POST", "/web/map.svg", &[WEB], b"{\"level\": \"MAP_LEVEL_FIRM\"}").await;
    assert_eq!(svg.status, 200, "{}", svg.text());
    assert!(svg.header("content-type").unwrap().starts_with("image/svg+xml"));
    let svg = svg.text();
    assert!(svg.starts_with("<svg"), "{svg}");
    for n in [21, 22] {
        assert!(svg.contains(&format!("data-node=\"{}\"", code(n))), "firm {n} is a clickable node: {svg}");
    }
    let bad = send(&addr, "POST", "/web/map.svg", &[WEB], b"{\"level\": \"NOT_A_LEVEL\"}").await;
    assert_error(&bad, 400, "INVALID_ARGUMENT", "UNDECODABLE_REQUEST");
}

/// Opens an upload that announces a large file and stalls after a few bytes.
fn stalled_upload(addr: &str, token: Option<&str>) -> std::net::TcpStream {
    stalled(addr, "/web/import?source=slow", token)
}

/// Opens a `POST` to `path` that announces a large body and stalls after a few bytes.
fn stalled(addr: &str, path: &str, token: Option<&str>) -> std::net::TcpStream {
    use std::io::Write as _;
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    let auth = token.map(|t| format!("authorization: Bearer {t}\r\n")).unwrap_or_default();
    let head = format!(
        "POST {path} HTTP/1.1\r\nHost: {addr}\r\nx-ladder-client: web\r\n{auth}Content-Length: 1000000\r\n\r\n统一社会信用代码"
    );
    s.write_all(head.as_bytes()).unwrap();
    s
}

/// Retries `attempt` until it answers `status` (the server may not have
/// taken a stalled request's slot yet, or not freed it yet).
async fn until_status(status: u16, attempt: impl Fn() -> tokio::task::JoinHandle<HttpResponse>) -> HttpResponse {
    tokio::time::timeout(std::time::Duration::from_secs(10), async {
        loop {
            let r = attempt().await.unwrap();
            if r.status == status {
                break r;
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
    })
    .await
    .unwrap_or_else(|_| panic!("no answer with HTTP {status}"))
}

#[tokio::test]
async fn half_sent_uploads_hold_one_slot_per_caller_and_free_it_when_dropped() {
    let server = TestServer::start().await;
    let addr = server.addr.to_string();
    let csv = format!("统一社会信用代码,企业名称\n{},西安慢上传有限公司\n", code(31));
    let upload = || {
        let (addr, csv) = (addr.clone(), csv.clone());
        tokio::spawn(async move { send(&addr, "POST", "/web/import?source=web-upload", &[WEB], csv.as_bytes()).await })
    };
    // Without tokens every caller is the local admin: one upload at a time.
    let stalled = stalled_upload(&addr, None);
    let refused = until_status(429, upload).await;
    assert_error(&refused, 429, "RESOURCE_EXHAUSTED", "TOO_MANY_UPLOADS");
    // JSON calls are not held up by it.
    assert_eq!(api(&server, "EnterpriseService/WhoAmI", json!({})).await.status, 200);
    drop(stalled);
    let accepted = until_status(200, upload).await;
    assert_eq!(accepted.json()["run"]["created"], "1");
}

#[tokio::test]
async fn nobody_without_a_token_holds_memory_or_slots() {
    use std::io::Read as _;
    let server = TestServer::with_config(config_with_tokens()).await;
    let addr = server.addr.to_string();
    // Refused at the headers: the announced megabyte is never waited for.
    for path in ["/web/import?source=x", "/web/export.xlsx", "/api/ladder.v1.EnterpriseService/ListEnterprises"] {
        let mut s = std::net::TcpStream::connect(&addr).unwrap();
        s.set_read_timeout(Some(std::time::Duration::from_secs(10))).unwrap();
        std::io::Write::write_all(
            &mut s,
            format!("POST {path} HTTP/1.1\r\nHost: {addr}\r\nx-ladder-client: web\r\nContent-Length: 1000000\r\n\r\n")
                .as_bytes(),
        )
        .unwrap();
        let mut answer = [0u8; 512];
        let n = tokio::task::spawn_blocking(move || s.read(&mut answer).map(|n| (n, answer))).await.unwrap();
        let (n, answer) = n.expect("an answer before the body");
        let head = String::from_utf8_lossy(&answer[..n]).to_string();
        assert!(head.starts_with("HTTP/1.1 401"), "{path}: {head}");
    }
    // A viewer may not upload, and is told before sending the file.
    let viewer = "Bearer viewer1-secret";
    let r = send(&addr, "POST", "/web/import?source=x", &[WEB, ("authorization", viewer)], b"x").await;
    assert_error(&r, 403, "PERMISSION_DENIED", "ROLE_NOT_ALLOWED");
    // Unauthenticated stalled uploads take no slot: the sync caller's goes through.
    let _stalled: Vec<_> = (0..3).map(|_| stalled_upload(&addr, None)).collect();
    let csv = format!("统一社会信用代码,企业名称\n{},西安令牌上传有限公司\n", code(41));
    let sync1 = "Bearer sync1-secret";
    let r = send(&addr, "POST", "/web/import?source=feed", &[WEB, ("authorization", sync1)], csv.as_bytes()).await;
    assert_eq!(r.status, 200, "{}", r.text());
    // Two callers may each hold one slot; a third caller then waits.
    let _a = stalled_upload(&addr, Some("sync1-secret"));
    let _b = stalled(&addr, "/web/export.xlsx", Some("editor1-secret"));
    let third = || {
        let addr = addr.clone();
        tokio::spawn(async move {
            let table = json!({"title": "t", "columns": ["名称 NAME"], "rows": [["甲"]]}).to_string();
            let auth = "Bearer viewer1-secret";
            send(&addr, "POST", "/web/export.xlsx", &[WEB, ("authorization", auth)], table.as_bytes()).await
        })
    };
    let refused = until_status(429, third).await;
    assert_error(&refused, 429, "RESOURCE_EXHAUSTED", "TOO_MANY_UPLOADS");
}

#[tokio::test]
async fn the_firm_list_download_syncs_back_unchanged_and_edits_apply() {
    let server = TestServer::start().await;
    let addr = server.addr.to_string();
    for (n, name) in [(51, "西安往返一号科技有限公司"), (52, "西安往返二号科技有限公司")] {
        let r = api(
            &server,
            "EnterpriseService/CreateEnterprise",
            json!({"enterprise": {"credit_code": code(n), "display_name": name, "industry_code": "C3742"}}),
        )
        .await;
        assert_eq!(r.status, 200, "{}", r.text());
    }
    // The firm list's download, with the columns the page writes.
    let table = json!({
        "title": "企业名录",
        "columns": ["企业名称 NAME", "信用代码 CODE", "梯度 STAGE", "行业代码 INDUSTRY", "行业名称 INDUSTRY NAME",
                    "片区 ZONE", "片区名称 ZONE NAME", "服务专员 COMMISSIONER", "更新时间 TIME (UTC+8)"],
        "rows": [
            ["西安往返一号科技有限公司", code(51), "未入梯", "C3742", "航天器及运载火箭制造", "", "", "", "2026-12-01 10:00:00"],
            ["西安往返二号科技有限公司（更名）", code(52), "未入梯", "C3742", "航天器及运载火箭制造", "", "", "王敏", "2026-12-01 10:00:00"],
        ],
    });
    let book = send(&addr, "POST", "/web/export.xlsx", &[WEB], table.to_string().as_bytes()).await;
    assert_eq!(book.status, 200, "{}", book.text());
    let tried = send(&addr, "POST", "/web/import?source=web-upload&dry_run=true", &[WEB], &book.body).await;
    assert_eq!(tried.status, 200, "the download is a sync file: {}", tried.text());
    let run = &tried.json()["run"];
    assert_eq!(
        (run["failed"].as_str(), run["unchanged"].as_str(), run["updated"].as_str()),
        (Some("0"), Some("1"), Some("1"))
    );
    let applied = send(&addr, "POST", "/web/import?source=web-upload", &[WEB], &book.body).await;
    assert_eq!(applied.status, 200, "{}", applied.text());
    let second =
        api(&server, "EnterpriseService/GetEnterprise", json!({"name": format!("enterprises/{}", code(52))})).await;
    let second = second.json();
    assert_eq!(second["display_name"], "西安往返二号科技有限公司（更名）");
    assert_eq!(second["service_commissioner"], "王敏");
    assert_eq!(second["industry_code"], "C3742", "the code column, not the name, is read");
}

#[tokio::test]
async fn shutdown_waits_for_the_pages_requests() {
    let server = TestServer::start().await;
    let addr = server.addr.to_string();
    // An upload in progress (its body still arriving).
    let uploading = stalled_upload(&addr, None);
    // Wait until the server holds it (a second upload of the same caller is refused).
    let csv = format!("统一社会信用代码,企业名称\n{},西安停机测试有限公司\n", code(61));
    let probe = || {
        let (addr, csv) = (addr.clone(), csv.clone());
        tokio::spawn(async move { send(&addr, "POST", "/web/import?source=web-upload", &[WEB], csv.as_bytes()).await })
    };
    until_status(429, probe).await;
    let stopping = tokio::spawn(server.stop());
    tokio::time::sleep(std::time::Duration::from_millis(1500)).await;
    assert!(!stopping.is_finished(), "shutdown waits while a page's request is in flight");
    // The upload ends (its client goes away): shutdown finishes well within the grace period.
    drop(uploading);
    tokio::time::timeout(std::time::Duration::from_secs(5), stopping)
        .await
        .expect("shutdown finishes once the request ends")
        .unwrap();
}
