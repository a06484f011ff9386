//! Imports of lists that name firms, often by company name and with no
//! credit codes: `ladder designation import` (an official list, e.g. a
//! province's published 高新技术企业 list), `ladder indicators import` (a
//! year's figures) and `ladder member import` (an alliance roster). XLSX or
//! CSV files.
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

use crate::cli::client::{collect_pages, fail};
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
    outcome: Outcome,
}

/// Matches a row to the register.
fn match_row(register: &Register, name: &str, code: &str) -> Outcome {
    let folded = fold(name);
    if !code.is_empty() {
        let Ok(parsed) = CreditCode::parse(code) else {
            return Outcome::Invalid(format!("{code} is not a valid credit code"));
        };
        // A code is authoritative: it matches its own firm or none, and a
        // name that is neither that firm's current nor a former name is a
        // conflict for a person to settle, not a silent match.
        let Some(&i) = register.by_code.get(parsed.as_str()) else {
            return Outcome::Unmatched(if name.is_empty() { Vec::new() } else { register.closest(name) });
        };
        let known = |map: &HashMap<String, Vec<usize>>| map.get(&folded).is_some_and(|firms| firms.contains(&i));
        if !name.is_empty() && !known(&register.by_name) && !known(&register.by_former) {
            return Outcome::Invalid(format!(
                "代码与名称不符 the code is {} {}, not {name}",
                register.firms[i].0, register.firms[i].1
            ));
        }
        return Outcome::Matched { firm: i, how: "信用代码 code" };
    }
    // By name: a firm's current name or a former one; a name that several
    // firms have (as current or former names) is ambiguous.
    let current = register.by_name.get(&folded).map(Vec::as_slice).unwrap_or(&[]);
    let former = register.by_former.get(&folded).map(Vec::as_slice).unwrap_or(&[]);
    let mut firms: Vec<usize> = current.iter().chain(former).copied().collect();
    firms.sort_unstable();
    firms.dedup();
    match firms.as_slice() {
        [] => Outcome::Unmatched(register.closest(name)),
        [one] if current.contains(one) => Outcome::Matched { firm: *one, how: "名称 name" },
        [one] => Outcome::Matched { firm: *one, how: "曾用名 former name" },
        _ => Outcome::Ambiguous(firms),
    }
}

/// The request id of a row's write: the same row imported again replays
/// instead of writing twice.
fn request_id(parts: &[&str]) -> String {
    let digest = Sha256::digest(parts.join("|").as_bytes());
    let hex: String = digest.iter().take(16).map(|b| format!("{b:02x}")).collect();
    format!("import-{hex}")
}

/// What is imported: the target reads a row's own fields, says whether the
/// matched firm already holds them, and records them.
trait Target {
    /// A row's own fields.
    type Data;
    /// What the list holds, for the summary line (e.g. 高新技术企业).
    fn what(&self) -> String;
    /// The row's fields, or why the row is wrong.
    fn read(&self, record: &[String]) -> Result<Self::Data, String>;
    /// What makes two rows for the same firm the same entry (a second one
    /// is reported as a repeat, not written twice).
    fn key(&self, data: &Self::Data) -> String;
    /// Whether the firm already holds what the row says, and the state
    /// that answer was read from (it goes into the request id, so a write
    /// after that state changed is a new request, not a replay).
    async fn held(&mut self, code: &str, data: &Self::Data) -> Result<(bool, String), tonic::Status>;
    /// Records the row through the API; `id` makes it replay-safe.
    async fn write(&mut self, code: &str, data: &Self::Data, evidence: String, id: String)
        -> Result<(), tonic::Status>;
    /// Every field the write sends, for its request id.
    fn fields(&self, data: &Self::Data) -> String;
}

/// A cell of `record` in `column`, trimmed.
fn cell(record: &[String], column: Option<usize>) -> String {
    column.and_then(|c| record.get(c)).map(|v| v.trim().to_string()).unwrap_or_default()
}

/// The first column whose folded header is one of `words`.
fn column(header: &[String], words: &[&str]) -> Option<usize> {
    header.iter().position(|h| {
        let h = fold(h).to_lowercase();
        words.iter().any(|w| h == *w)
    })
}

