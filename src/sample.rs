//! Realistic sample data for the README walk-through, the tests and the
//! benchmarks: supply and demand postings of the zone's industries, written
//! in the words staff use. Deterministic for a seed.

use crate::pb::v1;

/// A small, fast, deterministic random generator (xorshift64).
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    /// A generator for `seed` (0 is taken as 1).
    pub fn new(seed: u64) -> Rng {
        Rng(seed.max(1))
    }

    /// The next number.
    pub fn next_u64(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    /// A number below `n` (n > 0).
    pub fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n.max(1) as u64) as usize
    }

    /// One of `items`.
    pub fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }
}

/// A unique 9-character organisation part for sample firm `n`: `prefix`
/// (two letters) then `n` in base 31 over the credit-code characters, so
/// the codes built from it are valid and distinct.
pub fn organisation_code(prefix: &str, n: u64) -> String {
    let charset: Vec<char> =
        crate::domain::credit_code::CHARSET.chars().filter(|c| c.is_ascii_digit() || c.is_ascii_uppercase()).collect();
    let base = charset.len() as u64;
    let mut org = prefix.to_string();
    let mut rest = n;
    for _ in 0..6 {
        org.push(charset[(rest % base) as usize]);
        rest /= base;
    }
    org
}

/// Sample firm `i` as a sync row would carry it: a valid credit code of a
/// Xi'an office (unique per `i`), a name, one of the zone's industries,
/// region, founding date, promotion zone and at most one tag. `None` only if
/// the code cannot be built (never for the prefixes used here).
pub fn firm(rng: &mut Rng, i: u64) -> Option<v1::Enterprise> {
    const REGIONS: &[&str] = &["610116", "610113", "610138", "610112", "610100"];
    const INDUSTRIES: &[&str] =
        &["C3742", "C3743", "C3963", "C3825", "C3841", "D4416", "I6339", "I6513", "I6520", "I6571", "M7320"];
    const WORDS: &[&str] =
        &["航天", "星河", "天工", "北斗", "秦岭", "长安", "云图", "锐创", "华拓", "中科", "启明", "翼飞"];
    const KINDS: &[&str] =
        &["科技有限公司", "电子科技有限公司", "航天技术有限公司", "新能源有限公司", "信息技术有限公司"];
    const ZONES: &[&str] = &["east", "west", "south", "north", "central"];
    const TAGS: &[&str] = &["专精特新", "高新技术", "储能", "卫星应用", "在孵", ""];
    // The organisation part encodes the row number, so codes are unique.
    let org = organisation_code("MA", i);
    let region = *rng.pick(REGIONS);
    let code = crate::domain::credit_code::CreditCode::from_parts("91", region, &org).ok()?;
    let name = format!("西安{}{}{}{i}", rng.pick(WORDS), rng.pick(WORDS), rng.pick(KINDS));
    let founded = format!("{}-{:02}-{:02}", 2000 + rng.below(25), 1 + rng.below(12), 1 + rng.below(28));
    let industry = *rng.pick(INDUSTRIES);
    let zone = *rng.pick(ZONES);
    let tag = *rng.pick(TAGS);
    Some(v1::Enterprise {
        credit_code: code.as_str().to_string(),
        display_name: name,
        industry_code: industry.into(),
        region_code: region.into(),
        founding_date: founded,
        promotion_zone: zone.into(),
        tags: if tag.is_empty() { Vec::new() } else { vec![tag.to_string()] },
        ..Default::default()
    })
}

/// What a category's firms supply and need.
struct Theme {
    industry: &'static str,
    segment: &'static str,
    unit: &'static str,
    supplies: &'static [&'static str],
    demands: &'static [&'static str],
    tags: &'static [&'static str],
}

