//! Listing at the edges: pages that stay correct while writes change which
//! index is smallest, descending scans, short pages at the scan budget, and
//! totals kept by counters.

mod common;

use common::{create, firm, TestServer};
use ladder::domain::filter::Filter;
use ladder::pb::v1;
use ladder::store::{ListQuery, OrderKey};

async fn add(server: &TestServer, n: u32, industry: &str, zone: &str) {
    let mut e = firm(n, &format!("企业{n:03}"));
    e.industry_code = industry.into();
    e.promotion_zone = zone.into();
    server.enterprises().await.create_enterprise(create(e)).await.expect("create");
}

async fn all_pages(
    server: &TestServer,
    mut request: v1::ListEnterprisesRequest,
    between: impl AsyncFn(),
) -> Vec<String> {
    let mut client = server.enterprises().await;
    let mut out = Vec::new();
    loop {
        let page = client.list_enterprises(request.clone()).await.expect("list").into_inner();
        out.extend(page.enterprises.into_iter().map(|e| e.credit_code));
        if page.next_page_token.is_empty() {
            return out;
        }
        request.page_token = page.next_page_token;
        between().await;
    }
}

#[tokio::test]
async fn pages_stay_on_their_index_when_writes_change_which_is_smallest() {
    let server = TestServer::start().await;
    // Page 1 is driven by the zone index (2 in east vs 6 in C37)...
    for n in 0..6 {
        add(&server, n, "C3742", if n < 2 { "east" } else { "west" }).await;
    }
    for n in 6..8 {
        add(&server, n, "C3742", "east").await;
    }
    let request = v1::ListEnterprisesRequest {
        filter: r#"industry_code = "C37" AND zone = "east""#.into(),
        page_size: 1,
        ..Default::default()
    };
    // ...then, between pages, many east firms outside C37 make the industry
    // index the smaller one.
    let next = std::sync::atomic::AtomicU32::new(100);
    let got = all_pages(&server, request, async || {
        for _ in 0..5 {
            let n = next.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            add(&server, n, "I6513", "east").await;
        }
    })
    .await;
    let expected: Vec<String> =
        [0, 1, 6, 7].into_iter().map(common::code).collect::<std::collections::BTreeSet<_>>().into_iter().collect();
    assert_eq!(got, expected, "every match delivered once, in order");
}

#[tokio::test]
async fn descending_pages_over_an_equality_index_and_order_indexes_are_complete() {
    let server = TestServer::start().await;
    for n in 0..23 {
        add(&server, n, "C3742", if n % 3 == 0 { "west" } else { "east" }).await;
    }
    let mut east: Vec<String> = (0..23).filter(|n| n % 3 != 0).map(common::code).collect();
    east.sort();
    east.reverse();
    let got = all_pages(
        &server,
        v1::ListEnterprisesRequest {
            filter: "zone = east".into(),
            order_by: "credit_code desc".into(),
            page_size: 4,
            ..Default::default()
        },
        async || {},
    )
    .await;
    assert_eq!(got, east);

    // Names 企业000..企业022 follow the numbers, so name order is number order.
    let by_name = all_pages(
        &server,
        v1::ListEnterprisesRequest { order_by: "display_name desc".into(), page_size: 5, ..Default::default() },
        async || {},
    )
    .await;
    assert_eq!(by_name, (0..23).rev().map(common::code).collect::<Vec<_>>());
    let by_creation = all_pages(
        &server,
        v1::ListEnterprisesRequest {
            order_by: "create_time".into(),
            filter: "zone = west".into(),
            page_size: 2,
            ..Default::default()
        },
        async || {},
    )
    .await;
    assert_eq!(by_creation, (0..23).filter(|n| n % 3 == 0).map(common::code).collect::<Vec<_>>());
}