/// The list file's header and rows, or the usage error.
fn read_list(file: &std::path::Path) -> Result<(Vec<String>, crate::cli::sync::Records), String> {
    let bytes = std::fs::read(file).map_err(|e| format!("cannot read {}: {e}", file.display()))?;
    let (records, _) = crate::cli::sync::read_table(bytes).map_err(|e| format!("{}: {e}", file.display()))?;
    let mut records = records.into_iter();
    let Some((_, header)) = records.next() else { return Err(format!("{} is empty", file.display())) };
    Ok((header, records.collect()))
}

/// The level argument as the proto's enum.
pub(crate) fn issuing_level(level: &str) -> Result<i32, String> {
    Ok(match level.trim().to_ascii_lowercase().as_str() {
        "" => 0,
        "national" => v1::IssuingLevel::National as i32,
        "provincial" => v1::IssuingLevel::Provincial as i32,
        "municipal" => v1::IssuingLevel::Municipal as i32,
        "district" => v1::IssuingLevel::District as i32,
        "other" => v1::IssuingLevel::Other as i32,
        other => return Err(format!("--level {other:?}: use national, provincial, municipal, district or other")),
    })
}

/// Designations of one kind (`ladder designation import`).
struct Designations {
    kind: crate::domain::ladder::DesignationKind,
    level: i32,
    authority: String,
    batch: String,
    valid_from: String,
    columns: [Option<usize>; 3],
    client: CultivationServiceClient<crate::cli::client::Intercepted>,
}

/// A designation row: certificate, first day, batch.
struct DesignationRow {
    certificate: String,
    valid_from: String,
    batch: String,
}

impl Target for Designations {
    type Data = DesignationRow;

    fn what(&self) -> String {
        self.kind.label_zh().to_string()
    }

    fn read(&self, record: &[String]) -> Result<DesignationRow, String> {
        let [certificate, date, batch] = self.columns;
        let valid_from = match cell(record, date) {
            d if d.is_empty() && self.valid_from.is_empty() => return Err("no 认定日期 and no --valid-from".into()),
            d if d.is_empty() => self.valid_from.clone(),
            d => date_of(&d).ok_or_else(|| format!("{d:?} is not a date"))?,
        };
        let batch = match cell(record, batch) {
            b if b.is_empty() => self.batch.clone(),
            b => b,
        };
        Ok(DesignationRow { certificate: cell(record, certificate), valid_from, batch })
    }

    fn key(&self, row: &DesignationRow) -> String {
        format!("{}|{}", row.certificate, row.valid_from)
    }

    fn fields(&self, row: &DesignationRow) -> String {
        format!(
            "{}|{}|{}|{}|{}|{}",
            self.kind.name(),
            row.certificate,
            row.valid_from,
            row.batch,
            self.authority,
            self.level
        )
    }

    /// Held: the firm has this kind with the same certificate number (or,
    /// without one, from the same day). The state: its designations of the
    /// kind.
    async fn held(&mut self, code: &str, row: &DesignationRow) -> Result<(bool, String), tonic::Status> {
        let request = v1::ListDesignationsRequest {
            parent: format!("enterprises/{code}"),
            filter: format!("kind = {}", self.kind.name()),
            page_size: 1000,
            ..Default::default()
        };
        let held = self.client.list_designations(request).await?.into_inner().designations;
        let state = held.iter().map(|d| format!("{}@{}", d.name, d.revision)).collect::<Vec<_>>().join(",");
        let holds = held.iter().any(|d| {
            if row.certificate.is_empty() {
                d.valid_from == row.valid_from
            } else {
                d.certificate_number == row.certificate
            }
        });
        Ok((holds, state))
    }

