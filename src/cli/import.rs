//! `ladder designation import FILE --kind KIND`: records the designations of
//! an official list (a province's published 高新技术企业 or 专精特新 list, an
//! XLSX or CSV file, often with company names and no credit codes).
//!
//! Each row is matched to a registered firm by credit code when it has one,
//! else by exact legal name, else by former name; a name that matches
//! several firms is ambiguous, and a row that matches none is reported with
//! the closest names in the register (character-bigram similarity). Names
//! are compared with full-width characters folded and spaces removed. A dry
//! run is the default: it shows matched / already recorded / ambiguous /
//! unmatched / invalid rows; `--apply` records the matched ones through
//! `CreateDesignation`, each with a request id derived from the row, so an
//! import run twice records nothing new.

use std::collections::HashMap;
use std::path::PathBuf;
use std::process::ExitCode;

use sha2::{Digest, Sha256};

use crate::cli::client::{collect_pages, connect, fail};
use crate::cli::ladder::{kind_help, parse_kind};
use crate::cli::{render, table, ClientArgs};
use crate::domain::credit_code::CreditCode;
use crate::domain::time::Date;
use crate::pb::v1;
use crate::pb::v1::cultivation_service_client::CultivationServiceClient;
use crate::pb::v1::enterprise_service_client::EnterpriseServiceClient;

/// Arguments of `ladder designation import`.
#[derive(Debug, clap::Args)]
pub struct ImportArgs {
    /// The official list: XLSX (first sheet) or CSV (UTF-8 or GBK), with a
    /// name column (企业名称/单位名称/名称) and/or a credit-code column
    /// (统一社会信用代码); optional 证书编号, 认定日期 and 批次 columns.
    file: PathBuf,
    #[arg(long, help = kind_help("名单的认定类型 the list's kind"))]
    kind: String,
    /// Batch, e.g. 2024年第一批 (used when the file has no 批次 column).
    #[arg(long, default_value = "")]
    batch: String,
    /// Issuing authority, e.g. 陕西省科学技术厅.
    #[arg(long, default_value = "")]
    authority: String,
    /// national, provincial, municipal, district or other.
    #[arg(long, default_value = "")]
    level: String,
    /// First day the designations count, YYYY-MM-DD (used when the file has
    /// no 认定日期 column).
    #[arg(long, default_value = "")]
    valid_from: String,
    /// Record the matched rows (without it: a dry run that writes nothing).
    #[arg(long)]
    apply: bool,
    #[command(flatten)]
    client: ClientArgs,
}

/// Which column holds what, by the header's words.
#[derive(Debug, Default)]
struct Columns {
    name: Option<usize>,
    code: Option<usize>,
    certificate: Option<usize>,
    date: Option<usize>,
    batch: Option<usize>,
}

impl Columns {
    fn of(header: &[String]) -> Result<Self, String> {
        let find = |words: &[&str]| {
            header.iter().position(|h| {
                let h = fold(h).to_lowercase();
                words.iter().any(|w| h == *w)
            })
        };
        let c = Columns {
            name: find(&["企业名称", "单位名称", "公司名称", "名称", "企业", "单位", "name", "display_name"]),
            code: find(&["统一社会信用代码", "社会信用代码", "信用代码", "credit_code", "code"]),
            certificate: find(&["证书编号", "证书号", "证书号码", "编号", "certificate", "certificate_number"]),
            date: find(&["认定日期", "认定时间", "发证日期", "发证时间", "日期", "valid_from", "date"]),
            batch: find(&["批次", "batch"]),
        };
        if c.name.is_none() && c.code.is_none() {
            return Err(format!(
                "no name column (企业名称/单位名称/名称) and no credit-code column (统一社会信用代码) among {header:?}"
            ));
        }
        Ok(c)
    }
}

/// A name as compared: full-width forms folded to ASCII, spaces removed.
fn fold(name: &str) -> String {
    name.chars()
        .filter_map(|c| match c {
            '\u{3000}' => None,
            '\u{ff01}'..='\u{ff5e}' => char::from_u32(c as u32 - 0xfee0),
            c if c.is_whitespace() => None,
            c => Some(c),
        })
        .collect()
}

