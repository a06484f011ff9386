//! `ladder sync FILE` and `ladder generate`: CSV files in and out, as Excel in
//! China writes them (UTF-8 with or without BOM, or GBK), with Chinese or
//! English headers.

use std::io::{IsTerminal as _, Write as _};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use crate::cli::client::{collect_pages, connect_with, fail, CALL_TIMEOUT};
use crate::cli::{render, table, ClientArgs};
use crate::pb::v1;
use crate::pb::v1::sync_enterprises_request::Message;
use crate::pb::v1::sync_service_client::SyncServiceClient;

/// Column names accepted in a header row (Chinese or English) and the
/// enterprise field each fills.
const COLUMNS: &[(&[&str], &str)] = &[
    (&["统一社会信用代码", "信用代码", "credit_code"], "credit_code"),
    (&["企业名称", "名称", "单位名称", "display_name", "name"], "display_name"),
    (&["行业代码", "所属行业", "industry_code"], "industry_code"),
    (&["注册地", "注册地区划", "行政区划代码", "region_code"], "region_code"),
    (&["成立日期", "founding_date"], "founding_date"),
    (&["注册地址", "地址", "address"], "address"),
    (&["法定代表人", "legal_representative"], "legal_representative"),
    (&["片区", "招商片区", "promotion_zone", "zone"], "promotion_zone"),
    (&["服务专员", "service_commissioner"], "service_commissioner"),
    (&["标签", "tags"], "tags"),
    (&["网站", "website"], "website"),
    (&["备注", "notes"], "notes"),
];

/// Columns ladder's own exports carry for reading only (the firm list of the
/// web workspace): a workbook exported, edited and synced back skips them.
const READ_ONLY_COLUMNS: &[&str] = &["梯度", "行业名称", "片区名称", "更新时间 (UTC+8)", "登记时间 (UTC+8)"];

/// Decodes a file as UTF-8 (dropping a BOM) or, failing that, as GBK.
pub fn decode(bytes: &[u8]) -> Result<(String, &'static str), String> {
    let body = bytes.strip_prefix(&[0xEF, 0xBB, 0xBF]).unwrap_or(bytes);
    let first_bad = match std::str::from_utf8(body) {
        Ok(text) => return Ok((text.to_string(), if body.len() < bytes.len() { "UTF-8 with BOM" } else { "UTF-8" })),
        Err(e) => e.valid_up_to(),
    };
    // A UTF-8 file with a damaged byte must not be read as GBK (every name
    // would turn to mojibake): GBK text is almost never valid UTF-8, so many
    // valid multi-byte characters against few broken ones means damage.
    let lossy = String::from_utf8_lossy(body);
    let broken = lossy.chars().filter(|c| *c == char::REPLACEMENT_CHARACTER).count();
    let valid = lossy.chars().filter(|c| !c.is_ascii() && *c != char::REPLACEMENT_CHARACTER).count();
    if valid >= 4 && valid > broken * 10 {
        let line = body[..first_bad].iter().filter(|b| **b == b'\n').count() + 1;
        return Err(format!("the file is UTF-8 but damaged (first on line {line}): fix it or save it again"));
    }
    let (text, _, had_errors) = encoding_rs::GBK.decode(bytes);
    if had_errors {
        return Err("the file is neither UTF-8 nor GBK: save it as CSV UTF-8 or CSV (GBK) from Excel".into());
    }
    Ok((text.into_owned(), "GBK"))
}

/// Rows of a table, each with its line (or sheet row) number.
pub type Records = Vec<(usize, Vec<String>)>;

/// Reads a table from a file's bytes: an Excel workbook (XLSX, its first
/// sheet) or CSV text in UTF-8 or GBK. Each record comes with its line (or
/// sheet row) number; the second value says what the file was.
pub fn read_table(bytes: Vec<u8>) -> Result<(Records, &'static str), String> {
    if bytes.starts_with(b"PK\x03\x04") {
        return read_xlsx(bytes).map(|rows| (rows, "XLSX"));
    }
    let (text, encoding) = decode(&bytes)?;
    Ok((parse_csv(&text)?, encoding))
}

/// Largest part of an XLSX workbook (a sheet, its shared strings), unpacked.
pub const MAX_XLSX_PART_BYTES: u64 = 256 << 20;
/// Most columns read from a sheet (a sync file has about a dozen).
pub const MAX_XLSX_COLUMNS: u32 = 1000;
/// Excel's own last row.
pub const MAX_XLSX_ROWS: u32 = 1 << 20;
/// Most text held from a sheet's cells, in bytes.
pub const MAX_XLSX_TEXT_BYTES: usize = 512 << 20;