    async fn write(
        &mut self,
        code: &str,
        row: &DesignationRow,
        evidence: String,
        id: String,
    ) -> Result<(), tonic::Status> {
        let request = v1::CreateDesignationRequest {
            parent: format!("enterprises/{code}"),
            designation: Some(v1::Designation {
                kind: self.kind as i32,
                status: v1::DesignationStatus::Granted as i32,
                valid_from: row.valid_from.clone(),
                certificate_number: row.certificate.clone(),
                authority: self.authority.clone(),
                batch: row.batch.clone(),
                level: self.level,
                evidence,
                ..Default::default()
            }),
            request_id: id,
            ..Default::default()
        };
        self.client.create_designation(request).await.map(|_| ())
    }
}

/// Runs `ladder designation import`.
pub async fn import(a: ImportArgs) -> ExitCode {
    let kind = match parse_kind(&a.kind) {
        Ok(k) => k,
        Err(e) => return render::usage_error(e),
    };
    let level = match issuing_level(&a.level) {
        Ok(l) => l,
        Err(e) => return render::usage_error(e),
    };
    let valid_from = match a.valid_from.trim() {
        "" => String::new(),
        d => match date_of(d) {
            Some(d) => d,
            None => return render::usage_error(format!("--valid-from {d:?} is not a date YYYY-MM-DD")),
        },
    };
    let (header, rows) = match read_list(&a.file) {
        Ok(list) => list,
        Err(e) => return render::usage_error(e),
    };
    let columns = [
        column(&header, &["证书编号", "证书号", "证书号码", "编号", "certificate", "certificate_number"]),
        column(&header, &["认定日期", "认定时间", "发证日期", "发证时间", "日期", "valid_from", "date"]),
        column(&header, &["批次", "batch"]),
    ];
    if columns[1].is_none() && valid_from.is_empty() {
        return render::usage_error(format!(
            "{} has no 认定日期 column: give the first day the designations count with --valid-from",
            a.file.display()
        ));
    }
    let channel = match crate::cli::client::connect_or_exit(&a.client).await {
        Ok(c) => c,
        Err(code) => return code,
    };
    let target = Designations {
        kind,
        level,
        authority: a.authority.trim().to_string(),
        batch: a.batch.trim().to_string(),
        valid_from,
        columns,
        client: CultivationServiceClient::new(channel.clone()),
    };
    run(&a.file, &header, rows, a.apply, &a.client, channel, target).await
}

/// Arguments of `ladder indicators import`.
#[derive(Debug, clap::Args)]
pub struct IndicatorsImportArgs {
    /// The figures: XLSX or CSV with a name and/or credit-code column and
    /// figure columns (营业收入, 主营业务收入, 从业人员, 科技人员, 研发费用,
    /// 境内研发费用占比, 高新技术产品收入, 资产总额, 负债总额, 股权融资, 估值;
    /// money in 万元) and optionally 年度.
    file: PathBuf,
    /// The year of the figures (used when the file has no 年度 column).
    #[arg(long, default_value_t = 0)]
    year: i32,
    /// Record the matched rows (without it: a dry run that writes nothing).
    #[arg(long)]
    apply: bool,
    #[command(flatten)]
    client: ClientArgs,
}

/// The figure columns: header words → the field of `AnnualIndicators`.
const FIGURES: &[(&[&str], &str)] = &[
    (&["营业收入", "营业收入(万元)", "revenue"], "revenue"),
    (&["主营业务收入", "主营业务收入(万元)", "main_business_revenue"], "main_business_revenue"),
    (&["从业人员", "职工人数", "从业人数", "employees"], "employees"),
    (&["科技人员", "科技人员数", "tech_staff"], "tech_staff"),
    (&["研发费用", "研发费用(万元)", "rd_expense"], "rd_expense"),
    (&["境内研发费用占比", "rd_domestic_share"], "rd_domestic_share"),
    (&["高新技术产品收入", "高新技术产品(服务)收入", "high_tech_revenue"], "high_tech_revenue"),
    (&["资产总额", "资产总额(万元)", "total_assets"], "total_assets"),
    (&["负债总额", "负债总额(万元)", "total_liabilities"], "total_liabilities"),
    (&["股权融资", "股权融资(万元)", "equity_financing"], "equity_financing"),
    (&["估值", "估值(万元)", "valuation"], "valuation"),
];