/// A date cell as `YYYY-MM-DD`: `2024-03-01`, `2024/3/1`, `2024.3.1`,
/// `2024年3月1日` or `20240301`.
fn date_of(cell: &str) -> Option<String> {
    let cell = cell.trim().trim_end_matches('日');
    let parts: Vec<&str> = if cell.len() == 8 && cell.bytes().all(|b| b.is_ascii_digit()) {
        vec![&cell[..4], &cell[4..6], &cell[6..]]
    } else {
        cell.split(['-', '/', '.', '年', '月']).filter(|p| !p.is_empty()).collect()
    };
    let [y, m, d] = parts.as_slice() else { return None };
    let text = format!("{:04}-{:02}-{:02}", y.parse::<u32>().ok()?, m.parse::<u32>().ok()?, d.parse::<u32>().ok()?);
    Date::parse(&text).map(|_| text)
}

/// The register as the import needs it.
struct Register {
    firms: Vec<(String, String)>,
    by_code: HashMap<String, usize>,
    by_name: HashMap<String, Vec<usize>>,
    by_former: HashMap<String, Vec<usize>>,
    /// Character bigram → firms whose folded name has it.
    bigrams: HashMap<(char, char), Vec<u32>>,
}

fn bigrams(name: &str) -> Vec<(char, char)> {
    let chars: Vec<char> = name.chars().collect();
    let mut out: Vec<(char, char)> = chars.windows(2).map(|w| (w[0], w[1])).collect();
    out.sort_unstable();
    out.dedup();
    out
}

impl Register {
    fn new(enterprises: Vec<v1::Enterprise>) -> Self {
        let mut r = Register {
            firms: Vec::with_capacity(enterprises.len()),
            by_code: HashMap::new(),
            by_name: HashMap::new(),
            by_former: HashMap::new(),
            bigrams: HashMap::new(),
        };
        for (i, e) in enterprises.into_iter().enumerate() {
            let name = fold(&e.display_name);
            r.by_code.insert(e.credit_code.clone(), i);
            r.by_name.entry(name.clone()).or_default().push(i);
            for f in &e.former_names {
                r.by_former.entry(fold(&f.display_name)).or_default().push(i);
            }
            for b in bigrams(&name) {
                r.bigrams.entry(b).or_default().push(i as u32);
            }
            r.firms.push((e.credit_code, e.display_name));
        }
        r
    }

    /// Up to three registered names closest to `name` (Dice similarity of
    /// their bigrams, at least 0.5). The candidates are the firms sharing
    /// the query's rarest bigrams (at most about 20,000 of them), so a
    /// common word like 有限公司 does not make every firm a candidate.
    fn closest(&self, name: &str) -> Vec<(usize, f64)> {
        const MAX_CANDIDATES: usize = 20_000;
        let wanted = bigrams(&fold(name));
        let mut lists: Vec<&Vec<u32>> = wanted.iter().filter_map(|b| self.bigrams.get(b)).collect();
        lists.sort_by_key(|l| l.len());
        let mut candidates: std::collections::HashSet<u32> = std::collections::HashSet::new();
        for list in lists {
            if !candidates.is_empty() && candidates.len() + list.len() > MAX_CANDIDATES {
                break;
            }
            candidates.extend(list.iter().copied());
        }
        let mut scored: Vec<(usize, f64)> = candidates
            .into_iter()
            .map(|f| {
                let theirs = bigrams(&fold(&self.firms[f as usize].1));
                let shared = theirs.iter().filter(|b| wanted.binary_search(b).is_ok()).count();
                (f as usize, 2.0 * shared as f64 / (wanted.len() + theirs.len()).max(1) as f64)
            })
            .filter(|(_, s)| *s >= 0.5)
            .collect();
        scored.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
        scored.truncate(3);
        scored
    }
}

