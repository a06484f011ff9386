use prost::Message;

use super::reports::{self, funnel, idle_days, investment, median, months_elapsed, period_keys, pipeline};
use super::*;
use crate::pb::v1;
use crate::pb::v1::ReportPeriod;

fn day(s: &str) -> Date {
    Date::parse(s).unwrap()
}

fn ctx(today: &str) -> Context {
    Context {
        today: day(today),
        now: 1_700_000_000_000_000,
        actor: "wang".into(),
        zones: [("east".to_string(), "招商一局".to_string())].into_iter().collect(),
    }
}

fn input() -> Project {
    Project {
        name: project_name("00aa"),
        display_name: "储能电池芯项目".into(),
        investor_name: "陕煤集团".into(),
        industry_code: "c3841".into(),
        planned_investment_wan: 500_000.0,
        planned_fixed_asset_wan: 400_000.0,
        source_region_code: "610000".into(),
        promotion_zone: "east".into(),
        lead_source: LeadSource::ChainTargeting as i32,
        lead_date: "2025-01-10".into(),
        ..Default::default()
    }
}

fn created() -> Project {
    create(None, input(), &ctx("2025-06-30")).unwrap().1
}

fn event(kind: EventKind, stage: Stage, date: &str) -> ProjectEvent {
    ProjectEvent { kind: kind as i32, stage: stage as i32, date: date.into(), ..Default::default() }
}

fn step(p: Project, stage: Stage, date: &str) -> Project {
    let mut e = event(EventKind::Step, stage, date);
    if stage == Stage::Signed {
        e.amount_wan = 300_000.0;
    }
    if stage == Stage::Registered {
        e.enterprise = "enterprises/91610131MA6TXXXX0X".into();
    }
    record_event(Some(p), "projects/00aa", &e, "", &ctx("2025-06-30")).unwrap().1
}

fn reason_of(r: Result<(ChangeKind, Project)>) -> &'static str {
    r.unwrap_err().reason()
}

#[test]
fn a_new_project_starts_at_its_lead_with_defaults() {
    let p = created();
    assert_eq!(p.stage(), Stage::Lead);
    assert_eq!(p.status(), Status::Active);
    assert_eq!(p.stage_date, "2025-01-10");
    assert_eq!(p.industry_code, "C3841", "codes are canonical");
    assert_eq!(p.department, "招商一局", "the zone's department is the default");
    assert_eq!(p.key_level(), KeyLevel::None);
    assert_eq!(p.events.len(), 1);
    assert_eq!(p.events[0].actor, "wang");
}

#[test]
fn bad_fields_are_all_reported_and_nothing_is_made() {
    let mut bad = input();
    bad.display_name = "x".into();
    bad.planned_fixed_asset_wan = 600_000.0;
    bad.promotion_zone = "nowhere".into();
    bad.source_region_code = "61".into();
    bad.lead_alliance_id = "a1".into();
    bad.lead_date = "2025-07-01".into();
    bad.planned_investment_wan = 500_000.0;
    let err = create(None, bad, &ctx("2025-06-30")).unwrap_err();
    let Error::InvalidArgument { violations, .. } = err else { panic!("{err:?}") };
    let got: Vec<(&str, &str)> = violations.iter().map(|v| (v.field.as_str(), v.reason)).collect();
    assert_eq!(
        got,
        [
            ("project.display_name", "REQUIRED"),
            ("project.planned_fixed_asset_wan", "PART_EXCEEDS_WHOLE"),
            ("project.source_region_code", "INVALID_REGION_CODE"),
            ("project.promotion_zone", "UNKNOWN_ZONE"),
            ("project.lead_alliance_id", "LINK_NOT_ALLOWED"),
            ("project.lead_date", "DATE_IN_FUTURE"),
        ]
    );
    let mut negative = input();
    negative.planned_investment_wan = -1.0;
    assert_eq!(create(None, negative, &ctx("2025-06-30")).unwrap_err().reason(), "INVALID_NUMBER");
}

