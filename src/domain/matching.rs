//! Explainable matching of supply and demand: keywords from proper Chinese
//! word segmentation (jieba, with the zone's own vocabulary added) and a
//! score whose every factor says why it gave points.
//!
//! The score is the sum of weighted factors (the weights add up to 100):
//! industry-code closeness, shared keywords weighted by rarity (IDF), same
//! alliance, in-zone counterpart, region, quantity fit, freshness and chain
//! segment. Pure: the store gathers the candidates and the keyword
//! frequencies; this module only scores.

use std::collections::HashMap;
use std::sync::OnceLock;

use jieba_rs::Jieba;

use crate::domain::credit_code::region_name;
use crate::domain::industry::{IndustryCode, Level};
use crate::domain::supply_demand::{Posting, PostingKind};
use crate::domain::time::Date;

/// Most keywords kept per posting.
pub const MAX_KEYWORDS: usize = 40;

/// Words of the zone's industries that jieba's general dictionary splits
/// apart; added so that 测运控 or 电芯 stay one keyword.
const ZONE_WORDS: &[&str] = &[
    "电芯",
    "储能",
    "测运控",
    "卫星应用",
    "卫星制造",
    "遥感",
    "北斗",
    "星载",
    "载荷",
    "运载火箭",
    "固体火箭",
    "液体火箭",
    "火箭发动机",
    "无人机",
    "飞控",
    "光伏",
    "逆变器",
    "组件",
    "碳纤维",
    "复合材料",
    "结构件",
    "射频",
    "天线",
    "地面站",
    "芯片",
    "集成电路",
    "传感器",
    "锂电池",
    "钠离子",
    "电池包",
    "热控",
    "姿控",
    "星座",
    "通导遥",
];

/// Words too common in postings to say anything about a match.
const STOPWORDS: &[&str] = &[
    "采购",
    "需要",
    "需求",
    "供应",
    "提供",
    "用于",
    "我们",
    "公司",
    "企业",
    "本公司",
    "产品",
    "服务",
    "相关",
    "以及",
    "进行",
    "可以",
    "能够",
    "具有",
    "主要",
    "一批",
    "一套",
    "若干",
    "长期",
    "寻求",
    "寻找",
    "合作",
    "伙伴",
    "项目",
    "要求",
    "具备",
    "满足",
    "其他",
    "包括",
    "开展",
    "等等",
    "一个",
    "这个",
    "方面",
    "生产",
    "制造",
    "研发",
    "销售",
    "批量",
    "单位",
    "厂家",
    "供应商",
    "希望",
    "现有",
    "拟",
    "通过",
    "承接",
    "面向",
    "环节",
    "供货",
    "外包",
    "委托",
    "配套",
    "用户",
    "客户",
    "系列",
];

fn segmenter() -> &'static Jieba {
    static JIEBA: OnceLock<Jieba> = OnceLock::new();
    JIEBA.get_or_init(|| {
        let mut jieba = Jieba::new();
        for word in ZONE_WORDS {
            jieba.add_word(word, Some(100_000), None);
        }
        jieba
    })
}

/// Loads the segmenter's dictionary now (it is loaded on first use
/// otherwise); the server calls it at start so the first posting is fast.
pub fn warm_up() {
    segmenter();
}

/// Whether a word carries meaning for matching: Chinese words of two or more
/// characters, ASCII words of two or more letters or digits (`FPGA`, `5G`),
/// not a stopword and not a bare number.
fn meaningful(word: &str) -> bool {
    let chars = word.chars().count();
    if chars < 2 || STOPWORDS.contains(&word) {
        return false;
    }
    let cjk = word.chars().all(|c| ('\u{4e00}'..='\u{9fff}').contains(&c));
    let ascii = word.chars().all(|c| c.is_ascii_alphanumeric());
    (cjk || ascii) && !word.chars().all(|c| c.is_ascii_digit())
}