/// A year's figures (`ladder indicators import`).
struct Figures {
    year: i32,
    year_column: Option<usize>,
    columns: Vec<(usize, &'static str)>,
    client: CultivationServiceClient<crate::cli::client::Intercepted>,
}

impl Figures {
    fn set(figures: &mut v1::AnnualIndicators, field: &str, value: f64) {
        let whole = value.round() as i64;
        match field {
            "revenue" => figures.revenue = Some(value),
            "main_business_revenue" => figures.main_business_revenue = Some(value),
            "employees" => figures.employees = Some(whole),
            "tech_staff" => figures.tech_staff = Some(whole),
            "rd_expense" => figures.rd_expense = Some(value),
            "rd_domestic_share" => figures.rd_domestic_share = Some(value),
            "high_tech_revenue" => figures.high_tech_revenue = Some(value),
            "total_assets" => figures.total_assets = Some(value),
            "total_liabilities" => figures.total_liabilities = Some(value),
            "equity_financing" => figures.equity_financing = Some(value),
            _ => figures.valuation = Some(value),
        }
    }
}

impl Target for Figures {
    type Data = (v1::AnnualIndicators, Vec<String>);

    fn what(&self) -> String {
        if self.year_column.is_some() {
            "年度指标".into()
        } else {
            format!("{} 年度指标", self.year)
        }
    }

    fn read(&self, record: &[String]) -> Result<Self::Data, String> {
        let year = match cell(record, self.year_column) {
            y if y.is_empty() => self.year,
            y => y.trim_end_matches('年').parse().map_err(|_| format!("{y:?} is not a year"))?,
        };
        if year == 0 {
            return Err("no 年度 and no --year".into());
        }
        let mut figures = v1::AnnualIndicators { year, ..Default::default() };
        let mut mask = Vec::new();
        for (c, field) in &self.columns {
            let text = cell(record, Some(*c)).replace([',', '，'], "");
            let text = text.trim_end_matches('%').trim();
            if text.is_empty() {
                continue;
            }
            let value: f64 = text.parse().map_err(|_| format!("{field}: {text:?} is not a number"))?;
            Self::set(&mut figures, field, value);
            mask.push((*field).to_string());
        }
        if mask.is_empty() {
            return Err("no figure in this row".into());
        }
        Ok((figures, mask))
    }

    fn key(&self, (figures, _): &Self::Data) -> String {
        figures.year.to_string()
    }

    fn fields(&self, (figures, mask): &Self::Data) -> String {
        format!("{figures:?}|{mask:?}")
    }

    /// Held: the stored year has every figure of the row, equal. The
    /// state: the stored year's etag.
    async fn held(&mut self, code: &str, (figures, mask): &Self::Data) -> Result<(bool, String), tonic::Status> {
        let name = format!("enterprises/{code}/indicators/{}", figures.year);
        let stored = match self.client.get_annual_indicators(v1::GetAnnualIndicatorsRequest { name }).await {
            Ok(r) => r.into_inner(),
            Err(s) if s.code() == tonic::Code::NotFound => return Ok((false, "none".into())),
            Err(s) => return Err(s),
        };
        let state = stored.etag.clone();
        let same = |a: Option<f64>, b: Option<f64>| match (a, b) {
            (Some(a), Some(b)) => (a - b).abs() < 1e-9,
            _ => false,
        };
        let holds = mask.iter().all(|field| match field.as_str() {
            "revenue" => same(stored.revenue, figures.revenue),
            "main_business_revenue" => same(stored.main_business_revenue, figures.main_business_revenue),
            "employees" => stored.employees.is_some() && stored.employees == figures.employees,
            "tech_staff" => stored.tech_staff.is_some() && stored.tech_staff == figures.tech_staff,
            "rd_expense" => same(stored.rd_expense, figures.rd_expense),
            "rd_domestic_share" => same(stored.rd_domestic_share, figures.rd_domestic_share),
            "high_tech_revenue" => same(stored.high_tech_revenue, figures.high_tech_revenue),
            "total_assets" => same(stored.total_assets, figures.total_assets),
            "total_liabilities" => same(stored.total_liabilities, figures.total_liabilities),
            "equity_financing" => same(stored.equity_financing, figures.equity_financing),
            _ => same(stored.valuation, figures.valuation),
        });
        Ok((holds, state))
    }