#[test]
fn steps_move_forward_with_their_data_and_skipping_is_allowed() {
    let p = step(created(), Stage::Visit, "2025-02-01");
    let p = step(p, Stage::Signed, "2025-03-01");
    assert_eq!(p.stage(), Stage::Signed);
    assert_eq!((p.signed_date.as_str(), p.contracted_amount_wan), ("2025-03-01", 300_000.0));
    let p = step(p, Stage::Registered, "2025-04-01");
    assert_eq!(p.enterprise, "enterprises/91610131MA6TXXXX0X");
    let back = event(EventKind::Step, Stage::Visit, "2025-05-01");
    assert_eq!(reason_of(record_event(Some(p.clone()), "n", &back, "", &ctx("2025-06-30"))), "ILLEGAL_TRANSITION");
    let early = event(EventKind::Step, Stage::Land, "2025-03-15");
    let err = record_event(Some(p.clone()), "n", &early, "", &ctx("2025-06-30")).unwrap_err();
    let Error::InvalidArgument { violations, .. } = err else { panic!() };
    assert_eq!(violations[0].reason, "DATE_OUT_OF_ORDER");
    let future = event(EventKind::Step, Stage::Land, "2025-07-01");
    let Error::InvalidArgument { violations, .. } =
        record_event(Some(p), "n", &future, "", &ctx("2025-06-30")).unwrap_err()
    else {
        panic!()
    };
    assert_eq!(violations[0].reason, "DATE_IN_FUTURE");
}

#[test]
fn amounts_and_links_go_only_with_their_step() {
    let p = created();
    let mut early_amount = event(EventKind::Step, Stage::Negotiation, "2025-02-01");
    early_amount.amount_wan = 10.0;
    let reasons = |e: &ProjectEvent| match record_event(Some(p.clone()), "n", e, "", &ctx("2025-06-30")) {
        Err(Error::InvalidArgument { violations, .. }) => violations.iter().map(|v| v.reason).collect::<Vec<_>>(),
        other => panic!("{other:?}"),
    };
    assert_eq!(reasons(&early_amount), ["AMOUNT_NOT_ALLOWED"]);
    assert_eq!(reasons(&event(EventKind::Step, Stage::Signed, "2025-02-01")), ["AMOUNT_REQUIRED"]);
    assert_eq!(reasons(&event(EventKind::Step, Stage::Registered, "2025-02-01")), ["REQUIRED"]);
    let mut lose = event(EventKind::Lose, Stage::Unspecified, "2025-02-01");
    lose.reason = "去了别处".into();
    assert_eq!(reasons(&lose), ["REQUIRED"], "a loss needs its loss reason");
    assert_eq!(reasons(&event(EventKind::Hold, Stage::Lead, "2025-02-01")), ["FIELD_NOT_ALLOWED", "REQUIRED"]);
    assert_eq!(reasons(&event(EventKind::Unspecified, Stage::Unspecified, "")), ["REQUIRED"]);
}