/// The keywords of a posting: the meaningful words of its title, description
/// and tags (each tag also whole), lower-cased ASCII, de-duplicated, sorted,
/// at most [`MAX_KEYWORDS`] (title and tags first).
pub fn keywords(title: &str, description: &str, tags: &[String]) -> Vec<String> {
    let jieba = segmenter();
    let mut out: Vec<String> = Vec::new();
    let mut push = |w: &str| {
        let w = w.trim().to_lowercase();
        if out.len() < MAX_KEYWORDS && !out.contains(&w) {
            out.push(w);
        }
    };
    for tag in tags {
        let tag = tag.trim();
        if tag.chars().count() >= 2 && !tag.chars().any(|c| c.is_whitespace() || c == '\0') {
            push(tag);
        }
    }
    for text in tags.iter().map(String::as_str).chain([title, description]) {
        for token in jieba.cut(text, true) {
            let word = token.word;
            if meaningful(word) {
                push(word);
            }
        }
    }
    out.sort();
    out
}

/// A scoring factor. Numbers match `ladder.v1.MatchFactor`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[repr(i32)]
pub enum Factor {
    /// Industry-code closeness.
    Industry = 1,
    /// Shared keywords.
    Keywords = 2,
    /// Same alliance.
    Alliance = 3,
    /// Counterpart in the zone.
    InZone = 4,
    /// Same district, city or province.
    Region = 5,
    /// Quantity or amount fit.
    Quantity = 6,
    /// Freshness of the counterpart.
    Freshness = 7,
    /// Same chain segment.
    ChainSegment = 8,
}

impl Factor {
    /// Most points the factor can give; all add up to 100.
    pub fn weight(self) -> f64 {
        match self {
            Factor::Industry => 30.0,
            Factor::Keywords => 35.0,
            Factor::Alliance => 10.0,
            Factor::InZone => 8.0,
            Factor::Region => 4.0,
            Factor::Quantity => 5.0,
            Factor::Freshness => 4.0,
            Factor::ChainSegment => 4.0,
        }
    }
}

/// One factor's part of a score.
#[derive(Debug, Clone, PartialEq)]
pub struct FactorScore {
    /// The factor.
    pub factor: Factor,
    /// How well it holds, 0–1.
    pub value: f64,
    /// Why, in Chinese; empty when it gives no points.
    pub reason: String,
}

impl FactorScore {
    /// Points given: weight × value.
    pub fn points(&self) -> f64 {
        self.factor.weight() * self.value
    }
}

/// A scored counterpart.
#[derive(Debug, Clone, PartialEq)]
pub struct Scored {
    /// Sum of the points, 0–100.
    pub score: f64,
    /// Every factor, largest points first.
    pub factors: Vec<FactorScore>,
}

impl Scored {
    /// The reasons of the factors that gave points, in order.
    pub fn reasons(&self) -> Vec<String> {
        self.factors.iter().filter(|f| f.value > 0.0 && !f.reason.is_empty()).map(|f| f.reason.clone()).collect()
    }
}

/// How common each keyword is among the open postings of the counterpart
/// kind, for IDF weights.
#[derive(Debug, Clone, Default)]
pub struct KeywordStats {
    /// Open postings of the counterpart kind.
    pub postings: u64,
    /// Per keyword of the query: how many of them carry it.
    pub frequency: HashMap<String, u64>,
}

impl KeywordStats {
    /// Inverse document frequency: rare words weigh more.
    pub fn idf(&self, word: &str) -> f64 {
        let df = self.frequency.get(word).copied().unwrap_or(0) as f64;
        (1.0 + (self.postings as f64 + 1.0) / (df + 1.0)).ln()
    }
}

/// What the scorer knows beyond the two postings.
#[derive(Debug, Clone)]
pub struct Context<'a> {
    /// Keyword frequencies.
    pub stats: &'a KeywordStats,
    /// Names of the alliances both firms are active members of.
    pub shared_alliances: &'a [String],
    /// Today (China time).
    pub today: Date,
    /// Write the reasons (ranking thousands of candidates needs only the
    /// values; the page shown needs the words).
    pub explain: bool,
}

/// Scores `candidate` as a counterpart of `query`.
pub fn score(query: &Posting, candidate: &Posting, ctx: &Context<'_>) -> Scored {
    let e = ctx.explain;
    let mut factors = vec![
        industry(query, candidate, e),
        shared_keywords(query, candidate, ctx.stats, e),
        alliance(ctx.shared_alliances, e),
        in_zone(query, candidate, e),
        region(query, candidate, e),
        quantity(query, candidate, e),
        freshness(candidate, ctx.today, e),
        chain_segment(query, candidate, e),
    ];
    factors.sort_by(|a, b| b.points().total_cmp(&a.points()).then(a.factor.cmp(&b.factor)));
    let score = factors.iter().map(FactorScore::points).sum::<f64>();
    Scored { score: (score * 100.0).round() / 100.0, factors }
}

