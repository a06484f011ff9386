//! Bulk sync through a real server: chunks, per-row failures, idempotent
//! re-runs, PATCH updates, dry runs, full mode, origins in the change log.

mod common;

use common::{code, expect_error, TestServer};
use ladder::pb::v1;
use ladder::pb::v1::sync_enterprises_request::Message;
use ladder::pb::v1::sync_service_client::SyncServiceClient;
use tonic::Code;

fn header(source: &str, mode: v1::SyncMode, dry_run: bool) -> v1::SyncEnterprisesRequest {
    v1::SyncEnterprisesRequest {
        message: Some(Message::Header(v1::SyncHeader { source: source.into(), mode: mode as i32, dry_run })),
    }
}

fn row(n: u32, name: &str, industry: &str) -> v1::SyncEnterprisesRequest {
    v1::SyncEnterprisesRequest {
        message: Some(Message::Row(v1::SyncRow {
            row_number: 0,
            enterprise: Some(v1::Enterprise {
                credit_code: code(n),
                display_name: name.into(),
                industry_code: industry.into(),
                ..Default::default()
            }),
            fields: vec![],
            indicators: None,
        })),
    }
}

async fn sync(server: &TestServer, messages: Vec<v1::SyncEnterprisesRequest>) -> Result<v1::SyncRun, tonic::Status> {
    let mut client = SyncServiceClient::new(server.channel().await);
    client.sync_enterprises(tokio_stream::iter(messages)).await.map(|r| r.into_inner())
}

/// 1,200 firms; rows 500..510 are broken (a wrong check character).
fn file(changed: impl Fn(u32) -> bool) -> Vec<v1::SyncEnterprisesRequest> {
    let mut rows = vec![header("market-registry", v1::SyncMode::Upsert, false)];
    for n in 0..1200 {
        let name = if changed(n) { format!("企业{n}（更名）") } else { format!("企业{n}") };
        let mut r = row(n, &name, "C3742");
        if (500..510).contains(&n) {
            if let Some(Message::Row(row)) = &mut r.message {
                let mut bad = code(n);
                let last = bad.pop().unwrap();
                bad.push(if last == '0' { '1' } else { '0' });
                row.enterprise.as_mut().unwrap().credit_code = bad;
            }
        }
        rows.push(r);
    }
    rows
}