#[test]
fn hold_resume_and_loss_gate_the_steps() {
    let c = ctx("2025-06-30");
    let mut hold = event(EventKind::Hold, Stage::Unspecified, "2025-02-01");
    hold.reason = "投资方资金调整".into();
    let p = record_event(Some(created()), "n", &hold, "", &c).unwrap().1;
    assert_eq!(p.status(), Status::OnHold);
    assert_eq!(reason_of(record_event(Some(p.clone()), "n", &hold, "", &c)), "ALREADY_ON_HOLD");
    let forward = event(EventKind::Step, Stage::Contact, "2025-03-01");
    assert_eq!(reason_of(record_event(Some(p.clone()), "n", &forward, "", &c)), "PROJECT_ON_HOLD");
    let p = record_event(Some(p), "n", &event(EventKind::Resume, Stage::Unspecified, "2025-03-01"), "", &c).unwrap().1;
    assert_eq!(p.status(), Status::Active);
    assert_eq!(
        reason_of(record_event(Some(p.clone()), "n", &event(EventKind::Resume, Stage::Unspecified, ""), "", &c)),
        "NOT_ON_HOLD"
    );
    let mut lose = event(EventKind::Lose, Stage::Unspecified, "2025-04-01");
    lose.reason = "落户成都".into();
    lose.loss_reason = LossReason::OtherLocation as i32;
    let p = record_event(Some(p), "n", &lose, "", &c).unwrap().1;
    assert_eq!((p.status(), p.loss_reason), (Status::Lost, LossReason::OtherLocation as i32));
    let later = event(EventKind::Step, Stage::Contact, "2025-05-01");
    assert_eq!(reason_of(record_event(Some(p), "n", &later, "", &c)), "PROJECT_LOST");
}

#[test]
fn a_correction_voids_what_it_undoes_and_keeps_it() {
    let c = ctx("2025-06-30");
    let p = step(step(created(), Stage::Negotiation, "2025-02-01"), Stage::Signed, "2025-03-01");
    let p = step(step(p, Stage::Registered, "2025-03-15"), Stage::Land, "2025-04-01");
    let mut fix = event(EventKind::Correction, Stage::Negotiation, "");
    fix.reason = "签约录错".into();
    let fixed = record_event(Some(p.clone()), "n", &fix, "", &c).unwrap().1;
    assert_eq!(fixed.stage(), Stage::Negotiation);
    assert_eq!(fixed.stage_date, "2025-02-01");
    assert_eq!((fixed.signed_date.as_str(), fixed.contracted_amount_wan), ("", 0.0));
    assert_eq!((fixed.enterprise.as_str(), fixed.registered_date.as_str()), ("", ""));
    assert_eq!(fixed.events.len(), 6, "nothing is removed");
    assert_eq!(fixed.events.iter().filter(|e| e.voided).count(), 3);
    // Correcting forward, or to a stage never stepped to, is refused.
    let mut forward = event(EventKind::Correction, Stage::Land, "");
    forward.reason = "x".into();
    assert_eq!(reason_of(record_event(Some(fixed.clone()), "n", &forward, "", &c)), "ILLEGAL_TRANSITION");
    let mut skipped = event(EventKind::Correction, Stage::Visit, "");
    skipped.reason = "x".into();
    assert_eq!(reason_of(record_event(Some(p), "n", &skipped, "", &c)), "ILLEGAL_TRANSITION");
    // A step after the correction may take an earlier date than the voided ones.
    let again = step(fixed, Stage::Signed, "2025-02-15");
    assert_eq!(again.signed_date, "2025-02-15");
}

#[test]
fn signing_and_registration_are_never_skipped() {
    let c = ctx("2025-06-30");
    let mut jump = event(EventKind::Step, Stage::Construction, "2025-02-01");
    assert_eq!(reason_of(record_event(Some(created()), "n", &jump, "", &c)), "ILLEGAL_TRANSITION");
    let signed = step(created(), Stage::Signed, "2025-02-01");
    jump.date = "2025-03-01".into();
    assert_eq!(reason_of(record_event(Some(signed.clone()), "n", &jump, "", &c)), "ILLEGAL_TRANSITION");
    // Past REGISTERED, later stages may be skipped.
    let registered = step(signed, Stage::Registered, "2025-02-15");
    let producing = step(registered, Stage::Production, "2025-04-01");
    assert_eq!((producing.stage(), producing.construction_date.as_str()), (Stage::Production, ""));
}