const THEMES: &[Theme] = &[
    Theme {
        industry: "C3841",
        segment: "储能",
        unit: "套",
        supplies: &["供应磷酸铁锂储能电芯", "储能电池包批量供货", "大容量储能电芯及模组"],
        demands: &["采购储能电芯", "寻找储能电池包供应商", "采购锂离子电芯用于储能系统"],
        tags: &["电芯", "储能", "磷酸铁锂", "电池包", "模组"],
    },
    Theme {
        industry: "C3742",
        segment: "卫星制造",
        unit: "件",
        supplies: &["卫星结构件精密加工", "星载结构件与热控组件", "小卫星平台总装集成"],
        demands: &["采购星载结构件", "寻求卫星热控组件配套", "卫星平台结构件外协加工"],
        tags: &["结构件", "卫星", "热控", "星载", "总装"],
    },
    Theme {
        industry: "C3743",
        segment: "测运控",
        unit: "套",
        supplies: &["地面站天线及射频组件", "测控地面站系统集成", "卫星测运控射频前端"],
        demands: &["采购地面站天线", "寻找测控射频组件供应商", "测运控地面站建设配套"],
        tags: &["天线", "射频", "地面站", "测控", "测运控"],
    },
    Theme {
        industry: "C3963",
        segment: "无人机",
        unit: "架",
        supplies: &["工业级无人机整机", "无人机飞控系统研发与供货", "无人机动力电池与电机"],
        demands: &["采购巡检无人机", "寻找无人机飞控系统", "无人机电机配套采购"],
        tags: &["无人机", "飞控", "巡检", "电机"],
    },
    Theme {
        industry: "C3825",
        segment: "光伏",
        unit: "千瓦",
        supplies: &["光伏组件批量供应", "组串式逆变器供货", "光伏支架及安装服务"],
        demands: &["采购光伏组件", "屋顶光伏逆变器采购", "分布式光伏项目设备采购"],
        tags: &["光伏", "组件", "逆变器", "支架"],
    },
    Theme {
        industry: "I6513",
        segment: "卫星应用",
        unit: "套",
        supplies: &["卫星遥感数据处理软件", "遥感影像智能解译平台", "北斗位置服务软件"],
        demands: &["采购遥感数据处理软件", "需要遥感影像解译服务", "北斗定位平台开发外包"],
        tags: &["遥感", "软件", "北斗", "影像"],
    },
    Theme {
        industry: "I6520",
        segment: "卫星制造",
        unit: "片",
        supplies: &["宇航级FPGA芯片", "抗辐照SoC芯片设计服务", "射频芯片定制设计"],
        demands: &["采购宇航级FPGA芯片", "寻找抗辐照芯片设计服务", "射频芯片配套采购"],
        tags: &["芯片", "FPGA", "抗辐照", "射频"],
    },
    Theme {
        industry: "M7320",
        segment: "测试验证",
        unit: "项",
        supplies: &["环境试验与可靠性检测服务", "力学振动试验服务", "电磁兼容检测"],
        demands: &["委托环境试验检测", "需要振动试验服务", "电磁兼容检测外包"],
        tags: &["检测", "试验", "振动", "电磁兼容"],
    },
    // Demand the zone cannot meet from inside: what investment promotion
    // goes out to attract (补链).
    Theme {
        industry: "C3562",
        segment: "集成电路",
        unit: "台",
        supplies: &[],
        demands: &["采购刻蚀设备", "寻找薄膜沉积设备供应商", "晶圆检测设备采购"],
        tags: &["刻蚀", "薄膜沉积", "晶圆", "设备"],
    },
];

/// The industry classes sample postings use.
pub fn industries() -> Vec<&'static str> {
    THEMES.iter().map(|t| t.industry).collect()
}

/// A realistic posting by `credit_code`: a supply or a demand (about half
/// each) of one of the zone's industries (or of `industry`, when the firm's
/// own industry has a theme), with tags, a chain segment, a quantity and
/// often an amount; about a fifth are out of the zone.
pub fn posting(rng: &mut Rng, credit_code: &str, industry: Option<&str>) -> v1::Posting {
    let theme = industry
        .and_then(|code| THEMES.iter().find(|t| t.industry == code))
        .filter(|_| rng.below(3) > 0)
        .unwrap_or_else(|| rng.pick(THEMES));
    let supply = !theme.supplies.is_empty() && rng.below(2) == 0;
    let title = if supply { rng.pick(theme.supplies) } else { rng.pick(theme.demands) };
    let mut tags: Vec<String> = Vec::new();
    for _ in 0..2 + rng.below(2) {
        let tag = rng.pick(theme.tags).to_string();
        if !tags.contains(&tag) {
            tags.push(tag);
        }
    }
    let quantity = [50.0, 100.0, 200.0, 500.0, 1000.0, 2000.0][rng.below(6)];
    let amount = if rng.below(3) > 0 { [20.0, 50.0, 120.0, 300.0, 800.0, 1500.0][rng.below(6)] } else { 0.0 };
    v1::Posting {
        credit_code: credit_code.to_string(),
        kind: if supply { v1::PostingKind::Supply } else { v1::PostingKind::Demand } as i32,
        title: title.to_string(),
        description: format!("{}，面向{}环节，可长期合作。", title, theme.segment),
        industry_code: theme.industry.to_string(),
        product_tags: tags,
        chain_segment: theme.segment.to_string(),
        quantity,
        unit: theme.unit.to_string(),
        amount_wan: amount,
        in_zone: Some(rng.below(5) > 0),
        source_list: if supply { v1::SourceList::Supply } else { v1::SourceList::Demand } as i32,
        ..Default::default()
    }
}

