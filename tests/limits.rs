//! Resource bounds under adversarial clients, through a real server on a real
//! socket: connections that never speak or sit idle, watchers that never read.
//! (The heavy versions, with figures, are in `scripts/hardening.sh`.)

mod common;

use std::time::Duration;

use common::{expect_error, TestServer};
use ladder::config::Config;
use ladder::pb::v1;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpStream;

/// Whether the server closed `stream` within `within` (EOF or reset).
async fn closed_within(stream: &mut TcpStream, within: Duration) -> bool {
    let mut buf = [0u8; 4096];
    let deadline = tokio::time::Instant::now() + within;
    loop {
        match tokio::time::timeout_at(deadline, stream.read(&mut buf)).await {
            Err(_) => return false,
            Ok(Ok(0)) | Ok(Err(_)) => return true,
            Ok(Ok(_)) => continue, // the server's SETTINGS, pings, GOAWAY
        }
    }
}

fn config(edit: impl FnOnce(&mut ladder::config::ServerConfig)) -> Config {
    let mut config = Config::default();
    edit(&mut config.server);
    config
}

async fn healthy(server: &TestServer) -> bool {
    let mut health = tonic_health::pb::health_client::HealthClient::new(server.channel().await);
    health.check(tonic_health::pb::HealthCheckRequest { service: String::new() }).await.is_ok()
}

#[tokio::test]
async fn silent_connections_are_bounded_per_peer_and_closed_after_the_handshake_timeout() {
    let server = TestServer::with_config(config(|s| {
        s.max_connections_per_peer = 8;
        s.handshake_timeout_secs = 1;
    }))
    .await;
    // Let the harness's readiness connection go.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let mut silent = Vec::new();
    for _ in 0..20 {
        silent.push(TcpStream::connect(server.addr).await.unwrap());
    }
    // Past the per-peer limit, connections are closed as they are accepted.
    let mut refused = 0;
    for stream in &mut silent[8..] {
        refused += usize::from(closed_within(stream, Duration::from_millis(500)).await);
    }
    assert_eq!(refused, 12, "connections past max_connections_per_peer are closed at once");
    // The ones admitted are closed once they miss the preface deadline ...
    for stream in &mut silent[..8] {
        assert!(
            closed_within(stream, Duration::from_secs(3)).await,
            "a silent connection outlived the handshake timeout"
        );
    }
    // ... which frees their slots for a real client.
    assert!(healthy(&server).await);
}

#[tokio::test]
async fn connections_past_the_total_limit_are_closed_and_real_clients_served_once_slots_free() {
    let server = TestServer::with_config(config(|s| {
        s.max_connections = 4;
        s.handshake_timeout_secs = 1;
    }))
    .await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let mut silent = Vec::new();
    for _ in 0..4 {
        silent.push(TcpStream::connect(server.addr).await.unwrap());
    }
    tokio::time::sleep(Duration::from_millis(100)).await;
    let mut extra = TcpStream::connect(server.addr).await.unwrap();
    assert!(closed_within(&mut extra, Duration::from_millis(500)).await, "the fifth connection is refused");
    drop(silent);
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(healthy(&server).await, "closed connections give their slots back");
}

