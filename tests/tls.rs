//! gRPC over TLS: the real server with a certificate, the real CLI trusting
//! the zone's CA.

mod common;

use common::{code, create, firm, TestServer};
use ladder::config::{Config, ServerConfig};
use ladder::pb::v1;
use ladder::pb::v1::enterprise_service_client::EnterpriseServiceClient;
use tonic::transport::{Certificate, Channel, ClientTlsConfig};

fn data(file: &str) -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/tls").join(file)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_server_speaks_tls_and_the_cli_trusts_the_given_ca() {
    let config = Config {
        server: ServerConfig { tls_cert: Some(data("cert.pem")), tls_key: Some(data("key.pem")), ..Default::default() },
        ..Default::default()
    };
    let server = TestServer::with_config(config).await;
    let url = format!("https://localhost:{}", server.addr.port());

    // A gRPC client that trusts the CA writes and reads.
    let tls = ClientTlsConfig::new().ca_certificate(Certificate::from_pem(std::fs::read(data("ca.pem")).unwrap()));
    let channel = Channel::from_shared(url.clone()).unwrap().tls_config(tls).unwrap().connect().await.unwrap();
    let mut c = EnterpriseServiceClient::new(channel);
    c.create_enterprise(create(firm(1, "西安加密传输有限公司"))).await.unwrap();
    let got = c.get_enterprise(v1::GetEnterpriseRequest { name: format!("enterprises/{}", code(1)) }).await.unwrap();
    assert_eq!(got.into_inner().display_name, "西安加密传输有限公司");

    // The CLI with --ca.
    let ca = data("ca.pem").display().to_string();
    let out = common::run_ladder(vec![
        "enterprise".into(),
        "list".into(),
        "--server".into(),
        url.clone(),
        "--ca".into(),
        ca,
        "--json".into(),
    ])
    .await;
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let listed: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(listed["total_size"], 1);

    // Without the CA the certificate is not trusted; plain HTTP/2 gets nowhere.
    let untrusted =
        common::run_ladder(vec!["enterprise".into(), "list".into(), "--server".into(), url.clone(), "--json".into()])
            .await;
    assert!(!untrusted.status.success());
    let plain = common::run_ladder(vec![
        "enterprise".into(),
        "list".into(),
        "--server".into(),
        format!("http://127.0.0.1:{}", server.addr.port()),
        "--json".into(),
    ])
    .await;
    assert!(!plain.status.success());
}

#[test]
fn a_certificate_without_its_key_is_refused_at_start() {
    let config = Config {
        server: ServerConfig { tls_cert: Some(data("cert.pem")), listen: "127.0.0.1:0".into(), ..Default::default() },
        ..Default::default()
    };
    let dir = tempfile::tempdir().unwrap();
    let mut config = config;
    config.server.data = dir.path().join("data");
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let err = runtime.block_on(async {
        let store = ladder::store::Store::open(&ladder::store::StoreOptions::new(&config.server.data)).unwrap();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let result = ladder::server::serve(listener, &config, store.clone(), async {}).await;
        store.close();
        result.unwrap_err().to_string()
    });
    assert!(err.contains("both a certificate"), "{err}");
}
