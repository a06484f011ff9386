//! Draws the supply–demand map (供需图谱) as SVG (laid out here, in pure
//! Rust: no Graphviz needed), as Graphviz DOT, or as JSON.
//!
//! The SVG has three columns: supplying firms on the left, the categories in
//! the middle, demanding firms on the right. Firms are grouped by the
//! category they supply or need, so most edges run straight across; a firm
//! that both supplies and needs appears on both sides. Matches are drawn as
//! curves from the supplier to the demanding firm, coloured by state.

use std::collections::{BTreeMap, HashMap};
use std::fmt::Write as _;

use serde_json::{json, Value};

use crate::domain::supply_demand::MatchState;
use crate::pb::v1;

const ROW: f64 = 24.0;
const FONT: f64 = 13.0;
const NODE_H: f64 = 18.0;
const TOP: f64 = 116.0;
const GAP: f64 = 220.0;
const MARGIN: f64 = 24.0;

/// Escapes text for XML.
fn xml(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

/// Escapes text for a DOT string.
fn dot_str(s: &str) -> String {
    s.replace('\\', "\\\\").replace('"', "\\\"")
}

/// Approximate width of a label in pixels: CJK characters are square, the
/// rest about half as wide.
fn text_width(s: &str) -> f64 {
    s.chars().map(|c| if c.is_ascii() { FONT * 0.6 } else { FONT }).sum()
}

fn state_of(e: &v1::MapEdge) -> MatchState {
    MatchState::try_from(e.match_state).unwrap_or(MatchState::Unspecified)
}

fn match_colour(state: MatchState) -> &'static str {
    match state {
        MatchState::Proposed => "#9e9e9e",
        MatchState::Contacted | MatchState::Negotiating => "#8e44ad",
        MatchState::Signed => "#27ae60",
        MatchState::Delivered => "#145a32",
        MatchState::Closed | MatchState::Unspecified => "#cfcfcf",
    }
}

fn firm_label(n: &v1::MapNode) -> String {
    if n.stage.is_empty() {
        n.label.clone()
    } else {
        format!("{} · {}", n.label, n.stage)
    }
}

fn amount_label(wan: f64) -> String {
    if wan > 0.0 {
        format!("{wan} 万元")
    } else {
        String::new()
    }
}

/// The map as JSON.
pub fn to_json(map: &v1::SupplyDemandMap) -> Value {
    let kind = |k: i32| match v1::MapEdgeKind::try_from(k) {
        Ok(v1::MapEdgeKind::Supply) => "SUPPLY",
        Ok(v1::MapEdgeKind::Demand) => "DEMAND",
        Ok(v1::MapEdgeKind::Match) => "MATCH",
        _ => "UNSPECIFIED",
    };
    json!({
        "nodes": map.nodes.iter().map(|n| json!({
            "id": n.id,
            "kind": if n.kind == v1::MapNodeKind::Firm as i32 { "FIRM" } else { "CATEGORY" },
            "label": n.label, "stage": n.stage, "alliances": n.alliances,
            "industry_code": n.industry_code, "in_zone": n.in_zone,
        })).collect::<Vec<_>>(),
        "edges": map.edges.iter().map(|e| json!({
            "from": e.from, "to": e.to, "kind": kind(e.kind), "resources": e.resources,
            "amount_wan": e.amount_wan,
            "match_state": if e.kind == v1::MapEdgeKind::Match as i32 { state_of(e).name() } else { "" },
        })).collect::<Vec<_>>(),
        "truncated": map.truncated,
        "postings_examined": map.postings_examined,
    })
}

