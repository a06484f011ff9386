//! `--xlsx FILE` and `--csv FILE`: every table a client command prints is
//! written to a workbook (or a CSV file) instead, for staff who report
//! upward in Excel.
//!
//! Every CLI table goes through [`crate::cli::table::render`], which hands it
//! here when an export is on. Tables with the same columns share a sheet
//! (a list read page by page is one sheet, written as the pages arrive:
//! sheets are written in constant memory, row by row through a temporary
//! file); a table with other columns starts a new sheet. The workbook has:
//! - Chinese column headers (the Chinese part of the CLI's `中文 ENGLISH`);
//! - dates as real dates, times as date-times (China Standard Time unless
//!   `--utc`), counts and amounts as numbers, 万元 with a thousands format;
//! - a frozen header row, an autofilter and column widths from the first
//!   rows;
//! - a last sheet `导出说明` with the command and the time of the export.
//!
//! CSV files are UTF-8 with a byte-order mark, so Excel opens Chinese text
//! correctly; several tables are separated by a blank line.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use rust_xlsxwriter::{ExcelDateTime, Format, FormatAlign, Workbook, Worksheet};
use unicode_width::UnicodeWidthStr;

/// The export in progress, if any.
static SINK: Mutex<Option<Sink>> = Mutex::new(None);

/// Where the tables go.
enum Sink {
    Csv { path: PathBuf, out: std::io::BufWriter<std::fs::File>, header: Vec<String>, rows: u64 },
    Xlsx(Box<Xlsx>),
}

struct Xlsx {
    path: PathBuf,
    workbook: Workbook,
    /// Per sheet: its worksheet index, its columns, how each is typed, and
    /// the next row.
    sheets: Vec<SheetState>,
    /// The sheet the last table went to.
    current: Option<usize>,
    command: String,
    formats: Formats,
}

struct SheetState {
    index: usize,
    header: Vec<String>,
    kinds: Vec<Kind>,
    next_row: u32,
}

struct Formats {
    header: Format,
    date: Format,
    datetime: Format,
    amount: Format,
    percent: Format,
}

/// How a column's cells are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Text,
    Date,
    DateTime,
    Count,
    Amount,
    Percent,
}

/// The column's kind from its CLI header.
fn kind_of(header: &str) -> Kind {
    let has = |words: &[&str]| words.iter().any(|w| header.contains(w));
    if has(&["(UTC"]) {
        Kind::DateTime
    } else if has(&["率", "RATE"]) {
        Kind::Percent
    } else if has(&["万元", "营收", "资产", "负债", "研发 R&D", "AMOUNT"]) {
        Kind::Amount
    } else if has(&[
        "数 ",
        "数量",
        "企业数",
        "天数",
        "行数",
        "人员",
        "年度",
        "COUNT",
        "FIRMS",
        "MEMBERS",
        "ROWS",
        "DAYS",
        "SCORE",
        "POINTS",
        "WEIGHT",
        "CREATED",
        "UPDATED",
        "UNCHANGED",
        "FAILED",
        "MISSING",
        "DEMANDS",
        "DEALS",
        "REV",
    ]) {
        Kind::Count
    } else if has(&["日期", "DATE", "起 FROM", "止 UNTIL", "到期 ENDS", "加入 JOINED", "进入 ENTERED", "离开 EXITED"])
    {
        Kind::Date
    } else {
        Kind::Text
    }
}

/// The header as an Excel column title: its Chinese part, keeping a time
/// zone in brackets (`时间 TIME (UTC+8)` → `时间 (UTC+8)`).
fn title(header: &str) -> String {
    let mut words: Vec<&str> = header.split(' ').collect();
    let zone = words.last().filter(|w| w.starts_with("(UTC")).copied();
    if zone.is_some() {
        words.pop();
    }
    while words.len() > 1 && words.last().is_some_and(|w| w.is_ascii()) {
        words.pop();
    }
    let mut t = words.join(" ");
    if let Some(z) = zone {
        t.push(' ');
        t.push_str(z);
    }
    t
}