#[test]
fn a_lost_project_that_comes_back_keeps_its_loss() {
    let c = ctx("2025-06-30");
    let mut lose = event(EventKind::Lose, Stage::Unspecified, "2025-03-01");
    lose.reason = "去了成都".into();
    lose.loss_reason = LossReason::OtherLocation as i32;
    let lost = record_event(Some(step(created(), Stage::Contact, "2025-02-01")), "n", &lose, "", &c).unwrap().1;
    let resume = event(EventKind::Resume, Stage::Unspecified, "2025-06-01");
    let back = record_event(Some(lost), "n", &resume, "", &c).unwrap().1;
    assert_eq!((back.status(), back.stage()), (Status::Active, Stage::Contact));
    assert_eq!(state_on(&back, Some(day("2025-04-01"))).unwrap().status, Status::Lost, "the loss stays in the past");
    let r = pipeline([&back], day("2025-01-01"), day("2025-06-30"), ReportPeriod::Month);
    assert_eq!(r.losses, [(LossReason::OtherLocation, 1)]);
}

#[test]
fn a_correction_undoes_only_what_came_after_its_stage() {
    let c = ctx("2025-06-30");
    let mut hold = event(EventKind::Hold, Stage::Unspecified, "2025-02-10");
    hold.reason = "缓".into();
    let p = record_event(Some(step(created(), Stage::Contact, "2025-02-01")), "n", &hold, "", &c).unwrap().1;
    let resume = event(EventKind::Resume, Stage::Unspecified, "2025-03-01");
    let p = record_event(Some(p), "n", &resume, "", &c).unwrap().1;
    let p = step(step(p, Stage::Visit, "2025-04-01"), Stage::Negotiation, "2025-05-01");
    let mut fix = event(EventKind::Correction, Stage::Visit, "");
    fix.reason = "洽谈录早了".into();
    let fixed = record_event(Some(p), "n", &fix, "", &c).unwrap().1;
    let voided: Vec<Stage> = fixed.events.iter().filter(|e| e.voided).map(|e| e.stage()).collect();
    assert_eq!(voided, [Stage::Negotiation], "the earlier hold and resume stand");
    assert_eq!(state_on(&fixed, Some(day("2025-02-20"))).unwrap().status, Status::OnHold);
}

#[test]
fn a_correction_revives_a_lost_project() {
    let c = ctx("2025-06-30");
    let mut lose = event(EventKind::Lose, Stage::Unspecified, "2025-04-01");
    lose.reason = "放弃".into();
    lose.loss_reason = LossReason::InvestorWithdrew as i32;
    let lost = record_event(Some(step(created(), Stage::Visit, "2025-02-01")), "n", &lose, "", &c).unwrap().1;
    let mut fix = event(EventKind::Correction, Stage::Visit, "");
    fix.reason = "误报流失".into();
    let revived = record_event(Some(lost), "n", &fix, "", &c).unwrap().1;
    assert_eq!((revived.stage(), revived.status(), revived.loss_reason), (Stage::Visit, Status::Active, 0));
}

#[test]
fn the_state_on_a_date_reads_only_earlier_events() {
    let p = step(step(created(), Stage::Visit, "2025-02-01"), Stage::Signed, "2025-03-01");
    assert!(state_on(&p, Some(day("2025-01-09"))).is_none(), "not yet a lead");
    assert_eq!(state_on(&p, Some(day("2025-02-15"))).unwrap().stage, Stage::Visit);
    assert_eq!(state_on(&p, Some(day("2025-03-01"))).unwrap().stage, Stage::Signed);
}