/// What became of a row.
#[derive(Debug, Clone, PartialEq)]
enum Outcome {
    /// One firm, found this way.
    Matched { firm: usize, how: &'static str },
    /// Matched, and the firm already holds this designation.
    Recorded { firm: usize, how: &'static str },
    /// The name fits several firms.
    Ambiguous(Vec<usize>),
    /// No firm; the closest names.
    Unmatched(Vec<(usize, f64)>),
    /// The row itself is wrong.
    Invalid(String),
}

impl Outcome {
    fn label(&self) -> &'static str {
        match self {
            Outcome::Matched { .. } => "可导入 matched",
            Outcome::Recorded { .. } => "已记录 already recorded",
            Outcome::Ambiguous(_) => "重名 ambiguous",
            Outcome::Unmatched(_) => "未匹配 unmatched",
            Outcome::Invalid(_) => "有误 invalid",
        }
    }
}

/// One row of the list.
struct Row {
    line: usize,
    name: String,
    code: String,
    certificate: String,
    valid_from: String,
    batch: String,
    outcome: Outcome,
}

/// Matches a row to the register.
fn match_row(register: &Register, name: &str, code: &str) -> Outcome {
    if !code.is_empty() {
        let Ok(parsed) = CreditCode::parse(code) else {
            return Outcome::Invalid(format!("{code} is not a valid credit code"));
        };
        if let Some(&i) = register.by_code.get(parsed.as_str()) {
            return Outcome::Matched { firm: i, how: "信用代码 code" };
        }
        if name.is_empty() {
            return Outcome::Unmatched(Vec::new());
        }
    }
    let folded = fold(name);
    for (map, how) in [(&register.by_name, "名称 name"), (&register.by_former, "曾用名 former name")] {
        match map.get(&folded).map(Vec::as_slice) {
            Some([one]) => return Outcome::Matched { firm: *one, how },
            Some(many) if many.len() > 1 => return Outcome::Ambiguous(many.to_vec()),
            _ => {}
        }
    }
    Outcome::Unmatched(register.closest(name))
}

/// The request id of a row's designation: the same row imported again
/// replays instead of writing twice.
fn request_id(kind: &str, code: &str, certificate: &str, valid_from: &str) -> String {
    let digest = Sha256::digest(format!("{kind}|{code}|{certificate}|{valid_from}").as_bytes());
    let hex: String = digest.iter().take(16).map(|b| format!("{b:02x}")).collect();
    format!("import-{hex}")
}

/// Runs `ladder designation import`.
pub async fn import(a: ImportArgs) -> ExitCode {
    let usage = |message: String| {
        eprintln!("error: {}", render::clipped(&message));
        ExitCode::from(2)
    };
    let kind = match parse_kind(&a.kind) {
        Ok(k) => k,
        Err(e) => return usage(e),
    };
    let level = match a.level.trim().to_ascii_lowercase().as_str() {
        "" => 0,
        "national" => v1::IssuingLevel::National as i32,
        "provincial" => v1::IssuingLevel::Provincial as i32,
        "municipal" => v1::IssuingLevel::Municipal as i32,
        "district" => v1::IssuingLevel::District as i32,
        "other" => v1::IssuingLevel::Other as i32,
        other => return usage(format!("--level {other:?}: use national, provincial, municipal, district or other")),
    };
    let default_from = match a.valid_from.trim() {
        "" => String::new(),
        d => match date_of(d) {
            Some(d) => d,
            None => return usage(format!("--valid-from {d:?} is not a date YYYY-MM-DD")),
        },
    };
    let bytes = match std::fs::read(&a.file) {
        Ok(b) => b,
        Err(e) => return usage(format!("cannot read {}: {e}", a.file.display())),
    };
    let records = match crate::cli::sync::read_table(bytes) {
        Ok((r, _)) => r,
        Err(e) => return usage(format!("{}: {e}", a.file.display())),
    };
    let Some(((_, header), rows)) = records.split_first() else {
        return usage(format!("{} is empty", a.file.display()));
    };
    let columns = match Columns::of(header) {
        Ok(c) => c,
        Err(e) => return usage(format!("{}: {e}", a.file.display())),
    };
    if columns.date.is_none() && default_from.is_empty() {
        return usage(format!(
            "{} has no 认定日期 column: give the first day the designations count with --valid-from",
            a.file.display()
        ));
    }
    let channel = match connect(&a.client).await {
        Ok(c) => c,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::FAILURE;
        }
    };
    let enterprises = EnterpriseServiceClient::new(channel.clone());
    let pages = collect_pages(usize::MAX, |page_token| {
        let mut c = enterprises.clone();
        let request = v1::ListEnterprisesRequest { page_size: 1000, page_token, ..Default::default() };
        async move { c.list_enterprises(request).await.map(|r| r.into_inner()).map(|r| (r.enterprises, r.next_page_token)) }
    });
    let register = match pages.await {
        Ok((firms, _)) => Register::new(firms),
        Err(status) => return fail(a.client.json, &status),
    };
    let mut cultivation = CultivationServiceClient::new(channel);
    let cell = |record: &[String], column: Option<usize>| {
        column.and_then(|c| record.get(c)).map(|v| v.trim().to_string()).unwrap_or_default()
    };
    let mut list: Vec<Row> = Vec::with_capacity(rows.len());
    for (line, record) in rows {
        let (name, code) = (cell(record, columns.name), cell(record, columns.code).to_uppercase());
        if name.is_empty() && code.is_empty() {
            continue;
        }
        let certificate = cell(record, columns.certificate);
        let batch = match cell(record, columns.batch) {
            b if b.is_empty() => a.batch.trim().to_string(),
            b => b,
        };
        let (valid_from, mut outcome) = match columns.date.map(|c| cell(record, Some(c))) {
            Some(d) if !d.is_empty() => match date_of(&d) {
                Some(d) => (d, match_row(&register, &name, &code)),
                None => (String::new(), Outcome::Invalid(format!("{d:?} is not a date"))),
            },
            _ if default_from.is_empty() => (String::new(), Outcome::Invalid("no 认定日期 and no --valid-from".into())),
            _ => (default_from.clone(), match_row(&register, &name, &code)),
        };
        // Already recorded: the firm holds this kind with the same
        // certificate number (or, without one, from the same day).
        if let Outcome::Matched { firm, how } = outcome {
            let request = v1::ListDesignationsRequest {
                parent: format!("enterprises/{}", register.firms[firm].0),
                filter: format!("kind = {}", kind.name()),
                page_size: 1000,
                ..Default::default()
            };
            match cultivation.list_designations(request).await {
                Ok(r) => {
                    let held = r.into_inner().designations.iter().any(|d| {
                        if certificate.is_empty() {
                            d.valid_from == valid_from
                        } else {
                            d.certificate_number == certificate
                        }
                    });
                    if held {
                        outcome = Outcome::Recorded { firm, how };
                    }
                }
                Err(status) => return fail(a.client.json, &status),
            }
        }
        list.push(Row { line: *line, name, code, certificate, valid_from, batch, outcome });
    }

