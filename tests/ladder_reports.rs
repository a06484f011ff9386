//! The ladder's reports on a seeded data set whose counts are worked out by
//! hand below: funnel, movements, cohort velocity, candidates, expiring
//! designations, indicators and the policy.

mod common;

use common::{code, create, expect_error, firm, TestServer};
use ladder::config::Config;
use ladder::domain::time::Date;
use ladder::pb::v1;
use ladder::pb::v1::cultivation_service_client::CultivationServiceClient;
use tonic::transport::Channel;
use tonic::Code;

use v1::{DesignationKind as K, DesignationStatus as St, Stage};

async fn grant(client: &mut CultivationServiceClient<Channel>, n: u32, kind: K, from: &str) -> v1::Designation {
    client
        .create_designation(v1::CreateDesignationRequest {
            parent: format!("enterprises/{}", code(n)),
            designation: Some(v1::Designation {
                kind: kind as i32,
                status: St::Granted as i32,
                valid_from: from.into(),
                ..Default::default()
            }),
            ..Default::default()
        })
        .await
        .expect("designation")
        .into_inner()
}

/// Seven firms; as of 2024-06-30 (validities filled in by kind):
/// F1 tech SME 2023-03-01 (to 2024-02-29) and 2024-04-01 → 育小
/// F2 高企 2023-01-01 (to 2025-12-31), zone east → 登高
/// F3 规上工业 + tech SME 2024-01-01 → 升规
/// F4 小巨人 2024-05-01, zone east → 晋位
/// F5 nothing → off the ladder
/// F6 高企 2022-01-01 revoked 2024-03-01 → off the ladder
/// F7 tech SME 2021-03-01, 高企 2021-09-01 (to 2024-08-31) → 登高
async fn seeded() -> (TestServer, CultivationServiceClient<Channel>) {
    let server = TestServer::start().await;
    let mut firms = server.enterprises().await;
    for n in 1..=7 {
        let mut e = firm(n, &format!("企业{n}"));
        e.promotion_zone = if n == 2 || n == 4 { "east".into() } else { "west".into() };
        e.founding_date = "2015-03-01".into();
        e.industry_code = "C3742".into();
        firms.create_enterprise(create(e)).await.unwrap();
    }
    let mut client = CultivationServiceClient::new(server.channel().await);
    grant(&mut client, 1, K::TechSme, "2023-03-01").await;
    grant(&mut client, 1, K::TechSme, "2024-04-01").await;
    grant(&mut client, 2, K::HighTech, "2023-01-01").await;
    grant(&mut client, 3, K::AboveScaleIndustry, "2024-01-01").await;
    grant(&mut client, 3, K::TechSme, "2024-01-01").await;
    grant(&mut client, 4, K::LittleGiant, "2024-05-01").await;
    let f6 = grant(&mut client, 6, K::HighTech, "2022-01-01").await;
    client
        .revoke_designation(v1::RevokeDesignationRequest {
            name: f6.name,
            ended_date: "2024-03-01".into(),
            reason: "年报未报".into(),
            ..Default::default()
        })
        .await
        .unwrap();
    grant(&mut client, 7, K::TechSme, "2021-03-01").await;
    grant(&mut client, 7, K::HighTech, "2021-09-01").await;
    (server, client)
}

fn stage_counts(counts: &[v1::StageCount]) -> Vec<(i32, i32)> {
    counts.iter().filter(|c| c.count > 0).map(|c| (c.stage, c.count)).collect()
}

#[tokio::test]
async fn the_funnel_matches_a_hand_count() {
    let (_server, mut client) = seeded().await;
    let funnel = client
        .get_funnel(v1::GetFunnelRequest { as_of: "2024-06-30".into(), filter: String::new() })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(funnel.firms, 7);
    assert_eq!(
        stage_counts(&funnel.by_stage),
        vec![
            (Stage::Unspecified as i32, 2),
            (Stage::Nurture as i32, 1),
            (Stage::Climb as i32, 2),
            (Stage::ScaleUp as i32, 1),
            (Stage::Advance as i32, 1)
        ]
    );
    let kinds: Vec<(i32, i32)> = funnel.by_kind.iter().filter(|k| k.count > 0).map(|k| (k.kind, k.count)).collect();
    assert_eq!(
        kinds,
        vec![
            (K::TechSme as i32, 2),
            (K::HighTech as i32, 2),
            (K::AboveScaleIndustry as i32, 1),
            (K::LittleGiant as i32, 1)
        ]
    );

    let east = client
        .get_funnel(v1::GetFunnelRequest { as_of: "2024-06-30".into(), filter: "zone = east".into() })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(east.firms, 2);
    assert_eq!(stage_counts(&east.by_stage), vec![(Stage::Climb as i32, 1), (Stage::Advance as i32, 1)]);
    let status = client
        .get_funnel(v1::GetFunnelRequest { as_of: "2024-02-30".into(), filter: String::new() })
        .await
        .unwrap_err();
    expect_error(&status, Code::InvalidArgument, "INVALID_DATE");
}