/// A factor's score; its reason is written only when explaining and the
/// factor gives points.
fn factor(factor: Factor, value: f64, explain: bool, reason: impl FnOnce() -> String) -> FactorScore {
    let value = value.clamp(0.0, 1.0);
    FactorScore { factor, value, reason: if explain && value > 0.0 { reason() } else { String::new() } }
}

fn industry(a: &Posting, b: &Posting, explain: bool) -> FactorScore {
    let level = match (a.category(), b.category()) {
        (Some(x), Some(y)) => x.common_level(&y).map(|level| (x, level)),
        _ => None,
    };
    let Some((x, level)) = level else {
        return factor(Factor::Industry, 0.0, explain, String::new);
    };
    let value = match level {
        Level::Class => 1.0,
        Level::Group => 0.7,
        Level::Division => 0.4,
        Level::Section => 0.1,
    };
    factor(Factor::Industry, value, explain, || match x.prefixes().into_iter().find(|p| p.level() == level) {
        Some(code) => format!(
            "同属{} {}{}",
            level.label_zh(),
            code.as_str(),
            code.name().map(|n| format!(" {n}")).unwrap_or_default()
        ),
        None => String::new(),
    })
}

/// How steeply the keyword factor rises with the share of the query's
/// keyword weight a candidate shares: a third of it already gives two thirds
/// of the points, all of it gives them all.
const KEYWORD_CURVE: f64 = 3.0;

/// The keyword factor for a candidate sharing `share` (0–1) of the query's
/// IDF keyword weight: concave, strictly increasing, 0 at 0 and 1 at 1, so
/// every further shared word (and a rarer one more than a common one) adds
/// points and only sharing every word reaches the factor's maximum.
fn keyword_value(share: f64) -> f64 {
    let share = share.clamp(0.0, 1.0);
    (1.0 - (-KEYWORD_CURVE * share).exp()) / (1.0 - (-KEYWORD_CURVE).exp())
}

fn shared_keywords(a: &Posting, b: &Posting, stats: &KeywordStats, explain: bool) -> FactorScore {
    let total: f64 = a.keywords.iter().map(|k| stats.idf(k)).sum();
    let mut shared: Vec<(&String, f64)> =
        a.keywords.iter().filter(|k| b.keywords.binary_search(k).is_ok()).map(|k| (k, stats.idf(k))).collect();
    if total <= 0.0 || shared.is_empty() {
        return factor(Factor::Keywords, 0.0, explain, String::new);
    }
    let value = keyword_value(shared.iter().map(|(_, w)| w).sum::<f64>() / total);
    factor(Factor::Keywords, value, explain, || {
        shared.sort_by(|x, y| y.1.total_cmp(&x.1).then(x.0.cmp(y.0)));
        let words: Vec<&str> = shared.iter().take(5).map(|(k, _)| k.as_str()).collect();
        format!("共同关键词：{}", words.join("、"))
    })
}

fn alliance(shared: &[String], explain: bool) -> FactorScore {
    let value = if shared.is_empty() { 0.0 } else { 1.0 };
    factor(Factor::Alliance, value, explain, || format!("同在{}", shared.join("、")))
}

fn in_zone(query: &Posting, candidate: &Posting, explain: bool) -> FactorScore {
    let value = if candidate.in_zone { 1.0 } else { 0.0 };
    factor(Factor::InZone, value, explain, || {
        let side = if candidate.kind() == PostingKind::Supply { "供方" } else { "需方" };
        if query.in_zone {
            "双方均在园区内".to_string()
        } else {
            format!("{side}在园区内")
        }
    })
}