    let count = |f: fn(&Outcome) -> bool| list.iter().filter(|r| f(&r.outcome)).count();
    let matched = count(|o| matches!(o, Outcome::Matched { .. }));
    let recorded = count(|o| matches!(o, Outcome::Recorded { .. }));
    let ambiguous = count(|o| matches!(o, Outcome::Ambiguous(_)));
    let unmatched = count(|o| matches!(o, Outcome::Unmatched(_)));
    let invalid = count(|o| matches!(o, Outcome::Invalid(_)));
    let mut written = 0usize;
    let mut failed = Vec::new();
    if a.apply {
        for row in list.iter().filter(|r| matches!(r.outcome, Outcome::Matched { .. })) {
            let Outcome::Matched { firm, .. } = row.outcome else { continue };
            let code = &register.firms[firm].0;
            let request = v1::CreateDesignationRequest {
                parent: format!("enterprises/{code}"),
                designation: Some(v1::Designation {
                    kind: kind as i32,
                    status: v1::DesignationStatus::Granted as i32,
                    valid_from: row.valid_from.clone(),
                    certificate_number: row.certificate.clone(),
                    authority: a.authority.trim().to_string(),
                    batch: row.batch.clone(),
                    level,
                    evidence: format!("{} 第 {} 行", a.file.display(), row.line),
                    ..Default::default()
                }),
                request_id: request_id(kind.name(), code, &row.certificate, &row.valid_from),
                ..Default::default()
            };
            match cultivation.create_designation(request).await {
                Ok(_) => written += 1,
                Err(status) => failed.push((row.line, render::status_error(&status))),
            }
        }
    }