/// The size each part of a ZIP file says it unpacks to, from its central
/// directory (ZIP64 sizes included), without unpacking anything.
fn zip_declared_sizes(bytes: &[u8]) -> Result<Vec<(String, u64)>, String> {
    let u16_at = |at: usize| bytes.get(at..at + 2).map(|b| u64::from(u16::from_le_bytes([b[0], b[1]])));
    let u32_at = |at: usize| bytes.get(at..at + 4).map(|b| u64::from(u32::from_le_bytes([b[0], b[1], b[2], b[3]])));
    let broken = || "not a readable XLSX workbook: its ZIP directory is damaged".to_string();
    // The end-of-directory record is in the last 64 KiB + 22 bytes.
    let from = bytes.len().saturating_sub(65_557);
    let end = (from..bytes.len().saturating_sub(21))
        .rev()
        .find(|&at| bytes[at..].starts_with(b"PK\x05\x06"))
        .ok_or_else(broken)?;
    let entries = u16_at(end + 10).ok_or_else(broken)?;
    let mut at = usize::try_from(u32_at(end + 16).ok_or_else(broken)?).map_err(|_| broken())?;
    let mut out = Vec::new();
    for _ in 0..entries {
        if !bytes.get(at..).is_some_and(|b| b.starts_with(b"PK\x01\x02")) {
            return Err(broken());
        }
        let mut size = u32_at(at + 24).ok_or_else(broken)?;
        let (name_len, extra_len, comment_len) = (
            u16_at(at + 28).ok_or_else(broken)? as usize,
            u16_at(at + 30).ok_or_else(broken)? as usize,
            u16_at(at + 32).ok_or_else(broken)? as usize,
        );
        let name = bytes.get(at + 46..at + 46 + name_len).ok_or_else(broken)?;
        if size == u64::from(u32::MAX) {
            // ZIP64: the real size is the first value of the 0x0001 extra field.
            let mut x = at + 46 + name_len;
            let extra_end = x + extra_len;
            size = u64::MAX;
            while x + 4 <= extra_end {
                let (id, len) = (u16_at(x).ok_or_else(broken)?, u16_at(x + 2).ok_or_else(broken)? as usize);
                if id == 1 {
                    let v = bytes.get(x + 4..x + 12).ok_or_else(broken)?;
                    size = u64::from_le_bytes(v.try_into().map_err(|_| broken())?);
                    break;
                }
                x += 4 + len;
            }
        }
        out.push((String::from_utf8_lossy(name).into_owned(), size));
        at += 46 + name_len + extra_len + comment_len;
    }
    Ok(out)
}

/// The first sheet of an XLSX workbook as text cells. Numbers keep no
/// trailing `.0` (a region 610116 stays `610116`), and dates become
/// `YYYY-MM-DD`.
///
/// Read with bounded memory: parts that unpack to more than
/// [`MAX_XLSX_PART_BYTES`] are refused before anything is unpacked, a sheet
/// declaring more than [`MAX_XLSX_COLUMNS`] columns or [`MAX_XLSX_ROWS`]
/// rows is refused, and the sheet is read cell by cell (only cells with a
/// value are held, up to [`MAX_XLSX_TEXT_BYTES`]), never as a dense grid
/// of its declared size: one cell at XFD1048576 would be 17 billion.
fn read_xlsx(bytes: Vec<u8>) -> Result<Records, String> {
    use calamine::{DataRef, Reader as _};
    for (name, size) in zip_declared_sizes(&bytes)? {
        if size > MAX_XLSX_PART_BYTES {
            return Err(format!(
                "the workbook's part {:?} unpacks to {} MiB, more than {} MiB: save the sheet as CSV instead",
                render::clipped(&name),
                size >> 20,
                MAX_XLSX_PART_BYTES >> 20
            ));
        }
    }
    let mut book: calamine::Xlsx<_> = calamine::open_workbook_from_rs(std::io::Cursor::new(bytes))
        .map_err(|e| format!("not a readable XLSX workbook: {e}"))?;
    let first = book.sheet_names().into_iter().next().ok_or("the workbook has no sheet")?;
    let mut cells = book.worksheet_cells_reader(&first).map_err(|e| format!("cannot read the first sheet: {e}"))?;
    let declared = cells.dimensions();
    let too_big = |row: u32, col: u32| {
        format!(
            "the sheet reaches cell {}{} (column {}, row {}): at most {MAX_XLSX_COLUMNS} columns and \
             {MAX_XLSX_ROWS} rows are read; delete what lies beyond the table",
            column_letters(col),
            u64::from(row) + 1,
            u64::from(col) + 1,
            u64::from(row) + 1
        )
    };
    if declared.end.1 >= MAX_XLSX_COLUMNS || declared.end.0 >= MAX_XLSX_ROWS {
        return Err(too_big(declared.end.0, declared.end.1));
    }
    let cell = |c: &DataRef| match c {
        DataRef::Empty => String::new(),
        DataRef::String(s) | DataRef::DurationIso(s) => s.trim().to_string(),
        DataRef::SharedString(s) => s.trim().to_string(),
        DataRef::DateTimeIso(s) => s.get(..10).unwrap_or(s).to_string(),
        DataRef::Int(i) => i.to_string(),
        DataRef::Float(f) if f.fract() == 0.0 && f.abs() < 1e15 => format!("{}", *f as i64),
        DataRef::Float(f) => f.to_string(),
        DataRef::Bool(b) => b.to_string(),
        // Excel counts days from 1899-12-30; 25569 is 1970-01-01.
        DataRef::DateTime(d) => {
            let (y, m, day) = crate::domain::time::civil_from_days(d.as_f64().floor() as i64 - 25_569);
            format!("{y:04}-{m:02}-{day:02}")
        }
        DataRef::Error(e) => format!("#{e:?}"),
    };
    // Rows by their sheet row, each holding only its cells with a value.
    let mut rows: std::collections::BTreeMap<u32, Vec<(u32, String)>> = std::collections::BTreeMap::new();
    let mut held = 0usize;
    while let Some(c) = cells.next_cell().map_err(|e| format!("cannot read the first sheet: {e}"))? {
        let (row, col) = c.get_position();
        let text = cell(c.get_value());
        if text.is_empty() {
            continue;
        }
        if col >= MAX_XLSX_COLUMNS || row >= MAX_XLSX_ROWS {
            return Err(too_big(row, col));
        }
        held += text.len() + 32;
        if held > MAX_XLSX_TEXT_BYTES {
            return Err(format!(
                "the sheet holds more than {} MiB of text: save it as CSV, or split it",
                MAX_XLSX_TEXT_BYTES >> 20
            ));
        }
        rows.entry(row).or_default().push((col, text));
    }
    Ok(rows
        .into_iter()
        .map(|(row, values)| {
            let width = values.iter().map(|(col, _)| *col as usize + 1).max().unwrap_or(0);
            let mut record = vec![String::new(); width];
            for (col, text) in values {
                record[col as usize] = text;
            }
            (row as usize + 1, record)
        })
        .collect())
}

