//! Plain-text tables whose columns line up with Chinese text (double-width
//! characters are measured with `unicode-width`).

use unicode_width::UnicodeWidthStr;

/// Longest cell shown in a table, in display columns; longer text is cut with `…`.
pub const MAX_CELL_WIDTH: usize = 40;

/// Whether a column header follows the CLI's one rule: Chinese first, then
/// English (`名称 NAME`, `签约额(万元) AMOUNT`), so every column reads for
/// zone staff and for the English-reading. Scripts use `--json`.
pub fn bilingual(header: &str) -> bool {
    let chinese = header.chars().any(|c| ('\u{4e00}'..='\u{9fff}').contains(&c));
    let english = header.chars().any(|c| c.is_ascii_alphabetic() || c == '#');
    chinese && english
}

/// Renders a header and rows as aligned columns separated by two spaces.
/// The last column is shown whole (nothing needs to line up after it).
/// Every header is [`bilingual`] (checked in debug builds, so every CLI
/// test checks the tables it prints).
///
/// With `--xlsx` or `--csv` the table goes to that file instead and nothing
/// is returned to print (see `export`).
pub fn render(header: &[&str], rows: &[Vec<String>]) -> String {
    debug_assert!(header.iter().all(|h| bilingual(h)), "a column header is not 中文 ENGLISH: {header:?}");
    match crate::cli::export::table(header, rows) {
        Ok(true) => return String::new(),
        Ok(false) => {}
        Err(e) => {
            eprintln!("error: {e}");
            // The partial file goes with the command.
            let _ = crate::cli::export::finish(false);
            std::process::exit(1);
        }
    }
    layout(header, rows, terminal_width())
}

/// The width tables must fit: the terminal's (`COLUMNS`, else 120) when
/// standard output is a terminal; none when it is a file or a pipe (the
/// last column is then shown whole).
fn terminal_width() -> Option<usize> {
    use std::io::IsTerminal as _;
    std::io::stdout()
        .is_terminal()
        .then(|| std::env::var("COLUMNS").ok().and_then(|c| c.parse().ok()).filter(|&c: &usize| c >= 40).unwrap_or(120))
}

/// Narrowest a column is cut to when a table must fit.
const MIN_FIT_WIDTH: usize = 8;

/// Lays the table out, fitting `fit` columns when given: the widest
/// columns give way first, and cut cells end with `…`.
fn layout(header: &[&str], rows: &[Vec<String>], fit: Option<usize>) -> String {
    let last = header.len().saturating_sub(1);
    let mut cells: Vec<Vec<String>> = rows
        .iter()
        .map(|r| {
            r.iter().enumerate().map(|(i, c)| if i == last { c.replace('\n', " ") } else { truncate(c) }).collect()
        })
        .collect();
    let mut widths: Vec<usize> = header.iter().map(|h| h.width()).collect();
    for row in &cells {
        for (i, cell) in row.iter().enumerate() {
            if let Some(w) = widths.get_mut(i) {
                *w = (*w).max(cell.width());
            }
        }
    }
    let mut header: Vec<String> = header.iter().map(|h| (*h).to_string()).collect();
    if let Some(limit) = fit {
        let total = |w: &[usize]| w.iter().sum::<usize>() + 2 * w.len().saturating_sub(1);
        // Codes and ids are never cut: half a credit code is no use.
        let floor: Vec<usize> = header
            .iter()
            .zip(&widths)
            .map(|(h, w)| if h.contains("CODE") || h.contains(" ID") { *w } else { MIN_FIT_WIDTH.min(*w) })
            .collect();
        while total(&widths) > limit {
            let Some((widest, _)) =
                widths.iter().enumerate().filter(|(i, w)| **w > floor[*i]).max_by_key(|(i, w)| (**w, usize::MAX - i))
            else {
                break; // every column is as narrow as it may be
            };
            widths[widest] -= 1;
        }
        for (i, w) in widths.iter().enumerate() {
            if let Some(h) = header.get_mut(i) {
                *h = cut(h, *w);
            }
            for row in &mut cells {
                if let Some(c) = row.get_mut(i) {
                    *c = cut(c, *w);
                }
            }
        }
    }
    let header: Vec<&str> = header.iter().map(String::as_str).collect();
    let mut out = String::new();
    let line = |out: &mut String, row: &[String]| {
        let last = row.len().saturating_sub(1);
        for (i, cell) in row.iter().enumerate() {
            out.push_str(cell);
            if i < last {
                out.push_str(&" ".repeat(widths[i].saturating_sub(cell.width()) + 2));
            }
        }
        out.push('\n');
    };
    line(&mut out, &header.iter().map(|h| (*h).to_string()).collect::<Vec<_>>());
    for row in &cells {
        line(&mut out, row);
    }
    if cells.is_empty() {
        // An empty report says so instead of showing a bare header.
        out.push_str("（无）none\n");
    }
    out
}

