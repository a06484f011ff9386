//! The project's documents stand on their own: everything they point to is in
//! the repository, and the domain reference agrees with the code.

use std::path::Path;

use ladder::domain::credit_code::{check_character, organisation_code_check};
use ladder::domain::ladder::DesignationKind;

const ROOT: &str = env!("CARGO_MANIFEST_DIR");

fn read(path: &str) -> String {
    std::fs::read_to_string(Path::new(ROOT).join(path)).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// The project's documents and commented files a reader follows.
const DOCUMENTS: [&str; 4] = ["README.md", "ARCHITECTURE.md", "docs/DOMAIN.md", "policy/cultivation.toml"];

#[test]
fn documents_point_only_inside_the_repository() {
    for doc in DOCUMENTS {
        let text = read(doc);
        assert!(!text.contains("../shared"), "{doc} points outside the repository (../shared)");
        // Every Markdown link to a local file resolves from the document's folder.
        for (i, _) in text.match_indices("](") {
            let target = text[i + 2..].split(')').next().unwrap_or_default();
            if target.starts_with("http") || target.starts_with('#') {
                continue;
            }
            let base = Path::new(ROOT).join(doc);
            let resolved = base.parent().unwrap().join(target.split('#').next().unwrap());
            assert!(resolved.exists(), "{doc} links to {target}, which is not in the repository");
        }
    }
    assert!(read("README.md").contains("docs/DOMAIN.md"), "the README points to the domain reference");
}

#[test]
fn the_domain_reference_agrees_with_the_code() {
    let domain = read("docs/DOMAIN.md");
    // The worked example of GB 32100 and GB 11714, as the code computes it.
    assert!(domain.contains("`91350100M000100Y4` gives a sum of 1640, so\nthe check character is `3`"));
    assert_eq!(check_character("91350100M000100Y4"), Some('3'));
    assert!(domain.contains("11 − (139 mod 11) = 4"));
    assert_eq!(organisation_code_check("M000100Y"), Some('4'));
    assert!(domain.contains("1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28"));
    // Every designation kind is described by the official name `--kind` takes.
    for kind in DesignationKind::ALL {
        let official = kind.names_zh()[0];
        let short = official.trim_end_matches("企业");
        assert!(domain.contains(official) || domain.contains(short), "{official} is not in docs/DOMAIN.md");
    }
}

#[test]
fn the_access_control_walk_through_stops_the_first_server_before_starting_another() {
    let readme = read("README.md");
    let section = readme.split("## Access control").nth(1).and_then(|s| s.split("\n## ").next()).unwrap();
    let restart = section.find("ladder serve --config").expect("the section starts the server with its config");
    let before = &section[..restart];
    assert!(before.contains("stop the server you started above"), "say to stop the running server first");
    assert!(before.contains("one server at a time"), "say why: the data folder is locked");
}

/// The server's sources, each without its test module: `src/` less the CLI
/// and the sample data, whose strings never reach a client as an error.
fn server_sources() -> Vec<(String, String)> {
    fn walk(dir: &Path, out: &mut Vec<(String, String)>) {
        let mut entries: Vec<_> = std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().path()).collect();
        entries.sort();
        for path in entries {
            let name = path.strip_prefix(ROOT).unwrap().to_string_lossy().replace('\\', "/");
            if path.is_dir() {
                if name != "src/cli" {
                    walk(&path, out);
                }
            } else if name.ends_with(".rs") && name != "src/sample.rs" {
                let text = std::fs::read_to_string(&path).unwrap();
                let code = text.split("#[cfg(test)]\nmod tests").next().unwrap_or_default().to_string();
                out.push((name, code));
            }
        }
    }
    let mut out = Vec::new();
    walk(&Path::new(ROOT).join("src"), &mut out);
    out
}

/// Whether `word` looks like a reason: UPPER_SNAKE_CASE.
fn is_reason(word: &str) -> bool {
    word.len() >= 2
        && word.starts_with(|c: char| c.is_ascii_uppercase())
        && word.bytes().all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'_')
}

/// The index of the `"` that closes the string literal opened just before `start`.
fn string_end(bytes: &[u8], start: usize) -> usize {
    let mut i = start;
    while i < bytes.len() && bytes[i] != b'"' {
        i += if bytes[i] == b'\\' { 2 } else { 1 };
    }
    i.min(bytes.len())
}