/// Starts exporting to `path` (`xlsx` true: a workbook, else CSV). The file
/// must not exist yet. `command` is recorded in the workbook.
pub fn start(path: &Path, xlsx: bool, command: String) -> Result<(), String> {
    let mut sink = SINK.lock().map_err(|_| "export lock poisoned".to_string())?;
    if sink.is_some() {
        return Ok(());
    }
    if path.exists() {
        return Err(format!("{} exists: export into a new file", path.display()));
    }
    *sink = Some(if xlsx {
        Sink::Xlsx(Box::new(Xlsx::new(path.to_path_buf(), command)))
    } else {
        let file = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(path)
            .map_err(|e| format!("cannot create {}: {e}", path.display()))?;
        let mut out = std::io::BufWriter::new(file);
        out.write_all("\u{feff}".as_bytes()).map_err(|e| e.to_string())?;
        Sink::Csv { path: path.to_path_buf(), out, header: Vec::new(), rows: 0 }
    });
    Ok(())
}

/// Whether tables go to a file.
pub fn active() -> bool {
    SINK.lock().map(|s| s.is_some()).unwrap_or(false)
}

/// Writes a table to the export. Returns false when no export is on (the
/// caller prints it).
pub fn table(header: &[&str], rows: &[Vec<String>]) -> Result<bool, String> {
    let mut sink = SINK.lock().map_err(|_| "export lock poisoned".to_string())?;
    match sink.as_mut() {
        None => Ok(false),
        Some(Sink::Csv { out, header: last, rows: count, .. }) => {
            let titles: Vec<String> = header.iter().map(|h| title(h)).collect();
            let io = |e: std::io::Error| format!("cannot write the CSV file: {e}");
            if *last != titles {
                if !last.is_empty() {
                    out.write_all(b"\r\n").map_err(io)?;
                }
                out.write_all(crate::cli::sync::csv_line(titles.iter().map(String::as_str)).as_bytes()).map_err(io)?;
                *last = titles;
            }
            for row in rows {
                out.write_all(crate::cli::sync::csv_line(row.iter().map(String::as_str)).as_bytes()).map_err(io)?;
                *count += 1;
            }
            Ok(true)
        }
        Some(Sink::Xlsx(x)) => {
            x.table(header, rows).map(|()| true).map_err(|e| format!("cannot write the workbook: {e}"))
        }
    }
}

impl Xlsx {
    fn new(path: PathBuf, command: String) -> Self {
        let header = Format::new().set_bold().set_background_color("#DDEBF7").set_align(FormatAlign::Center);
        Xlsx {
            path,
            workbook: Workbook::new(),
            sheets: Vec::new(),
            current: None,
            command,
            formats: Formats {
                header,
                date: Format::new().set_num_format("yyyy-mm-dd"),
                datetime: Format::new().set_num_format("yyyy-mm-dd hh:mm:ss"),
                amount: Format::new().set_num_format("#,##0.00"),
                percent: Format::new().set_num_format("0.0%"),
            },
        }
    }

    fn table(&mut self, header: &[&str], rows: &[Vec<String>]) -> Result<(), rust_xlsxwriter::XlsxError> {
        let titles: Vec<String> = header.iter().map(|h| title(h)).collect();
        let at = match self.current.filter(|&i| self.sheets[i].header == titles) {
            Some(i) => i,
            None => self.new_sheet(header, &titles, rows)?,
        };
        self.current = Some(at);
        let state = &mut self.sheets[at];
        let sheet = self.workbook.worksheet_from_index(state.index)?;
        for row in rows {
            for (c, cell) in row.iter().enumerate() {
                let kind = state.kinds.get(c).copied().unwrap_or(Kind::Text);
                write_cell(sheet, state.next_row, c as u16, cell, kind, &self.formats)?;
            }
            state.next_row += 1;
        }
        Ok(())
    }

