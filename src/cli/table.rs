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
            std::process::exit(1);
        }
    }
    let last = header.len().saturating_sub(1);
    let cells: Vec<Vec<String>> = rows
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
    let one_line = cell.replace(['\n', '\r'], " ");
    if one_line.width() <= MAX_CELL_WIDTH {
        return one_line;
    }
    let mut out = String::new();
    for ch in one_line.chars() {
        if out.width() + unicode_width::UnicodeWidthChar::width(ch).unwrap_or(0) > MAX_CELL_WIDTH - 1 {
            break;
        }
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