#[tokio::test]
async fn a_scan_budget_gives_short_pages_that_still_reach_every_match() {
    let server = TestServer::start().await;
    for n in 0..40 {
        add(&server, n, "C3742", "east").await;
    }
    let filter = Filter::parse(r#"display_name:"企业01""#).unwrap(); // 企业010..企业019
    let mut after = None;
    let mut found = Vec::new();
    let mut pages = 0;
    loop {
        let page = server
            .store
            .list_enterprises(ListQuery {
                filter: filter.clone(),
                order: OrderKey::CreditCode,
                page_size: 100,
                after: after.clone(),
                scan_budget: Some(7),
                ..Default::default()
            })
            .await
            .unwrap();
        pages += 1;
        assert!(page.items.len() <= 7);
        found.extend(page.items.into_iter().map(|e| e.display_name));
        match page.resume {
            Some(resume) => after = Some(resume),
            None => break,
        }
    }
    assert_eq!(pages, 6, "40 entries at 7 per page");
    assert_eq!(found, (10..20).map(|n| format!("企业{n:03}")).collect::<Vec<_>>());
}

#[tokio::test]
async fn totals_follow_creates_deletes_and_updates() {
    let server = TestServer::start().await;
    for n in 0..10 {
        add(&server, n, if n < 4 { "C3742" } else { "I6513" }, "east").await;
    }
    let reader = server.enterprises().await;
    let mut client = reader.clone();
    let total = |filter: &str| {
        let mut client = reader.clone();
        let request = v1::ListEnterprisesRequest { filter: filter.into(), page_size: 1, ..Default::default() };
        async move { client.list_enterprises(request).await.unwrap().into_inner().total_size }
    };
    assert_eq!(total("industry_code = C37").await, 4);
    assert_eq!(total("industry_code = C37 zone = east").await, 4);
    client
        .delete_enterprise(v1::DeleteEnterpriseRequest {
            name: format!("enterprises/{}", common::code(0)),
            ..Default::default()
        })
        .await
        .unwrap();
    client
        .update_enterprise(v1::UpdateEnterpriseRequest {
            enterprise: Some(v1::Enterprise {
                name: format!("enterprises/{}", common::code(9)),
                industry_code: "C3743".into(),
                ..Default::default()
            }),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(total("industry_code = C37").await, 4, "one deleted, one moved in");
    assert_eq!(total("industry_code = I").await, 5);
    assert_eq!(total("").await, 9);
    assert_eq!(total("deleted = true").await, 1);
    let problems = ladder::store::check_consistency(&server.store).unwrap();
    assert!(problems.is_empty(), "{problems:?}");
}

#[tokio::test]
async fn several_indexed_conditions_are_checked_by_key_and_agree_with_a_full_scan() {
    let server = TestServer::start().await;
    let mut client = server.enterprises().await;
    // 60 firms over 3 industries, 2 zones and 3 tags (or none): every
    // combination of the conditions below selects a different subset.
    for n in 0..60u32 {
        let mut e = firm(n, &format!("企业{:03}", 59 - n));
        e.industry_code = ["C3742", "C3743", "I6513"][n as usize % 3].into();
        e.promotion_zone = ["east", "west"][n as usize / 3 % 2].into();
        e.tags = match n % 4 {
            0 => vec!["储能".into()],
            1 => vec!["储能".into(), "在孵".into()],
            2 => vec!["在孵".into()],
            _ => vec![],
        };
        client.create_enterprise(create(e)).await.expect("create");
    }
    // One matching firm is deleted: it keeps its index entries, but is
    // listed only when deleted firms are asked for.
    let deleted = (0..60).find(|n| n % 3 == 0 && n / 3 % 2 == 0 && n % 4 <= 1).unwrap();
    client
        .delete_enterprise(v1::DeleteEnterpriseRequest {
            name: format!("enterprises/{}", common::code(deleted)),
            ..Default::default()
        })
        .await
        .unwrap();
    let everyone = all_pages(
        &server,
        v1::ListEnterprisesRequest { page_size: 100, show_deleted: true, ..Default::default() },
        async || {},
    )
    .await;
    assert_eq!(everyone.len(), 60);
    type Case = (&'static str, &'static str, bool, fn(u32) -> bool);
    let cases: [Case; 5] = [
        (r#"industry_code = C3742 AND zone = east AND tags = "储能""#, "", false, |n| {
            n % 3 == 0 && n / 3 % 2 == 0 && n % 4 <= 1
        }),
        (r#"industry_code = C37 AND tags = "在孵" AND zone = west"#, "", false, |n| {
            n % 3 != 2 && n % 4 >= 1 && n % 4 <= 2 && n / 3 % 2 == 1
        }),
        // An indexed condition next to one only the record can answer.
        (r#"tags = "储能" AND zone = east AND display_name:"企业0""#, "", false, |n| {
            n % 4 <= 1 && n / 3 % 2 == 0 && 59 - n < 100
        }),
        // Under the name order, every indexed condition is a key check.
        (r#"industry_code = C3742 AND zone = east"#, "display_name", false, |n| n % 3 == 0 && n / 3 % 2 == 0),
        (r#"industry_code = C3742 AND zone = east AND tags = "储能""#, "", true, |n| {
            n % 3 == 0 && n / 3 % 2 == 0 && n % 4 <= 1
        }),
    ];
    for (filter, order_by, show_deleted, expected) in cases {
        let mut want: Vec<u32> = (0..60).filter(|n| expected(*n)).filter(|n| show_deleted || *n != deleted).collect();
        if order_by == "display_name" {
            want.reverse(); // names count down as numbers count up
        } else {
            want.sort_by_key(|n| common::code(*n));
        }
        let want: Vec<String> = want.into_iter().map(common::code).collect();
        assert!(!want.is_empty(), "{filter}: the case selects some firms");
        let request = v1::ListEnterprisesRequest {
            filter: filter.into(),
            order_by: order_by.into(),
            page_size: 2,
            show_deleted,
            ..Default::default()
        };
        let first = client.list_enterprises(request.clone()).await.unwrap().into_inner();
        assert_eq!(first.total_size, want.len() as i32, "{filter}: exact total");
        assert!(!first.total_size_estimated, "{filter}: said to be exact");
        let got = all_pages(&server, request, async || {}).await;
        assert_eq!(got, want, "{filter} (order {order_by:?}, deleted shown: {show_deleted})");
    }
}