/// Excel's letters for a 0-based column (0 → A, 16383 → XFD).
fn column_letters(col: u32) -> String {
    let mut n = u64::from(col) + 1;
    let mut letters = Vec::new();
    while n > 0 {
        let rem = ((n - 1) % 26) as u8;
        letters.push(char::from(b'A' + rem));
        n = (n - 1) / 26;
    }
    letters.iter().rev().collect()
}

/// Splits CSV text into records (RFC 4180: quoted fields, doubled quotes,
/// CRLF, LF or CR line ends). Each record comes with its line number.
pub fn parse_csv(text: &str) -> Result<Vec<(usize, Vec<String>)>, String> {
    let mut records = Vec::new();
    let mut field = String::new();
    let mut record: Vec<String> = Vec::new();
    let mut quoted = false;
    let mut line = 1;
    let mut start_line = 1;
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match (quoted, c) {
            (true, '"') if chars.peek() == Some(&'"') => {
                chars.next();
                field.push('"');
            }
            (true, '"') => quoted = false,
            (true, c) => {
                if c == '\n' {
                    line += 1;
                }
                field.push(c);
            }
            (false, '"') if field.is_empty() => quoted = true,
            (false, ',') => record.push(std::mem::take(&mut field)),
            // CRLF, LF, or a bare CR (old Mac Excel) ends a line.
            (false, '\r') if chars.peek() == Some(&'\n') => {}
            (false, '\r' | '\n') => {
                record.push(std::mem::take(&mut field));
                if record.iter().any(|f| !f.trim().is_empty()) {
                    records.push((start_line, std::mem::take(&mut record)));
                }
                record.clear();
                line += 1;
                start_line = line;
            }
            (false, c) => field.push(c),
        }
    }
    if quoted {
        return Err(format!("line {start_line}: a quoted field is not closed"));
    }
    record.push(field);
    if record.iter().any(|f| !f.trim().is_empty()) {
        records.push((start_line, record));
    }
    Ok(records)
}

/// Maps header names to enterprise fields; unknown names are an error, and
/// so are two columns filling the same field (which one should win?).
fn columns(header: &[String]) -> Result<Vec<&'static str>, String> {
    let fields = header
        .iter()
        .map(|name| {
            let name = name.trim();
            // Excel often leaves trailing empty columns: they carry nothing;
            // ladder's own read-only columns are skipped.
            if name.is_empty() || READ_ONLY_COLUMNS.contains(&name) {
                return Ok("");
            }
            COLUMNS.iter().find(|(names, _)| names.contains(&name)).map(|(_, field)| *field).ok_or_else(|| {
                let known: Vec<&str> = COLUMNS.iter().map(|(names, _)| names[0]).collect();
                format!("unknown column {name:?} (known: {})", known.join(", "))
            })
        })
        .collect::<Result<Vec<_>, _>>()?;
    for (i, field) in fields.iter().enumerate().filter(|(_, f)| !f.is_empty()) {
        if let Some(j) = fields[..i].iter().position(|f| f == field) {
            return Err(format!(
                "columns {} {:?} and {} {:?} both fill {field}: keep one of them",
                j + 1,
                header[j].trim(),
                i + 1,
                header[i].trim()
            ));
        }
    }
    Ok(fields)
}

/// Refuses a record with a non-empty cell beyond the header's columns (a
/// shifted row, or a value the file would silently drop).
fn check_width(header_len: usize, rows: &[(usize, Vec<String>)]) -> Result<(), String> {
    for (line, record) in rows {
        if let Some(extra) = record.iter().skip(header_len).position(|cell| !cell.trim().is_empty()) {
            return Err(format!(
                "line {line}: cell {} is beyond the header's {header_len} columns (the row has {} cells): \
                 name the column or remove the value",
                header_len + extra + 1,
                record.len()
            ));
        }
    }
    Ok(())
}

/// A sync file read and checked: its records (the header first), the field
/// each column fills, and what the file was (XLSX, UTF-8, GBK).
pub struct SyncFile {
    /// Every record, the header row first, each with its line number.
    pub records: Records,
    /// The enterprise field each column fills (`""`: an unnamed empty column).
    pub columns: Vec<&'static str>,
    /// What the file was.
    pub encoding: &'static str,
}