/// Renders label/value pairs, labels aligned. Labels are [`bilingual`]
/// like column headers (checked in debug builds).
pub fn render_pairs(pairs: &[(&str, String)]) -> String {
    debug_assert!(pairs.iter().all(|(k, _)| bilingual(k)), "a label is not 中文 english: {pairs:?}");
    let width = pairs.iter().map(|(k, _)| k.width()).max().unwrap_or(0);
    pairs
        .iter()
        .filter(|(_, v)| !v.is_empty())
        .map(|(k, v)| format!("{k}{}  {v}\n", " ".repeat(width - k.width())))
        .collect()
}

fn truncate(cell: &str) -> String {
    cut(&cell.replace(['\n', '\r'], " "), MAX_CELL_WIDTH)
}

/// `text` cut to `width` display columns, ending with `…` when cut.
fn cut(text: &str, width: usize) -> String {
    if text.width() <= width {
        return text.to_string();
    }
    let mut out = String::new();
    let mut used = 0;
    for ch in text.chars() {
        let w = unicode_width::UnicodeWidthChar::width(ch).unwrap_or(0);
        if used + w > width.saturating_sub(1) {
            break;
        }
        used += w;
        out.push(ch);
    }
    out.push('…');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_empty_table_says_none() {
        let out = render(&["企业 FIRM", "梯度 STAGE"], &[]);
        assert_eq!(out.lines().nth(1), Some("（无）none"));
        assert!(!render(&["甲 A"], &[vec!["x".into()]]).contains("none"));
    }

    #[test]
    fn headers_are_chinese_then_english() {
        assert!(bilingual("名称 NAME") && bilingual("序 #") && bilingual("签约额(万元) AMOUNT"));
        assert!(!bilingual("NAME") && !bilingual("名称") && !bilingual(""));
    }

    #[test]
    fn columns_align_with_double_width_text() {
        let out = render(
            &["代码code", "名称name", "乙x"],
            &[vec!["1".into(), "航天".into(), "a".into()], vec!["2".into(), "abcdef".into(), "b".into()]],
        );
        let lines: Vec<&str> = out.lines().collect();
        // The third column starts at the same display column on every line.
        let col = |l: &str| l[..l.rfind(' ').unwrap() + 1].width();
        assert_eq!(col(lines[0]), col(lines[1]));
        assert_eq!(col(lines[1]), col(lines[2]));
    }

    #[test]
    fn a_wide_table_fits_the_terminal_with_the_widest_columns_cut() {
        let long = "航天".repeat(40);
        let rows = vec![vec!["91610116MA6TG1L59C".into(), long.clone(), "C3742".into(), long.clone()]];
        let out = layout(&["信用代码 CODE", "名称 NAME", "行业 IND.", "备注 NOTES"], &rows, Some(120));
        for line in out.lines() {
            assert!(line.width() <= 120, "{} columns: {line}", line.width());
        }
        let row = out.lines().nth(1).unwrap();
        assert!(row.starts_with("91610116MA6TG1L59C") && row.contains("C3742"), "narrow columns stay whole: {row}");
        // Even squeezed hard, a credit code is never cut.
        let narrow =
            layout(&["信用代码 CODE", "名称 NAME"], &[vec!["91610116MA6TG1L59C".into(), long.clone()]], Some(40));
        assert!(narrow.lines().nth(1).unwrap().starts_with("91610116MA6TG1L59C "), "{narrow}");
        assert!(row.contains('…'));
        // Not on a terminal, the last column is shown whole.
        assert!(layout(&["信用代码 CODE", "备注 NOTES"], &[vec!["x".into(), long.clone()]], None).contains(&long));
    }

    #[test]
    fn long_cells_are_cut_to_the_limit() {
        let cut = truncate(&"航".repeat(100));
        assert!(cut.width() <= MAX_CELL_WIDTH && cut.ends_with('…'));
        // Only the columns something lines up after are cut.
        let long = "航".repeat(100);
        let out = render(&["甲 a", "乙 b"], &[vec![long.clone(), long.clone()]]);
        let row = out.lines().nth(1).unwrap();
        assert!(row.contains('…') && row.ends_with(&long), "{row}");
    }
}