#[tokio::test]
async fn a_total_needing_records_is_counted_when_few_and_estimated_when_many() {
    let server = TestServer::start().await;
    // 700 firms in C37: the first 100 are named 企业…, then one in four. With
    // a condition on the name next to the industry, no counter knows the
    // total (100 + 150 = 250).
    let mut client = server.enterprises().await;
    for n in 0..700u32 {
        let named = n < 100 || n % 4 == 0;
        let mut e = firm(n, &format!("{}{n:03}", if named { "企业" } else { "公司" }));
        e.industry_code = "C3742".into();
        client.create_enterprise(create(e)).await.expect("create");
    }
    let request = |page_size| v1::ListEnterprisesRequest {
        filter: r#"industry_code = C37 AND display_name:"企业""#.into(),
        page_size,
        ..Default::default()
    };
    // 700 candidates (the firms in C37) are few enough to read them all:
    // the first page's total is exact.
    let page = client.list_enterprises(request(10)).await.unwrap().into_inner();
    assert_eq!((page.enterprises.len(), page.total_size), (10, 250));
    assert!(!page.total_size_estimated, "counted, so exact");
    let next = v1::ListEnterprisesRequest { page_token: page.next_page_token.clone(), ..request(10) };
    let second = client.list_enterprises(next).await.unwrap().into_inner();
    assert_eq!((second.total_size, second.total_size_estimated), (250, false), "later pages repeat the first's total");
    // Past the count budget, the total is extrapolated from the share of
    // matches among the candidates the page examined: the front-loaded
    // matches make the estimate high, which shows it stopped early.
    let query = ladder::store::ListQuery {
        filter: ladder::domain::filter::Filter::parse(r#"industry_code = C37 AND display_name:"企业""#).unwrap(),
        page_size: 10,
        count_total: true,
        count_reads: Some(100),
        ..Default::default()
    };
    let page = server.store.list_enterprises(query).await.unwrap();
    assert_eq!(page.items.len(), 10);
    let estimate = page.total.unwrap();
    assert!(!page.exact_total);
    assert!((300..=700).contains(&estimate), "estimate {estimate} of 250");
    // A page that reaches the end of the range counts exactly.
    let page = client.list_enterprises(request(300)).await.unwrap().into_inner();
    assert_eq!((page.enterprises.len(), page.total_size), (250, 250));
    assert!(page.next_page_token.is_empty());
    assert!(!page.total_size_estimated);
    let whole = ladder::store::ListQuery {
        filter: ladder::domain::filter::Filter::parse(r#"industry_code = C37 AND display_name:"企业""#).unwrap(),
        page_size: 300,
        count_total: true,
        count_reads: Some(100),
        ..Default::default()
    };
    let page = server.store.list_enterprises(whole).await.unwrap();
    assert_eq!((page.total, page.exact_total), (Some(250), true), "a first page that is also the last is exact");
}