impl SyncFile {
    /// Reads a sync file (XLSX or CSV in UTF-8 or GBK) and checks its shape:
    /// known, distinct column names, a credit-code column, no cell beyond
    /// the header, and at least one data row. The same checks serve
    /// `ladder sync` and the web workspace's upload.
    pub fn read(bytes: Vec<u8>) -> Result<Self, String> {
        let (records, encoding) = read_table(bytes)?;
        let Some(((_, header), rows)) = records.split_first() else {
            return Err("the file is empty".into());
        };
        let columns = columns(header)?;
        if !columns.contains(&"credit_code") {
            return Err("no 统一社会信用代码 / credit_code column".into());
        }
        check_width(header.len(), rows)?;
        // An empty run would read as a sync that found nothing to do (and, in
        // full mode, report every firm of the source as missing).
        if rows.is_empty() {
            return Err(
                "the file has a header row but no data rows: nothing to sync (was the export cut short?)".into()
            );
        }
        Ok(Self { records, columns, encoding })
    }

    /// The data rows as sync rows, in file order.
    pub fn rows(&self) -> impl Iterator<Item = v1::SyncRow> + '_ {
        self.records.iter().skip(1).map(|(line, record)| to_row(&self.columns, *line, record))
    }
}

/// One CSV record as a sync row.
fn to_row(columns: &[&'static str], line: usize, record: &[String]) -> v1::SyncRow {
    let mut e = v1::Enterprise::default();
    let mut fields = Vec::new();
    for (field, value) in columns.iter().zip(record) {
        let value = value.trim();
        // A cell `csv_line` protected from Excel (`'=…`) reads as it was.
        let value = match value.strip_prefix('\'') {
            Some(rest) if rest.starts_with(FORMULA_STARTS) => rest,
            _ => value,
        };
        if *field == "credit_code" {
            e.credit_code = value.to_string();
            continue;
        }
        if value.is_empty() {
            continue;
        }
        match *field {
            "display_name" => e.display_name = value.into(),
            "industry_code" => e.industry_code = value.into(),
            "region_code" => e.region_code = value.into(),
            "founding_date" => e.founding_date = value.replace('/', "-"),
            "address" => e.address = value.into(),
            "legal_representative" => e.legal_representative = value.into(),
            "promotion_zone" => e.promotion_zone = value.into(),
            "service_commissioner" => e.service_commissioner = value.into(),
            "tags" => {
                e.tags =
                    value.split([';', '；', '、']).map(|t| t.trim().to_string()).filter(|t| !t.is_empty()).collect()
            }
            "website" => e.website = value.into(),
            "notes" => e.notes = value.into(),
            _ => continue,
        }
        fields.push(field.to_string());
    }
    v1::SyncRow { row_number: i64::try_from(line).unwrap_or(i64::MAX), enterprise: Some(e), fields, indicators: None }
}

/// Failed rows as a table: the machine reason, then the description
/// without the field name it repeats.
fn failure_table(failures: &[v1::SyncFailure]) -> String {
    let rows: Vec<Vec<String>> = failures
        .iter()
        .map(|f| {
            let problem = f.description.strip_prefix(&format!("{}: ", f.field)).unwrap_or(&f.description);
            vec![
                f.row_number.to_string(),
                f.credit_code.clone(),
                f.field.clone(),
                f.reason.clone(),
                problem.to_string(),
            ]
        })
        .collect();
    table::render(&["行 ROW", "信用代码 CODE", "字段 FIELD", "原因 REASON", "问题 PROBLEM"], &rows)
}

/// Runs `ladder sync FILE`.
pub async fn sync(
    file: PathBuf,
    source: String,
    dry_run: bool,
    full: bool,
    errors: Option<PathBuf>,
    args: ClientArgs,
) -> ExitCode {
    let bytes = match std::fs::read(&file) {
        Ok(b) => b,
        Err(e) => return render::usage_error(format!("cannot read {}: {e}", file.display())),
    };
    let file_rows = match SyncFile::read(bytes) {
        Ok(f) => f,
        Err(e) => return render::usage_error(format!("{}: {e}", file.display())),
    };
    let (records, columns, encoding) = (std::sync::Arc::new(file_rows.records), file_rows.columns, file_rows.encoding);
    let (header, rows) = (&records[0].1, &records[1..]);
    // A large file streams for minutes: no per-call time limit.
    let mut client = match connect_with(&args, None).await {
        Ok(c) => SyncServiceClient::new(c),
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::FAILURE;
        }
    };
    eprintln!("{}: {} rows, {encoding}", file.display(), rows.len());

    // Rows go out through a small channel, so the file streams with backpressure.
    let (tx, rx) = tokio::sync::mpsc::channel::<v1::SyncEnterprisesRequest>(1024);
    let mode = if full { v1::SyncMode::Full } else { v1::SyncMode::Upsert } as i32;
    let header_message =
        v1::SyncEnterprisesRequest { message: Some(Message::Header(v1::SyncHeader { source, mode, dry_run })) };
    // Rows are converted as they are sent, so only the parsed file is held.
    let total = rows.len();
    let shared = std::sync::Arc::clone(&records);
    let columns_to_send = columns.clone();
    let feeder = tokio::spawn(async move {
        if tx.send(header_message).await.is_err() {
            return;
        }
        let mut progress = crate::cli::progress::Progress::new("sent", "rows", total);
        for (sent, (line, record)) in shared.iter().skip(1).enumerate() {
            let message =
                v1::SyncEnterprisesRequest { message: Some(Message::Row(to_row(&columns_to_send, *line, record))) };
            if tx.send(message).await.is_err() {
                return;
            }
            progress.tick(sent + 1);
        }
        progress.finish(total);
    });
    let started = Instant::now();
    let result = client.sync_enterprises(tokio_stream::wrappers::ReceiverStream::new(rx)).await;
    let _ = feeder.await;
    let run = match result {
        Ok(r) => r.into_inner(),
        Err(status) => return fail(args.json, &status),
    };
    let seconds = started.elapsed().as_secs_f64();
    if args.json {
        let mut out = render::sync_run_json(&run);
        out["seconds"] = serde_json::json!(seconds);
        println!("{out}");
    } else {
        let rate = run.rows as f64 / seconds.max(0.001);
        let title = if run.dry_run {
            "dry run (nothing written)".to_string()
        } else if run.created + run.updated == 0 {
            format!("nothing written ({} rows already recorded as they are)", run.unchanged)
        } else {
            format!("{} firms created, {} updated, {} already recorded", run.created, run.updated, run.unchanged)
        };
        println!("{}: {} rows in {seconds:.1}s ({rate:.0} rows/s), {title}", run.name, run.rows);
        print!(
            "{}",
            table::render(
                &["新增 CREATED", "更新 UPDATED", "未变 UNCHANGED", "失败 FAILED", "来源缺失 MISSING"],
                &[vec![
                    run.created.to_string(),
                    run.updated.to_string(),
                    run.unchanged.to_string(),
                    run.failed.to_string(),
                    run.missing_from_source.to_string()
                ]],
            )
        );
        if !run.failures.is_empty() {
            println!();
            print!("{}", failure_table(&run.failures[..run.failures.len().min(20)]));
            if run.failures.len() > 20 {
                println!("… {} more (see --errors or `--json`)", run.failed - 20);
            }
        }
    }
    if let (Some(path), 0) = (&errors, run.failed) {
        // Nothing to write: an empty file (or a stale one from an earlier
        // run, left as it is) must not read as this run's failures.
        eprintln!("no rows failed: {} not written", path.display());
    } else if let Some(path) = errors {
        // Every failed row, paged from the server when there are more than
        // the run record carries.
        let mut all = run.failures.clone();
        if run.failed > i64::try_from(all.len()).unwrap_or(i64::MAX) {
            let pages = collect_pages(usize::MAX, |page_token| {
                let mut c = client.clone();
                let request = v1::ListSyncFailuresRequest { parent: run.name.clone(), page_size: 10_000, page_token };
                async move {
                    c.list_sync_failures(request).await.map(|r| r.into_inner()).map(|r| (r.failures, r.next_page_token))
                }
            });
            match pages.await {
                Ok((every, _)) => all = every,
                Err(status) => eprintln!(
                    "error: reading the failed rows (writing the first {} only): {}",
                    all.len(),
                    render::status_error(&status)
                ),
            }
        }
        let failed: std::collections::HashMap<i64, &v1::SyncFailure> = all.iter().map(|f| (f.row_number, f)).collect();
        let mut out = String::from("\u{feff}");
        out.push_str(&csv_line(header.iter().map(String::as_str).chain(["错误字段 field", "错误原因 problem"])));
        for (line, record) in rows {
            if let Some(f) = failed.get(&i64::try_from(*line).unwrap_or(-1)) {
                out.push_str(&csv_line(
                    record.iter().map(String::as_str).chain([f.field.as_str(), f.description.as_str()]),
                ));
            }
        }
        if let Err(e) = std::fs::write(&path, out) {
            eprintln!("error: cannot write {}: {e}", path.display());
            return ExitCode::FAILURE;
        }
        eprintln!("failed rows with their reasons: {}", path.display());
        let kept = i64::try_from(all.len()).unwrap_or(i64::MAX);
        if run.failed > kept {
            eprintln!(
                "warning: {} failed rows are not in {} (a dry run keeps only its first {kept}; run without \
                 --dry-run, or fix these and run again, to see the rest)",
                run.failed - kept,
                path.display()
            );
        }
    }
    if run.failed > 0 {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}

/// One CSV line. A cell Excel would read as a formula (starting with `=`,
/// `+`, `-`, `@`, a tab or a carriage return) gets a leading `'`, which
/// Excel shows as text and [`to_row`] removes when the file is read back.
pub(crate) fn csv_line<'a>(fields: impl Iterator<Item = &'a str>) -> String {
    let quoted: Vec<String> = fields
        .map(|f| {
            // A number (-12, -3.5%) is not a formula: it stays a number.
            let number = f.trim_end_matches('%').parse::<f64>().is_ok();
            let f = if f.starts_with(FORMULA_STARTS) && !number { format!("'{f}") } else { f.to_string() };
            if f.contains([',', '"', '\n', '\r']) {
                format!("\"{}\"", f.replace('"', "\"\""))
            } else {
                f
            }
        })
        .collect();
    format!("{}\r\n", quoted.join(","))
}