/// The map as a Graphviz digraph (left to right, categories as boxes).
pub fn to_dot(map: &v1::SupplyDemandMap, title: &str) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "digraph supply_demand {{");
    let _ =
        writeln!(out, "  graph [rankdir=LR, fontname=\"Noto Sans CJK SC\", label=\"{}\", labelloc=t];", dot_str(title));
    let _ = writeln!(out, "  node [fontname=\"Noto Sans CJK SC\", fontsize=11];");
    let _ = writeln!(out, "  edge [fontname=\"Noto Sans CJK SC\", fontsize=9];");
    for n in &map.nodes {
        if n.kind == v1::MapNodeKind::Category as i32 {
            let _ = writeln!(
                out,
                "  \"{}\" [shape=box, style=\"rounded,filled\", fillcolor=\"#fff4d6\", label=\"{}\"];",
                dot_str(&n.id),
                dot_str(&n.label)
            );
        } else {
            let style = if n.in_zone { "filled" } else { "dashed" };
            let _ = writeln!(
                out,
                "  \"{}\" [shape=ellipse, style=\"{style}\", fillcolor=\"#e8f1fb\", label=\"{}\"];",
                dot_str(&n.id),
                dot_str(&firm_label(n))
            );
        }
    }
    for e in &map.edges {
        let (colour, label, extra) = match v1::MapEdgeKind::try_from(e.kind) {
            Ok(v1::MapEdgeKind::Supply) => ("#2e86de", "供", ""),
            Ok(v1::MapEdgeKind::Demand) => ("#e67e22", "需", ""),
            _ => (match_colour(state_of(e)), state_of(e).label_zh(), ", penwidth=2.5, constraint=false"),
        };
        let amount = amount_label(e.amount_wan);
        let label = if amount.is_empty() { label.to_string() } else { format!("{label} {amount}") };
        let _ = writeln!(
            out,
            "  \"{}\" -> \"{}\" [color=\"{colour}\", label=\"{}\"{extra}];",
            dot_str(&e.from),
            dot_str(&e.to),
            dot_str(&label)
        );
    }
    out.push_str("}\n");
    out
}

/// The firms of a column in order, each once (at its first category).
fn dedup(side: BTreeMap<(usize, String), &str>) -> Vec<&str> {
    let mut seen = std::collections::HashSet::new();
    side.into_values().filter(|id| seen.insert(*id)).collect()
}

/// Where a node is drawn.
#[derive(Debug, Clone, Copy)]
struct Place {
    x: f64,
    y: f64,
    w: f64,
}