/// Walks the expression `text` starts with, which ends at a `,` or `;` or an
/// unmatched closing bracket: its reason-like string literals, and where it
/// ended if at a `,`.
fn expression(text: &str) -> (Vec<&str>, Option<usize>) {
    let bytes = text.as_bytes();
    let (mut i, mut depth, mut literals) = (0, 0usize, Vec::new());
    while i < bytes.len() {
        match bytes[i] {
            b'"' => {
                let end = string_end(bytes, i + 1);
                if is_reason(&text[i + 1..end]) {
                    literals.push(&text[i + 1..end]);
                }
                i = end;
            }
            b'(' | b'[' | b'{' => depth += 1,
            b',' if depth == 0 => return (literals, Some(i)),
            b')' | b']' | b'}' | b';' if depth == 0 => break,
            b')' | b']' | b'}' => depth -= 1,
            _ => {}
        }
        i += 1;
    }
    (literals, None)
}

/// The identifier `text` starts with.
fn identifier(text: &str) -> &str {
    let end = text.find(|c: char| !c.is_ascii_alphanumeric() && c != '_').unwrap_or(text.len());
    &text[..end]
}

/// `NotFound` → `NOT_FOUND`.
fn code_name(variant: &str) -> String {
    let mut out = String::new();
    for (i, c) in variant.chars().enumerate() {
        if i > 0 && c.is_ascii_uppercase() {
            out.push('_');
        }
        out.push(c.to_ascii_uppercase());
    }
    out
}

/// Every reason the server can send, with the gRPC codes it is sent with
/// where the code can be read off the source (empty where it cannot). Reasons
/// are found in error positions: `reason: "X"` (also `reason: if … { "X" }
/// else { "Y" }`) after `Error::Variant {`, the second argument of
/// `invalid_field(…)` and `FieldViolation::new(…)`, a `Code::Variant, "X"`
/// pair, `with_error_info("X"`, a refusal picked as `Some(("X", …))`, and the
/// arms of the `reason()` functions (the error's fixed reasons and the
/// credit-code and industry-code errors, which reach clients as field
/// violations).
fn server_reasons() -> std::collections::BTreeMap<String, std::collections::BTreeSet<String>> {
    let mut found: std::collections::BTreeMap<String, std::collections::BTreeSet<String>> = Default::default();
    let mut add = |reason: &str, code: Option<String>| {
        let codes = found.entry(reason.to_string()).or_default();
        codes.extend(code);
    };
    for (_, text) in server_sources() {
        let after = |needle: &str| text.match_indices(needle).map(|(i, _)| i + needle.len()).collect::<Vec<_>>();
        let next_variant = |from: usize, prefix: &str| {
            text[from..].find(prefix).map(|i| code_name(identifier(&text[from + i + prefix.len()..])))
        };
        for at in after("reason:") {
            let before = text[..at - "reason:".len()].chars().next_back().unwrap_or(' ');
            if before.is_ascii_alphanumeric() || before == '_' {
                continue; // close_reason:, end_reason: …
            }
            let variant = text[..at].rfind("Error::").map(|i| code_name(identifier(&text[i + "Error::".len()..])));
            for reason in expression(&text[at..]).0 {
                add(reason, variant.clone());
            }
        }
        for call in ["invalid_field(", "FieldViolation::new("] {
            for at in after(call) {
                if let (_, Some(comma)) = expression(&text[at..]) {
                    let second = text[at + comma + 1..].trim_start();
                    if let Some(reason) = second.strip_prefix('"').and_then(|s| s.split('"').next()) {
                        if is_reason(reason) {
                            add(reason, Some("INVALID_ARGUMENT".into()));
                        }
                    }
                }
            }
        }
        for at in after("Code::") {
            let variant = identifier(&text[at..]);
            let rest = text[at + variant.len()..].trim_start();
            if let Some(reason) = rest.strip_prefix(',').map(str::trim_start).and_then(|s| s.strip_prefix('"')) {
                let reason = reason.split('"').next().unwrap_or_default();
                if is_reason(reason) {
                    add(reason, Some(code_name(variant)));
                }
            }
        }
        for (needle, then) in [("with_error_info(", "Code::"), ("Some((", "Error::")] {
            for at in after(needle) {
                if let Some(reason) = text[at..].trim_start().strip_prefix('"').and_then(|s| s.split('"').next()) {
                    if is_reason(reason) {
                        add(reason, next_variant(at, then));
                    }
                }
            }
        }
        for at in after("pub fn reason(&self) -> &'static str {") {
            let body = text[at..].split("\n    }\n").next().unwrap_or_default();
            for arm in body.lines().filter(|l| l.contains("=> \"")) {
                let reason = arm.split("=> \"").nth(1).and_then(|s| s.split('"').next()).unwrap_or_default();
                let variant = arm.trim_start().strip_prefix("Self::").map(|v| code_name(identifier(v)));
                // The credit-code and industry-code errors become field violations.
                add(reason, Some(variant.unwrap_or_else(|| "INVALID_ARGUMENT".into())));
            }
        }
    }
    found
}