    if a.client.json {
        let rows: Vec<serde_json::Value> = list
            .iter()
            .map(|r| {
                let firm = match &r.outcome {
                    Outcome::Matched { firm, .. } | Outcome::Recorded { firm, .. } => {
                        Some(register.firms[*firm].0.clone())
                    }
                    _ => None,
                };
                serde_json::json!({"row": r.line, "name": r.name, "credit_code": firm, "outcome": r.outcome.label(),
                                   "detail": detail(&register, &r.outcome)})
            })
            .collect();
        println!(
            "{}",
            serde_json::json!({"kind": kind.name(), "applied": a.apply, "matched": matched, "already_recorded": recorded,
                               "ambiguous": ambiguous, "unmatched": unmatched, "invalid": invalid,
                               "written": written, "failed": failed.len(), "rows": rows})
        );
    } else {
        println!(
            "{}: {} rows for {}: {matched} to record, {recorded} already recorded, {ambiguous} ambiguous, \
             {unmatched} unmatched, {invalid} invalid",
            a.file.display(),
            list.len(),
            kind.label_zh()
        );
        // On a terminal the rows that need a person; in a file, every row.
        let everything = crate::cli::export::active();
        let shown: Vec<Vec<String>> = list
            .iter()
            .filter(|r| everything || !matches!(r.outcome, Outcome::Matched { .. } | Outcome::Recorded { .. }))
            .map(|r| {
                let firm = match &r.outcome {
                    Outcome::Matched { firm, .. } | Outcome::Recorded { firm, .. } => register.firms[*firm].0.clone(),
                    _ => r.code.clone(),
                };
                vec![
                    r.line.to_string(),
                    r.name.clone(),
                    firm,
                    r.outcome.label().to_string(),
                    detail(&register, &r.outcome),
                ]
            })
            .collect();
        if !shown.is_empty() {
            print!(
                "{}",
                table::render(&["行 ROW", "名称 NAME", "信用代码 CODE", "结果 RESULT", "说明 DETAIL"], &shown)
            );
        }
        if a.apply {
            println!("recorded {written} designations; {} failed", failed.len());
        } else if matched > 0 {
            println!("dry run: nothing written; run again with --apply to record the {matched} matched rows");
        }
    }
    for (line, e) in &failed {
        eprintln!("row {line}: {e}");
    }
    if failed.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

/// What a person needs to know about a row's outcome.
fn detail(register: &Register, outcome: &Outcome) -> String {
    let name = |i: &usize| format!("{} {}", register.firms[*i].0, register.firms[*i].1);
    match outcome {
        Outcome::Matched { how, .. } | Outcome::Recorded { how, .. } => format!("按{how}匹配"),
        Outcome::Ambiguous(firms) => format!("同名企业：{}", firms.iter().map(name).collect::<Vec<_>>().join("；")),
        Outcome::Unmatched(close) if close.is_empty() => "登记库中没有相近的名称".into(),
        Outcome::Unmatched(close) => format!(
            "相近：{}",
            close.iter().map(|(i, s)| format!("{}（{:.0}%）", name(i), s * 100.0)).collect::<Vec<_>>().join("；")
        ),
        Outcome::Invalid(why) => why.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_fold_and_dates_parse_in_the_forms_official_lists_use() {
        assert_eq!(fold("西安航天（集团）有限公司 "), "西安航天(集团)有限公司");
        assert_eq!(fold("ＡＢＣ　科技"), "ABC科技");
        for d in ["2024-03-01", "2024/3/1", "2024.3.1", "2024年3月1日", "20240301"] {
            assert_eq!(date_of(d).as_deref(), Some("2024-03-01"), "{d}");
        }
        assert_eq!(date_of("2024-02-30"), None);
        assert_eq!(date_of("三月"), None);
    }
}