#[test]
fn records_keep_the_api_numbers() {
    // A stored project re-encoded reads as the API message with the same
    // values, and back: the API layer converts by re-encoding.
    let mut hold = event(EventKind::Hold, Stage::Unspecified, "2025-04-02");
    hold.reason = "r".into();
    let p = step(step(created(), Stage::Signed, "2025-03-01"), Stage::Registered, "2025-04-01");
    let mut p = record_event(Some(p), "n", &hold, "", &ctx("2025-06-30")).unwrap().1;
    p.tags = vec!["电池".into()];
    p.approvals_date = "2025-04-01".into();
    p.revision = 7;
    p.delete_reason = "dup".into();
    let api = v1::Project::decode(p.encode_to_vec().as_slice()).unwrap();
    assert_eq!(api.display_name, p.display_name);
    assert_eq!(api.stage, Stage::Registered as i32);
    assert_eq!(api.status, Status::OnHold as i32);
    assert_eq!(api.contracted_amount_wan, 300_000.0);
    assert_eq!(api.enterprise, p.enterprise);
    assert_eq!(api.events.len(), 4);
    assert_eq!(api.events[3].reason, "r");
    assert_eq!((api.revision, api.delete_reason.as_str()), (7, "dup"));
    let mut back = Project::decode(api.encode_to_vec().as_slice()).unwrap();
    // Times travel as Timestamps in the API, under other numbers.
    back.create_time = p.create_time;
    back.update_time = p.update_time;
    back.events.iter_mut().zip(&p.events).for_each(|(b, e)| b.record_time = e.record_time);
    assert_eq!(back, p);
    let inv = ProjectInvestment {
        name: investment_name("00aa", 2025),
        year: 2025,
        planned_wan: Some(10.0),
        monthly: vec![MonthlyInvestment { month: 1, completed_wan: Some(2.5) }],
        completed_wan: 2.5,
        planned_statistics_date: "2025-12-01".into(),
        source: "月报".into(),
        revision: 3,
        ..Default::default()
    };
    let api = v1::ProjectInvestment::decode(inv.encode_to_vec().as_slice()).unwrap();
    assert_eq!((api.planned_wan, api.monthly[0].completed_wan, api.revision), (Some(10.0), Some(2.5), 3));
    let t = Target {
        name: target_name("01"),
        display_name: "宁德时代".into(),
        reasons: vec![TargetReason::ChainLeader as i32, TargetReason::FillsChainGap as i32],
        chain_gap: "C384".into(),
        status: TargetStatus::Open as i32,
        contacts: vec![TargetContact { date: "2025-01-01".into(), channel: "拜访".into(), ..Default::default() }],
        ..Default::default()
    };
    let api = v1::Target::decode(t.encode_to_vec().as_slice()).unwrap();
    assert_eq!(api.reasons, t.reasons);
    assert_eq!(api.contacts[0].channel, "拜访");
    assert_eq!(Target::decode(api.encode_to_vec().as_slice()).unwrap(), t);
}

#[test]
fn investment_upserts_by_month_and_refuses_the_future() {
    let c = ctx("2025-06-30");
    let patch = ProjectInvestment {
        planned_wan: Some(1200.0),
        monthly: vec![
            MonthlyInvestment { month: 1, completed_wan: Some(100.0) },
            MonthlyInvestment { month: 2, completed_wan: Some(150.0) },
        ],
        ..Default::default()
    };
    let (kind, inv) = upsert_investment(None, ("00aa", 2025), &patch, &patch.populated_fields(), "", &c).unwrap();
    assert_eq!((kind, inv.completed_wan), (ChangeKind::Created, 250.0));
    let one =
        ProjectInvestment { monthly: vec![MonthlyInvestment { month: 2, completed_wan: None }], ..Default::default() };
    let (_, inv) = upsert_investment(Some(inv), ("00aa", 2025), &one, &["monthly".into()], "", &c).unwrap();
    assert_eq!((inv.completed_wan, inv.planned_wan), (100.0, Some(1200.0)), "month 2 cleared, the plan kept");
    let reasons = |patch: &ProjectInvestment| match upsert_investment(
        None,
        ("00aa", 2025),
        patch,
        &patch.populated_fields(),
        "",
        &c,
    ) {
        Err(Error::InvalidArgument { violations, .. }) => violations.iter().map(|v| v.reason).collect::<Vec<_>>(),
        other => panic!("{other:?}"),
    };
    let bad = ProjectInvestment {
        monthly: vec![
            MonthlyInvestment { month: 7, completed_wan: Some(1.0) },
            MonthlyInvestment { month: 13, completed_wan: Some(1.0) },
            MonthlyInvestment { month: 3, completed_wan: Some(-1.0) },
            MonthlyInvestment { month: 3, completed_wan: Some(1.0) },
        ],
        planned_statistics_date: "2026-01-01".into(),
        ..Default::default()
    };
    assert_eq!(
        reasons(&bad),
        ["MONTH_IN_FUTURE", "INVALID_MONTH", "INVALID_NUMBER", "DUPLICATE_MONTH", "DATE_OUTSIDE_YEAR"]
    );
}