    fn new_sheet(
        &mut self,
        header: &[&str],
        titles: &[String],
        rows: &[Vec<String>],
    ) -> Result<usize, rust_xlsxwriter::XlsxError> {
        let number = self.sheets.len() + 1;
        let sheet = self.workbook.add_worksheet_with_constant_memory()?;
        let index = number - 1;
        sheet.set_name(format!("表{number}"))?;
        // Widths from the header and the first rows (set before any row:
        // the sheet is streamed).
        for (c, t) in titles.iter().enumerate() {
            let widest = rows.iter().take(200).filter_map(|r| r.get(c)).map(|v| v.width()).max().unwrap_or(0);
            let width = widest.max(t.width()).clamp(6, 60) as f64 + 2.0;
            sheet.set_column_width(c as u16, width)?;
        }
        sheet.set_freeze_panes(1, 0)?;
        for (c, t) in titles.iter().enumerate() {
            sheet.write_string_with_format(0, c as u16, t, &self.formats.header)?;
        }
        self.sheets.push(SheetState {
            index,
            header: titles.to_vec(),
            kinds: header.iter().map(|h| kind_of(h)).collect(),
            next_row: 1,
        });
        Ok(self.sheets.len() - 1)
    }

    /// Adds the filters and the `导出说明` sheet; returns the workbook and
    /// the rows written.
    fn close(mut self, time_note: &str) -> Result<(Workbook, u64, usize), rust_xlsxwriter::XlsxError> {
        let mut total = 0u64;
        for state in &self.sheets {
            let sheet = self.workbook.worksheet_from_index(state.index)?;
            let last_col = state.header.len().saturating_sub(1) as u16;
            sheet.autofilter(0, 0, state.next_row.saturating_sub(1).max(1), last_col)?;
            total += u64::from(state.next_row - 1);
        }
        let about = self.workbook.add_worksheet();
        about.set_name("导出说明")?;
        about.set_column_width(0, 16)?;
        about.set_column_width(1, 100)?;
        let now = crate::cli::render::stamp(crate::api::convert::timestamp(crate::domain::time::now_micros()).as_ref());
        let rows = [
            ("导出命令", self.command.clone()),
            ("导出时间", now),
            ("行数", total.to_string()),
            ("说明", format!("金额单位为万元；时间为北京时间（UTC+8）{time_note}")),
        ];
        for (r, (k, v)) in rows.iter().enumerate() {
            about.write_string_with_format(r as u32, 0, *k, &self.formats.header)?;
            about.write_string(r as u32, 1, v)?;
        }
        if self.sheets.is_empty() {
            about.write_string(rows.len() as u32, 1, "（无）没有可导出的表格")?;
        }
        let sheets = self.sheets.len();
        Ok((self.workbook, total, sheets))
    }

    fn finish(self) -> Result<String, rust_xlsxwriter::XlsxError> {
        let path = self.path.clone();
        let (mut workbook, total, sheets) = self.close("，除非导出时用了 --utc")?;
        workbook.save(&path)?;
        Ok(format!("wrote {} ({total} rows in {sheets} sheets)", path.display()))
    }
}

/// One table as an XLSX workbook in memory, typed and titled exactly like a
/// CLI export (`header` in the CLI's `中文 ENGLISH` form decides each
/// column's type); `source` is recorded in its `导出说明` sheet. The web
/// workspace's downloads use it.
pub fn workbook_bytes(sheet: &str, source: &str, header: &[&str], rows: &[Vec<String>]) -> Result<Vec<u8>, String> {
    let mut x = Xlsx::new(PathBuf::new(), source.to_string());
    let written = x
        .table(header, rows)
        .and_then(|()| match sheet_name(sheet) {
            Some(name) => x.workbook.worksheet_from_index(0).and_then(|s| s.set_name(name)).map(|_| ()),
            None => Ok(()),
        })
        .and_then(|()| x.close(""))
        .and_then(|(mut w, _, _)| w.save_to_buffer());
    written.map_err(|e| format!("cannot write the workbook: {e}"))
}

/// A title as an Excel sheet name: without the characters Excel refuses
/// (`[]:*?/\`), at most 31 characters; `None` when nothing is left or the
/// name is the notes sheet's.
fn sheet_name(title: &str) -> Option<String> {
    let name: String = title.chars().filter(|c| !"[]:*?/\\'".contains(*c) && !c.is_control()).take(31).collect();
    let name = name.trim().to_string();
    (!name.is_empty() && name != "导出说明").then_some(name)
}