/// First characters that make a spreadsheet cell a formula (CSV injection).
const FORMULA_STARTS: [char; 6] = ['=', '+', '-', '@', '\t', '\r'];

/// Writes `n` realistic firms as CSV (UTF-8 with BOM) to stdout: valid credit
/// codes of Xi'an offices, the zone's industries, zones and tags
/// ([`crate::sample::firm`]).
pub fn generate(n: u64, seed: u64) -> ExitCode {
    let mut rng = crate::sample::Rng::new(seed);
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    let mut write = |line: String| out.write_all(line.as_bytes());
    if write("\u{feff}统一社会信用代码,企业名称,行业代码,注册地,成立日期,片区,标签\r\n".into()).is_err()
    {
        return ExitCode::FAILURE;
    }
    for i in 0..n {
        let Some(e) = crate::sample::firm(&mut rng, i) else { continue };
        let tags = e.tags.join(";");
        let fields = [
            &e.credit_code,
            &e.display_name,
            &e.industry_code,
            &e.region_code,
            &e.founding_date,
            &e.promotion_zone,
            &tags,
        ];
        if write(csv_line(fields.iter().map(|f| f.as_str()))).is_err() {
            return ExitCode::FAILURE;
        }
    }
    ExitCode::SUCCESS
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ambiguous_headers_extra_cells_and_formulas() {
        let header = |names: &[&str]| names.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert!(columns(&header(&["credit_code", "display_name", ""])).is_ok());
        let err = columns(&header(&["credit_code", "display_name", "企业名称"])).unwrap_err();
        assert!(err.contains(r#"columns 2 "display_name" and 3 "企业名称" both fill display_name"#), "{err}");
        let rows = vec![(2, header(&["a", "b", "", " "])), (3, header(&["a", "b", "", "x"]))];
        assert!(check_width(2, &rows[..1]).is_ok());
        assert!(check_width(2, &rows).unwrap_err().starts_with("line 3: cell 4 is beyond"));
        assert_eq!(csv_line(["=1+1", "-1+1", "@x", "a,b", "ok"].into_iter()), "'=1+1,'-1+1,'@x,\"a,b\",ok\r\n");
        // A negative number is a number, not a formula: it stays one.
        assert_eq!(csv_line(["-3", "-12.5%"].into_iter()), "-3,-12.5%\r\n");
        assert_eq!(
            (column_letters(0), column_letters(25), column_letters(26), column_letters(16383)),
            ("A".to_string(), "Z".to_string(), "AA".to_string(), "XFD".to_string())
        );
    }

    #[test]
    fn csv_handles_quotes_crlf_and_blank_lines() {
        let records = parse_csv("a,b\r\n\"x, y\",\"say \"\"hi\"\"\"\r\n\r\n\"multi\nline\",z").unwrap();
        assert_eq!(records.len(), 3);
        assert_eq!(records[1], (2, vec!["x, y".to_string(), "say \"hi\"".to_string()]));
        assert_eq!(records[2].1, vec!["multi\nline".to_string(), "z".to_string()]);
        assert!(parse_csv("\"open").is_err());
        let bare_cr = parse_csv("a,b\r1,2\r3,4").unwrap();
        assert_eq!(bare_cr.iter().map(|(line, _)| *line).collect::<Vec<_>>(), [1, 2, 3]);
        assert_eq!(bare_cr[2].1, ["3", "4"]);
    }

    #[test]
    fn an_excel_workbook_reads_as_text_rows_with_dates_and_whole_numbers() {
        let (rows, format) = read_table(include_bytes!("../../tests/data/firms.xlsx").to_vec()).unwrap();
        assert_eq!(format, "XLSX");
        assert_eq!(rows.len(), 5);
        assert_eq!(rows[0].1[..3], ["统一社会信用代码", "企业名称", "行业代码"]);
        assert_eq!(columns(&rows[0].1).unwrap()[..4], ["credit_code", "display_name", "industry_code", "region_code"]);
        let first = &rows[1];
        assert_eq!(first.0, 2, "the sheet's row number");
        assert_eq!(first.1[3], "610138", "a numeric region has no trailing .0");
        assert_eq!(first.1[4], "2015-03-09", "an Excel date becomes YYYY-MM-DD");
        assert!(read_table(b"PK\x03\x04 not really a zip".to_vec()).unwrap_err().contains("XLSX"));
    }

    #[test]
    fn encodings_are_detected() {
        let text = "统一社会信用代码,企业名称\n";
        assert_eq!(decode(text.as_bytes()).unwrap().1, "UTF-8");
        let bom = [&[0xEF, 0xBB, 0xBF][..], text.as_bytes()].concat();
        assert_eq!(decode(&bom).unwrap(), (text.to_string(), "UTF-8 with BOM"));
        let (gbk, _, _) = encoding_rs::GBK.encode(text);
        assert_eq!(decode(&gbk).unwrap(), (text.to_string(), "GBK"));
        // One damaged byte in a UTF-8 file is refused, not read as GBK.
        let mut damaged = format!("{text}{text}{text}").into_bytes();
        let at = text.len() + 4;
        damaged[at] = 0xFF;
        let error = decode(&damaged).unwrap_err();
        assert!(error.contains("UTF-8 but damaged (first on line 2)"), "{error}");
    }

    #[test]
    fn headers_in_chinese_or_english_and_unknown_ones_refused() {
        let cols = columns(&["统一社会信用代码".into(), "name".into(), "标签".into()]).unwrap();
        assert_eq!(cols, ["credit_code", "display_name", "tags"]);
        assert!(columns(&["颜色".into()]).unwrap_err().contains("unknown column"));
        let trailing = columns(&["统一社会信用代码".into(), "企业名称".into(), "".into()]).unwrap();
        let row = to_row(&trailing, 3, &["91350100M000100Y43".into(), "乙".into(), "".into()]);
        assert_eq!(row.fields, ["display_name"]);
        let row = to_row(&cols, 7, &["91350100M000100Y43".into(), "甲".into(), "储能；电芯".into()]);
        assert_eq!(row.fields, ["display_name", "tags"]);
        assert_eq!(row.enterprise.unwrap().tags, ["储能", "电芯"]);
    }
}

/// `ladder run …`: past sync runs.
#[derive(Debug, clap::Subcommand)]
pub enum RunCommand {
    /// The newest runs.
    List {
        /// Only this source.
        #[arg(long, default_value = "")]
        source: String,
        #[command(flatten)]
        client: ClientArgs,
    },
    /// One run with its failures.
    Show {
        /// `syncRuns/{id}` (or just the id).
        run: String,
        #[command(flatten)]
        client: ClientArgs,
    },
    /// Undo a run: created firms soft-deleted, updated fields restored unless
    /// changed since (reported as conflicts).
    Revert {
        /// `syncRuns/{id}` (or just the id).
        run: String,
        /// Show what the revert would do (firms soft-deleted, restored,
        /// kept), and change nothing.
        #[arg(long)]
        dry_run: bool,
        /// Do not ask for confirmation on a terminal (large reverts ask).
        #[arg(long, short = 'y')]
        yes: bool,
        #[command(flatten)]
        client: ClientArgs,
    },
}

fn run_row(r: &v1::SyncRun) -> Vec<String> {
    let mode = if r.mode == v1::SyncMode::Full as i32 { "full" } else { "upsert" };
    let state = v1::SyncRunState::try_from(r.state)
        .map(|s| s.as_str_name())
        .unwrap_or("")
        .trim_start_matches("SYNC_RUN_STATE_");
    let mut flags = vec![mode.to_string(), state.to_lowercase()];
    if r.dry_run {
        flags.push("dry run".into());
    }
    if r.revert_time.is_some() {
        flags.push("reverted".into());
    }
    vec![
        r.name.clone(),
        r.source.clone(),
        render::time(r.start_time.as_ref()),
        r.rows.to_string(),
        r.created.to_string(),
        r.updated.to_string(),
        r.unchanged.to_string(),
        r.failed.to_string(),
        flags.join(", "),
    ]
}

/// Runs `ladder run …`.
pub async fn run(cmd: RunCommand) -> ExitCode {
    let args = match &cmd {
        RunCommand::List { client, .. } | RunCommand::Show { client, .. } | RunCommand::Revert { client, .. } => {
            client.clone()
        }
    };
    // A revert takes as long as the run was large: no per-call limit.
    let timeout = if matches!(cmd, RunCommand::Revert { .. }) { None } else { Some(CALL_TIMEOUT) };
    let mut client = match connect_with(&args, timeout).await {
        Ok(c) => SyncServiceClient::new(c),
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::FAILURE;
        }
    };
    let name = |run: &str| {
        if run.starts_with("syncRuns/") {
            run.trim().to_string()
        } else {
            format!("syncRuns/{}", run.trim())
        }
    };
    let started = render::time_header("开始 STARTED");
    let header = [
        "批次 RUN",
        "来源 SOURCE",
        &started,
        "行数 ROWS",
        "新增 CREATED",
        "更新 UPDATED",
        "未变 UNCHANGED",
        "失败 FAILED",
        "状态 STATE",
    ];
    match cmd {
        RunCommand::List { source, .. } => {
            match client.list_sync_runs(v1::ListSyncRunsRequest { source, page_size: 50, ..Default::default() }).await {
                Ok(r) => {
                    let runs = r.into_inner().runs;
                    if args.json {
                        println!(
                            "{}",
                            serde_json::json!({ "runs": runs.iter().map(render::sync_run_json).collect::<Vec<_>>() })
                        );
                    } else {
                        let rows: Vec<Vec<String>> = runs.iter().map(run_row).collect();
                        print!("{}", table::render(&header, &rows));
                    }
                    ExitCode::SUCCESS
                }
                Err(status) => fail(args.json, &status),
            }
        }
        RunCommand::Show { run, .. } => match client.get_sync_run(v1::GetSyncRunRequest { name: name(&run) }).await {
            Ok(r) => {
                let r = r.into_inner();
                if args.json {
                    println!("{}", render::sync_run_json(&r));
                    return ExitCode::SUCCESS;
                }
                print!("{}", table::render(&header, &[run_row(&r)]));
                if !r.failures.is_empty() {
                    println!();
                    print!("{}", failure_table(&r.failures));
                }
                ExitCode::SUCCESS
            }
            Err(status) => fail(args.json, &status),
        },
        RunCommand::Revert { run, dry_run, yes, .. } => {
            let request = |validate_only| v1::RevertSyncRunRequest { name: name(&run), validate_only };
            // A large revert on a terminal is previewed and confirmed first.
            if !dry_run && !yes && !args.json && std::io::stdin().is_terminal() {
                let preview = match client.revert_sync_run(request(true)).await {
                    Ok(r) => r.into_inner(),
                    Err(status) => return fail(args.json, &status),
                };
                if preview.deleted + preview.restored >= CONFIRM_FROM {
                    print_revert(&name(&run), &preview, true);
                    eprint!("revert {}? [y/N] ", name(&run));
                    let mut answer = String::new();
                    let _ = std::io::stdin().read_line(&mut answer);
                    if !matches!(answer.trim(), "y" | "Y" | "yes" | "是") {
                        eprintln!("nothing was changed");
                        return ExitCode::FAILURE;
                    }
                }
            }
            match client.revert_sync_run(request(dry_run)).await {
                Ok(r) => {
                    let r = r.into_inner();
                    if args.json {
                        println!("{}", render::revert_json(&r));
                    } else {
                        print_revert(&name(&run), &r, dry_run);
                    }
                    ExitCode::SUCCESS
                }
                Err(status) => fail(args.json, &status),
            }
        }
    }
}

/// Reverts that soft-delete or restore at least this many firms ask for
/// confirmation on a terminal.
const CONFIRM_FROM: i64 = 100;

/// Prints what a revert did (or, previewed, would do), its first conflicts
/// and how many more there are.
fn print_revert(run: &str, r: &v1::RevertSyncRunResponse, preview: bool) {
    let (deleted, restored, kept) = if preview {
        ("would be soft-deleted", "would be restored", "would be kept")
    } else {
        ("soft-deleted", "restored", "kept")
    };
    println!("{run}: {} firms {deleted}, {} {restored}, {} conflicts {kept}", r.deleted, r.restored, r.conflict_count);
    let rows: Vec<Vec<String>> = r
        .conflicts
        .iter()
        .map(|c| vec![c.resource.clone(), c.field.clone(), c.run_value.clone(), c.current_value.clone()])
        .collect();
    if !rows.is_empty() {
        print!(
            "{}",
            table::render(&["资源 RESOURCE", "字段 FIELD", "本次写入 RUN WROTE", "现值(保留) NOW (KEPT)"], &rows)
        );
    }
    let more = r.conflict_count - r.conflicts.len() as i64;
    if more > 0 {
        println!("… and {more} more conflicts (the server lists the first {})", r.conflicts.len());
    }
}

/// Runs `ladder sources`: exit status 1 when a source is late, so a
/// monitoring script can call it.
pub async fn sources(args: ClientArgs) -> ExitCode {
    let mut client = match connect_with(&args, Some(CALL_TIMEOUT)).await {
        Ok(c) => SyncServiceClient::new(c),
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::FAILURE;
        }
    };
    let sources = match client.list_sources(v1::ListSourcesRequest {}).await {
        Ok(r) => r.into_inner().sources,
        Err(status) => return fail(args.json, &status),
    };
    let late = sources.iter().filter(|s| s.late).count();
    if args.json {
        let out: Vec<serde_json::Value> = sources
            .iter()
            .map(|s| {
                serde_json::json!({
                    "source": s.source, "runs": s.runs, "firms": s.firms, "late": s.late, "owner": s.owner,
                    "expected_interval_hours": s.expected_interval_hours,
                    "last_run": s.last_run.as_ref().map(render::sync_run_json),
                    "last_success_time": s.last_success_time.as_ref().map(ToString::to_string),
                    "due_time": s.due_time.as_ref().map(ToString::to_string),
                })
            })
            .collect();
        println!("{}", serde_json::json!({ "sources": out, "late": late }));
    } else {
        let rows: Vec<Vec<String>> = sources
            .iter()
            .map(|s| {
                let last = s.last_run.as_ref().map_or(String::new(), |r| {
                    let state = v1::SyncRunState::try_from(r.state)
                        .map(|s| s.as_str_name())
                        .unwrap_or("")
                        .trim_start_matches("SYNC_RUN_STATE_")
                        .to_lowercase();
                    format!(
                        "{} {state}{}",
                        render::time(r.start_time.as_ref()),
                        if r.dry_run { " (dry run)" } else { "" }
                    )
                });
                vec![
                    s.source.clone(),
                    if s.late { "迟到 LATE".into() } else { "正常 OK".into() },
                    last,
                    render::time(s.last_success_time.as_ref()),
                    if s.expected_interval_hours > 0 { s.expected_interval_hours.to_string() } else { String::new() },
                    render::time(s.due_time.as_ref()),
                    s.runs.to_string(),
                    s.firms.to_string(),
                    s.owner.clone(),
                ]
            })
            .collect();
        let (last, done, due) = (
            render::time_header("最近一次 LAST RUN"),
            render::time_header("最近完成 COMPLETED"),
            render::time_header("应到 DUE"),
        );
        print!(
            "{}",
            table::render(
                &[
                    "来源 SOURCE",
                    "状态 STATE",
                    &last,
                    &done,
                    "间隔(小时) EVERY H",
                    &due,
                    "次数 RUNS",
                    "企业数 FIRMS",
                    "负责 OWNER"
                ],
                &rows
            )
        );
        if late > 0 {
            eprintln!("{late} sources are late");
        }
    }
    if late > 0 {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}