fn region(a: &Posting, b: &Posting, explain: bool) -> FactorScore {
    let (x, y) = (&a.region_code, &b.region_code);
    let same = |n: usize| x.len() >= n && y.len() >= n && x[..n] == y[..n];
    let (value, digits) = if same(6) {
        (1.0, 6)
    } else if same(4) {
        (0.6, 4)
    } else if same(2) {
        (0.3, 2)
    } else {
        (0.0, 0)
    };
    factor(Factor::Region, value, explain, || {
        let code = format!("{:0<6}", &y[..digits]);
        format!("同在{}", region_name(&code).unwrap_or(&code))
    })
}

fn quantity(a: &Posting, b: &Posting, explain: bool) -> FactorScore {
    let (supply, demand) = if a.kind() == PostingKind::Supply { (a, b) } else { (b, a) };
    if supply.quantity > 0.0 && demand.quantity > 0.0 && supply.unit == demand.unit {
        let value = (supply.quantity / demand.quantity).min(1.0);
        let cmp = if value >= 1.0 { "≥" } else { "<" };
        return factor(Factor::Quantity, value, explain, || {
            format!("供应量 {} {} {cmp} 需求量 {} {}", supply.quantity, supply.unit, demand.quantity, demand.unit)
        });
    }
    if supply.amount_wan > 0.0 && demand.amount_wan > 0.0 {
        let ratio = supply.amount_wan / demand.amount_wan;
        // Same order of magnitude fits; far apart does not.
        let value = if ratio >= 1.0 { (1.0 / ratio).sqrt().max(0.5) } else { ratio };
        return factor(Factor::Quantity, value, explain, || {
            format!("金额相当：供 {} 万元，需 {} 万元", supply.amount_wan, demand.amount_wan)
        });
    }
    factor(Factor::Quantity, 0.0, explain, String::new)
}

fn freshness(candidate: &Posting, today: Date, explain: bool) -> FactorScore {
    let posted = Date::china(candidate.create_time);
    let days = today.days_since(posted).max(0);
    let value = if days <= 30 { 1.0 } else { (1.0 - (days - 30) as f64 / 335.0).max(0.0) };
    factor(Factor::Freshness, value, explain, || {
        if days == 0 {
            "今日发布".to_string()
        } else {
            format!("{days} 天前发布")
        }
    })
}

fn chain_segment(a: &Posting, b: &Posting, explain: bool) -> FactorScore {
    let same = !a.chain_segment.is_empty() && a.chain_segment == b.chain_segment;
    factor(Factor::ChainSegment, if same { 1.0 } else { 0.0 }, explain, || {
        format!("同属产业链环节：{}", a.chain_segment)
    })
}