#[test]
fn the_funnel_counts_by_hand() {
    let c = ctx("2025-06-30");
    let a = step(created(), Stage::Signed, "2025-03-01");
    let b = step(created(), Stage::Visit, "2025-02-01");
    let mut hold = event(EventKind::Hold, Stage::Unspecified, "2025-05-01");
    hold.reason = "缓".into();
    let held = record_event(Some(step(created(), Stage::Contact, "2025-02-01")), "n", &hold, "", &c).unwrap().1;
    let mut late = input();
    late.lead_date = "2025-06-01".into();
    let late = create(None, late, &c).unwrap().1;
    let all = [a, b, held, late];
    let (overall, _) = funnel(&all, day("2025-06-30"), GroupBy::Unspecified);
    assert_eq!(overall.total, 4);
    assert_eq!((overall.standing[0], overall.standing[2], overall.standing[4], overall.on_hold), (1, 1, 1, 1));
    assert_eq!(&overall.reached[..5], &[4, 3, 2, 1, 1]);
    let (before, groups) = funnel(&all, day("2025-04-01"), GroupBy::Zone);
    assert_eq!(before.total, 3, "the late lead did not exist yet");
    assert_eq!(before.on_hold, 0, "the hold came later");
    assert_eq!(groups.len(), 1);
    assert_eq!(groups[0].key, "east");
}

#[test]
fn investment_completion_rates_and_schedule_by_hand() {
    let a = step(step(created(), Stage::Signed, "2025-03-01"), Stage::Registered, "2025-04-01");
    let mut a = step(a, Stage::Construction, "2025-05-01");
    a.name = project_name("0a");
    a.approvals_date = "2025-04-01".into();
    // b skips construction on its way to production: it counts as started.
    let b = step(step(created(), Stage::Signed, "2025-03-01"), Stage::Registered, "2025-04-01");
    let mut b = step(b, Stage::Production, "2025-06-15");
    b.name = project_name("0b");
    let month = |m, x| MonthlyInvestment { month: m, completed_wan: Some(x) };
    let ia = ProjectInvestment {
        planned_wan: Some(1200.0),
        monthly: vec![month(1, 600.0), month(6, 900.0), month(7, 50.0)],
        planned_construction_date: "2025-05-15".into(),
        planned_approvals_date: "2025-03-31".into(),
        ..Default::default()
    };
    let ib = ProjectInvestment {
        planned_wan: Some(800.0),
        monthly: vec![month(3, 100.0)],
        planned_construction_date: "2025-06-01".into(),
        planned_statistics_date: "2025-12-31".into(),
        ..Default::default()
    };
    let r = investment([(&a, &ia), (&b, &ib)], day("2025-06-30"), GroupBy::Project);
    assert_eq!(r.overall.projects, 2);
    assert_eq!((r.overall.planned_wan, r.overall.completed_wan), (2000.0, 1600.0), "July is after the date");
    assert_eq!(r.overall.percent(), 80.0);
    assert_eq!(r.overall.overrun, 1);
    assert_eq!((r.construction.planned, r.construction.reached), (2, 2));
    assert_eq!((r.approvals.planned, r.approvals.reached), (1, 1));
    assert_eq!(r.statistics.planned, 0, "not due yet");
    assert_eq!(r.behind.len(), 1);
    assert_eq!((r.behind[0].project.as_str(), r.behind[0].expected_wan), ("projects/0b", 400.0));
    assert_eq!(reports::summary(&r.overall), "2个项目累计完成投资0.16亿元，占年计划的80.00%");
    assert_eq!(months_elapsed(day("2025-06-29")), 5);
    assert_eq!(months_elapsed(day("2025-06-30")), 6);
}