/// Reasons the scan finds that the server never sends.
const NEVER_SENT: [&str; 1] = [
    // `CreditCode::from_parts` builds codes for sample data only.
    "PART_WRONG_LENGTH",
];

/// The README's reasons table: (reason, code) per row, in order.
fn readme_reasons() -> Vec<(String, String)> {
    let readme = read("README.md");
    let section = readme.split("\n## Errors and their reasons\n").nth(1).expect("the README has the section");
    let section = section.split("\n## ").next().unwrap();
    assert!(section.contains("| reason | code | when | what to do |"), "the section has the reasons table");
    section
        .lines()
        .filter(|l| l.starts_with("| `"))
        .map(|row| {
            let cells: Vec<&str> = row.split('|').map(str::trim).collect();
            (cells[1].trim_matches('`').to_string(), cells[2].to_string())
        })
        .collect()
}

#[test]
fn every_reason_the_server_sends_is_in_the_readme_table_and_the_proto_comments() {
    let mut found = server_reasons();
    // The scan itself works: it sees reasons of every kind of position.
    for known in [
        "CHAIR_TAKEN",
        "POSTING_EXPIRED",
        "REQUEST_ID_REUSED",
        "UNDECODABLE_REQUEST",
        "REQUEST_TIMEOUT",
        "TOO_MANY_WATCHERS",
        "RESOURCE_NOT_FOUND",
        "CHECK_CHARACTER_MISMATCH",
        "SECTION_MISMATCH",
        "BIDI_CONTROL",
    ] {
        assert!(found.contains_key(known), "the source scan misses {known}");
    }
    assert!(found.len() > 100, "the source scan found only {} reasons", found.len());
    let sources = server_sources();
    for (name, text) in &sources {
        assert!(
            name == "src/domain/credit_code.rs" || !text.contains("CreditCode::from_parts"),
            "{name} builds credit codes from parts: PART_WRONG_LENGTH can reach clients, so document it"
        );
    }
    for reason in NEVER_SENT {
        assert!(found.remove(reason).is_some(), "{reason} is no longer in the source: drop it from NEVER_SENT");
    }

    let table = readme_reasons();
    let mut sorted = table.clone();
    sorted.sort_by(|a, b| (&a.1, &a.0).cmp(&(&b.1, &b.0)));
    assert_eq!(table, sorted, "the reasons table is sorted by code, then reason");
    let documented: std::collections::BTreeMap<&str, &str> =
        table.iter().map(|(reason, code)| (reason.as_str(), code.as_str())).collect();
    assert_eq!(documented.len(), table.len(), "the reasons table has one row per reason");
    let missing: Vec<&String> = found.keys().filter(|r| !documented.contains_key(r.as_str())).collect();
    assert!(missing.is_empty(), "reasons the server sends that README.md's table lacks: {missing:?}");
    let stale: Vec<&&str> = documented.keys().filter(|r| !found.contains_key(**r)).collect();
    assert!(stale.is_empty(), "reasons in README.md's table that the server never sends: {stale:?}");
    for (reason, codes) in &found {
        let code = documented[reason.as_str()];
        assert!(
            codes.iter().all(|c| c == code),
            "README.md gives {reason} the code {code}, the source sends it as {codes:?}"
        );
    }

    let mut commented = std::collections::BTreeSet::new();
    for entry in std::fs::read_dir(Path::new(ROOT).join("proto/ladder/v1")).unwrap() {
        let text = std::fs::read_to_string(entry.unwrap().path()).unwrap();
        for comment in text.lines().filter_map(|l| l.trim_start().strip_prefix("//")) {
            commented.extend(
                comment
                    .split(|c: char| !c.is_ascii_alphanumeric() && c != '_')
                    .filter(|w| is_reason(w))
                    .map(String::from),
            );
        }
    }
    let uncommented: Vec<&String> = found.keys().filter(|r| !commented.contains(*r)).collect();
    assert!(uncommented.is_empty(), "reasons no RPC comment in proto/ladder/v1 mentions: {uncommented:?}");
}