/// The category codes to look up for a query code, most specific first:
/// the code itself and each ancestor down to its division (a section alone
/// is too broad to draw candidates from).
pub fn category_lookups(code: &IndustryCode) -> Vec<IndustryCode> {
    let mut out: Vec<IndustryCode> = code.prefixes().into_iter().filter(|c| c.level() != Level::Section).collect();
    out.reverse();
    if out.is_empty() {
        out.push(code.clone());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn posting(kind: PostingKind, code: &str, title: &str, tags: &[&str]) -> Posting {
        let tags: Vec<String> = tags.iter().map(|t| t.to_string()).collect();
        Posting {
            kind: kind as i32,
            industry_code: code.into(),
            title: title.into(),
            keywords: keywords(title, "", &tags),
            product_tags: tags,
            region_code: "610116".into(),
            ..Default::default()
        }
    }

    fn stats() -> KeywordStats {
        KeywordStats { postings: 1000, frequency: [("系统".to_string(), 400)].into_iter().collect() }
    }

    fn ctx<'a>(stats: &'a KeywordStats, alliances: &'a [String]) -> Context<'a> {
        Context { stats, shared_alliances: alliances, today: Date::parse("2026-11-27").unwrap(), explain: true }
    }

    #[test]
    fn segmentation_is_by_words_not_characters() {
        let k = keywords("采购高能量密度锂离子电芯", "用于储能系统，卫星测运控", &["BMS".into()]);
        for w in ["电芯", "储能", "锂离子", "测运控", "bms"] {
            assert!(k.contains(&w.to_string()), "{w} missing from {k:?}");
        }
        for w in ["采购", "用于", "电", "芯"] {
            assert!(!k.contains(&w.to_string()), "{w} should not be a keyword: {k:?}");
        }
        assert!(k.windows(2).all(|w| w[0] < w[1]), "sorted and unique: {k:?}");
    }

    #[test]
    fn the_obvious_supply_outranks_a_loose_one_and_says_why() {
        let demand = posting(PostingKind::Demand, "C3841", "采购储能电芯", &["电芯", "储能"]);
        let right = posting(PostingKind::Supply, "C3841", "供应储能用锂离子电芯", &["电芯"]);
        let loose = posting(PostingKind::Supply, "C3825", "光伏组件", &["组件"]);
        let s = stats();
        let a = score(&demand, &right, &ctx(&s, &[]));
        let b = score(&demand, &loose, &ctx(&s, &[]));
        assert!(a.score > b.score + 30.0, "{a:?} vs {b:?}");
        let reasons = a.reasons();
        assert!(reasons.iter().any(|r| r.starts_with("同属小类 C3841")), "{reasons:?}");
        assert!(reasons.iter().any(|r| r.contains("电芯") && r.contains("储能")), "{reasons:?}");
        let total: f64 = a.factors.iter().map(FactorScore::points).sum();
        assert!((total - a.score).abs() < 0.01);
        assert!(a.factors.windows(2).all(|w| w[0].points() >= w[1].points()));
    }

    #[test]
    fn every_factor_counts_and_the_weights_add_up_to_100() {
        let all = [
            Factor::Industry,
            Factor::Keywords,
            Factor::Alliance,
            Factor::InZone,
            Factor::Region,
            Factor::Quantity,
            Factor::Freshness,
            Factor::ChainSegment,
        ];
        assert_eq!(all.iter().map(|f| f.weight()).sum::<f64>(), 100.0);
        let mut d = posting(PostingKind::Demand, "C3841", "采购电芯", &["电芯"]);
        let mut s = posting(PostingKind::Supply, "C3841", "电芯", &["电芯"]);
        d.quantity = 100.0;
        d.unit = "套".into();
        s.quantity = 50.0;
        s.unit = "套".into();
        s.in_zone = true;
        d.chain_segment = "储能".into();
        s.chain_segment = "储能".into();
        let st = stats();
        let alliances = vec!["新能源与储能产业联盟".to_string()];
        let scored = score(&d, &s, &ctx(&st, &alliances));
        let value = |f: Factor| scored.factors.iter().find(|x| x.factor == f).unwrap().value;
        assert_eq!(value(Factor::Quantity), 0.5);
        assert_eq!(value(Factor::Alliance), 1.0);
        assert_eq!(value(Factor::InZone), 1.0);
        assert_eq!(value(Factor::ChainSegment), 1.0);
        assert_eq!(value(Factor::Region), 1.0);
        assert!(scored.reasons().contains(&"同在新能源与储能产业联盟".to_string()));
        assert!(scored.reasons().contains(&"供方在园区内".to_string()));
    }

    #[test]
    fn rare_shared_words_weigh_more_than_common_ones() {
        let d = posting(PostingKind::Demand, "C38", "电芯 系统", &[]);
        let rare = posting(PostingKind::Supply, "C38", "电芯", &[]);
        let common = posting(PostingKind::Supply, "C38", "系统", &[]);
        let st = stats();
        assert!(score(&d, &rare, &ctx(&st, &[])).score > score(&d, &common, &ctx(&st, &[])).score);
    }

    fn keyword_points(query: &Posting, candidate: &Posting, stats: &KeywordStats) -> f64 {
        shared_keywords(query, candidate, stats, false).points()
    }

    fn with_keywords(kind: PostingKind, words: &[&str]) -> Posting {
        let mut keywords: Vec<String> = words.iter().map(|w| w.to_string()).collect();
        keywords.sort();
        keywords.dedup();
        Posting { kind: kind as i32, keywords, ..Default::default() }
    }

    #[test]
    fn sharing_one_of_two_words_scores_less_than_sharing_both() {
        let demand = posting(PostingKind::Demand, "C3841", "采购储能电芯", &["电芯", "储能"]);
        let one = with_keywords(PostingKind::Supply, &["储能"]);
        let both = with_keywords(PostingKind::Supply, &["储能", "电芯"]);
        let st = stats();
        let (p1, p2) = (keyword_points(&demand, &one, &st), keyword_points(&demand, &both, &st));
        assert!(p1 > 0.0 && p1 < p2, "储能 alone {p1}, 储能 + 电芯 {p2}");
        assert_eq!(p2, Factor::Keywords.weight(), "sharing every keyword gives the whole factor");
    }

    #[test]
    fn the_keyword_curve_rises_strictly_and_stays_within_its_bounds() {
        assert_eq!(keyword_value(0.0), 0.0);
        assert_eq!(keyword_value(1.0), 1.0);
        let values: Vec<f64> = (0..=1000).map(|i| keyword_value(f64::from(i) / 1000.0)).collect();
        assert!(values.windows(2).all(|w| w[0] < w[1]));
    }

    const VOCABULARY: [&str; 8] = ["电芯", "储能", "系统", "卫星", "载荷", "遥感", "电池包", "北斗"];

    fn arb_stats() -> impl Strategy<Value = KeywordStats> {
        (1u64..5000, proptest::collection::vec(0u64..5000, VOCABULARY.len())).prop_map(|(postings, df)| KeywordStats {
            postings,
            frequency: VOCABULARY.iter().zip(df).map(|(w, n)| (w.to_string(), n.min(postings))).collect(),
        })
    }

    fn words_of(mask: u8) -> Vec<&'static str> {
        VOCABULARY.iter().enumerate().filter(|(i, _)| mask & (1 << i) != 0).map(|(_, w)| *w).collect()
    }

    proptest! {
        /// The keyword factor is a strictly increasing function of the shared
        /// IDF weight, bounded by the factor's weight: a superset of shared
        /// words always scores strictly more.
        #[test]
        fn keyword_points_rise_with_the_shared_weight(
            stats in arb_stats(),
            query in 1u8..=255,
            a in 0u8..=255,
            b in 0u8..=255,
        ) {
            let q = with_keywords(PostingKind::Demand, &words_of(query));
            let (x, y) = (with_keywords(PostingKind::Supply, &words_of(a)), with_keywords(PostingKind::Supply, &words_of(b)));
            let shared_weight = |m: u8| words_of(m & query).iter().map(|w| stats.idf(w)).sum::<f64>();
            let (px, py) = (keyword_points(&q, &x, &stats), keyword_points(&q, &y, &stats));
            for p in [px, py] {
                prop_assert!((0.0..=Factor::Keywords.weight()).contains(&p), "{}", p);
            }
            let (wx, wy) = (shared_weight(a), shared_weight(b));
            if wx < wy - 1e-9 {
                prop_assert!(px < py, "weight {} → {} points, weight {} → {} points", wx, px, wy, py);
            }
            if (wx - wy).abs() < 1e-9 {
                prop_assert!((px - py).abs() < 1e-9);
            }
            // Sharing strictly more of the query's words scores strictly more.
            let (sa, sb) = (a & query, b & query);
            if sa & sb == sa && sa != sb {
                prop_assert!(px < py, "{:?} {} vs {:?} {}", words_of(sa), px, words_of(sb), py);
            }
        }

        /// Of two words, the rarer one (fewer postings carry it) shared alone
        /// scores more than the commoner one shared alone.
        #[test]
        fn a_rarer_shared_word_scores_more(stats in arb_stats(), i in 0usize..8, j in 0usize..8) {
            let (wi, wj) = (VOCABULARY[i], VOCABULARY[j]);
            let (fi, fj) = (stats.frequency[wi], stats.frequency[wj]);
            prop_assume!(fi < fj);
            let q = with_keywords(PostingKind::Demand, &[wi, wj]);
            let rare = keyword_points(&q, &with_keywords(PostingKind::Supply, &[wi]), &stats);
            let common = keyword_points(&q, &with_keywords(PostingKind::Supply, &[wj]), &stats);
            prop_assert!(rare > common, "{}({}) {} vs {}({}) {}", wi, fi, rare, wj, fj, common);
        }
    }

    #[test]
    fn lookups_go_from_the_class_up_to_the_division() {
        let code = IndustryCode::parse("C3841").unwrap();
        let got: Vec<String> = category_lookups(&code).iter().map(|c| c.as_str().to_string()).collect();
        assert_eq!(got, ["C3841", "C384", "C38"]);
        let section = IndustryCode::parse("C").unwrap();
        assert_eq!(category_lookups(&section).len(), 1);
    }
}