#[test]
fn pipeline_signings_durations_and_losses_by_hand() {
    let c = ctx("2025-06-30");
    let a = step(step(created(), Stage::Visit, "2025-01-20"), Stage::Signed, "2025-03-01");
    let b = step(step(created(), Stage::Visit, "2025-02-09"), Stage::Signed, "2025-05-10");
    let mut lose = event(EventKind::Lose, Stage::Unspecified, "2025-04-01");
    lose.reason = "x".into();
    lose.loss_reason = LossReason::Factors as i32;
    let lost = record_event(Some(created()), "n", &lose, "", &c).unwrap().1;
    let r = pipeline([&a, &b, &lost], day("2025-01-01"), day("2025-06-30"), ReportPeriod::Quarter);
    assert_eq!(r.signings, [("2025-Q1".to_string(), 1, 300_000.0), ("2025-Q2".to_string(), 1, 300_000.0)]);
    assert_eq!(r.durations, [(Stage::Visit, 2, 20.0), (Stage::Signed, 2, 65.0)]);
    assert_eq!(r.losses, [(LossReason::Factors, 1)]);
    assert_eq!(
        period_keys(day("2024-11-15"), day("2025-02-01"), ReportPeriod::Month),
        ["2024-11", "2024-12", "2025-01", "2025-02"]
    );
    assert_eq!(median(vec![5, 1, 3, 10]), 4.0);
}

#[test]
fn idle_days_skip_finished_held_and_lost_projects() {
    let p = step(created(), Stage::Visit, "2025-02-01");
    assert_eq!(idle_days(&p, day("2025-03-03")), Some(30));
    let done = step(step(p.clone(), Stage::Signed, "2025-02-10"), Stage::Registered, "2025-02-20");
    let done = step(done, Stage::Statistics, "2025-03-01");
    assert_eq!(idle_days(&done, day("2025-06-01")), None);
    let mut hold = event(EventKind::Hold, Stage::Unspecified, "2025-02-02");
    hold.reason = "x".into();
    let held = record_event(Some(p), "n", &hold, "", &ctx("2025-06-30")).unwrap().1;
    assert_eq!(idle_days(&held, day("2025-06-01")), None);
    let mut fix = event(EventKind::Correction, Stage::Lead, "2025-05-01");
    fix.reason = "考察未成行".into();
    let visited = step(created(), Stage::Visit, "2025-02-01");
    let fixed = record_event(Some(visited), "n", &fix, "", &ctx("2025-06-30")).unwrap().1;
    assert_eq!(idle_days(&fixed, day("2025-05-11")), Some(10), "a correction counts as a move");
}