fn write_cell(
    sheet: &mut Worksheet,
    row: u32,
    col: u16,
    cell: &str,
    kind: Kind,
    f: &Formats,
) -> Result<(), rust_xlsxwriter::XlsxError> {
    let cell = cell.trim();
    if cell.is_empty() {
        return Ok(());
    }
    match kind {
        Kind::Date | Kind::DateTime => {
            let looks_right = match kind {
                Kind::Date => cell.len() == 10,
                _ => cell.len() == 19,
            } && cell.as_bytes()[4] == b'-';
            if let Some(dt) = looks_right.then(|| ExcelDateTime::parse_from_str(cell).ok()).flatten() {
                let format = if kind == Kind::Date { &f.date } else { &f.datetime };
                sheet.write_datetime_with_format(row, col, &dt, format)?;
                return Ok(());
            }
        }
        Kind::Percent => {
            if let Some(n) = cell.strip_suffix('%').and_then(|n| n.trim().parse::<f64>().ok()) {
                sheet.write_number_with_format(row, col, n / 100.0, &f.percent)?;
                return Ok(());
            }
        }
        Kind::Amount => {
            if let Ok(n) = cell.trim_end_matches("万元").trim().parse::<f64>() {
                sheet.write_number_with_format(row, col, n, &f.amount)?;
                return Ok(());
            }
        }
        Kind::Count => {
            if let Ok(n) = cell.parse::<f64>() {
                sheet.write_number(row, col, n)?;
                return Ok(());
            }
        }
        Kind::Text => {}
    }
    // A text cell that Excel would run as a formula is written as text
    // (`write_string` never makes a formula).
    sheet.write_string(row, col, cell)?;
    Ok(())
}

/// Ends the export: saves the workbook (or flushes the CSV). A command
/// that failed removes its partial file. Returns what to tell the user.
pub fn finish(success: bool) -> Result<Option<String>, String> {
    let Some(sink) = SINK.lock().map_err(|_| "export lock poisoned".to_string())?.take() else { return Ok(None) };
    match sink {
        Sink::Csv { path, mut out, rows, .. } => {
            let flushed = out.flush();
            if !success {
                let _ = std::fs::remove_file(&path);
                return Ok(None);
            }
            flushed.map_err(|e| format!("cannot write {}: {e}", path.display()))?;
            Ok(Some(format!("wrote {} ({rows} rows)", path.display())))
        }
        Sink::Xlsx(x) => {
            if !success {
                // Nothing was saved yet (a workbook is written at the end),
                // but a save that failed half-way may have left a file.
                let _ = std::fs::remove_file(&x.path);
                return Ok(None);
            }
            let path = x.path.clone();
            x.finish().map(Some).map_err(|e| format!("cannot write {}: {e}", path.display()))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn columns_are_typed_and_titled_from_their_headers() {
        assert_eq!(title("名称 NAME"), "名称");
        assert_eq!(title("时间 TIME (UTC+8)"), "时间 (UTC+8)");
        assert_eq!(title("签约额(万元) AMOUNT"), "签约额(万元)");
        assert_eq!(title("本地配套率 LOCAL RATE"), "本地配套率");
        assert_eq!(kind_of("时间 TIME (UTC+8)"), Kind::DateTime);
        assert_eq!(kind_of("起 FROM"), Kind::Date);
        assert_eq!(kind_of("需求额(万元) AMOUNT"), Kind::Amount);
        assert_eq!(kind_of("企业数 FIRMS"), Kind::Count);
        assert_eq!(kind_of("更新 UPDATED"), Kind::Count, "UPDATED is a count, though it holds DATE");
        assert_eq!(kind_of("本地配套率 LOCAL RATE"), Kind::Percent);
        // Codes stay text, even when they are all digits.
        assert_eq!(kind_of("信用代码 CODE"), Kind::Text);
        assert_eq!(kind_of("注册地 REGION"), Kind::Text);
    }

    #[test]
    fn sheet_names_keep_what_excel_accepts() {
        assert_eq!(sheet_name("企业名录-高新技术企业").as_deref(), Some("企业名录-高新技术企业"));
        assert_eq!(sheet_name("a/b:c*d?[e]").as_deref(), Some("abcde"));
        assert_eq!(sheet_name(&"长".repeat(40)).map(|n| n.chars().count()), Some(31));
        assert_eq!(sheet_name("/:*"), None);
        assert_eq!(sheet_name("导出说明"), None);
    }
}
