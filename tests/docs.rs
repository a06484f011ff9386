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