#[test]
fn a_flood_of_bad_items_gets_a_bounded_answer() {
    let t = Target {
        name: target_name("01"),
        display_name: "宁德时代".into(),
        reasons: vec![99; 100_000],
        ..Default::default()
    };
    let Error::InvalidArgument { violations, .. } = create_target(None, t, 1).unwrap_err() else { panic!() };
    assert!(violations.len() <= 8, "{}", violations.len());
    let mut p = input();
    p.tags = (0..10_000).map(|i| format!("t{i}")).collect();
    let Error::InvalidArgument { violations, .. } = create(None, p, &ctx("2025-06-30")).unwrap_err() else { panic!() };
    assert_eq!(violations.iter().map(|v| v.reason).collect::<Vec<_>>(), ["TOO_MANY"]);
    let months: Vec<MonthlyInvestment> =
        (0..1000).map(|m| MonthlyInvestment { month: m, completed_wan: Some(1.0) }).collect();
    let patch = ProjectInvestment { monthly: months, ..Default::default() };
    let err = upsert_investment(None, ("00aa", 2025), &patch, &["monthly".into()], "", &ctx("2025-06-30")).unwrap_err();
    assert_eq!(err.reason(), "TOO_MANY");
    let many: Vec<FieldViolation> =
        (0..10_000).map(|i| FieldViolation::new(format!("f{i}"), "REQUIRED", "x")).collect();
    let Error::InvalidArgument { violations, .. } = Error::invalid_fields(many) else { panic!() };
    assert_eq!(violations.len(), crate::error::MAX_VIOLATIONS);
    assert!(violations.last().unwrap().description.contains("9951 more"));
}

#[test]
fn a_zone_dropped_from_the_configuration_may_stay() {
    let p = created();
    let mut c = ctx("2025-06-30");
    c.zones = [("west".to_string(), String::new())].into_iter().collect();
    let patch = Project { name: p.name.clone(), owner: "王芳".into(), ..Default::default() };
    let (_, updated) = update(Some(p.clone()), &patch, &["owner".into()], "", &c).unwrap();
    assert_eq!((updated.owner.as_str(), updated.promotion_zone.as_str()), ("王芳", "east"));
    let moved = Project { name: p.name.clone(), promotion_zone: "north".into(), ..Default::default() };
    assert_eq!(update(Some(p), &moved, &["promotion_zone".into()], "", &c).unwrap_err().reason(), "UNKNOWN_ZONE");
}

#[test]
fn stage_names_parse_in_every_spelling() {
    for (s, want) in [
        ("SIGNED", Stage::Signed),
        ("project_stage_land", Stage::Land),
        ("入统", Stage::Statistics),
        (" lead ", Stage::Lead),
    ] {
        assert_eq!(parse_stage(s), Some(want), "{s}");
    }
    assert_eq!(parse_stage("DONE"), None);
}

#[test]
fn targets_validate_reasons_and_keep_contacts() {
    let t = Target {
        name: target_name("01"),
        display_name: "宁德时代".into(),
        reasons: vec![TargetReason::FillsChainGap as i32, TargetReason::FillsChainGap as i32],
        ..Default::default()
    };
    let Error::InvalidArgument { violations, .. } = create_target(None, t.clone(), 1).unwrap_err() else { panic!() };
    let got: Vec<&str> = violations.iter().map(|v| v.reason).collect();
    assert_eq!(got, ["DUPLICATE", "REQUIRED"]);
    let ok = Target { reasons: vec![TargetReason::ChainLeader as i32], ..t };
    let (_, created) = create_target(None, ok, 1).unwrap();
    assert_eq!(created.status(), TargetStatus::Open);
    let contact = TargetContact { channel: "上门拜访".into(), outcome: "有意向".into(), ..Default::default() };
    let (_, t) = record_contact(Some(created), "targets/01", &contact, "", &ctx("2025-06-30")).unwrap();
    assert_eq!((t.contacts.len(), t.contacts[0].date.as_str()), (1, "2025-06-30"));
    let (_, converted) = convert_target(Some(t), "targets/01", "projects/0a", false, 2).unwrap();
    assert_eq!(
        reason_of_target(convert_target(Some(converted.clone()), "targets/01", "projects/0b", false, 3)),
        "TARGET_CONVERTED"
    );
    let drop = Target { name: "targets/01".into(), status: TargetStatus::Dropped as i32, ..Default::default() };
    assert_eq!(reason_of_target(update_target(Some(converted), &drop, &["status".into()], "", 4)), "TARGET_CONVERTED");
}

fn reason_of_target(r: Result<(ChangeKind, Target)>) -> &'static str {
    r.unwrap_err().reason()
}