#[tokio::test]
async fn a_connection_with_nothing_in_flight_is_closed_after_the_idle_timeout() {
    let server = TestServer::with_config(config(|s| s.idle_timeout_secs = 1)).await;
    let mut stream = TcpStream::connect(server.addr).await.unwrap();
    // The HTTP/2 client preface and an empty SETTINGS frame, then nothing.
    stream.write_all(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\x00\x00\x00\x04\x00\x00\x00\x00\x00").await.unwrap();
    assert!(!closed_within(&mut stream, Duration::from_millis(500)).await, "a client that spoke is not cut early");
    assert!(closed_within(&mut stream, Duration::from_secs(3)).await, "an idle connection stays open for ever");
}

#[tokio::test]
async fn an_open_stream_keeps_its_connection_from_being_idle() {
    let server = TestServer::with_config(config(|s| s.idle_timeout_secs = 1)).await;
    let mut watcher = server.changes().await;
    let request = v1::WatchChangesRequest { start_revision: 0, ..Default::default() };
    let mut stream = watcher.watch_changes(request).await.unwrap().into_inner();
    tokio::time::sleep(Duration::from_millis(2500)).await;
    // The watch is still open: a new change arrives on it.
    let mut firms = server.enterprises().await;
    firms.create_enterprise(common::create(common::firm(1, "企业1"))).await.unwrap();
    let change = tokio::time::timeout(Duration::from_secs(5), stream.message()).await.unwrap().unwrap();
    assert!(change.is_some());
}

#[tokio::test]
async fn watchers_are_limited_per_caller_and_in_total() {
    let server = TestServer::with_config(config(|s| {
        s.max_watchers_per_caller = 3;
        s.max_watchers = 5;
    }))
    .await;
    let mut watcher = server.changes().await;
    let from_start = || v1::WatchChangesRequest { start_revision: 1, ..Default::default() };
    let mut open = Vec::new();
    for _ in 0..3 {
        open.push(watcher.watch_changes(from_start()).await.unwrap().into_inner());
    }
    let refused = watcher.watch_changes(from_start()).await.unwrap_err();
    expect_error(&refused, tonic::Code::ResourceExhausted, "TOO_MANY_WATCHERS_PER_CALLER");
    // Closing one frees its slot.
    drop(open.pop());
    let mut reopened = None;
    for _ in 0..50 {
        if let Ok(stream) = watcher.watch_changes(from_start()).await {
            reopened = Some(stream);
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(reopened.is_some(), "a closed watcher gives its slot back");
}

#[tokio::test]
async fn a_watch_from_beyond_the_head_is_out_of_range() {
    let server = TestServer::start().await;
    let mut watcher = server.changes().await;
    let beyond = v1::WatchChangesRequest { start_revision: u64::MAX, ..Default::default() };
    let status = tokio::time::timeout(Duration::from_secs(5), watcher.watch_changes(beyond))
        .await
        .expect("an answer, not a wait")
        .unwrap_err();
    expect_error(&status, tonic::Code::OutOfRange, "REVISION_AFTER_HEAD");
    // The next revision itself is a valid start: it waits for the next change.
    let next = v1::WatchChangesRequest { start_revision: server.base + 1, ..Default::default() };
    assert!(watcher.watch_changes(next).await.is_ok());
}

/// 500 firms with 4,000-character notes (12 KB each in UTF-8): the largest
/// documented pages hold more than a 4 MiB message.
async fn long_firms(server: &TestServer) {
    let notes = "备".repeat(4000);
    let mut tasks = Vec::new();
    for part in 0..10u32 {
        let mut firms = server.enterprises().await;
        let notes = notes.clone();
        tasks.push(tokio::spawn(async move {
            for n in (part * 50)..(part * 50 + 50) {
                let mut firm = common::firm(n, &format!("企业{n:03}"));
                firm.notes = notes.clone();
                firms.create_enterprise(common::create(firm)).await.unwrap();
            }
        }));
    }
    for task in tasks {
        task.await.unwrap();
    }
}

#[tokio::test]
async fn the_largest_pages_of_long_records_shrink_to_fit_and_resume_after_their_last_item() {
    let server = TestServer::start().await;
    long_firms(&server).await;
    for order_by in ["", "display_name desc", "create_time"] {
        let mut firms = server.enterprises().await;
        let (mut seen, mut pages, mut token) = (std::collections::BTreeSet::new(), 0, String::new());
        loop {
            let request = v1::ListEnterprisesRequest {
                page_size: 1000,
                order_by: order_by.into(),
                page_token: token.clone(),
                ..Default::default()
            };
            let page = firms.list_enterprises(request).await.expect("a page, not an error").into_inner();
            assert_eq!(page.total_size, 500);
            pages += 1;
            for e in &page.enterprises {
                assert!(seen.insert(e.credit_code.clone()), "{} returned twice ({order_by})", e.credit_code);
            }
            token = page.next_page_token;
            if token.is_empty() {
                break;
            }
            assert!(!page.enterprises.is_empty());
        }
        assert_eq!(seen.len(), 500, "every firm once ({order_by})");
        assert!(pages >= 2, "the page was shortened ({order_by})");
    }
    // The change log at its largest page.
    let mut changes = server.changes().await;
    let (mut revisions, mut token) = (Vec::new(), String::new());
    loop {
        let request = v1::ListChangesRequest { page_size: 1000, page_token: token.clone(), ..Default::default() };
        let page = changes.list_changes(request).await.expect("a page, not an error").into_inner();
        revisions.extend(page.changes.iter().map(|c| c.revision));
        token = page.next_page_token;
        if token.is_empty() {
            break;
        }
    }
    let expected: Vec<u64> = (1..=server.base + 500).collect();
    assert_eq!(revisions, expected, "every change once, in order");
}

/// A sync stream of `rows` small rows sent one message per DATA frame (a
/// client producing rows as it reads them, not a ready-made batch).
fn trickled_sync(
    source: &str,
    first: u32,
    rows: u32,
) -> impl tokio_stream::Stream<Item = v1::SyncEnterprisesRequest> + Send + 'static {
    use v1::sync_enterprises_request::Message;
    let (tx, rx) = tokio::sync::mpsc::channel(1);
    let header = v1::SyncHeader { source: source.into(), mode: v1::SyncMode::Upsert as i32, dry_run: false };
    tokio::spawn(async move {
        let _ = tx.send(v1::SyncEnterprisesRequest { message: Some(Message::Header(header)) }).await;
        for n in first..first + rows {
            let row = v1::SyncRow { enterprise: Some(common::firm(n, &format!("企业{n}"))), ..Default::default() };
            if tx.send(v1::SyncEnterprisesRequest { message: Some(Message::Row(row)) }).await.is_err() {
                return;
            }
            tokio::task::yield_now().await;
        }
    });
    tokio_stream::wrappers::ReceiverStream::new(rx)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn eight_concurrent_sync_streams_of_small_messages_share_one_connection() {
    let server = TestServer::start().await;
    let channel = server.channel().await;
    let mut streams = Vec::new();
    for s in 0..8u32 {
        let mut client = v1::sync_service_client::SyncServiceClient::new(channel.clone());
        streams.push(tokio::spawn(async move {
            client.sync_enterprises(trickled_sync(&format!("source-{s}"), s * 3000, 3000)).await
        }));
    }
    for (s, stream) in streams.into_iter().enumerate() {
        let run = stream.await.unwrap().unwrap_or_else(|e| panic!("stream {s} failed: {e:?}")).into_inner();
        assert_eq!(run.created, 3000, "stream {s}");
    }
}

/// Sends and receives raw message bytes, to put what no generated client
/// would send on the wire.
#[derive(Clone, Default)]
struct RawCodec;

impl tonic::codec::Codec for RawCodec {
    type Encode = Vec<u8>;
    type Decode = Vec<u8>;
    type Encoder = RawCodec;
    type Decoder = RawCodec;
    fn encoder(&mut self) -> RawCodec {
        RawCodec
    }
    fn decoder(&mut self) -> RawCodec {
        RawCodec
    }
}

impl tonic::codec::Encoder for RawCodec {
    type Item = Vec<u8>;
    type Error = tonic::Status;
    fn encode(&mut self, item: Vec<u8>, dst: &mut tonic::codec::EncodeBuf<'_>) -> Result<(), tonic::Status> {
        use bytes::BufMut as _;
        dst.put_slice(&item);
        Ok(())
    }
}

impl tonic::codec::Decoder for RawCodec {
    type Item = Vec<u8>;
    type Error = tonic::Status;
    fn decode(&mut self, src: &mut tonic::codec::DecodeBuf<'_>) -> Result<Option<Vec<u8>>, tonic::Status> {
        use bytes::Buf as _;
        Ok(Some(src.copy_to_bytes(src.remaining()).to_vec()))
    }
}

async fn raw_unary(server: &TestServer, path: &'static str, body: Vec<u8>) -> tonic::Status {
    let mut grpc = tonic::client::Grpc::new(server.channel().await);
    grpc.ready().await.unwrap();
    let path = http::uri::PathAndQuery::from_static(path);
    grpc.unary(tonic::Request::new(body), path, RawCodec).await.expect_err("refused")
}

#[tokio::test]
async fn undecodable_and_oversized_requests_are_the_clients_fault_with_error_info() {
    let server = TestServer::start().await;
    const GET: &str = "/ladder.v1.EnterpriseService/GetEnterprise";
    // Field 1 (name, a string) holding invalid UTF-8.
    let status = raw_unary(&server, GET, vec![0x0a, 0x02, 0xff, 0xfe]).await;
    expect_error(&status, tonic::Code::InvalidArgument, "UNDECODABLE_REQUEST");
    // A length that runs past the end of the message.
    let status = raw_unary(&server, GET, vec![0x0a, 0x10, 0x41]).await;
    expect_error(&status, tonic::Code::InvalidArgument, "UNDECODABLE_REQUEST");
    // 5 MiB, past the 4 MiB message limit.
    let status = raw_unary(&server, "/ladder.v1.EnterpriseService/CreateEnterprise", vec![0; 5 << 20]).await;
    expect_error(&status, tonic::Code::ResourceExhausted, "REQUEST_TOO_LARGE");
    // A stream whose first message does not decode.
    let mut grpc = tonic::client::Grpc::new(server.channel().await);
    grpc.ready().await.unwrap();
    let path = http::uri::PathAndQuery::from_static("/ladder.v1.SyncService/SyncEnterprises");
    let messages = tokio_stream::iter(vec![vec![0x0a, 0x05, 0x0a, 0x02, 0xff]]);
    let status = grpc.client_streaming(tonic::Request::new(messages), path, RawCodec).await.expect_err("refused");
    expect_error(&status, tonic::Code::InvalidArgument, "UNDECODABLE_REQUEST");
}