#[tokio::test]
async fn a_sync_creates_updates_and_fails_rows_precisely_and_reruns_change_nothing() {
    let server = TestServer::start().await;
    let first = sync(&server, file(|_| false)).await.expect("sync");
    assert_eq!((first.rows, first.created, first.updated, first.unchanged, first.failed), (1200, 1190, 0, 0, 10));
    let failure = &first.failures[0];
    assert_eq!(
        (failure.row_number, failure.field.as_str(), failure.reason.as_str()),
        (501, "enterprise.credit_code", "CHECK_CHARACTER_MISMATCH")
    );
    assert_eq!(first.state, v1::SyncRunState::Succeeded as i32);

    // The change log carries the source and the run.
    let log = server
        .changes()
        .await
        .list_changes(v1::ListChangesRequest { resource: format!("enterprises/{}", code(7)), ..Default::default() })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        (log.changes[0].origin.as_str(), log.changes[0].reason.as_str()),
        ("market-registry", first.name.as_str())
    );

    // The same file again changes nothing and logs nothing.
    let head = server.store.next_revision().unwrap();
    let again = sync(&server, file(|_| false)).await.unwrap();
    assert_eq!((again.created, again.updated, again.unchanged, again.failed), (0, 0, 1190, 10));
    assert_eq!(server.store.next_revision().unwrap(), head, "no change-log entries");

    // 1% renamed: exactly those are updated, and only the fields sent change.
    let mut firms = server.enterprises().await;
    firms
        .update_enterprise(v1::UpdateEnterpriseRequest {
            enterprise: Some(v1::Enterprise {
                name: format!("enterprises/{}", code(0)),
                notes: "staff note".into(),
                ..Default::default()
            }),
            ..Default::default()
        })
        .await
        .unwrap();
    let dry = {
        let mut messages = file(|n| n % 100 == 0);
        messages[0] = header("market-registry", v1::SyncMode::Upsert, true);
        let head = server.store.next_revision().unwrap();
        let dry = sync(&server, messages).await.unwrap();
        assert_eq!(server.store.next_revision().unwrap(), head, "a dry run writes nothing");
        dry
    };
    let changed = sync(&server, file(|n| n % 100 == 0)).await.unwrap();
    assert_eq!(
        (changed.updated, changed.unchanged, changed.failed),
        (11, 1179, 10),
        "row 500 is among the broken ones"
    );
    assert_eq!((dry.updated, dry.unchanged, dry.failed, dry.dry_run), (11, 1179, 10, true));
    let e = firms
        .get_enterprise(v1::GetEnterpriseRequest { name: format!("enterprises/{}", code(0)) })
        .await
        .unwrap()
        .into_inner();
    assert_eq!((e.display_name.as_str(), e.notes.as_str()), ("企业0（更名）", "staff note"));
    assert!(ladder::store::check_consistency(&server.store).unwrap().is_empty());

    let mut client = SyncServiceClient::new(server.channel().await);
    let runs = client
        .list_sync_runs(v1::ListSyncRunsRequest {
            source: "market-registry".into(),
            page_size: 10,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(runs.runs.len(), 4);
    assert_eq!(runs.total_size, 4);
    assert!(runs.next_page_token.is_empty());
    assert_eq!(runs.runs[0].name, changed.name, "newest first");
    // In pages of 3: the fourth, oldest run on the second page, same total.
    let first_page = client
        .list_sync_runs(v1::ListSyncRunsRequest {
            source: "market-registry".into(),
            page_size: 3,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!((first_page.runs.len(), first_page.total_size), (3, 4));
    let second_page = client
        .list_sync_runs(v1::ListSyncRunsRequest {
            source: "market-registry".into(),
            page_size: 3,
            page_token: first_page.next_page_token.clone(),
        })
        .await
        .unwrap()
        .into_inner();
    let paged: Vec<&str> = first_page.runs.iter().chain(&second_page.runs).map(|r| r.name.as_str()).collect();
    let whole: Vec<&str> = runs.runs.iter().map(|r| r.name.as_str()).collect();
    assert_eq!(paged, whole, "the pages hold every run once, newest first");
    assert!(second_page.next_page_token.is_empty());
    // A token is bound to its query.
    let status = client
        .list_sync_runs(v1::ListSyncRunsRequest {
            source: "incubator".into(),
            page_size: 3,
            page_token: first_page.next_page_token,
        })
        .await
        .unwrap_err();
    expect_error(&status, Code::InvalidArgument, "INVALID_PAGE_TOKEN");
    let stored = client.get_sync_run(v1::GetSyncRunRequest { name: first.name.clone() }).await.unwrap().into_inner();
    assert_eq!(stored.failures.len(), 10);
}

#[tokio::test]
async fn full_mode_reports_firms_missing_from_the_source_and_the_header_comes_first() {
    let server = TestServer::start().await;
    let mut messages = vec![header("stats-bureau", v1::SyncMode::Full, false)];
    messages.extend((0..5).map(|n| row(n, &format!("企业{n}"), "I6513")));
    sync(&server, messages).await.unwrap();
    let fewer_rows = |dry_run: bool| {
        let mut fewer = vec![header("stats-bureau", v1::SyncMode::Full, dry_run)];
        fewer.extend((0..2).map(|n| row(n, &format!("企业{n}"), "I6513")));
        // Firm 2 is in the file with a bad row: it fails, but it is not missing.
        fewer.push(row(2, "企业2", "no such industry"));
        fewer
    };
    // A dry run reports what the run would find.
    let tried = sync(&server, fewer_rows(true)).await.unwrap();
    assert!(tried.dry_run);
    assert_eq!(tried.missing_from_source, 2);
    assert_eq!(tried.missing_credit_codes, vec![code(3), code(4)]);
    let run = sync(&server, fewer_rows(false)).await.unwrap();
    assert_eq!(run.failed, 1);
    assert_eq!(run.missing_from_source, 2);
    assert_eq!(run.missing_credit_codes, vec![code(3), code(4)]);
    let listed =
        server.enterprises().await.list_enterprises(v1::ListEnterprisesRequest::default()).await.unwrap().into_inner();
    assert_eq!(listed.total_size, 5, "full mode reports, never deletes");

    let status = sync(&server, vec![row(9, "无头", "I6513")]).await.unwrap_err();
    expect_error(&status, Code::InvalidArgument, "HEADER_FIRST");
    let status = sync(&server, vec![header("bad source!", v1::SyncMode::Upsert, false)]).await.unwrap_err();
    expect_error(&status, Code::InvalidArgument, "INVALID_SOURCE");

    // A second header ends the run; the rows before it are applied and counted.
    let mut twice = vec![header("incubator", v1::SyncMode::Upsert, false)];
    twice.extend((30..33).map(|n| row(n, &format!("企业{n}"), "I6513")));
    twice.push(header("incubator", v1::SyncMode::Upsert, false));
    let status = sync(&server, twice).await.unwrap_err();
    expect_error(&status, Code::InvalidArgument, "HEADER_REPEATED");
    let mut client = SyncServiceClient::new(server.channel().await);
    let runs = client
        .list_sync_runs(v1::ListSyncRunsRequest { source: "incubator".into(), page_size: 10, ..Default::default() })
        .await
        .unwrap()
        .into_inner();
    let run = &runs.runs[0];
    assert_eq!((run.state, run.rows, run.created), (v1::SyncRunState::Interrupted as i32, 3, 3));
}

#[tokio::test]
async fn a_run_can_be_reverted_once_and_changes_made_since_are_kept() {
    let server = TestServer::start().await;
    // Firms 0..4 exist before the run; the run renames 0..4 and creates 5..7.
    let mut first = vec![header("market-registry", v1::SyncMode::Upsert, false)];
    first.extend((0..5).map(|n| row(n, &format!("原名{n}"), "C3742")));
    sync(&server, first).await.unwrap();
    let mut second = vec![header("market-registry", v1::SyncMode::Upsert, false)];
    second.extend((0..8).map(|n| row(n, &format!("新名{n}"), "C3742")));
    let run = sync(&server, second).await.unwrap();
    assert_eq!((run.created, run.updated), (3, 5));

    // Staff change firm 1's name after the run: the revert must keep it.
    let mut firms = server.enterprises().await;
    firms
        .update_enterprise(v1::UpdateEnterpriseRequest {
            enterprise: Some(v1::Enterprise {
                name: format!("enterprises/{}", code(1)),
                display_name: "人工修正名".into(),
                ..Default::default()
            }),
            ..Default::default()
        })
        .await
        .unwrap();
    // And they start working on firm 7, which the run created: it must stay.
    firms
        .update_enterprise(v1::UpdateEnterpriseRequest {
            enterprise: Some(v1::Enterprise {
                name: format!("enterprises/{}", code(7)),
                notes: "已走访".into(),
                ..Default::default()
            }),
            ..Default::default()
        })
        .await
        .unwrap();

    let mut client = SyncServiceClient::new(server.channel().await);
    let reverted = client
        .revert_sync_run(v1::RevertSyncRunRequest { name: run.name.clone(), ..Default::default() })
        .await
        .unwrap()
        .into_inner();
    assert_eq!((reverted.deleted, reverted.restored, reverted.conflict_count), (2, 4, 2));
    let kept = reverted.conflicts.iter().find(|c| c.resource == format!("enterprises/{}", code(7))).unwrap();
    assert_eq!(kept.run_value, "created");
    let conflict = reverted.conflicts.iter().find(|c| c.resource == format!("enterprises/{}", code(1))).unwrap();
    assert_eq!(
        (
            conflict.resource.clone(),
            conflict.field.as_str(),
            conflict.run_value.as_str(),
            conflict.current_value.as_str()
        ),
        (format!("enterprises/{}", code(1)), "display_name", "新名1", "人工修正名")
    );
    let name_of = |n: u32| {
        let mut firms = firms.clone();
        async move {
            firms
                .get_enterprise(v1::GetEnterpriseRequest { name: format!("enterprises/{}", code(n)) })
                .await
                .unwrap()
                .into_inner()
        }
    };
    let restored = name_of(0).await;
    assert_eq!(restored.display_name, "原名0", "restored");
    assert!(restored.former_names.is_empty(), "the undone rename leaves no former name: {:?}", restored.former_names);
    assert_eq!(name_of(1).await.display_name, "人工修正名", "kept");
    assert!(name_of(6).await.delete_time.is_some(), "created by the run: soft-deleted");
    assert!(name_of(7).await.delete_time.is_none(), "created by the run, then worked on: kept");
    assert!(reverted.run.unwrap().revert_time.is_some());

    let status =
        client.revert_sync_run(v1::RevertSyncRunRequest { name: run.name, ..Default::default() }).await.unwrap_err();
    expect_error(&status, Code::FailedPrecondition, "ALREADY_REVERTED");
    assert!(ladder::store::check_consistency(&server.store).unwrap().is_empty());
}

fn with_figures(n: u32, name: String, figures: v1::AnnualIndicators) -> v1::SyncEnterprisesRequest {
    let mut r = row(n, &format!("企业{n}"), "C3742");
    if let Some(Message::Row(row)) = &mut r.message {
        row.indicators = Some(v1::AnnualIndicators { name, ..figures });
    }
    r
}

#[tokio::test]
async fn rows_can_carry_a_years_figures_and_bad_figures_fail_the_row_whole() {
    let server = TestServer::start().await;
    let year_of = |n: u32| format!("enterprises/{}/indicators/2024", code(n));
    let good =
        |revenue: f64| v1::AnnualIndicators { revenue: Some(revenue), employees: Some(80), ..Default::default() };
    let file = |revenue: f64| {
        vec![
            header("stats-bureau", v1::SyncMode::Upsert, false),
            with_figures(0, year_of(0), good(revenue)),
            with_figures(1, year_of(1), v1::AnnualIndicators { employees: Some(-3), ..Default::default() }),
            with_figures(2, year_of(9), good(revenue)),
            with_figures(3, year_of(3), v1::AnnualIndicators::default()),
        ]
    };
    let run = sync(&server, file(5000.0)).await.unwrap();
    assert_eq!((run.created, run.failed), (1, 3));
    let reasons: Vec<(i64, &str)> = run.failures.iter().map(|f| (f.row_number, f.reason.as_str())).collect();
    assert_eq!(reasons, [(2, "NEGATIVE_COUNT"), (3, "OTHER_FIRM"), (4, "EMPTY")]);

    let mut cultivation =
        ladder::pb::v1::cultivation_service_client::CultivationServiceClient::new(server.channel().await);
    let figures = cultivation
        .get_annual_indicators(v1::GetAnnualIndicatorsRequest { name: year_of(0) })
        .await
        .unwrap()
        .into_inner();
    assert_eq!((figures.revenue, figures.employees), (Some(5000.0), Some(80)));
    // A failed row wrote nothing: neither the firm nor its figures.
    let mut firms = server.enterprises().await;
    let status =
        firms.get_enterprise(v1::GetEnterpriseRequest { name: format!("enterprises/{}", code(1)) }).await.unwrap_err();
    assert_eq!(status.code(), Code::NotFound);

    // The same figures again change nothing; new figures count as an update.
    let again = sync(&server, file(5000.0)).await.unwrap();
    assert_eq!((again.created, again.updated, again.unchanged), (0, 0, 1));
    let changed = sync(&server, file(6000.0)).await.unwrap();
    assert_eq!((changed.updated, changed.unchanged), (1, 0));

    // Reverting restores the figures the run changed, unless changed since.
    let mut client = SyncServiceClient::new(server.channel().await);
    let reverted = client
        .revert_sync_run(v1::RevertSyncRunRequest { name: changed.name, ..Default::default() })
        .await
        .unwrap()
        .into_inner();
    assert_eq!((reverted.restored, reverted.conflict_count), (1, 0), "{reverted:?}");
    let read = |c: &mut ladder::pb::v1::cultivation_service_client::CultivationServiceClient<_>| {
        let request = v1::GetAnnualIndicatorsRequest { name: year_of(0) };
        let mut c = c.clone();
        async move { c.get_annual_indicators(request).await.unwrap().into_inner() }
    };
    let back = read(&mut cultivation).await;
    assert_eq!((back.revenue, back.employees), (Some(5000.0), Some(80)), "the old revenue is back");

    let changed = sync(&server, file(7000.0)).await.unwrap();
    cultivation
        .update_annual_indicators(v1::UpdateAnnualIndicatorsRequest {
            indicators: Some(v1::AnnualIndicators { name: year_of(0), revenue: Some(7100.0), ..Default::default() }),
            update_mask: Some(prost_types::FieldMask { paths: vec!["revenue".into()] }),
            ..Default::default()
        })
        .await
        .unwrap();
    let reverted = client
        .revert_sync_run(v1::RevertSyncRunRequest { name: changed.name, ..Default::default() })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(reverted.conflict_count, 1, "staff's later figure is kept");
    let conflict = &reverted.conflicts[0];
    assert_eq!(
        (conflict.resource.clone(), conflict.field.as_str(), conflict.current_value.as_str()),
        (year_of(0), "revenue", "7100")
    );
    assert_eq!(read(&mut cultivation).await.revenue, Some(7100.0));
    assert!(ladder::store::check_consistency(&server.store).unwrap().is_empty());
}

#[tokio::test]
async fn a_firm_sent_twice_in_one_run_fails_the_later_row_and_reruns_stay_stable() {
    let server = TestServer::start().await;
    // Firm 0 comes again at the end, in another chunk, with another name.
    let stream = |dry_run: bool| {
        let mut m = vec![header("market-registry", v1::SyncMode::Upsert, dry_run)];
        m.extend((0..700).map(|n| row(n, &format!("企业{n}"), "C3742")));
        m.push(row(0, "另一个名字", "C3742"));
        m
    };
    let messages = || stream(false);
    // A dry run says the same as the real run will, across its chunks, and writes nothing.
    let dry = sync(&server, stream(true)).await.unwrap();
    assert_eq!((dry.created, dry.updated, dry.failed), (700, 0, 1));
    assert_eq!((dry.failures[0].row_number, dry.failures[0].reason.as_str()), (701, "DUPLICATE_IN_STREAM"));
    let first = sync(&server, messages()).await.unwrap();
    assert_eq!((first.created, first.updated, first.failed), (700, 0, 1));
    assert_eq!((first.failures[0].row_number, first.failures[0].reason.as_str()), (701, "DUPLICATE_IN_STREAM"));
    let head = server.store.next_revision().unwrap();
    let again = sync(&server, messages()).await.unwrap();
    assert_eq!((again.updated, again.unchanged, again.failed), (0, 700, 1));
    assert_eq!(server.store.next_revision().unwrap(), head, "the re-run changes nothing");
}

#[tokio::test]
async fn a_run_in_progress_is_listed_and_cannot_be_reverted() {
    let server = TestServer::start().await;
    let (tx, rx) = tokio::sync::mpsc::channel(1024);
    tx.send(header("open-stream", v1::SyncMode::Upsert, false)).await.unwrap();
    for n in 0..500 {
        tx.send(row(n, &format!("企业{n}"), "C3742")).await.unwrap();
    }
    let mut streaming = SyncServiceClient::new(server.channel().await);
    let call =
        tokio::spawn(async move { streaming.sync_enterprises(tokio_stream::wrappers::ReceiverStream::new(rx)).await });

    // The first chunk lands with the run's record, while the stream stays open.
    let mut client = SyncServiceClient::new(server.channel().await);
    let listing = v1::ListSyncRunsRequest { source: "open-stream".into(), page_size: 1, ..Default::default() };
    let mut found = None;
    for _ in 0..500 {
        found = client.list_sync_runs(listing.clone()).await.unwrap().into_inner().runs.into_iter().next();
        if found.is_some() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    let run = found.expect("the run is listed within 10 s");
    assert_eq!((run.state, run.created), (v1::SyncRunState::Running as i32, 500));
    let status = client
        .revert_sync_run(v1::RevertSyncRunRequest { name: run.name.clone(), ..Default::default() })
        .await
        .unwrap_err();
    expect_error(&status, Code::FailedPrecondition, "RUN_IN_PROGRESS");

    drop(tx);
    let finished = call.await.unwrap().unwrap().into_inner();
    assert_eq!((finished.name, finished.state), (run.name, v1::SyncRunState::Succeeded as i32));
}

#[tokio::test]
async fn a_run_whose_client_dies_is_marked_interrupted_and_can_be_reverted() {
    let server = TestServer::start().await;
    // The client reaches the server through a relay; killing the relay cuts
    // the connection as a killed client process or a broken network does.
    let relay = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let relay_addr = relay.local_addr().unwrap();
    let target = server.addr;
    let relaying = tokio::spawn(async move {
        let (mut client, _) = relay.accept().await.unwrap();
        let mut upstream = tokio::net::TcpStream::connect(target).await.unwrap();
        let _ = tokio::io::copy_bidirectional(&mut client, &mut upstream).await;
    });
    let (tx, rx) = tokio::sync::mpsc::channel(2048);
    tx.send(header("abandoned", v1::SyncMode::Upsert, false)).await.unwrap();
    for n in 0..1200 {
        tx.send(row(n, &format!("企业{n}"), "C3742")).await.unwrap();
    }
    let channel =
        tonic::transport::Endpoint::from_shared(format!("http://{relay_addr}")).unwrap().connect().await.unwrap();
    let mut streaming = SyncServiceClient::new(channel);
    let call =
        tokio::spawn(async move { streaming.sync_enterprises(tokio_stream::wrappers::ReceiverStream::new(rx)).await });
    let mut client = SyncServiceClient::new(server.channel().await);
    let listing = v1::ListSyncRunsRequest { source: "abandoned".into(), page_size: 1, ..Default::default() };
    let mut run = None;
    for _ in 0..500 {
        run = client.list_sync_runs(listing.clone()).await.unwrap().into_inner().runs.into_iter().next();
        if run.as_ref().is_some_and(|r| r.created >= 1000) {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    let run = run.expect("the run is listed");
    assert!(run.created >= 1000, "two chunks landed: {run:?}");
    // The client dies with its stream open: the connection is cut.
    relaying.abort();
    let _ = relaying.await;
    let mut last = run.clone();
    for _ in 0..250 {
        last = client.get_sync_run(v1::GetSyncRunRequest { name: run.name.clone() }).await.unwrap().into_inner();
        if last.state == v1::SyncRunState::Interrupted as i32 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert_eq!(last.state, v1::SyncRunState::Interrupted as i32, "not left RUNNING until a restart");
    // The rows that arrived whole before the cut are applied and counted.
    assert!([1000, 1200].contains(&last.created), "{last:?}");
    let reverted = client
        .revert_sync_run(v1::RevertSyncRunRequest { name: run.name.clone(), ..Default::default() })
        .await
        .unwrap();
    assert_eq!(reverted.into_inner().deleted, last.created);
    assert!(ladder::store::check_consistency(&server.store).unwrap().is_empty());
    call.abort();
    drop(tx);
}

#[tokio::test]
async fn a_run_whose_changes_were_compacted_cannot_be_reverted() {
    let server = TestServer::start().await;
    let run =
        sync(&server, vec![header("registry", v1::SyncMode::Upsert, false), row(1, "甲公司", "C3841")]).await.unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    server.store.compact_log(ladder::domain::time::now_micros()).await.unwrap();
    let mut client = SyncServiceClient::new(server.channel().await);
    let status = client
        .revert_sync_run(v1::RevertSyncRunRequest { name: run.name.clone(), ..Default::default() })
        .await
        .unwrap_err();
    expect_error(&status, Code::FailedPrecondition, "RUN_COMPACTED");
    let again = client.get_sync_run(v1::GetSyncRunRequest { name: run.name }).await.unwrap().into_inner();
    assert!(again.revert_time.is_none(), "a refused revert marks nothing");
}

#[tokio::test]
async fn every_failed_row_can_be_paged_in_order() {
    let server = TestServer::start().await;
    let mut messages = vec![header("registry", v1::SyncMode::Upsert, false)];
    for n in 0..1203u32 {
        // Every third row is broken (unknown industry).
        messages.push(row(n, &format!("公司{n}"), if n % 3 == 0 { "Z99" } else { "C3841" }));
    }
    let run = sync(&server, messages).await.unwrap();
    assert_eq!((run.failed, run.failures.len()), (401, 401));
    let mut client = SyncServiceClient::new(server.channel().await);
    let mut rows = Vec::new();
    let mut token = String::new();
    loop {
        let page = client
            .list_sync_failures(v1::ListSyncFailuresRequest {
                parent: run.name.clone(),
                page_size: 150,
                page_token: token,
            })
            .await
            .unwrap()
            .into_inner();
        assert_eq!(page.total_size, 401);
        assert!(page.failures.len() <= 150);
        rows.extend(page.failures.iter().map(|f| f.row_number));
        if page.next_page_token.is_empty() {
            break;
        }
        token = page.next_page_token;
    }
    let expected: Vec<i64> = run.failures.iter().map(|f| f.row_number).collect();
    assert_eq!(rows, expected, "every failure once, in order");
    let status = client
        .list_sync_failures(v1::ListSyncFailuresRequest { parent: "runs/1".into(), ..Default::default() })
        .await
        .unwrap_err();
    let fields = expect_error(&status, Code::InvalidArgument, "INVALID_RESOURCE_NAME");
    assert_eq!(fields[0].0, "parent");
}

#[tokio::test]
async fn a_revert_keeps_every_created_firm_someone_worked_on_since_and_can_be_previewed() {
    use ladder::pb::v1::alliance_service_client::AllianceServiceClient;
    use ladder::pb::v1::cultivation_service_client::CultivationServiceClient;
    use ladder::pb::v1::supply_demand_service_client::SupplyDemandServiceClient;
    let server = TestServer::start().await;
    let mut messages = vec![header("market-registry", v1::SyncMode::Upsert, false)];
    messages.extend((0..6).map(|n| row(n, &format!("企业{n}"), "C3963")));
    let run = sync(&server, messages).await.unwrap();
    assert_eq!(run.created, 6);
    let parent = |n: u32| format!("enterprises/{}", code(n));

    // Firm 0: a designation; 1: figures; 2: a membership; 3: a posting;
    // 4: an edit; 5: nothing since the run.
    let mut cultivation = CultivationServiceClient::new(server.channel().await);
    let designation = v1::Designation {
        kind: v1::DesignationKind::TechSme as i32,
        status: v1::DesignationStatus::Granted as i32,
        valid_from: "2025-01-01".into(),
        valid_until: "2025-12-31".into(),
        ..Default::default()
    };
    let request =
        v1::CreateDesignationRequest { parent: parent(0), designation: Some(designation), ..Default::default() };
    cultivation.create_designation(request).await.unwrap();
    let figures = v1::AnnualIndicators {
        name: format!("{}/indicators/2024", parent(1)),
        employees: Some(30),
        ..Default::default()
    };
    let request = v1::UpdateAnnualIndicatorsRequest { indicators: Some(figures), ..Default::default() };
    cultivation.update_annual_indicators(request).await.unwrap();
    let mut alliances = AllianceServiceClient::new(server.channel().await);
    alliances
        .create_membership(v1::CreateMembershipRequest {
            parent: "alliances/drones".into(),
            credit_code: code(2),
            membership: Some(v1::Membership { role: v1::MembershipRole::Member as i32, ..Default::default() }),
            ..Default::default()
        })
        .await
        .unwrap();
    let mut supply_demand = SupplyDemandServiceClient::new(server.channel().await);
    let posting = v1::Posting {
        credit_code: code(3),
        kind: v1::PostingKind::Supply as i32,
        title: "无人机整机".into(),
        industry_code: "C3963".into(),
        ..Default::default()
    };
    supply_demand
        .create_posting(v1::CreatePostingRequest { posting: Some(posting), ..Default::default() })
        .await
        .unwrap();
    let mut firms = server.enterprises().await;
    firms
        .update_enterprise(v1::UpdateEnterpriseRequest {
            enterprise: Some(v1::Enterprise { name: parent(4), notes: "走访过".into(), ..Default::default() }),
            update_mask: Some(prost_types::FieldMask { paths: vec!["notes".into()] }),
            ..Default::default()
        })
        .await
        .unwrap();

    // The preview says what would happen and changes nothing.
    let mut client = SyncServiceClient::new(server.channel().await);
    let head = server.store.next_revision().unwrap();
    let preview = client
        .revert_sync_run(v1::RevertSyncRunRequest { name: run.name.clone(), validate_only: true })
        .await
        .unwrap()
        .into_inner();
    assert_eq!((preview.deleted, preview.conflict_count), (1, 5), "{preview:?}");
    assert_eq!(server.store.next_revision().unwrap(), head, "a preview writes nothing");
    let still = client.get_sync_run(v1::GetSyncRunRequest { name: run.name.clone() }).await.unwrap().into_inner();
    assert_eq!(still.revert_time, None, "a preview does not mark the run");

    let reverted = client
        .revert_sync_run(v1::RevertSyncRunRequest { name: run.name.clone(), ..Default::default() })
        .await
        .unwrap();
    let reverted = reverted.into_inner();
    assert_eq!((reverted.deleted, reverted.conflict_count), (1, 5));
    let kept: Vec<&str> = reverted.conflicts.iter().map(|c| c.current_value.as_str()).collect();
    for (n, work) in [(0, "a designation"), (1, "figures"), (2, "a membership"), (3, "a posting"), (4, "edited")] {
        let conflict = reverted.conflicts.iter().find(|c| c.resource == parent(n)).expect("kept");
        assert!(conflict.current_value.contains(work), "{n}: {kept:?}");
        let firm = firms.get_enterprise(v1::GetEnterpriseRequest { name: parent(n) }).await.unwrap().into_inner();
        assert!(firm.delete_time.is_none(), "firm {n} is kept");
    }
    let gone = firms.get_enterprise(v1::GetEnterpriseRequest { name: parent(5) }).await.unwrap().into_inner();
    assert!(gone.delete_time.is_some(), "the firm nobody touched is soft-deleted");
    assert!(ladder::store::check_consistency(&server.store).unwrap().is_empty());
}

fn heavy_row(n: u32) -> v1::SyncEnterprisesRequest {
    // A row at the field limits: about 40 KB.
    let contact = v1::Contact { name: "联".repeat(100), title: "职".repeat(100), ..Default::default() };
    v1::SyncEnterprisesRequest {
        message: Some(Message::Row(v1::SyncRow {
            row_number: 0,
            enterprise: Some(v1::Enterprise {
                credit_code: code(n),
                display_name: format!("企业{n}"),
                address: "址".repeat(500),
                notes: "注".repeat(4000),
                contacts: vec![contact; 20],
                tags: (0..50).map(|t| format!("{t}{}", "标".repeat(40))).collect(),
                ..Default::default()
            }),
            fields: vec![],
            indicators: None,
        })),
    }
}

#[tokio::test]
async fn oversized_rows_fail_as_they_arrive_and_heavy_chunks_are_written_early() {
    let server = TestServer::start().await;
    let (tx, rx) = tokio::sync::mpsc::channel(16);
    let mut streaming = SyncServiceClient::new(server.channel().await);
    let call =
        tokio::spawn(async move { streaming.sync_enterprises(tokio_stream::wrappers::ReceiverStream::new(rx)).await });
    tx.send(header("registry", v1::SyncMode::Upsert, false)).await.unwrap();
    // Rows whose notes are far beyond the limit fail at once, each kept as a
    // short failure instead of 3 MB held until the chunk is written.
    for n in 0..3 {
        let mut r = row(n, &format!("企业{n}"), "C3742");
        if let Some(Message::Row(row)) = &mut r.message {
            row.enterprise.as_mut().unwrap().notes = "x".repeat(3 << 20);
        }
        tx.send(r).await.unwrap();
    }
    // 150 rows at the field limits (6 MB) are fewer than a chunk's 500
    // rows, but more than its bytes: the first of them are written while
    // the stream is still open.
    for n in 3..153 {
        tx.send(heavy_row(n)).await.unwrap();
    }
    let mut enterprises = server.enterprises().await;
    let mut written = false;
    for _ in 0..500 {
        let got =
            enterprises.get_enterprise(v1::GetEnterpriseRequest { name: format!("enterprises/{}", code(3)) }).await;
        if got.is_ok() {
            written = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert!(written, "a chunk over its byte bound is written before it has 500 rows");
    drop(tx);
    let run = call.await.unwrap().unwrap().into_inner();
    assert_eq!((run.rows, run.created, run.failed), (153, 150, 3), "{:?}", run.failures);
    for failure in &run.failures {
        assert_eq!((failure.field.as_str(), failure.reason.as_str()), ("enterprise.notes", "TOO_LONG"));
    }
    assert!(ladder::store::check_consistency(&server.store).unwrap().is_empty());
}

#[tokio::test]
async fn failures_are_stored_cut_and_the_run_stays_readable() {
    let server = TestServer::start().await;
    let mut messages = vec![header("registry", v1::SyncMode::Upsert, false)];
    // 30 rows with 1 MB credit codes: 30 MB of codes if kept whole, which
    // made the run record larger than any message.
    for n in 0..30 {
        let mut r = row(n, "甲", "C3742");
        if let Some(Message::Row(row)) = &mut r.message {
            row.enterprise.as_mut().unwrap().credit_code = format!("{n}{}", "9".repeat(1 << 20));
        }
        messages.push(r);
    }
    let run = sync(&server, messages).await.unwrap();
    assert_eq!(run.failed, 30);
    let mut client = SyncServiceClient::new(server.channel().await);
    let again = client.get_sync_run(v1::GetSyncRunRequest { name: run.name.clone() }).await.unwrap().into_inner();
    assert_eq!(again.failures.len(), 30);
    let page = client
        .list_sync_failures(v1::ListSyncFailuresRequest { parent: run.name.clone(), ..Default::default() })
        .await
        .unwrap()
        .into_inner();
    for failure in page.failures.iter().chain(&again.failures) {
        assert!(
            failure.credit_code.len() <= ladder::domain::sync::MAX_FAILURE_CODE_BYTES,
            "{}",
            failure.credit_code.len()
        );
        assert!(failure.description.len() <= ladder::domain::sync::MAX_FAILURE_DESCRIPTION_BYTES);
    }
    assert!(prost::Message::encoded_len(&again) < 64 * 1024, "{}", prost::Message::encoded_len(&again));
}

#[tokio::test]
async fn sync_streams_beyond_the_limit_are_refused_until_one_finishes() {
    let server = TestServer::start().await;
    let limit = ladder::config::DEFAULT_MAX_SYNC_STREAMS;
    let mut open = Vec::new();
    for i in 0..limit {
        let (tx, rx) = tokio::sync::mpsc::channel(4);
        tx.send(header(&format!("source-{i}"), v1::SyncMode::Upsert, false)).await.unwrap();
        let mut client = SyncServiceClient::new(server.channel().await);
        let call =
            tokio::spawn(async move { client.sync_enterprises(tokio_stream::wrappers::ReceiverStream::new(rx)).await });
        open.push((tx, call));
    }
    // The open streams reach the server in their own time: until all have,
    // one more may still get a place (and finish at once).
    let mut refused = None;
    for _ in 0..250 {
        match sync(&server, vec![header("one-more", v1::SyncMode::Upsert, false)]).await {
            Err(status) => {
                refused = Some(status);
                break;
            }
            Ok(_) => tokio::time::sleep(std::time::Duration::from_millis(20)).await,
        }
    }
    let status = refused.expect("a stream beyond the limit is refused");
    expect_error(&status, Code::ResourceExhausted, "TOO_MANY_SYNC_STREAMS");
    for (tx, call) in open {
        drop(tx);
        call.await.unwrap().unwrap();
    }
    sync(&server, vec![header("one-more", v1::SyncMode::Upsert, false), row(1, "甲", "C3742")]).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sources_report_their_last_runs_their_firms_and_whether_they_are_late() {
    let config = ladder::config::Config {
        sources: vec![
            ladder::config::SourceExpectation { name: "market-registry".into(), expect_every_hours: 24 },
            ladder::config::SourceExpectation { name: "tax-bureau".into(), expect_every_hours: 168 },
        ],
        ..Default::default()
    };
    let server = TestServer::with_config(config).await;
    let mut messages = vec![header("market-registry", v1::SyncMode::Upsert, false)];
    messages.extend((0..30).map(|n| row(n, &format!("企业{n}"), "C3742")));
    let done = sync(&server, messages).await.unwrap();
    let mut dry = vec![header("market-registry", v1::SyncMode::Upsert, true)];
    dry.extend((30..40).map(|n| row(n, &format!("企业{n}"), "C3742")));
    sync(&server, dry).await.unwrap();
    let mut erp = vec![header("erp", v1::SyncMode::Upsert, false)];
    erp.extend((0..5).map(|n| row(n, &format!("企业{n}"), "C3742")));
    sync(&server, erp).await.unwrap();

    let mut client = SyncServiceClient::new(server.channel().await);
    let sources = client.list_sources(v1::ListSourcesRequest {}).await.unwrap().into_inner().sources;
    let names: Vec<&str> = sources.iter().map(|s| s.source.as_str()).collect();
    assert_eq!(names, ["tax-bureau", "erp", "market-registry"], "late first, then by name");
    let tax = &sources[0];
    assert!(tax.late && tax.last_run.is_none() && tax.runs == 0, "expected and never run: late");
    let erp = &sources[1];
    assert!(!erp.late && erp.expected_interval_hours == 0, "not expected: never late");
    assert_eq!(erp.firms, 5);
    let registry = &sources[2];
    assert!(!registry.late);
    assert_eq!((registry.runs, registry.firms), (2, 30), "the dry run counts as a run, not as firms sent");
    assert!(registry.last_run.as_ref().unwrap().dry_run, "the newest run is the dry run");
    // The last completed run is the one that wrote, and it is due 24 hours after its end.
    assert_eq!(registry.last_success_time, done.end_time);
    let due = registry.due_time.unwrap().seconds - done.end_time.unwrap().seconds;
    assert_eq!(due, 24 * 3600);
    assert_eq!(registry.owner, erp.owner);
    // A day and an hour later with no new run, the daily feed is late.
    let expected = [("market-registry".to_string(), 24)].into_iter().collect();
    let later = ladder::domain::time::now_micros() + 25 * 3_600_000_000;
    let health = ladder::api::sync::source_health(&server.store, &expected, later).unwrap();
    let registry = health.iter().find(|s| s.source == "market-registry").unwrap();
    assert!(registry.late);
    assert!(!health.iter().find(|s| s.source == "erp").unwrap().late);
}