#[tokio::test]
async fn movements_and_cohort_velocity() {
    let (_server, mut client) = seeded().await;
    let m = client
        .list_stage_movements(v1::ListStageMovementsRequest {
            period_start: "2024-01-01".into(),
            period_end: "2024-06-30".into(),
            filter: String::new(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        stage_counts(&m.promotions),
        vec![(Stage::Nurture as i32, 1), (Stage::ScaleUp as i32, 1), (Stage::Advance as i32, 1)]
    );
    assert_eq!(stage_counts(&m.regressions), vec![(Stage::Nurture as i32, 1), (Stage::Climb as i32, 1)]);
    let dated: Vec<(String, String)> =
        m.movements.iter().map(|x| (x.change.as_ref().unwrap().date.clone(), x.display_name.clone())).collect();
    let expect = [
        ("2024-01-01", "企业3"),
        ("2024-03-01", "企业1"),
        ("2024-03-01", "企业6"),
        ("2024-04-01", "企业1"),
        ("2024-05-01", "企业4"),
    ];
    assert_eq!(dated, expect.map(|(d, n)| (d.to_string(), n.to_string())));
    let revocation = m.movements.iter().find(|x| x.display_name == "企业6").unwrap().change.as_ref().unwrap();
    assert_eq!((revocation.cause, revocation.reason.as_str()), (v1::StageChangeCause::Revoked as i32, "年报未报"));

    let cohort = client
        .get_cohort_velocity(v1::GetCohortVelocityRequest {
            stage: Stage::Nurture as i32,
            year: 2021,
            filter: String::new(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!((cohort.cohort, cohort.advanced, cohort.median_days), (1, 1, 184));
    let cohort = client
        .get_cohort_velocity(v1::GetCohortVelocityRequest {
            stage: Stage::Nurture as i32,
            year: 2023,
            filter: String::new(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!((cohort.cohort, cohort.advanced, cohort.median_days), (1, 0, 0));
    let status = client
        .get_cohort_velocity(v1::GetCohortVelocityRequest {
            stage: Stage::Listed as i32,
            year: 2023,
            filter: String::new(),
        })
        .await
        .unwrap_err();
    expect_error(&status, Code::InvalidArgument, "INVALID_STAGE");
}

fn indicators(n: u32, year: i32, i: v1::AnnualIndicators) -> v1::UpdateAnnualIndicatorsRequest {
    v1::UpdateAnnualIndicatorsRequest {
        indicators: Some(v1::AnnualIndicators { name: format!("enterprises/{}/indicators/{year}", code(n)), ..i }),
        ..Default::default()
    }
}

#[tokio::test]
async fn candidates_explain_every_criterion_and_missing_data_is_unknown() {
    let (_server, mut client) = seeded().await;
    // F5 meets every 高企 criterion on its 2023 figures; F3 misses R&D intensity.
    let strong = v1::AnnualIndicators {
        revenue: Some(8000.0),
        main_business_revenue: Some(7000.0),
        employees: Some(100),
        tech_staff: Some(20),
        rd_expense: Some(400.0),
        rd_domestic_share: Some(100.0),
        high_tech_revenue: Some(6000.0),
        ..Default::default()
    };
    // 高企 R&D intensity is judged over the last three years.
    let weak = v1::AnnualIndicators { rd_expense: Some(100.0), ..strong.clone() };
    for year in 2021..=2023 {
        client.update_annual_indicators(indicators(5, year, strong.clone())).await.unwrap();
        client.update_annual_indicators(indicators(3, year, weak.clone())).await.unwrap();
    }

    let request = |include_missed| v1::ListCandidatesRequest {
        target: K::HighTech as i32,
        year: 2023,
        include_missed,
        ..Default::default()
    };
    let listed = client.list_candidates(request(false)).await.unwrap().into_inner();
    assert_eq!(listed.policy_version, "2022");
    let first = &listed.candidates[0];
    assert_eq!(
        (first.enterprise.clone(), first.met, first.missed, first.unknown),
        (format!("enterprises/{}", code(5)), 5, 0, 0)
    );
    let rd = first.criteria.iter().find(|c| c.key == "rd_intensity_3y").unwrap();
    assert_eq!((rd.value.as_str(), rd.threshold.as_str()), ("5.0%", "≥ 4.0%"));
    assert!(
        listed.candidates.iter().all(|c| c.enterprise != format!("enterprises/{}", code(3))),
        "F3 misses a criterion"
    );
    // A firm with no figures has every figure-based criterion unknown, never met.
    let f1 = listed.candidates.iter().find(|c| c.enterprise == format!("enterprises/{}", code(1))).unwrap();
    assert_eq!((f1.met, f1.unknown), (1, 4), "only the age is known");

    let all = client.list_candidates(request(true)).await.unwrap().into_inner();
    let f3 = all.candidates.iter().find(|c| c.enterprise == format!("enterprises/{}", code(3))).unwrap();
    let missed: Vec<&str> =
        f3.criteria.iter().filter(|c| c.status == v1::CriterionStatus::Missed as i32).map(|c| c.key.as_str()).collect();
    assert_eq!(missed, ["rd_intensity_3y"]);
    let status = client
        .list_candidates(v1::ListCandidatesRequest { target: K::Incubated as i32, ..Default::default() })
        .await
        .unwrap_err();
    expect_error(&status, Code::InvalidArgument, "UNSUPPORTED_TARGET");
}

#[tokio::test]
async fn indicators_reject_impossible_figures_and_keep_unknowns() {
    let (server, mut client) = seeded().await;
    let before = server.store.next_revision().unwrap();
    let bad = v1::AnnualIndicators { employees: Some(-3), rd_domestic_share: Some(120.0), ..Default::default() };
    let status = client.update_annual_indicators(indicators(1, 2023, bad)).await.unwrap_err();
    let violations = expect_error(&status, Code::InvalidArgument, "NEGATIVE_COUNT");
    let fields: Vec<&str> = violations.iter().map(|(f, _)| f.as_str()).collect();
    assert_eq!(fields, ["indicators.employees", "indicators.rd_domestic_share"]);
    let status = client
        .update_annual_indicators(indicators(
            99,
            2023,
            v1::AnnualIndicators { revenue: Some(1.0), ..Default::default() },
        ))
        .await
        .unwrap_err();
    expect_error(&status, Code::NotFound, "RESOURCE_NOT_FOUND");
    assert_eq!(server.store.next_revision().unwrap(), before, "nothing written");

    client
        .update_annual_indicators(indicators(
            1,
            2023,
            v1::AnnualIndicators { revenue: Some(900.0), ..Default::default() },
        ))
        .await
        .unwrap();
    let patched = client
        .update_annual_indicators(indicators(
            1,
            2023,
            v1::AnnualIndicators { employees: Some(40), ..Default::default() },
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        (patched.revenue, patched.employees, patched.tech_staff),
        (Some(900.0), Some(40), None),
        "unset stays unknown"
    );
    let years = client
        .list_annual_indicators(v1::ListAnnualIndicatorsRequest { parent: format!("enterprises/{}", code(1)) })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(years.indicators.len(), 1);
}

#[tokio::test]
async fn expiring_designations_and_the_policy_in_force() {
    let (_server, mut client) = seeded().await;
    // A tech-SME entry granted 300 days ago ends (and falls due) in about 65 days.
    let soon = Date::today().add_days(-300).to_string();
    let entry = grant(&mut client, 5, K::TechSme, &soon).await;
    let expiring = client
        .list_expiring_designations(v1::ListExpiringDesignationsRequest { within_days: 90, kind: K::TechSme as i32 })
        .await
        .unwrap()
        .into_inner();
    let names: Vec<&str> = expiring.designations.iter().map(|d| d.name.as_str()).collect();
    assert_eq!(names, [entry.name.as_str()]);
    assert_eq!(expiring.display_names, ["企业5"]);
    let none = client
        .list_expiring_designations(v1::ListExpiringDesignationsRequest { within_days: 30, kind: K::TechSme as i32 })
        .await
        .unwrap()
        .into_inner();
    assert!(none.designations.is_empty());
    let status = client
        .list_expiring_designations(v1::ListExpiringDesignationsRequest { within_days: -1, kind: 0 })
        .await
        .unwrap_err();
    expect_error(&status, Code::InvalidArgument, "OUT_OF_RANGE");

    let policy = client.get_policy(v1::GetPolicyRequest::default()).await.unwrap().into_inner();
    assert_eq!((policy.version.as_str(), policy.source.as_str()), ("2022", "built-in"));
    assert!(policy.text.contains("max_employees = 500"));
}

#[test]
fn a_policy_file_with_a_gap_is_refused_at_start() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("policy.toml");
    let builtin = ladder::domain::policy::BUILT_IN;
    let first = builtin
        .replace("effective_from = \"2022-01-01\"", "effective_from = \"2020-01-01\"")
        .replace("effective_until = \"\"", "effective_until = \"2020-12-31\"");
    let second = builtin.replace("id = \"2022\"", "id = \"2022b\"");
    std::fs::write(&path, format!("{first}\n{second}")).unwrap();
    let err =
        Config::parse(&format!("[server]\npolicy_file = {:?}\n", path.display().to_string())).unwrap_err().to_string();
    assert!(err.contains("a gap"), "{err}");
}