/// The map as a standalone SVG picture.
pub fn to_svg(map: &v1::SupplyDemandMap, title: &str) -> String {
    let nodes: HashMap<&str, &v1::MapNode> = map.nodes.iter().map(|n| (n.id.as_str(), n)).collect();
    let mut categories: Vec<&v1::MapNode> =
        map.nodes.iter().filter(|n| n.kind == v1::MapNodeKind::Category as i32).collect();
    categories.sort_by(|a, b| a.industry_code.cmp(&b.industry_code));
    let cat_index: HashMap<&str, usize> = categories.iter().enumerate().map(|(i, n)| (n.id.as_str(), i)).collect();

    // Each firm sits next to the first category it supplies (left) or needs (right).
    let mut left: BTreeMap<(usize, String), &str> = BTreeMap::new();
    let mut right: BTreeMap<(usize, String), &str> = BTreeMap::new();
    for e in &map.edges {
        match v1::MapEdgeKind::try_from(e.kind) {
            Ok(v1::MapEdgeKind::Supply) => {
                if let (Some(i), Some(f)) = (cat_index.get(e.to.as_str()), nodes.get(e.from.as_str())) {
                    left.insert((*i, f.label.clone() + &f.id), f.id.as_str());
                }
            }
            Ok(v1::MapEdgeKind::Demand) => {
                if let (Some(i), Some(f)) = (cat_index.get(e.from.as_str()), nodes.get(e.to.as_str())) {
                    right.insert((*i, f.label.clone() + &f.id), f.id.as_str());
                }
            }
            _ => {}
        }
    }
    let (left, right) = (dedup(left), dedup(right));

    let width_of = |ids: &[&str]| {
        ids.iter().filter_map(|id| nodes.get(id)).map(|n| text_width(&firm_label(n))).fold(120.0_f64, f64::max) + 16.0
    };
    let lw = width_of(&left);
    let rw = width_of(&right);
    let cw = categories.iter().map(|n| text_width(&n.label)).fold(120.0_f64, f64::max) + 16.0;
    let rows = left.len().max(right.len()).max(categories.len()).max(1);
    let height = TOP + rows as f64 * ROW + 3.0 * MARGIN;
    let (lx, cx) = (MARGIN, MARGIN + lw + GAP);
    let rx = cx + cw + GAP;
    let width = rx + rw + MARGIN;

    let column = |ids: &[&str], x: f64, w: f64| -> Vec<(String, Place)> {
        let span = rows as f64 * ROW;
        let step = span / ids.len().max(1) as f64;
        ids.iter()
            .enumerate()
            .map(|(i, id)| (id.to_string(), Place { x, y: TOP + step * (i as f64 + 0.5), w }))
            .collect()
    };
    let cat_ids: Vec<&str> = categories.iter().map(|n| n.id.as_str()).collect();
    let supplier_at: HashMap<String, Place> = column(&left, lx, lw).into_iter().collect();
    let demander_at: HashMap<String, Place> = column(&right, rx, rw).into_iter().collect();
    let category_at: HashMap<String, Place> = column(&cat_ids, cx, cw).into_iter().collect();

    let mut s = String::new();
    let _ = writeln!(
        s,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{width:.0}" height="{height:.0}" viewBox="0 0 {width:.0} {height:.0}" font-family="Noto Sans CJK SC, Source Han Sans SC, PingFang SC, Microsoft YaHei, sans-serif" font-size="{FONT}">"#
    );
    let _ = writeln!(s, r##"<rect width="100%" height="100%" fill="#ffffff"/>"##);
    let firms = map.nodes.len() - categories.len();
    let matches = map.edges.iter().filter(|e| e.kind == v1::MapEdgeKind::Match as i32).count();
    let _ = writeln!(s, r#"<text x="{MARGIN}" y="30" font-size="20" font-weight="bold">{}</text>"#, xml(title));
    let summary = format!(
        "{firms} 家企业 · {} 个产业类别 · {matches} 组对接{}",
        categories.len(),
        if map.truncated { " · 仅显示部分（已截断）" } else { "" }
    );
    let _ = writeln!(s, r##"<text x="{MARGIN}" y="52" fill="#555">{}</text>"##, xml(&summary));
    let legend = [
        ("#2e86de", "供给"),
        ("#e67e22", "需求"),
        (match_colour(MatchState::Proposed), "已推荐"),
        (match_colour(MatchState::Negotiating), "对接/洽谈中"),
        (match_colour(MatchState::Signed), "已签约"),
        (match_colour(MatchState::Delivered), "已交付"),
    ];
    let mut x = MARGIN;
    for (colour, label) in legend {
        let _ = writeln!(
            s,
            r#"<line x1="{x}" y1="70" x2="{}" y2="70" stroke="{colour}" stroke-width="3"/><text x="{}" y="74" font-size="12">{label}</text>"#,
            x + 24.0,
            x + 30.0
        );
        x += 40.0 + text_width(label);
    }
    for (heading, hx, hw) in [("供给方", lx, lw), ("产业类别", cx, cw), ("需求方", rx, rw)] {
        let _ = writeln!(
            s,
            r##"<text x="{:.1}" y="{:.1}" text-anchor="middle" font-weight="bold" fill="#333">{heading}</text>"##,
            hx + hw / 2.0,
            TOP - 8.0
        );
    }

    // Edges first, so nodes are drawn over them.
    let _ = writeln!(s, r#"<g fill="none" stroke-opacity="0.55">"#);
    for e in &map.edges {
        let tip = format!("{} {}", e.resources.join(" "), amount_label(e.amount_wan));
        let (from, to, colour, w) = match v1::MapEdgeKind::try_from(e.kind) {
            Ok(v1::MapEdgeKind::Supply) => (supplier_at.get(&e.from), category_at.get(&e.to), "#2e86de", 1.4),
            Ok(v1::MapEdgeKind::Demand) => (category_at.get(&e.from), demander_at.get(&e.to), "#e67e22", 1.4),
            _ => (supplier_at.get(&e.from), demander_at.get(&e.to), match_colour(state_of(e)), 2.6),
        };
        let (Some(a), Some(b)) = (from, to) else { continue };
        let (x1, y1, x2, y2) = (a.x + a.w, a.y, b.x, b.y);
        let bend = (x2 - x1) / 2.0;
        let path = if e.kind == v1::MapEdgeKind::Match as i32 {
            // Matches arc above the straight posting edges.
            let lift = 40.0 + (y2 - y1).abs() * 0.1;
            format!(
                "M{x1:.1},{y1:.1} C{:.1},{:.1} {:.1},{:.1} {x2:.1},{y2:.1}",
                x1 + bend,
                y1 - lift,
                x2 - bend,
                y2 - lift
            )
        } else {
            format!("M{x1:.1},{y1:.1} C{:.1},{y1:.1} {:.1},{y2:.1} {x2:.1},{y2:.1}", x1 + bend, x2 - bend)
        };
        let dash = if state_of(e) == MatchState::Closed { r#" stroke-dasharray="6 4""# } else { "" };
        let _ = writeln!(
            s,
            r#"<path d="{path}" stroke="{colour}" stroke-width="{w}"{dash}><title>{}</title></path>"#,
            xml(tip.trim())
        );
        if e.kind == v1::MapEdgeKind::Match as i32 {
            let label = format!("{} {}", state_of(e).label_zh(), amount_label(e.amount_wan));
            let _ = writeln!(
                s,
                r#"<text x="{:.1}" y="{:.1}" font-size="11" fill="{colour}" stroke="none" text-anchor="middle">{}</text>"#,
                (x1 + x2) / 2.0,
                (y1 + y2) / 2.0 - 30.0 - (y2 - y1).abs() * 0.075,
                xml(label.trim())
            );
        }
    }
    let _ = writeln!(s, "</g>");

    let mut node = |place: &Place, label: &str, tip: &str, fill: &str, dashed: bool| {
        let dash = if dashed { r#" stroke-dasharray="4 3""# } else { "" };
        let _ = writeln!(
            s,
            r##"<g><title>{}</title><rect x="{:.1}" y="{:.1}" width="{:.1}" height="{NODE_H}" rx="4" fill="{fill}" stroke="#7f8c8d"{dash}/><text x="{:.1}" y="{:.1}">{}</text></g>"##,
            xml(tip),
            place.x,
            place.y - NODE_H / 2.0,
            place.w,
            place.x + 8.0,
            place.y + FONT / 2.0 - 2.0,
            xml(label)
        );
    };
    for (id, place) in supplier_at.iter().chain(demander_at.iter()) {
        if let Some(n) = nodes.get(id.as_str()) {
            let tip = format!("{} {}{}", n.id, n.industry_code, if n.in_zone { " 园区内" } else { " 园区外" });
            let fill = if n.in_zone { "#e8f1fb" } else { "#ffffff" };
            node(place, &firm_label(n), &tip, fill, !n.in_zone);
        }
    }
    for (id, place) in &category_at {
        if let Some(n) = nodes.get(id.as_str()) {
            node(place, &n.label, &n.industry_code, "#fff4d6", false);
        }
    }
    s.push_str("</svg>\n");
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> v1::SupplyDemandMap {
        let firm = |id: &str, label: &str, in_zone: bool| v1::MapNode {
            id: id.into(),
            kind: v1::MapNodeKind::Firm as i32,
            label: label.into(),
            stage: "登高".into(),
            in_zone,
            ..Default::default()
        };
        let cat = v1::MapNode {
            id: "cat:C3841".into(),
            kind: v1::MapNodeKind::Category as i32,
            label: "C3841 锂离子电池制造".into(),
            industry_code: "C3841".into(),
            ..Default::default()
        };
        let edge = |from: &str, to: &str, kind: v1::MapEdgeKind, state: MatchState| v1::MapEdge {
            from: from.into(),
            to: to.into(),
            kind: kind as i32,
            resources: vec!["postings/1".into()],
            amount_wan: 300.0,
            match_state: state as i32,
        };
        v1::SupplyDemandMap {
            nodes: vec![firm("A", "西安电芯<制造>", true), firm("B", "储能需求方", false), cat],
            edges: vec![
                edge("A", "cat:C3841", v1::MapEdgeKind::Supply, MatchState::Unspecified),
                edge("cat:C3841", "B", v1::MapEdgeKind::Demand, MatchState::Unspecified),
                edge("A", "B", v1::MapEdgeKind::Match, MatchState::Signed),
            ],
            truncated: false,
            postings_examined: 2,
        }
    }

    #[test]
    fn the_svg_draws_every_node_edge_and_escapes_labels() {
        let svg = to_svg(&sample(), "供需图谱");
        assert!(svg.starts_with("<svg ") && svg.trim_end().ends_with("</svg>"));
        assert!(svg.contains("西安电芯&lt;制造&gt; · 登高"), "labels are escaped");
        assert!(svg.contains("C3841 锂离子电池制造"));
        assert_eq!(svg.matches("<path ").count(), 3, "supply, demand and match edges");
        assert!(svg.contains("已签约 300 万元"));
        assert!(svg.contains(r#"stroke-dasharray="4 3""#), "out-of-zone firms are dashed");
        assert_eq!(svg.matches("<g>").count(), 3, "two firms and one category");
    }

    #[test]
    fn dot_and_json_carry_the_same_graph() {
        let m = sample();
        let dot = to_dot(&m, "图");
        assert!(dot.contains("\"A\" -> \"cat:C3841\""));
        assert!(dot.contains("\"A\" -> \"B\"") && dot.contains("已签约 300 万元"));
        let v = to_json(&m);
        assert_eq!(v["nodes"].as_array().unwrap().len(), 3);
        assert_eq!(v["edges"][2]["match_state"], "SIGNED");
    }
}
