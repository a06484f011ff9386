//! The supply–demand map through a real server: postings, explainable
//! suggestions over a seeded set, a match from proposed to delivered, the
//! bad paths (nothing written), chain gaps, the sourcing rate and the map.

mod common;

use common::{code, create, expect_error, firm, TestServer};
use ladder::pb::v1;
use ladder::pb::v1::alliance_service_client::AllianceServiceClient;
use ladder::pb::v1::supply_demand_service_client::SupplyDemandServiceClient;
use ladder::sample::{self, Rng};
use tonic::transport::Channel;
use tonic::Code;

use v1::{MatchState as S, PostingKind as K};

type Client = SupplyDemandServiceClient<Channel>;

async fn client(server: &TestServer) -> Client {
    SupplyDemandServiceClient::new(server.channel().await)
}

async fn register(server: &TestServer, n: u32, name: &str, industry: &str, zone: &str) {
    let mut e = firm(n, name);
    e.industry_code = industry.into();
    e.promotion_zone = zone.into();
    server.enterprises().await.create_enterprise(create(e)).await.expect("register");
}

async fn join(server: &TestServer, alliance: &str, n: u32) {
    AllianceServiceClient::new(server.channel().await)
        .create_membership(v1::CreateMembershipRequest {
            parent: format!("alliances/{alliance}"),
            credit_code: code(n),
            membership: Some(v1::Membership { role: v1::MembershipRole::Member as i32, ..Default::default() }),
            ..Default::default()
        })
        .await
        .expect("join");
}

fn posting(n: u32, kind: K, title: &str, industry: &str, tags: &[&str]) -> v1::Posting {
    v1::Posting {
        credit_code: code(n),
        kind: kind as i32,
        title: title.into(),
        industry_code: industry.into(),
        product_tags: tags.iter().map(|t| t.to_string()).collect(),
        quantity: 1000.0,
        unit: "套".into(),
        ..Default::default()
    }
}

async fn post(c: &mut Client, p: v1::Posting) -> Result<v1::Posting, tonic::Status> {
    c.create_posting(v1::CreatePostingRequest { posting: Some(p), ..Default::default() }).await.map(|r| r.into_inner())
}

async fn advance(c: &mut Client, name: &str, state: S, amount: f64) -> Result<v1::Match, tonic::Status> {
    c.advance_match(v1::AdvanceMatchRequest {
        name: name.into(),
        state: state as i32,
        amount_wan: amount,
        ..Default::default()
    })
    .await
    .map(|r| r.into_inner())
}

async fn head(server: &TestServer) -> u64 {
    server.store.next_revision().unwrap()
}

/// Firms 1–40 with a few hundred sample postings; firm 100 (in zone, in the
/// energy-storage alliance) demands storage cells, firm 101 (same alliance,
/// in zone) supplies exactly that, firm 102 (out of zone) loosely.
async fn seeded() -> (TestServer, Client) {
    let server = TestServer::start().await;
    let industries = sample::industries();
    for n in 1..=40 {
        register(&server, n, &format!("西安样例科技有限公司{n}"), industries[n as usize % industries.len()], "east")
            .await;
    }
    let c = client(&server).await;
    let mut rng = Rng::new(42);
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..300u32 {
        let n = 1 + i % 40;
        let industry = industries[n as usize % industries.len()];
        let p = sample::posting(&mut rng, &code(n), Some(industry));
        let mut c = c.clone();
        tasks.spawn(async move { post(&mut c, p).await.expect("sample posting") });
    }
    tasks.join_all().await;
    register(&server, 100, "西安储能需求方有限公司", "D4416", "east").await;
    register(&server, 101, "西安电芯制造有限公司", "C3841", "east").await;
    register(&server, 102, "外地电池贸易有限公司", "F5179", "").await;
    join(&server, "energy-storage", 100).await;
    join(&server, "energy-storage", 101).await;
    (server, c)
}

