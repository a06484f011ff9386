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

/// Escapes text for XML, dropping the characters XML 1.0 does not allow
/// (controls other than tab and line ends, U+FFFE and U+FFFF): one such
/// character in a firm's name must not make the whole map unreadable.
fn xml(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\t' | '\n' | '\r' => out.push(c),
            c if c < ' ' || c == '\u{FFFE}' || c == '\u{FFFF}' => {}
            c => out.push(c),
        }
    }
    out
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
        MatchState::Delivered => "#1a4f8b",
        MatchState::Closed | MatchState::Unspecified => "#cfcfcf",
    }
}

/// How a match edge is stroked, beyond its colour: signed and delivered
/// deals differ in colour, width and pattern (delivered is a double line),
/// so they stay apart in print and for colour-blind readers.
fn match_stroke(state: MatchState) -> (f64, &'static str) {
    match state {
        MatchState::Delivered => (4.0, ""),
        MatchState::Signed => (3.0, ""),
        MatchState::Contacted | MatchState::Negotiating => (2.2, r#" stroke-dasharray="8 3""#),
        MatchState::Closed => (1.6, r#" stroke-dasharray="3 4""#),
        MatchState::Proposed | MatchState::Unspecified => (1.8, r#" stroke-dasharray="2 3""#),
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
        format!("{} 万元", grouped(wan))
    } else {
        String::new()
    }
}

/// A number with its thousands grouped (`12345.5` → `12,345.5`), as the
/// other tables and the page write amounts.
fn grouped(x: f64) -> String {
    let text = format!("{x}");
    let (int, frac) = text.split_once('.').map_or((text.as_str(), None), |(i, f)| (i, Some(f)));
    let mut out = String::new();
    for (i, c) in int.chars().enumerate() {
        if i > 0 && (int.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    if let Some(f) = frac {
        out.push('.');
        out.push_str(f);
    }
    out
}

/// `3 条 · 1,200 万元`: a count with its amount when there is one.
fn count_label(n: i32, wan: f64) -> String {
    match amount_label(wan) {
        a if a.is_empty() => format!("{n} 条"),
        a => format!("{n} 条 · {a}"),
    }
}

/// Which side of the map a firm node is drawn on.
#[derive(Clone, Copy, PartialEq)]
enum Side {
    Supplier,
    Demander,
}

/// A firm node's text: name, stage, and what it posts on that side
/// (`西安电芯 · 登高 · 供 2 条 · 300 万元`), with its signed deals.
fn firm_text(n: &v1::MapNode, side: Side) -> String {
    let posts = match side {
        Side::Supplier => format!("供 {}", count_label(n.supply_postings, n.supply_amount_wan)),
        Side::Demander => format!("需 {}", count_label(n.demand_postings, n.demand_amount_wan)),
    };
    let deals = if n.signed_matches > 0 { format!(" · 签约 {}", n.signed_matches) } else { String::new() };
    format!("{} · {posts}{deals}", firm_label(n))
}

/// A category node's text: code, name and its supply and demand counts.
fn category_text(n: &v1::MapNode) -> String {
    format!("{} · 供 {} / 需 {}", n.label, n.supply_postings, n.demand_postings)
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
            "supply_postings": n.supply_postings, "demand_postings": n.demand_postings,
            "supply_amount_wan": n.supply_amount_wan, "demand_amount_wan": n.demand_amount_wan,
            "signed_matches": n.signed_matches, "signed_amount_wan": n.signed_amount_wan, "firms": n.firms,
        })).collect::<Vec<_>>(),
        "edges": map.edges.iter().map(|e| json!({
            "from": e.from, "to": e.to, "kind": kind(e.kind), "resources": e.resources,
            "amount_wan": e.amount_wan,
            "match_state": if e.kind == v1::MapEdgeKind::Match as i32 { state_of(e).name() } else { "" },
        })).collect::<Vec<_>>(),
        "truncated": map.truncated,
        "postings_examined": map.postings_examined,
        "level": if map.level == v1::MapLevel::Category as i32 { "CATEGORY" } else { "FIRM" },
        "qualifying_firms": map.qualifying_firms,
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
                dot_str(&category_text(n))
            );
        } else {
            let style = if n.in_zone { "filled" } else { "dashed" };
            let _ = writeln!(
                out,
                "  \"{}\" [shape=ellipse, style=\"{style}\", fillcolor=\"#e8f1fb\", label=\"{}\"];",
                dot_str(&n.id),
                dot_str(&format!(
                    "{}\\n供 {} / 需 {}",
                    firm_label(n),
                    count_label(n.supply_postings, n.supply_amount_wan),
                    count_label(n.demand_postings, n.demand_amount_wan)
                ))
            );
        }
    }
    for e in &map.edges {
        let (colour, label, extra) = match v1::MapEdgeKind::try_from(e.kind) {
            Ok(v1::MapEdgeKind::Supply) => ("#2e86de", "供", ""),
            Ok(v1::MapEdgeKind::Demand) => ("#e67e22", "需", ""),
            _ => match state_of(e) {
                MatchState::Delivered => {
                    (match_colour(MatchState::Delivered), "已交付", ", penwidth=3.5, constraint=false")
                }
                MatchState::Signed => (match_colour(MatchState::Signed), "已签约", ", penwidth=2.5, constraint=false"),
                other => (match_colour(other), other.label_zh(), ", penwidth=1.8, style=dashed, constraint=false"),
            },
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

/// The SVG's opening, white background, title and summary line; `y` of the
/// next free line.
fn svg_head(s: &mut String, width: f64, height: f64, title: &str, summary: &str) {
    let _ = writeln!(
        s,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{width:.0}" height="{height:.0}" viewBox="0 0 {width:.0} {height:.0}" font-family="Noto Sans CJK SC, Source Han Sans SC, PingFang SC, Microsoft YaHei, sans-serif" font-size="{FONT}">"#
    );
    let _ = writeln!(s, r##"<rect width="100%" height="100%" fill="#ffffff"/>"##);
    let _ = writeln!(s, r#"<text x="{MARGIN}" y="30" font-size="20" font-weight="bold">{}</text>"#, xml(title));
    let _ = writeln!(s, r##"<text x="{MARGIN}" y="52" fill="#555">{}</text>"##, xml(summary));
}

/// A text with a white halo, legible over lines.
fn halo_text(s: &mut String, x: f64, y: f64, anchor: &str, size: f64, fill: &str, text: &str) {
    let _ = writeln!(
        s,
        r##"<text x="{x:.1}" y="{y:.1}" font-size="{size}" fill="{fill}" text-anchor="{anchor}" stroke="#ffffff" stroke-width="3" paint-order="stroke">{}</text>"##,
        xml(text)
    );
}

/// The map as a standalone SVG picture: the firm level, or the category
/// overview when the server answered at that level.
pub fn to_svg(map: &v1::SupplyDemandMap, title: &str) -> String {
    if map.level == v1::MapLevel::Category as i32 {
        category_svg(map, title)
    } else {
        firm_svg(map, title)
    }
}

/// One row of the category overview per category: supply on the left as
/// a bar growing leftwards, the category in the middle, demand growing
/// rightwards, signed deals at the right. No edges, so nothing crosses a
/// label.
fn category_svg(map: &v1::SupplyDemandMap, title: &str) -> String {
    let mut cats: Vec<&v1::MapNode> = map.nodes.iter().filter(|n| n.kind == v1::MapNodeKind::Category as i32).collect();
    cats.sort_by(|a, b| a.industry_code.cmp(&b.industry_code));
    let most = cats.iter().map(|c| c.supply_postings.max(c.demand_postings)).max().unwrap_or(1).max(1);
    const BAR: f64 = 260.0;
    let label_w = cats.iter().map(|c| text_width(&c.label)).fold(160.0_f64, f64::max) + 24.0;
    let count_w = 150.0;
    let deals_w = cats.iter().map(|c| text_width(&deal_text(c))).fold(120.0_f64, f64::max) + 16.0;
    let (sx, lx) = (MARGIN + count_w, MARGIN + count_w + BAR);
    let dx = lx + label_w;
    let deals_x = dx + BAR + count_w;
    let width = deals_x + deals_w + MARGIN;
    let height = TOP + cats.len().max(1) as f64 * ROW + 2.0 * MARGIN;
    let mut s = String::new();
    let supply: i32 = cats.iter().map(|c| c.supply_postings).sum();
    let demand: i32 = cats.iter().map(|c| c.demand_postings).sum();
    let summary = format!(
        "产业类别总览：{} 个类别 · {} 家企业 · 供给 {supply} 条 · 需求 {demand} 条{}",
        cats.len(),
        map.qualifying_firms,
        if map.truncated { " · 已达读取上限，仅统计部分" } else { "" }
    );
    svg_head(&mut s, width, height, title, &summary);
    let hint = "按产业类别汇总：用 --alliance 或 --industry 缩小范围，或用 --level firm，可查看企业级图谱";
    let _ = writeln!(s, r##"<text x="{MARGIN}" y="72" font-size="12" fill="#888">{}</text>"##, xml(hint));
    for (heading, x, anchor) in [
        ("供给（条）", sx + BAR / 2.0, "middle"),
        ("产业类别", lx + 8.0, "start"),
        ("需求（条）", dx + BAR / 2.0, "middle"),
        ("已签约", deals_x, "start"),
    ] {
        let _ = writeln!(
            s,
            r##"<text x="{x:.1}" y="{:.1}" text-anchor="{anchor}" font-weight="bold" fill="#333">{heading}</text>"##,
            TOP - 10.0
        );
    }
    for (i, c) in cats.iter().enumerate() {
        let y = TOP + ROW * i as f64;
        if i % 2 == 1 {
            let _ = writeln!(
                s,
                r##"<rect x="{MARGIN}" y="{y:.1}" width="{:.1}" height="{ROW}" fill="#f7f7f7"/>"##,
                width - 2.0 * MARGIN
            );
        }
        let mid = y + ROW / 2.0 + FONT / 2.0 - 2.0;
        let bar = |n: i32| f64::from(n) / f64::from(most) * (BAR - 8.0);
        let (sw, dw) = (bar(c.supply_postings), bar(c.demand_postings));
        let tip = format!(
            "{}：供给 {} · 需求 {} · {} 家企业 · {}",
            c.label,
            count_label(c.supply_postings, c.supply_amount_wan),
            count_label(c.demand_postings, c.demand_amount_wan),
            c.firms,
            deal_text(c)
        );
        let _ = writeln!(s, "<g><title>{}</title>", xml(&tip));
        let _ = writeln!(
            s,
            r##"<rect x="{:.1}" y="{:.1}" width="{sw:.1}" height="{:.1}" fill="#2e86de" fill-opacity="0.8"/>"##,
            lx - 4.0 - sw,
            y + 4.0,
            ROW - 8.0
        );
        let _ = writeln!(
            s,
            r##"<rect x="{:.1}" y="{:.1}" width="{dw:.1}" height="{:.1}" fill="#e67e22" fill-opacity="0.8"/>"##,
            dx + 4.0,
            y + 4.0,
            ROW - 8.0
        );
        let fill = if c.demand_postings > 0 && c.supply_postings == 0 { "#c0392b" } else { "#222" };
        let _ = writeln!(s, r#"<text x="{:.1}" y="{mid:.1}" fill="{fill}">{}</text>"#, lx + 8.0, xml(&c.label));
        let _ = writeln!(
            s,
            r##"<text x="{:.1}" y="{mid:.1}" text-anchor="end" font-size="12" fill="#2e86de">{}</text>"##,
            lx - 8.0 - sw,
            xml(&count_label(c.supply_postings, c.supply_amount_wan))
        );
        let _ = writeln!(
            s,
            r##"<text x="{:.1}" y="{mid:.1}" font-size="12" fill="#b9570e">{}</text>"##,
            dx + 8.0 + dw,
            xml(&count_label(c.demand_postings, c.demand_amount_wan))
        );
        let _ = writeln!(
            s,
            r##"<text x="{deals_x:.1}" y="{mid:.1}" font-size="12" fill="{}">{}</text></g>"##,
            if c.signed_matches > 0 { match_colour(MatchState::Signed) } else { "#999" },
            xml(&deal_text(c))
        );
    }
    s.push_str("</svg>\n");
    s
}

/// `2 项 · 650 万元` signed, or `—`.
fn deal_text(n: &v1::MapNode) -> String {
    match n.signed_matches {
        0 => "—".into(),
        k => format!("{k} 项 · {}", amount_label(n.signed_amount_wan)).trim_end_matches(" · ").to_string(),
    }
}

/// The firm level: suppliers on the left, categories in the middle,
/// demanding firms on the right. A match runs from its supplier through a
/// corridor of its own in the category column (a row no category box
/// takes), where its label sits, to its demanding firm: no edge crosses a
/// node or another edge's label.
fn firm_svg(map: &v1::SupplyDemandMap, title: &str) -> String {
    let nodes: HashMap<&str, &v1::MapNode> = map.nodes.iter().map(|n| (n.id.as_str(), n)).collect();
    let mut categories: Vec<&v1::MapNode> =
        map.nodes.iter().filter(|n| n.kind == v1::MapNodeKind::Category as i32).collect();
    categories.sort_by(|a, b| a.industry_code.cmp(&b.industry_code));
    let cat_index: HashMap<&str, usize> = categories.iter().enumerate().map(|(i, n)| (n.id.as_str(), i)).collect();
    let match_edges: Vec<&v1::MapEdge> = map.edges.iter().filter(|e| e.kind == v1::MapEdgeKind::Match as i32).collect();

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

    let width_of = |ids: &[&str], side: Side| {
        ids.iter().filter_map(|id| nodes.get(id)).map(|n| text_width(&firm_text(n, side))).fold(120.0_f64, f64::max)
            + 16.0
    };
    let lw = width_of(&left, Side::Supplier);
    let rw = width_of(&right, Side::Demander);
    let cw = categories
        .iter()
        .map(|n| text_width(&category_text(n)))
        .chain(match_edges.iter().map(|e| text_width(&match_label(e)) + 8.0))
        .fold(120.0_f64, f64::max)
        + 16.0;
    // The middle column holds the categories and one corridor per match.
    let rows = left.len().max(right.len()).max(categories.len() + match_edges.len()).max(1);
    let height = TOP + rows as f64 * ROW + 3.0 * MARGIN;
    let (lx, cx) = (MARGIN, MARGIN + lw + GAP);
    let rx = cx + cw + GAP;
    let width = rx + rw + MARGIN;
    let span = rows as f64 * ROW;
    let spread = |n: usize, i: usize| TOP + span / n.max(1) as f64 * (i as f64 + 0.5);
    let place = |ids: &[&str], x: f64, w: f64| -> HashMap<String, Place> {
        ids.iter().enumerate().map(|(i, id)| (id.to_string(), Place { x, y: spread(ids.len(), i), w })).collect()
    };
    let supplier_at = place(&left, lx, lw);
    let demander_at = place(&right, rx, rw);

    // Middle column: categories where they would sit alone, corridors
    // halfway between their two firms; then every item gets its own slot,
    // in that order.
    let mut middle: Vec<(f64, usize, Option<&v1::MapNode>, Option<&v1::MapEdge>)> =
        categories.iter().enumerate().map(|(i, n)| (spread(categories.len(), i), 0, Some(*n), None)).collect();
    for e in &match_edges {
        if let (Some(a), Some(b)) = (supplier_at.get(&e.from), demander_at.get(&e.to)) {
            middle.push(((a.y + b.y) / 2.0, 1, None, Some(*e)));
        }
    }
    middle.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
    let mut category_at: HashMap<String, Place> = HashMap::new();
    let mut corridors: Vec<(&v1::MapEdge, f64)> = Vec::new();
    for (i, (_, _, cat, edge)) in middle.iter().enumerate() {
        let y = spread(middle.len(), i);
        if let Some(n) = cat {
            category_at.insert(n.id.clone(), Place { x: cx, y, w: cw });
        }
        if let Some(e) = edge {
            corridors.push((e, y));
        }
    }

    let mut s = String::new();
    let firms = map.nodes.len() - categories.len();
    let summary = format!(
        "{firms} 家企业 · {} 个产业类别 · {} 组对接{}",
        categories.len(),
        match_edges.len(),
        if map.truncated { " · 仅显示部分（已截断）" } else { "" }
    );
    svg_head(&mut s, width, height, title, &summary);
    let legend: [(&str, f64, &str, &str); 6] = [
        ("#2e86de", 1.4, "", "供给"),
        ("#e67e22", 1.4, "", "需求"),
        (
            match_colour(MatchState::Proposed),
            match_stroke(MatchState::Proposed).0,
            match_stroke(MatchState::Proposed).1,
            "已推荐",
        ),
        (
            match_colour(MatchState::Negotiating),
            match_stroke(MatchState::Negotiating).0,
            match_stroke(MatchState::Negotiating).1,
            "对接/洽谈中",
        ),
        (match_colour(MatchState::Signed), match_stroke(MatchState::Signed).0, "", "已签约"),
        (match_colour(MatchState::Delivered), match_stroke(MatchState::Delivered).0, "", "已交付（双线）"),
    ];
    let mut x = MARGIN;
    for (colour, w, dash, label) in legend {
        let _ = writeln!(
            s,
            r#"<line x1="{x}" y1="70" x2="{}" y2="70" stroke="{colour}" stroke-width="{w}"{dash}/><text x="{}" y="74" font-size="12">{label}</text>"#,
            x + 24.0,
            x + 30.0
        );
        if label.starts_with("已交付") {
            let _ =
                writeln!(s, r#"<line x1="{x}" y1="70" x2="{}" y2="70" stroke="white" stroke-width="1.2"/>"#, x + 24.0);
        }
        x += 40.0 + text_width(label);
    }
    let note = "节点注明供/需条数与金额；灰框虚线为园区外企业";
    let _ = writeln!(s, r##"<text x="{MARGIN}" y="92" font-size="12" fill="#888">{}</text>"##, xml(note));
    for (heading, hx, hw) in [("供给方", lx, lw), ("产业类别", cx, cw), ("需求方", rx, rw)] {
        let _ = writeln!(
            s,
            r##"<text x="{:.1}" y="{:.1}" text-anchor="middle" font-weight="bold" fill="#333">{heading}</text>"##,
            hx + hw / 2.0,
            TOP - 8.0
        );
    }

    // Posting edges run only between the columns.
    let _ = writeln!(s, r#"<g fill="none" stroke-opacity="0.55">"#);
    for e in &map.edges {
        let (from, to, colour) = match v1::MapEdgeKind::try_from(e.kind) {
            Ok(v1::MapEdgeKind::Supply) => (supplier_at.get(&e.from), category_at.get(&e.to), "#2e86de"),
            Ok(v1::MapEdgeKind::Demand) => (category_at.get(&e.from), demander_at.get(&e.to), "#e67e22"),
            _ => continue,
        };
        let (Some(a), Some(b)) = (from, to) else { continue };
        let (x1, y1, x2, y2) = (a.x + a.w, a.y, b.x, b.y);
        let bend = (x2 - x1) / 2.0;
        let tip = format!("{} {}", e.resources.join(" "), amount_label(e.amount_wan));
        let _ = writeln!(
            s,
            r#"<path d="M{x1:.1},{y1:.1} C{:.1},{y1:.1} {:.1},{y2:.1} {x2:.1},{y2:.1}" stroke="{colour}" stroke-width="1.4"><title>{}</title></path>"#,
            x1 + bend,
            x2 - bend,
            xml(tip.trim())
        );
    }
    let _ = writeln!(s, "</g>");
    // Matches: supplier → corridor → demanding firm; the label on the corridor.
    let _ = writeln!(s, r#"<g fill="none">"#);
    for (e, yc) in &corridors {
        let (Some(a), Some(b)) = (supplier_at.get(&e.from), demander_at.get(&e.to)) else { continue };
        let state = state_of(e);
        let colour = match_colour(state);
        let (w, dash) = match_stroke(state);
        let (x1, y1, x2, y2) = (a.x + a.w, a.y, b.x, b.y);
        let (ca, cb) = (cx - 6.0, cx + cw + 6.0);
        let path = format!(
            "M{x1:.1},{y1:.1} C{:.1},{y1:.1} {:.1},{yc:.1} {ca:.1},{yc:.1} L{cb:.1},{yc:.1} C{:.1},{yc:.1} {:.1},{y2:.1} {x2:.1},{y2:.1}",
            x1 + (ca - x1) / 2.0,
            x1 + (ca - x1) / 2.0,
            cb + (x2 - cb) / 2.0,
            cb + (x2 - cb) / 2.0,
        );
        let tip = format!("{} {}", e.resources.join(" "), amount_label(e.amount_wan));
        let _ = writeln!(
            s,
            r#"<path d="{path}" stroke="{colour}" stroke-width="{w}"{dash}><title>{}</title></path>"#,
            xml(tip.trim())
        );
        if state == MatchState::Delivered {
            // A white core makes the delivered line a double line.
            let _ = writeln!(s, r##"<path d="{path}" stroke="#ffffff" stroke-width="1.2"/>"##);
        }
        halo_text(&mut s, cx + cw / 2.0, yc - 4.0, "middle", 11.0, colour, &match_label(e));
    }
    let _ = writeln!(s, "</g>");

    let mut node = |id: &str, place: &Place, label: &str, tip: &str, fill: &str, dashed: bool| {
        let dash = if dashed { r#" stroke-dasharray="4 3""# } else { "" };
        let _ = writeln!(
            s,
            r##"<g class="node" data-node="{}"><title>{}</title><rect x="{:.1}" y="{:.1}" width="{:.1}" height="{NODE_H}" rx="4" fill="{fill}" stroke="#7f8c8d"{dash}/><text x="{:.1}" y="{:.1}">{}</text></g>"##,
            xml(id),
            xml(tip),
            place.x,
            place.y - NODE_H / 2.0,
            place.w,
            place.x + 8.0,
            place.y + FONT / 2.0 - 2.0,
            xml(label)
        );
    };
    for (side, at) in [(Side::Supplier, &supplier_at), (Side::Demander, &demander_at)] {
        for (id, place) in at {
            if let Some(n) = nodes.get(id.as_str()) {
                let tip = format!("{} {}{}", n.id, n.industry_code, if n.in_zone { " 园区内" } else { " 园区外" });
                let fill = if n.in_zone { "#e8f1fb" } else { "#ffffff" };
                node(&n.id, place, &firm_text(n, side), &tip, fill, !n.in_zone);
            }
        }
    }
    for (id, place) in &category_at {
        if let Some(n) = nodes.get(id.as_str()) {
            let tip = format!("{} · {} 家企业", n.industry_code, n.firms);
            node(&n.id, place, &category_text(n), &tip, "#fff4d6", false);
        }
    }
    s.push_str("</svg>\n");
    s
}

/// A match edge's label: its state and signed amount.
fn match_label(e: &v1::MapEdge) -> String {
    format!("{} {}", state_of(e).label_zh(), amount_label(e.amount_wan)).trim().to_string()
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
            level: v1::MapLevel::Firm as i32,
            qualifying_firms: 2,
        }
    }

    #[test]
    fn the_svg_draws_every_node_edge_and_escapes_labels() {
        let svg = to_svg(&sample(), "供需图谱");
        assert!(svg.starts_with("<svg ") && svg.trim_end().ends_with("</svg>"));
        assert!(svg.contains("西安电芯&lt;制造&gt; · 登高"), "labels are escaped");
        assert_eq!(xml("a\u{FFFF}b\u{1}c\u{FFFE}&"), "abc&amp;", "characters XML forbids are dropped");
        assert_eq!(
            (grouped(300.0), grouped(12345.5), grouped(1234567.0)),
            ("300".into(), "12,345.5".into(), "1,234,567".into())
        );
        assert!(svg.contains("C3841 锂离子电池制造"));
        assert_eq!(svg.matches("<path ").count(), 3, "supply, demand and match edges");
        assert!(svg.contains("已签约 300 万元"));
        assert!(svg.contains(r#"stroke-dasharray="4 3""#), "out-of-zone firms are dashed");
        assert_eq!(svg.matches(r#"<g class="node" data-node=""#).count(), 3, "two firms and one category");
        assert!(svg.contains(r#"data-node="cat:C3841""#), "nodes carry their ids (the web map clicks through)");
    }

    /// A firm-level map with several categories, firms on both sides and
    /// matches in every state.
    fn busy() -> v1::SupplyDemandMap {
        let mut nodes = Vec::new();
        let mut edges = Vec::new();
        let edge = |from: String, to: String, kind: v1::MapEdgeKind, state: MatchState| v1::MapEdge {
            from,
            to,
            kind: kind as i32,
            resources: vec!["x".into()],
            amount_wan: 100.0,
            match_state: state as i32,
        };
        for c in 0..6 {
            nodes.push(v1::MapNode {
                id: format!("cat:C37{c}1"),
                kind: v1::MapNodeKind::Category as i32,
                label: format!("C37{c}1 类别{c}"),
                industry_code: format!("C37{c}1"),
                supply_postings: 2,
                demand_postings: 2,
                ..Default::default()
            });
        }
        for f in 0..12 {
            nodes.push(v1::MapNode {
                id: format!("F{f}"),
                kind: v1::MapNodeKind::Firm as i32,
                label: format!("企业{f}"),
                supply_postings: 1,
                demand_postings: 1,
                ..Default::default()
            });
            let cat = format!("cat:C37{}1", f % 6);
            if f % 2 == 0 {
                edges.push(edge(format!("F{f}"), cat, v1::MapEdgeKind::Supply, MatchState::Unspecified));
            } else {
                edges.push(edge(cat, format!("F{f}"), v1::MapEdgeKind::Demand, MatchState::Unspecified));
            }
        }
        for (i, state) in MatchState::ALL.iter().enumerate() {
            let (a, b) = (2 * i % 12, (2 * i + 7) % 12);
            edges.push(edge(format!("F{a}"), format!("F{b}"), v1::MapEdgeKind::Match, *state));
        }
        v1::SupplyDemandMap { nodes, edges, level: v1::MapLevel::Firm as i32, ..Default::default() }
    }

    /// The numbers after `name="` in an SVG element.
    fn attr(element: &str, name: &str) -> Option<f64> {
        let at = element.find(&format!(" {name}=\""))? + name.len() + 3;
        element[at..].split('"').next()?.parse().ok()
    }

    #[test]
    fn match_labels_and_corridors_stay_clear_of_every_node() {
        let svg = to_svg(&busy(), "图");
        let boxes: Vec<(f64, f64, f64, f64)> = svg
            .lines()
            .filter(|l| l.starts_with(r#"<g class="node""#))
            .filter_map(|l| {
                let rect = &l[l.find("<rect")?..];
                Some((attr(rect, "x")?, attr(rect, "y")?, attr(rect, "width")?, attr(rect, "height")?))
            })
            .collect();
        assert_eq!(boxes.len(), 6 + 12, "every category and firm is drawn");
        let labels: Vec<(f64, f64)> = svg
            .lines()
            .filter(|l| l.contains(r#"paint-order="stroke""#))
            .filter_map(|l| Some((attr(l, "x")?, attr(l, "y")?)))
            .collect();
        assert_eq!(labels.len(), MatchState::ALL.len(), "one label per match");
        for (lx, ly) in &labels {
            // A label's glyphs span about 11 px above its baseline.
            for (x, y, w, h) in &boxes {
                let across = *lx > *x && *lx < x + w;
                let overlaps = ly - 11.0 < y + h && *ly + 2.0 > *y;
                assert!(!(across && overlaps), "label at ({lx}, {ly}) covers the box at ({x}, {y})");
            }
        }
        // Each corridor (the straight part of a match path) passes between
        // the category boxes, never through one.
        let point = |p: &str| -> (f64, f64) {
            let (x, y) = p.split_once(',').unwrap();
            (x.parse().unwrap(), y.parse().unwrap())
        };
        let mut corridors = 0;
        for l in svg.lines().filter(|l| l.starts_with("<path d=") && l.contains(" L")) {
            let (before, after) = l.split_once(" L").unwrap();
            let (ca, yc) = point(before.rsplit(' ').next().unwrap());
            let (cb, _) = point(after.split(' ').next().unwrap());
            corridors += 1;
            for (x, y, w, h) in boxes.iter().filter(|(x, _, w, _)| *x < cb && x + w > ca) {
                assert!(yc < *y || yc > y + h, "corridor at {yc} crosses the box at ({x}, {y}, {w}, {h})");
            }
        }
        assert!(corridors >= MatchState::ALL.len(), "every match runs through a corridor");
    }

    #[test]
    fn signed_and_delivered_deals_are_drawn_differently() {
        let svg = to_svg(&busy(), "图");
        let path_of = |state: MatchState| {
            svg.lines()
                .find(|l| l.starts_with("<path d=") && l.contains(&format!("stroke=\"{}\"", match_colour(state))))
                .unwrap_or_else(|| panic!("no {state:?} edge"))
                .to_string()
        };
        let (signed, delivered) = (path_of(MatchState::Signed), path_of(MatchState::Delivered));
        assert_ne!(match_colour(MatchState::Signed), match_colour(MatchState::Delivered));
        assert_ne!(attr(&signed, "stroke-width"), attr(&delivered, "stroke-width"));
        // Delivered is a double line: the same path again with a white core.
        let d = delivered.split('"').nth(1).unwrap();
        assert!(svg.contains(&format!(r##"<path d="{d}" stroke="#ffffff""##)));
        let s = signed.split('"').nth(1).unwrap();
        assert!(!svg.contains(&format!(r##"<path d="{s}" stroke="#ffffff""##)));
        assert!(svg.contains("已交付") && svg.contains("已签约"));
    }

    #[test]
    fn the_category_overview_has_a_row_per_category_with_counts_and_no_edges() {
        let category = |code: &str, supply: i32, demand: i32, amount: f64, deals: i32| v1::MapNode {
            id: format!("cat:{code}"),
            kind: v1::MapNodeKind::Category as i32,
            label: format!("{code} 名称"),
            industry_code: code.into(),
            supply_postings: supply,
            demand_postings: demand,
            demand_amount_wan: amount,
            signed_matches: deals,
            signed_amount_wan: f64::from(deals) * 50.0,
            firms: supply + demand,
            ..Default::default()
        };
        let map = v1::SupplyDemandMap {
            nodes: vec![category("I6520", 0, 4, 800.0, 0), category("C3841", 12, 3, 0.0, 2)],
            level: v1::MapLevel::Category as i32,
            qualifying_firms: 400,
            ..Default::default()
        };
        let svg = to_svg(&map, "供需图谱");
        assert!(!svg.contains("<path"), "no edges at the overview");
        assert!(svg.contains("2 个类别 · 400 家企业 · 供给 12 条 · 需求 7 条"), "{svg}");
        // Sorted by code; counts and amounts beside the bars; deals at the right.
        assert!(svg.find("C3841 名称").unwrap() < svg.find("I6520 名称").unwrap());
        assert!(svg.contains(">4 条 · 800 万元<") && svg.contains(">12 条<"));
        assert!(svg.contains(">2 项 · 100 万元<"));
        // A category with demand and no supply is marked red.
        assert!(svg.contains(r##"fill="#c0392b">I6520 名称"##));
        // JSON says which level it is.
        assert_eq!(to_json(&map)["level"], "CATEGORY");
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