/// The default industry alliance of a firm of `industry` (the seeded ids).
pub fn alliance_for(industry: &str) -> Option<&'static str> {
    const ALLIANCES: &[(&str, &str)] = &[
        ("C374", "commercial-space"),
        ("I6339", "satellite-apps"),
        ("I6571", "satellite-apps"),
        ("C3963", "drones"),
        ("C3825", "photovoltaics"),
        ("D4416", "photovoltaics"),
        ("C3841", "energy-storage"),
        ("I65", "software-ic"),
        ("M73", "rd-services"),
    ];
    ALLIANCES.iter().find(|(prefix, _)| industry.starts_with(prefix)).map(|(_, id)| *id)
}

/// Last year's figures of a firm: revenue from 50 万元 to about 5 亿元, staff,
/// R&D at 3–15% of revenue, assets and liabilities, all consistent (tech
/// staff ≤ employees, main business ≤ revenue).
pub fn indicators(rng: &mut Rng, credit_code: &str, year: i32) -> v1::AnnualIndicators {
    let scale = [50.0, 300.0, 1_200.0, 5_000.0, 20_000.0, 50_000.0][rng.below(6)];
    let revenue = (scale * (0.6 + rng.below(80) as f64 / 100.0)).round();
    let employees = (revenue / 60.0).max(5.0).round() as i64 + rng.below(20) as i64;
    let tech_staff = employees * (15 + rng.below(45) as i64) / 100;
    let rd_expense = (revenue * (3.0 + rng.below(12) as f64) / 100.0).round();
    let assets = (revenue * (0.8 + rng.below(150) as f64 / 100.0)).round();
    v1::AnnualIndicators {
        name: format!("enterprises/{credit_code}/indicators/{year}"),
        year,
        revenue: Some(revenue),
        main_business_revenue: Some((revenue * 0.9).round()),
        employees: Some(employees),
        tech_staff: Some(tech_staff),
        rd_expense: Some(rd_expense),
        rd_domestic_share: Some(60.0 + rng.below(40) as f64),
        high_tech_revenue: Some((revenue * (rng.below(90) as f64) / 100.0).round()),
        total_assets: Some(assets),
        total_liabilities: Some((assets * (rng.below(70) as f64) / 100.0).round()),
        source: "sample".into(),
        ..Default::default()
    }
}

/// The designations a sample firm holds, as granted on dates in the last
/// three years: most are tech SMEs, about a quarter high-tech enterprises
/// (with certificate numbers), a few specialised SMEs and little giants.
pub fn designations(rng: &mut Rng, n: usize, this_year: i32) -> Vec<v1::Designation> {
    let granted = |kind: v1::DesignationKind, year: i32, certificate: String, rng: &mut Rng| v1::Designation {
        kind: kind as i32,
        status: v1::DesignationStatus::Granted as i32,
        valid_from: format!("{year}-{:02}-{:02}", 1 + rng.below(12), 1 + rng.below(28)),
        certificate_number: certificate,
        source: "sample".into(),
        ..Default::default()
    };
    let mut out = Vec::new();
    let roll = rng.below(100);
    if roll < 70 {
        out.push(granted(v1::DesignationKind::TechSme, this_year - 1, String::new(), rng));
    }
    if roll < 25 {
        let year = this_year - 1 - rng.below(2) as i32;
        out.push(granted(v1::DesignationKind::HighTech, year, format!("GR{year}6100{n:05}"), rng));
    }
    if roll < 8 {
        let year = this_year - 1;
        out.push(granted(v1::DesignationKind::SpecialisedSme, year, format!("ZJTX{year}{n:06}"), rng));
    }
    if roll < 2 {
        let year = this_year - 1;
        out.push(granted(v1::DesignationKind::LittleGiant, year, format!("XJR{year}{n:06}"), rng));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn postings_are_deterministic_and_of_both_kinds() {
        let mut a = Rng::new(7);
        let mut b = Rng::new(7);
        let xs: Vec<v1::Posting> = (0..50).map(|_| posting(&mut a, "x", None)).collect();
        let ys: Vec<v1::Posting> = (0..50).map(|_| posting(&mut b, "x", None)).collect();
        assert_eq!(xs, ys);
        assert!(xs.iter().any(|p| p.kind == v1::PostingKind::Supply as i32));
        assert!(xs.iter().any(|p| p.kind == v1::PostingKind::Demand as i32));
        assert!(xs.iter().all(|p| p.quantity > 0.0 && !p.unit.is_empty()), "every demand needs a quantity");
    }
}