#[tokio::test]
async fn suggestions_rank_the_obvious_supply_first_and_say_why() {
    let (server, mut c) = seeded().await;
    let mut need = posting(100, K::Demand, "采购储能电芯", "C3841", &["电芯", "储能"]);
    need.description = "用于园区储能电站，要求高能量密度锂离子电芯".into();
    need.quantity = 2000.0;
    let demand = post(&mut c, need).await.unwrap();
    assert_eq!(demand.state, v1::PostingState::Open as i32);
    assert!(demand.keywords.contains(&"电芯".to_string()) && demand.keywords.contains(&"储能".to_string()));
    assert_eq!(demand.in_zone, Some(true), "in_zone defaults to whether the firm has a zone");

    let mut offer = posting(101, K::Supply, "供应储能用锂离子电芯", "C3841", &["电芯", "储能", "磷酸铁锂"]);
    offer.quantity = 5000.0;
    offer.chain_segment = "储能".into();
    let right = post(&mut c, offer).await.unwrap();
    let loose = post(&mut c, posting(102, K::Supply, "电池配件贸易", "C3849", &["配件"])).await.unwrap();
    assert_eq!(loose.in_zone, Some(false));

    let got = c
        .suggest_matches(v1::SuggestMatchesRequest {
            posting: demand.name.clone(),
            page_size: 10,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    let first = &got.suggestions[0];
    assert_eq!(first.posting.as_ref().unwrap().name, right.name, "{:#?}", got.suggestions);
    let reasons = first.reasons.join(" | ");
    for expected in [
        "同属小类 C3841",
        "电芯",
        "储能",
        "同在新能源与储能产业联盟",
        "双方均在园区内",
        "供应量 5000 套 ≥ 需求量 2000 套",
    ] {
        assert!(reasons.contains(expected), "missing {expected:?} in {reasons}");
    }
    let points: f64 = first.factors.iter().map(|f| f.points).sum();
    assert!((points - first.score).abs() < 0.1, "the factors add up to the score");
    assert!(got.suggestions.iter().all(|s| s.posting.as_ref().unwrap().kind == K::Supply as i32));
    assert!(got.suggestions.iter().all(|s| s.posting.as_ref().unwrap().credit_code != code(100)));
    assert!(got.suggestions.windows(2).all(|w| w[0].score >= w[1].score));
    let examined = usize::try_from(got.candidates_examined).unwrap();
    assert!(examined > 1 && examined < 305, "served from indexes: {examined} candidates");
    let loose_rank = got.suggestions.iter().position(|s| s.posting.as_ref().unwrap().name == loose.name);
    assert!(loose_rank.is_none_or(|r| r > 0));

    // A closed supply is no longer suggested; a min_score cuts the tail.
    let closed = c
        .close_posting(v1::ClosePostingRequest {
            name: right.name.clone(),
            reason: v1::PostingCloseReason::Withdrawn as i32,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(closed.state, v1::PostingState::Closed as i32);
    let after = c
        .suggest_matches(v1::SuggestMatchesRequest {
            posting: demand.name.clone(),
            min_score: 30.0,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert!(after.suggestions.iter().all(|s| s.posting.as_ref().unwrap().name != right.name));
    assert!(after.suggestions.iter().all(|s| s.score >= 30.0));
    assert!(ladder::store::check_consistency(&server.store).unwrap().is_empty());
}

#[tokio::test]
async fn a_match_goes_from_proposed_to_delivered_with_its_history() {
    let (server, mut c) = seeded().await;
    let demand = post(&mut c, posting(100, K::Demand, "采购储能电芯", "C3841", &["电芯"])).await.unwrap();
    let supply = post(&mut c, posting(101, K::Supply, "储能电芯", "C3841", &["电芯"])).await.unwrap();
    let m = c
        .create_match(v1::CreateMatchRequest {
            r#match: Some(v1::Match {
                supply_posting: supply.name.clone(),
                demand_posting: demand.name.clone(),
                broker: "招商局 王主任".into(),
                origin: v1::MatchOrigin::Suggested as i32,
                ..Default::default()
            }),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(m.state, S::Proposed as i32);
    assert_eq!(
        (m.supplier_credit_code.as_str(), m.demander_credit_code.as_str()),
        (code(101).as_str(), code(100).as_str())
    );
    assert_eq!(m.supplier_display_name, "西安电芯制造有限公司");
    assert!(m.score > 50.0 && m.reasons.iter().any(|r| r.contains("C3841")), "{m:?}");

    // The pair already has a live match: suggested with it, not twice.
    let again = c
        .create_match(v1::CreateMatchRequest {
            r#match: Some(v1::Match {
                supply_posting: supply.name.clone(),
                demand_posting: demand.name.clone(),
                ..Default::default()
            }),
            ..Default::default()
        })
        .await
        .unwrap_err();
    expect_error(&again, Code::AlreadyExists, "RESOURCE_ALREADY_EXISTS");
    let suggested = c
        .suggest_matches(v1::SuggestMatchesRequest { posting: demand.name.clone(), ..Default::default() })
        .await
        .unwrap()
        .into_inner();
    let s = suggested.suggestions.iter().find(|s| s.posting.as_ref().unwrap().name == supply.name).unwrap();
    assert_eq!(s.existing_match, m.name);

    advance(&mut c, &m.name, S::Contacted, 0.0).await.unwrap();
    advance(&mut c, &m.name, S::Negotiating, 0.0).await.unwrap();
    let before = head(&server).await;
    let err = advance(&mut c, &m.name, S::Delivered, 0.0).await.unwrap_err();
    expect_error(&err, Code::FailedPrecondition, "ILLEGAL_TRANSITION");
    let err = advance(&mut c, &m.name, S::Signed, 0.0).await.unwrap_err();
    let fields = expect_error(&err, Code::InvalidArgument, "AMOUNT_REQUIRED");
    assert_eq!(fields[0].0, "amount_wan");
    let err = advance(&mut c, &m.name, S::Contacted, 0.0).await.unwrap_err();
    expect_error(&err, Code::FailedPrecondition, "ILLEGAL_TRANSITION");
    assert_eq!(head(&server).await, before, "refused steps write nothing");
    let signed = advance(&mut c, &m.name, S::Signed, 380.5).await.unwrap();
    assert_eq!((signed.amount_wan, signed.signed_date.is_empty()), (380.5, false));
    let delivered = advance(&mut c, &m.name, S::Delivered, 0.0).await.unwrap();
    let steps: Vec<i32> = delivered.events.iter().map(|e| e.state).collect();
    assert_eq!(steps, [S::Proposed, S::Contacted, S::Negotiating, S::Signed, S::Delivered].map(|s| s as i32));
    assert!(delivered.events.iter().all(|e| !e.actor.is_empty() && e.record_time.is_some()));
    let err = advance(&mut c, &m.name, S::Closed, 0.0).await.unwrap_err();
    expect_error(&err, Code::FailedPrecondition, "ILLEGAL_TRANSITION");
    let err = c
        .advance_match(v1::AdvanceMatchRequest {
            name: m.name.clone(),
            state: S::Closed as i32,
            close_reason: v1::MatchCloseReason::Withdrawn as i32,
            ..Default::default()
        })
        .await
        .unwrap_err();
    expect_error(&err, Code::FailedPrecondition, "ILLEGAL_TRANSITION");

    // The change log has every step under the match's name.
    let changes = server
        .changes()
        .await
        .list_changes(v1::ListChangesRequest { resource: m.name.clone(), ..Default::default() })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(changes.changes.len(), 5);
    let listed = c
        .list_matches(v1::ListMatchesRequest { filter: "state = DELIVERED".into(), ..Default::default() })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(listed.matches.iter().map(|m| m.name.clone()).collect::<Vec<_>>(), vec![m.name.clone()]);

    // The sourcing rate counts the in-zone deal; an out-of-zone one lowers it.
    let outside = post(&mut c, posting(102, K::Supply, "储能电芯贸易", "C3841", &["电芯"])).await.unwrap();
    let m2 = c
        .create_match(v1::CreateMatchRequest {
            r#match: Some(v1::Match {
                supply_posting: outside.name.clone(),
                demand_posting: demand.name.clone(),
                ..Default::default()
            }),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    advance(&mut c, &m2.name, S::Signed, 126.8).await.unwrap();
    let rate = c.get_sourcing_rate(v1::GetSourcingRateRequest::default()).await.unwrap().into_inner();
    let zone = rate.zone.unwrap();
    assert_eq!(zone.signed_deals, 2);
    assert!((zone.signed_amount_wan - 507.3).abs() < 1e-6);
    assert!((zone.rate - 0.75).abs() < 0.001, "{zone:?}");
    let storage = rate.alliances.iter().find(|a| a.alliance_id == "energy-storage").unwrap();
    assert_eq!(storage.figures.as_ref().unwrap().signed_deals, 2);
    let err = c
        .get_sourcing_rate(v1::GetSourcingRateRequest {
            start_date: "2026-12-01".into(),
            end_date: "2026-01-01".into(),
        })
        .await
        .unwrap_err();
    expect_error(&err, Code::InvalidArgument, "INVALID_RANGE");
    assert!(ladder::store::check_consistency(&server.store).unwrap().is_empty());
}

#[tokio::test]
async fn bad_postings_and_matches_are_refused_precisely_and_write_nothing() {
    let server = TestServer::start().await;
    register(&server, 1, "西安甲科技有限公司", "C3841", "east").await;
    register(&server, 2, "西安乙科技有限公司", "C3841", "east").await;
    let mut c = client(&server).await;
    let supply = post(&mut c, posting(1, K::Supply, "储能电芯", "C3841", &[])).await.unwrap();
    let other_supply = post(&mut c, posting(2, K::Supply, "储能电芯", "C3841", &[])).await.unwrap();
    let own_demand = post(&mut c, posting(1, K::Demand, "采购电芯", "C3841", &[])).await.unwrap();
    let before = head(&server).await;

    let err = post(&mut c, posting(9, K::Supply, "储能电芯", "C3841", &[])).await.unwrap_err();
    let fields = expect_error(&err, Code::InvalidArgument, "UNKNOWN_ENTERPRISE");
    assert_eq!(fields[0].0, "posting.credit_code");

    let mut none = posting(1, K::Demand, "采购电芯", "C3841", &[]);
    none.quantity = 0.0;
    none.unit.clear();
    let fields =
        expect_error(&post(&mut c, none).await.unwrap_err(), Code::InvalidArgument, "QUANTITY_OR_AMOUNT_REQUIRED");
    assert_eq!(fields[0].0, "posting.quantity");

    let mut reversed = posting(1, K::Demand, "采购电芯", "C3841", &[]);
    reversed.valid_from = "2026-12-01".into();
    reversed.valid_until = "2026-11-01".into();
    let fields = expect_error(&post(&mut c, reversed).await.unwrap_err(), Code::InvalidArgument, "UNTIL_BEFORE_FROM");
    assert_eq!(fields[0].0, "posting.valid_until");

    let mut hidden = posting(1, K::Demand, "采购电芯", "C3841", &[]);
    hidden.visibility_alliance_id = "no-such-alliance".into();
    expect_error(&post(&mut c, hidden).await.unwrap_err(), Code::InvalidArgument, "UNKNOWN_ALLIANCE");

    let pair = |s: &v1::Posting, d: &v1::Posting| v1::CreateMatchRequest {
        r#match: Some(v1::Match {
            supply_posting: s.name.clone(),
            demand_posting: d.name.clone(),
            ..Default::default()
        }),
        ..Default::default()
    };
    let err = c.create_match(pair(&supply, &other_supply)).await.unwrap_err();
    let fields = expect_error(&err, Code::InvalidArgument, "KIND_MISMATCH");
    assert_eq!(fields[0].0, "match.demand_posting");
    let err = c.create_match(pair(&supply, &own_demand)).await.unwrap_err();
    expect_error(&err, Code::InvalidArgument, "SAME_FIRM");
    let ghost = v1::Posting { name: "postings/00000000aaaaaa".into(), ..Default::default() };
    let err = c.create_match(pair(&supply, &ghost)).await.unwrap_err();
    let fields = expect_error(&err, Code::InvalidArgument, "UNKNOWN_POSTING");
    assert_eq!(fields[0].0, "match.demand_posting");
    let err = c.get_posting(v1::GetPostingRequest { name: "postings/../x".into() }).await.unwrap_err();
    expect_error(&err, Code::InvalidArgument, "INVALID_RESOURCE_NAME");
    let err = c
        .list_postings(v1::ListPostingsRequest { filter: "kind = BOTH".into(), ..Default::default() })
        .await
        .unwrap_err();
    expect_error(&err, Code::InvalidArgument, "INVALID_FILTER");
    assert_eq!(head(&server).await, before, "no refused request wrote anything");

    // A deleted firm cannot post; a closed posting cannot be matched or closed twice.
    server
        .enterprises()
        .await
        .delete_enterprise(v1::DeleteEnterpriseRequest {
            name: format!("enterprises/{}", code(2)),
            ..Default::default()
        })
        .await
        .unwrap();
    let err = post(&mut c, posting(2, K::Supply, "储能电芯", "C3841", &[])).await.unwrap_err();
    expect_error(&err, Code::FailedPrecondition, "ENTERPRISE_DELETED");
    let close = |name: &str| v1::ClosePostingRequest {
        name: name.into(),
        reason: v1::PostingCloseReason::Fulfilled as i32,
        ..Default::default()
    };
    c.close_posting(close(&own_demand.name)).await.unwrap();
    let err = c.close_posting(close(&own_demand.name)).await.unwrap_err();
    expect_error(&err, Code::FailedPrecondition, "ALREADY_CLOSED");
    let err = c
        .update_posting(v1::UpdatePostingRequest {
            posting: Some(v1::Posting {
                name: own_demand.name.clone(), title: "新标题".into(), ..Default::default()
            }),
            ..Default::default()
        })
        .await
        .unwrap_err();
    expect_error(&err, Code::FailedPrecondition, "POSTING_CLOSED");
    let err = c
        .suggest_matches(v1::SuggestMatchesRequest { posting: own_demand.name.clone(), ..Default::default() })
        .await
        .unwrap_err();
    expect_error(&err, Code::FailedPrecondition, "POSTING_NOT_OPEN");

    // Listing sees all three postings, filtered by kind and state.
    let listed = c
        .list_postings(v1::ListPostingsRequest {
            filter: "kind = SUPPLY AND state = OPEN".into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(listed.postings.len(), 2);
    assert!(ladder::store::check_consistency(&server.store).unwrap().is_empty());
}

#[tokio::test]
async fn an_update_reindexes_and_pages_cover_every_posting_once() {
    let server = TestServer::start().await;
    register(&server, 1, "西安甲科技有限公司", "C3841", "east").await;
    register(&server, 2, "西安乙科技有限公司", "C3743", "").await;
    let mut c = client(&server).await;
    let mut names = Vec::new();
    for i in 0..7 {
        let p = post(&mut c, posting(1, K::Supply, &format!("地面站天线 第{i}批"), "C3743", &["天线"])).await.unwrap();
        names.push(p.name);
    }
    let demand = post(&mut c, posting(2, K::Demand, "采购储能电芯", "C3841", &["电芯"])).await.unwrap();
    let found =
        |s: &v1::SuggestMatchesResponse| s.suggestions.iter().any(|x| x.posting.as_ref().unwrap().name == names[0]);
    let req = || v1::SuggestMatchesRequest { posting: demand.name.clone(), ..Default::default() };
    assert!(!found(&c.suggest_matches(req()).await.unwrap().into_inner()));
    let updated = c
        .update_posting(v1::UpdatePostingRequest {
            posting: Some(v1::Posting {
                name: names[0].clone(),
                title: "储能电芯".into(),
                industry_code: "C3841".into(),
                ..Default::default()
            }),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert!(updated.keywords.contains(&"电芯".to_string()));
    assert!(found(&c.suggest_matches(req()).await.unwrap().into_inner()), "the update moved it in the indexes");

    let mut seen = Vec::new();
    let mut token = String::new();
    loop {
        let page = c
            .list_postings(v1::ListPostingsRequest { page_size: 3, page_token: token, filter: String::new() })
            .await
            .unwrap()
            .into_inner();
        seen.extend(page.postings.into_iter().map(|p| p.name));
        if page.next_page_token.is_empty() {
            break;
        }
        token = page.next_page_token;
    }
    assert_eq!(seen.len(), 8);
    let mut sorted = seen.clone();
    sorted.sort_by(|a, b| b.cmp(a));
    assert_eq!(seen, sorted, "newest first, each once");
    assert!(ladder::store::check_consistency(&server.store).unwrap().is_empty());
}

#[tokio::test]
async fn chain_gaps_and_the_map_show_what_is_missing_and_who_deals() {
    let server = TestServer::start().await;
    register(&server, 1, "西安火箭总装有限公司", "C3742", "east").await;
    register(&server, 2, "西安天线有限公司", "C3743", "east").await;
    register(&server, 3, "外地芯片有限公司", "I6520", "").await;
    join(&server, "commercial-space", 1).await;
    let mut c = client(&server).await;
    let mut chips = posting(1, K::Demand, "采购宇航级FPGA芯片", "I6520", &["芯片"]);
    chips.amount_wan = 500.0;
    let chips = post(&mut c, chips).await.unwrap();
    let antennas = post(&mut c, posting(1, K::Demand, "采购地面站天线", "C3743", &["天线"])).await.unwrap();
    post(&mut c, posting(2, K::Supply, "地面站天线", "C3743", &["天线"])).await.unwrap();
    let offshore = post(&mut c, posting(3, K::Supply, "宇航级FPGA芯片", "I6520", &["芯片"])).await.unwrap();
    assert_eq!(offshore.in_zone, Some(false));

    let gaps = c.list_chain_gaps(v1::ListChainGapsRequest::default()).await.unwrap().into_inner().gaps;
    assert_eq!(gaps.len(), 1, "{gaps:?}");
    assert_eq!(gaps[0].industry_code, "I6520");
    assert_eq!((gaps[0].open_demands, gaps[0].in_zone_supplies, gaps[0].out_of_zone_supplies), (1, 0, 1));
    assert_eq!(gaps[0].open_demand_amount_wan, 500.0);
    assert_eq!(gaps[0].demanding_firms[0].postings, vec![chips.name.clone()]);
    let all = c
        .list_chain_gaps(v1::ListChainGapsRequest { include_covered: true, ..Default::default() })
        .await
        .unwrap()
        .into_inner()
        .gaps;
    assert_eq!(all.iter().map(|g| g.industry_code.as_str()).collect::<Vec<_>>(), ["I6520", "C3743"]);
    let grouped = c
        .list_chain_gaps(v1::ListChainGapsRequest { level: v1::CategoryLevel::Division as i32, ..Default::default() })
        .await
        .unwrap()
        .into_inner()
        .gaps;
    assert_eq!(grouped[0].industry_code, "I65");

    let supply = c
        .list_postings(v1::ListPostingsRequest { filter: format!("credit_code = {}", code(2)), ..Default::default() })
        .await
        .unwrap()
        .into_inner()
        .postings
        .remove(0);
    let m = c
        .create_match(v1::CreateMatchRequest {
            r#match: Some(v1::Match {
                supply_posting: supply.name.clone(),
                demand_posting: antennas.name.clone(),
                ..Default::default()
            }),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    let map = c.get_supply_demand_map(v1::GetSupplyDemandMapRequest::default()).await.unwrap().into_inner();
    let firms = map.nodes.iter().filter(|n| n.kind == v1::MapNodeKind::Firm as i32).count();
    let cats: Vec<&str> =
        map.nodes.iter().filter(|n| n.kind == v1::MapNodeKind::Category as i32).map(|n| n.id.as_str()).collect();
    assert_eq!(firms, 3);
    assert_eq!(cats, ["cat:C3743", "cat:I6520"]);
    let matches: Vec<&v1::MapEdge> = map.edges.iter().filter(|e| e.kind == v1::MapEdgeKind::Match as i32).collect();
    assert_eq!(matches.len(), 1);
    assert_eq!((matches[0].from.as_str(), matches[0].to.as_str()), (code(2).as_str(), code(1).as_str()));
    assert_eq!(matches[0].resources, vec![m.name.clone()]);
    let rocket = map.nodes.iter().find(|n| n.id == code(1)).unwrap();
    assert_eq!(rocket.alliances, vec!["commercial-space".to_string()]);
    assert!(map
        .edges
        .iter()
        .any(|e| e.kind == v1::MapEdgeKind::Demand as i32 && e.from == "cat:I6520" && e.to == code(1)));

    // Nodes carry their counts and amounts; a signed deal shows on both firms
    // and on the demand's category.
    c.advance_match(v1::AdvanceMatchRequest {
        name: m.name.clone(),
        state: v1::MatchState::Signed as i32,
        amount_wan: 120.0,
        ..Default::default()
    })
    .await
    .unwrap();
    let map = c.get_supply_demand_map(v1::GetSupplyDemandMapRequest::default()).await.unwrap().into_inner();
    assert_eq!((map.level, map.qualifying_firms, map.truncated), (v1::MapLevel::Firm as i32, 3, false));
    let node = |map: &v1::SupplyDemandMap, id: &str| map.nodes.iter().find(|n| n.id == id).cloned().unwrap();
    let rocket = node(&map, &code(1));
    assert_eq!((rocket.demand_postings, rocket.demand_amount_wan, rocket.supply_postings), (2, 500.0, 0));
    assert_eq!((rocket.signed_matches, rocket.signed_amount_wan), (1, 120.0));
    let antenna_maker = node(&map, &code(2));
    assert_eq!((antenna_maker.supply_postings, antenna_maker.signed_matches), (1, 1));
    let antennas_cat = node(&map, "cat:C3743");
    assert_eq!((antennas_cat.supply_postings, antennas_cat.demand_postings, antennas_cat.firms), (1, 1, 2));
    assert_eq!((antennas_cat.signed_matches, antennas_cat.signed_amount_wan), (1, 120.0));

    // More firms than fit: AUTO draws the category overview, every posting
    // counted and no edges; FIRM keeps the firm level, cut and flagged.
    let overview = c
        .get_supply_demand_map(v1::GetSupplyDemandMapRequest { max_firms: 2, ..Default::default() })
        .await
        .unwrap()
        .into_inner();
    assert_eq!((overview.level, overview.qualifying_firms), (v1::MapLevel::Category as i32, 3));
    assert!(overview.edges.is_empty() && !overview.truncated);
    let ids: Vec<&str> = overview.nodes.iter().map(|n| n.id.as_str()).collect();
    assert_eq!(ids, ["cat:C3743", "cat:I6520"]);
    assert_eq!(overview.nodes[0], antennas_cat, "the same totals at both levels");
    let chips_cat = &overview.nodes[1];
    assert_eq!((chips_cat.demand_postings, chips_cat.demand_amount_wan, chips_cat.supply_postings), (1, 500.0, 1));
    let cut = c
        .get_supply_demand_map(v1::GetSupplyDemandMapRequest {
            max_firms: 2,
            level: v1::MapLevel::Firm as i32,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(cut.level, v1::MapLevel::Firm as i32);
    assert!(cut.truncated);
    assert_eq!(cut.nodes.iter().filter(|n| n.kind == v1::MapNodeKind::Firm as i32).count(), 2);
    let asked = c
        .get_supply_demand_map(v1::GetSupplyDemandMapRequest {
            level: v1::MapLevel::Category as i32,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(asked.level, v1::MapLevel::Category as i32, "the overview on request, however few firms");

    // One alliance: only its member's postings (and no match, whose supplier is outside).
    let narrow = c
        .get_supply_demand_map(v1::GetSupplyDemandMapRequest {
            alliance_id: "commercial-space".into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(narrow.nodes.iter().filter(|n| n.kind == v1::MapNodeKind::Firm as i32).count(), 1);
    let err = c
        .get_supply_demand_map(v1::GetSupplyDemandMapRequest { alliance_id: "nope".into(), ..Default::default() })
        .await
        .unwrap_err();
    expect_error(&err, Code::InvalidArgument, "UNKNOWN_ALLIANCE");

    // A deleted firm's postings count for nothing: its supply no longer covers a category.
    server
        .enterprises()
        .await
        .delete_enterprise(v1::DeleteEnterpriseRequest {
            name: format!("enterprises/{}", code(3)),
            ..Default::default()
        })
        .await
        .unwrap();
    let gaps = c.list_chain_gaps(v1::ListChainGapsRequest::default()).await.unwrap().into_inner().gaps;
    assert_eq!((gaps[0].industry_code.as_str(), gaps[0].out_of_zone_supplies), ("I6520", 0));
    let in_alliance = c
        .list_chain_gaps(v1::ListChainGapsRequest { alliance_id: "drones".into(), ..Default::default() })
        .await
        .unwrap()
        .into_inner()
        .gaps;
    assert!(in_alliance.is_empty(), "no member of the drones alliance demands anything");
}

#[tokio::test]
async fn expiry_visibility_retries_and_dry_runs() {
    let server = TestServer::start().await;
    register(&server, 1, "西安甲科技有限公司", "C3841", "east").await;
    register(&server, 2, "西安乙科技有限公司", "C3841", "east").await;
    register(&server, 3, "西安丙科技有限公司", "C3841", "east").await;
    join(&server, "energy-storage", 1).await;
    join(&server, "energy-storage", 2).await;
    let mut c = client(&server).await;

    // validate_only answers without writing; a retried create posts once.
    let before = head(&server).await;
    let checked = c
        .create_posting(v1::CreatePostingRequest {
            posting: Some(posting(1, K::Demand, "采购储能电芯", "C3841", &["电芯"])),
            validate_only: true,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert!(checked.keywords.contains(&"电芯".to_string()));
    assert_eq!(head(&server).await, before);
    let once = |p: v1::Posting| v1::CreatePostingRequest {
        posting: Some(p),
        request_id: "4b1c5d0e-posting".into(),
        ..Default::default()
    };
    let demand =
        c.create_posting(once(posting(1, K::Demand, "采购储能电芯", "C3841", &["电芯"]))).await.unwrap().into_inner();
    let again =
        c.create_posting(once(posting(1, K::Demand, "采购储能电芯", "C3841", &["电芯"]))).await.unwrap().into_inner();
    assert_eq!(again.name, demand.name, "the retry returns the first answer");
    let err = c.create_posting(once(posting(1, K::Demand, "另一个需求", "C3841", &[]))).await.unwrap_err();
    expect_error(&err, Code::InvalidArgument, "REQUEST_ID_REUSED");

    // Unknown enum numbers and an already-past window are refused.
    let mut odd = posting(1, K::Demand, "采购电芯", "C3841", &[]);
    odd.source_list = 42;
    let fields = expect_error(&post(&mut c, odd).await.unwrap_err(), Code::InvalidArgument, "INVALID_ENUM");
    assert_eq!(fields[0].0, "posting.source_list");
    let mut past = posting(1, K::Demand, "采购电芯", "C3841", &[]);
    past.valid_from = "2020-01-01".into();
    past.valid_until = "2020-12-31".into();
    expect_error(&post(&mut c, past).await.unwrap_err(), Code::InvalidArgument, "VALIDITY_PAST");

    // A supply visible only to the alliance: suggested to members, refused to others.
    let mut members_only = posting(2, K::Supply, "储能电芯", "C3841", &["电芯"]);
    members_only.visibility_alliance_id = "energy-storage".into();
    let members_only = post(&mut c, members_only).await.unwrap();
    let outsider = post(&mut c, posting(3, K::Demand, "采购储能电芯", "C3841", &["电芯"])).await.unwrap();
    let offered = |r: &v1::SuggestMatchesResponse| {
        r.suggestions.iter().any(|s| s.posting.as_ref().unwrap().name == members_only.name)
    };
    let for_member = c
        .suggest_matches(v1::SuggestMatchesRequest { posting: demand.name.clone(), ..Default::default() })
        .await
        .unwrap();
    assert!(offered(for_member.get_ref()));
    let for_outsider = c
        .suggest_matches(v1::SuggestMatchesRequest { posting: outsider.name.clone(), ..Default::default() })
        .await
        .unwrap();
    assert!(!offered(for_outsider.get_ref()), "hidden from a non-member");
    let err = c
        .create_match(v1::CreateMatchRequest {
            r#match: Some(v1::Match {
                supply_posting: members_only.name.clone(),
                demand_posting: outsider.name.clone(),
                ..Default::default()
            }),
            ..Default::default()
        })
        .await
        .unwrap_err();
    let fields = expect_error(&err, Code::InvalidArgument, "NOT_VISIBLE");
    assert_eq!(fields[0].0, "match.supply_posting");

    // Moving the window into the past expires a posting with no further write;
    // extending it reopens it.
    let set_until = |until: &str| v1::UpdatePostingRequest {
        posting: Some(v1::Posting { name: members_only.name.clone(), valid_until: until.into(), ..Default::default() }),
        update_mask: Some(prost_types::FieldMask { paths: vec!["valid_until".into()] }),
        ..Default::default()
    };
    let expired = c.update_posting(set_until("2020-01-01")).await;
    // valid_until before valid_from (today) is refused; move both.
    expect_error(&expired.unwrap_err(), Code::InvalidArgument, "UNTIL_BEFORE_FROM");
    let both = v1::UpdatePostingRequest {
        posting: Some(v1::Posting {
            name: members_only.name.clone(),
            valid_from: "2020-01-01".into(),
            valid_until: "2020-12-31".into(),
            ..Default::default()
        }),
        update_mask: Some(prost_types::FieldMask { paths: vec!["valid_from".into(), "valid_until".into()] }),
        ..Default::default()
    };
    let expired = c.update_posting(both).await.unwrap().into_inner();
    assert_eq!(expired.state, v1::PostingState::Expired as i32);
    let listed = c
        .list_postings(v1::ListPostingsRequest { filter: "state = EXPIRED".into(), ..Default::default() })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(listed.postings.iter().map(|p| p.name.clone()).collect::<Vec<_>>(), vec![members_only.name.clone()]);
    let err = c
        .suggest_matches(v1::SuggestMatchesRequest { posting: members_only.name.clone(), ..Default::default() })
        .await
        .unwrap_err();
    expect_error(&err, Code::FailedPrecondition, "POSTING_NOT_OPEN");
    let err = c
        .create_match(v1::CreateMatchRequest {
            r#match: Some(v1::Match {
                supply_posting: members_only.name.clone(),
                demand_posting: demand.name.clone(),
                ..Default::default()
            }),
            ..Default::default()
        })
        .await
        .unwrap_err();
    expect_error(&err, Code::FailedPrecondition, "POSTING_EXPIRED");
    let after = c
        .suggest_matches(v1::SuggestMatchesRequest { posting: demand.name.clone(), ..Default::default() })
        .await
        .unwrap();
    assert!(!offered(after.get_ref()), "expired postings are not suggested");
    let reopened = c.update_posting(set_until("2099-12-31")).await.unwrap().into_inner();
    assert_eq!(reopened.state, v1::PostingState::Open as i32);
    assert!(ladder::store::check_consistency(&server.store).unwrap().is_empty());
}