    async fn write(
        &mut self,
        code: &str,
        (figures, mask): &Self::Data,
        _evidence: String,
        id: String,
    ) -> Result<(), tonic::Status> {
        let mut figures = figures.clone();
        figures.name = format!("enterprises/{code}/indicators/{}", figures.year);
        let request = v1::UpdateAnnualIndicatorsRequest {
            indicators: Some(figures),
            update_mask: Some(prost_types::FieldMask { paths: mask.clone() }),
            request_id: id,
            ..Default::default()
        };
        self.client.update_annual_indicators(request).await.map(|_| ())
    }
}

/// Runs `ladder indicators import`.
pub async fn import_indicators(a: IndicatorsImportArgs) -> ExitCode {
    let (header, rows) = match read_list(&a.file) {
        Ok(list) => list,
        Err(e) => return render::usage_error(e),
    };
    let columns: Vec<(usize, &'static str)> =
        FIGURES.iter().filter_map(|(words, field)| column(&header, words).map(|c| (c, *field))).collect();
    if columns.is_empty() {
        return render::usage_error(format!(
            "{}: no figure column (营业收入, 从业人员, 研发费用…) among {header:?}",
            a.file.display()
        ));
    }
    let year_column = column(&header, &["年度", "年份", "year"]);
    if year_column.is_none() && a.year == 0 {
        return render::usage_error(format!("{} has no 年度 column: give the year with --year", a.file.display()));
    }
    let channel = match crate::cli::client::connect_or_exit(&a.client).await {
        Ok(c) => c,
        Err(code) => return code,
    };
    let target = Figures { year: a.year, year_column, columns, client: CultivationServiceClient::new(channel.clone()) };
    run(&a.file, &header, rows, a.apply, &a.client, channel, target).await
}

/// Arguments of `ladder member import`.
#[derive(Debug, clap::Args)]
pub struct RosterImportArgs {
    /// The roster: XLSX or CSV with a name and/or credit-code column, and
    /// optionally 角色/职务 (理事长单位, 副理事长单位, 常务理事单位, 理事单位,
    /// 会员单位, 秘书处) and 入会日期.
    file: PathBuf,
    /// The alliance's id.
    #[arg(long)]
    alliance: String,
    /// The role of rows without a 角色 column or value.
    #[arg(long, default_value = "MEMBER")]
    role: String,
    /// Record the matched rows (without it: a dry run that writes nothing).
    #[arg(long)]
    apply: bool,
    #[command(flatten)]
    client: ClientArgs,
}

/// An alliance's roster (`ladder member import`).
struct Roster {
    alliance: String,
    role: crate::domain::alliance::Role,
    role_column: Option<usize>,
    date_column: Option<usize>,
    client: crate::pb::v1::alliance_service_client::AllianceServiceClient<crate::cli::client::Intercepted>,
}

impl Target for Roster {
    type Data = (crate::domain::alliance::Role, String);

    fn what(&self) -> String {
        format!("联盟 {}", self.alliance)
    }

    fn read(&self, record: &[String]) -> Result<Self::Data, String> {
        let role = match cell(record, self.role_column) {
            r if r.is_empty() => self.role,
            r => crate::domain::alliance::Role::parse(&r).ok_or_else(|| format!("{r:?} is not a role"))?,
        };
        let date = match cell(record, self.date_column) {
            d if d.is_empty() => String::new(),
            d => date_of(&d).ok_or_else(|| format!("{d:?} is not a date"))?,
        };
        Ok((role, date))
    }

    fn key(&self, _: &Self::Data) -> String {
        // One membership per firm and alliance: a firm listed twice is a repeat.
        String::new()
    }

    fn fields(&self, (role, date): &Self::Data) -> String {
        format!("{}|{}|{date}", self.alliance, role.name())
    }

    /// Held: the firm is an active member already. The state: the
    /// membership's etag.
    async fn held(&mut self, code: &str, _: &Self::Data) -> Result<(bool, String), tonic::Status> {
        let name = format!("alliances/{}/memberships/{code}", self.alliance);
        match self.client.get_membership(v1::GetMembershipRequest { name }).await {
            Ok(m) => {
                let m = m.into_inner();
                Ok((m.state == v1::MembershipState::Active as i32, m.etag))
            }
            Err(s) if s.code() == tonic::Code::NotFound => Ok((false, "none".into())),
            Err(s) => Err(s),
        }
    }

    async fn write(
        &mut self,
        code: &str,
        (role, date): &Self::Data,
        evidence: String,
        id: String,
    ) -> Result<(), tonic::Status> {
        let request = v1::CreateMembershipRequest {
            parent: format!("alliances/{}", self.alliance),
            credit_code: code.to_string(),
            membership: Some(v1::Membership {
                role: *role as i32,
                join_date: date.clone(),
                note: evidence,
                ..Default::default()
            }),
            request_id: id,
            ..Default::default()
        };
        self.client.create_membership(request).await.map(|_| ())
    }
}

/// Runs `ladder member import`.
pub async fn import_roster(a: RosterImportArgs) -> ExitCode {
    let Some(role) = crate::domain::alliance::Role::parse(&a.role) else {
        return render::usage_error(format!("--role {:?} is not a role", a.role));
    };
    let (header, rows) = match read_list(&a.file) {
        Ok(list) => list,
        Err(e) => return render::usage_error(e),
    };
    let channel = match crate::cli::client::connect_or_exit(&a.client).await {
        Ok(c) => c,
        Err(code) => return code,
    };
    let target = Roster {
        alliance: a.alliance.trim().to_string(),
        role,
        role_column: column(&header, &["角色", "职务", "会员类别", "role"]),
        date_column: column(&header, &["入会日期", "加入日期", "入会时间", "join_date", "date"]),
        client: crate::pb::v1::alliance_service_client::AllianceServiceClient::new(channel.clone()),
    };
    run(&a.file, &header, rows, a.apply, &a.client, channel, target).await
}

/// The common part of every import: match each row, check what is held,
/// record on `--apply`, report.
async fn run<T: Target>(
    file: &std::path::Path,
    header: &[String],
    rows: crate::cli::sync::Records,
    apply: bool,
    client: &ClientArgs,
    channel: crate::cli::client::Intercepted,
    mut target: T,
) -> ExitCode {
    let name_column = column(
        header,
        &["企业名称", "单位名称", "公司名称", "会员单位", "名称", "企业", "单位", "name", "display_name"],
    );
    let code_column = column(header, &["统一社会信用代码", "社会信用代码", "信用代码", "credit_code", "code"]);
    if name_column.is_none() && code_column.is_none() {
        return render::usage_error(format!(
            "{}: no name column (企业名称/单位名称/名称) and no credit-code column (统一社会信用代码) among {header:?}",
            file.display()
        ));
    }
    // The store's revision when the run starts goes into every request id:
    // a run repeated on an unchanged store replays, and after any change
    // (a designation deleted by mistake, figures corrected) it writes anew.
    let mut changes = crate::pb::v1::change_service_client::ChangeServiceClient::new(channel.clone());
    let head = match changes.list_changes(v1::ListChangesRequest { page_size: 1, ..Default::default() }).await {
        Ok(r) => r.into_inner().head_revision,
        Err(status) => return fail(client.json, &status),
    };
    let enterprises = EnterpriseServiceClient::new(channel);
    let pages = collect_pages(usize::MAX, |page_token| {
        let mut c = enterprises.clone();
        let request = v1::ListEnterprisesRequest { page_size: 1000, page_token, ..Default::default() };
        async move { c.list_enterprises(request).await.map(|r| r.into_inner()).map(|r| (r.enterprises, r.next_page_token)) }
    });
    let register = match pages.await {
        Ok((firms, _)) => Register::new(firms),
        Err(status) => return fail(client.json, &status),
    };
    let mut list: Vec<(Row, Option<T::Data>, String)> = Vec::with_capacity(rows.len());
    // The first row for each firm and entry; a later one is a repeat.
    let mut first: HashMap<(usize, String), usize> = HashMap::new();
    for (line, record) in &rows {
        let (name, code) = (cell(record, name_column), cell(record, code_column).to_uppercase());
        if name.is_empty() && code.is_empty() {
            continue;
        }
        let (data, mut outcome) = match target.read(record) {
            Ok(data) => (Some(data), match_row(&register, &name, &code)),
            Err(why) => (None, Outcome::Invalid(why)),
        };
        let mut state = String::new();
        if let (Outcome::Matched { firm, how }, Some(d)) = (&outcome, &data) {
            if let Some(earlier) = first.get(&(*firm, target.key(d))) {
                outcome = Outcome::Invalid(format!("与第 {earlier} 行重复 repeats row {earlier}"));
            } else {
                first.insert((*firm, target.key(d)), *line);
                match target.held(&register.firms[*firm].0, d).await {
                    Ok((true, _)) => outcome = Outcome::Recorded { firm: *firm, how },
                    Ok((false, observed)) => state = observed,
                    Err(status) => return fail(client.json, &status),
                }
            }
        }
        list.push((Row { line: *line, name, code, outcome }, data, state));
    }

    let count = |f: fn(&Outcome) -> bool| list.iter().filter(|(r, _, _)| f(&r.outcome)).count();
    let matched = count(|o| matches!(o, Outcome::Matched { .. }));
    let recorded = count(|o| matches!(o, Outcome::Recorded { .. }));
    let ambiguous = count(|o| matches!(o, Outcome::Ambiguous(_)));
    let unmatched = count(|o| matches!(o, Outcome::Unmatched(_)));
    let invalid = count(|o| matches!(o, Outcome::Invalid(_)));
    let mut written = 0usize;
    let mut failed = Vec::new();
    if apply {
        for (row, data, state) in &list {
            let (Outcome::Matched { firm, .. }, Some(data)) = (&row.outcome, data) else { continue };
            let evidence = format!("{} 第 {} 行", file.display(), row.line);
            let code = &register.firms[*firm].0;
            // Everything the request says, the state it was decided on and
            // the store's revision at the start: the same row against the
            // same store replays, anything else is a new request.
            let id = request_id(&[code, &target.fields(data), &evidence, state, &head.to_string()]);
            match target.write(code, data, evidence, id).await {
                Ok(()) => written += 1,
                Err(status) => failed.push((row.line, render::status_error(&status))),
            }
        }
    }
    let firm_of = |r: &Row| match &r.outcome {
        Outcome::Matched { firm, .. } | Outcome::Recorded { firm, .. } => Some(register.firms[*firm].0.clone()),
        _ => None,
    };
    if client.json {
        let rows: Vec<serde_json::Value> = list
            .iter()
            .map(|(r, _, _)| {
                serde_json::json!({"row": r.line, "name": r.name, "credit_code": firm_of(r), "outcome": r.outcome.label(),
                                   "detail": detail(&register, &r.outcome)})
            })
            .collect();
        println!(
            "{}",
            serde_json::json!({"list": target.what(), "applied": apply, "matched": matched, "already_recorded": recorded,
                               "ambiguous": ambiguous, "unmatched": unmatched, "invalid": invalid,
                               "written": written, "failed": failed.len(), "rows": rows})
        );
    } else {
        println!(
            "{}: {} rows for {}: {matched} to record, {recorded} already recorded, {ambiguous} ambiguous, \
             {unmatched} unmatched, {invalid} invalid",
            file.display(),
            list.len(),
            target.what()
        );
        // On a terminal the rows that need a person; in a file, every row.
        let everything = crate::cli::export::active();
        let shown: Vec<Vec<String>> = list
            .iter()
            .map(|(r, _, _)| r)
            .filter(|r| everything || !matches!(r.outcome, Outcome::Matched { .. } | Outcome::Recorded { .. }))
            .map(|r| {
                vec![
                    r.line.to_string(),
                    r.name.clone(),
                    firm_of(r).unwrap_or_else(|| r.code.clone()),
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
        if apply {
            println!("recorded {written}; {} failed", failed.len());
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
