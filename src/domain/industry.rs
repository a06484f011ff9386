//! 国民经济行业分类 (Industrial classification for national economic activities,
//! GB/T 4754-2017).
//!
//! Firms, supply–demand postings and chain views are classified by these codes, and matching
//! aggregates on their prefix structure: section letter (门类) → 2-digit division (大类) →
//! 3-digit group (中类) → 4-digit class (小类), e.g. `C` → `C37` → `C374` → `C3742`. This module
//! parses the spellings staff and upstream systems use (`C3742`, `c3742`, `3742`, full-width
//! digits), stores one canonical form, and answers the tree questions (parent, ancestors,
//! deepest shared level) that matching and reporting need.
//!
//! Names are built in for all 20 sections and 97 divisions; for groups and classes only those
//! common in the zone are listed, so an unnamed group or class is normal, not an error.

use std::fmt;
use std::str::FromStr;

/// Sections (门类) with the inclusive range of divisions (大类) each holds, and their names.
/// Divisions 01–97 are contiguous, which is why a digits-only code can be given its section.
const SECTIONS: [(char, u8, u8, &str); 20] = [
    ('A', 1, 5, "农、林、牧、渔业"),
    ('B', 6, 12, "采矿业"),
    ('C', 13, 43, "制造业"),
    ('D', 44, 46, "电力、热力、燃气及水生产和供应业"),
    ('E', 47, 50, "建筑业"),
    ('F', 51, 52, "批发和零售业"),
    ('G', 53, 60, "交通运输、仓储和邮政业"),
    ('H', 61, 62, "住宿和餐饮业"),
    ('I', 63, 65, "信息传输、软件和信息技术服务业"),
    ('J', 66, 69, "金融业"),
    ('K', 70, 70, "房地产业"),
    ('L', 71, 72, "租赁和商务服务业"),
    ('M', 73, 75, "科学研究和技术服务业"),
    ('N', 76, 79, "水利、环境和公共设施管理业"),
    ('O', 80, 82, "居民服务、修理和其他服务业"),
    ('P', 83, 83, "教育"),
    ('Q', 84, 85, "卫生和社会工作"),
    ('R', 86, 90, "文化、体育和娱乐业"),
    ('S', 91, 96, "公共管理、社会保障和社会组织"),
    ('T', 97, 97, "国际组织"),
];

/// Names of divisions 01–97 (大类), indexed by division number minus one.
const DIVISION_NAMES: [&str; 97] = [
    // A
    "农业",
    "林业",
    "畜牧业",
    "渔业",
    "农、林、牧、渔专业及辅助性活动",
    // B
    "煤炭开采和洗选业",
    "石油和天然气开采业",
    "黑色金属矿采选业",
    "有色金属矿采选业",
    "非金属矿采选业",
    "开采专业及辅助性活动",
    "其他采矿业",
    // C
    "农副食品加工业",
    "食品制造业",
    "酒、饮料和精制茶制造业",
    "烟草制品业",
    "纺织业",
    "纺织服装、服饰业",
    "皮革、毛皮、羽毛及其制品和制鞋业",
    "木材加工和木、竹、藤、棕、草制品业",
    "家具制造业",
    "造纸和纸制品业",
    "印刷和记录媒介复制业",
    "文教、工美、体育和娱乐用品制造业",
    "石油、煤炭及其他燃料加工业",
    "化学原料和化学制品制造业",
    "医药制造业",
    "化学纤维制造业",
    "橡胶和塑料制品业",
    "非金属矿物制品业",
    "黑色金属冶炼和压延加工业",
    "有色金属冶炼和压延加工业",
    "金属制品业",
    "通用设备制造业",
    "专用设备制造业",
    "汽车制造业",
    "铁路、船舶、航空航天和其他运输设备制造业",
    "电气机械和器材制造业",
    "计算机、通信和其他电子设备制造业",
    "仪器仪表制造业",
    "其他制造业",
    "废弃资源综合利用业",
    "金属制品、机械和设备修理业",
    // D
    "电力、热力生产和供应业",
    "燃气生产和供应业",
    "水的生产和供应业",
    // E
    "房屋建筑业",
    "土木工程建筑业",
    "建筑安装业",
    "建筑装饰、装修和其他建筑业",
    // F
    "批发业",
    "零售业",
    // G
    "铁路运输业",
    "道路运输业",
    "水上运输业",
    "航空运输业",
    "管道运输业",
    "多式联运和运输代理业",
    "装卸搬运和仓储业",
    "邮政业",
    // H
    "住宿业",
    "餐饮业",
    // I
    "电信、广播电视和卫星传输服务",
    "互联网和相关服务",
    "软件和信息技术服务业",
    // J
    "货币金融服务",
    "资本市场服务",
    "保险业",
    "其他金融业",
    // K
    "房地产业",
    // L
    "租赁业",
    "商务服务业",
    // M
    "研究和试验发展",
    "专业技术服务业",
    "科技推广和应用服务业",
    // N
    "水利管理业",
    "生态保护和环境治理业",
    "公共设施管理业",
    "土地管理业",
    // O
    "居民服务业",
    "机动车、电子产品和日用产品修理业",
    "其他服务业",
    // P
    "教育",
    // Q
    "卫生",
    "社会工作",
    // R
    "新闻和出版业",
    "广播、电视、电影和录音制作业",
    "文化艺术业",
    "体育",
    "娱乐业",
    // S
    "中国共产党机关",
    "国家机构",
    "人民政协、民主党派",
    "社会保障",
    "群众团体、社会团体和其他成员组织",
    "基层群众自治组织及其他组织",
    // T
    "国际组织",
];

/// Groups (中类) and classes (小类) common in the zone (aerospace, drones, new energy, software,
/// chips, remote sensing, R&D) and their siblings. Deliberately partial: the full standard has
/// 473 groups and 1,382 classes and belongs in reference data, not code.
const NAMED_GROUPS_AND_CLASSES: &[(&str, &str)] = &[
    ("356", "电子和电工机械专用设备制造"),
    ("3561", "电工机械专用设备制造"),
    ("3562", "半导体器件专用设备制造"),
    ("3563", "电子元器件与机电组件设备制造"),
    ("3569", "其他电子专用设备制造"),
    ("374", "航空、航天器及设备制造"),
    ("3741", "飞机制造"),
    ("3742", "航天器及运载火箭制造"),
    ("3743", "航天相关设备制造"),
    ("3744", "航空相关设备制造"),
    ("3749", "其他航空航天器制造"),
    ("382", "输配电及控制设备制造"),
    ("3821", "变压器、整流器和电感器制造"),
    ("3822", "电容器及其配套设备制造"),
    ("3823", "配电开关控制设备制造"),
    ("3824", "电力电子元器件制造"),
    ("3825", "光伏设备及元器件制造"),
    ("3829", "其他输配电及控制设备制造"),
    ("384", "电池制造"),
    ("3841", "锂离子电池制造"),
    ("3842", "镍氢电池制造"),
    ("396", "智能消费设备制造"),
    ("3961", "可穿戴智能设备制造"),
    ("3962", "智能车载设备制造"),
    ("3963", "智能无人飞行器制造"),
    ("3964", "服务消费机器人制造"),
    ("3969", "其他智能消费设备制造"),
    ("441", "电力生产"),
    ("4411", "火力发电"),
    ("4412", "热电联产"),
    ("4413", "水力发电"),
    ("4414", "核力发电"),
    ("4415", "风力发电"),
    ("4416", "太阳能发电"),
    ("4417", "生物质能发电"),
    ("4419", "其他电力生产"),
    ("633", "卫星传输服务"),
    ("6331", "广播电视卫星传输服务"),
    ("6339", "其他卫星传输服务"),
    ("651", "软件开发"),
    ("6511", "基础软件开发"),
    ("6512", "支撑软件开发"),
    ("6513", "应用软件开发"),
    ("6519", "其他软件开发"),
    ("652", "集成电路设计"),
    ("6520", "集成电路设计"),
    ("657", "数字内容服务"),
    ("6571", "地理遥感信息服务"),
    ("6572", "动漫、游戏数字内容服务"),
    ("6579", "其他数字内容服务"),
    ("732", "工程和技术研究和试验发展"),
    ("7320", "工程和技术研究和试验发展"),
];

/// Section letter (门类) that division `division` (two ASCII digits, e.g. `"37"`) belongs to, or
/// `None` if there is no such division (only 01–97 exist).
pub fn section_for_division(division: &str) -> Option<char> {
    let number = division_number(division)?;
    SECTIONS.iter().find(|&&(_, first, last, _)| (first..=last).contains(&number)).map(|&(section, _, _, _)| section)
}

/// Chinese name of a section letter (门类名称), or `None` outside A–T.
pub fn section_name_of(section: char) -> Option<&'static str> {
    SECTIONS.iter().find(|&&(letter, _, _, _)| letter == section).map(|&(_, _, _, name)| name)
}

/// Numeric value of a two-ASCII-digit division string, without range checks.
fn division_number(division: &str) -> Option<u8> {
    match division.as_bytes() {
        [tens @ b'0'..=b'9', units @ b'0'..=b'9'] => Some((tens - b'0') * 10 + (units - b'0')),
        _ => None,
    }
}

/// Same clean-up as for credit codes: trim (including the full-width space U+3000), fold
/// full-width ASCII (U+FF01–U+FF5E) to ASCII, upper-case. Duplicated rather than shared so each
/// domain file stays self-contained.
fn normalise(input: &str) -> String {
    input
        .trim()
        .chars()
        .map(|c| match c {
            '\u{FF01}'..='\u{FF5E}' => char::from_u32(u32::from(c) - 0xFEE0).unwrap_or(c),
            _ => c,
        })
        .map(|c| c.to_ascii_uppercase())
        .collect()
}

/// Level of a code in the four-level hierarchy. Ordered from the top: `Section < Division <
/// Group < Class`, so a larger level is a more specific match.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Level {
    /// 门类: one letter A–T.
    Section,
    /// 大类: two digits.
    Division,
    /// 中类: three digits.
    Group,
    /// 小类: four digits.
    Class,
}

impl Level {
    /// Chinese name of the level as used in the standard: 门类, 大类, 中类 or 小类.
    pub fn label_zh(self) -> &'static str {
        match self {
            Level::Section => "门类",
            Level::Division => "大类",
            Level::Group => "中类",
            Level::Class => "小类",
        }
    }

    /// Number of digits a code of this level has (0 for a section).
    pub fn digits(self) -> usize {
        match self {
            Level::Section => 0,
            Level::Division => 2,
            Level::Group => 3,
            Level::Class => 4,
        }
    }

    /// Length of the canonical form (section letter plus digits).
    fn canonical_len(self) -> usize {
        1 + self.digits()
    }

    const ALL: [Level; 4] = [Level::Section, Level::Division, Level::Group, Level::Class];
}

/// A GB/T 4754-2017 industry code (行业代码) in canonical form: the section letter followed by 0,
/// 2, 3 or 4 digits, e.g. `C`, `C37`, `C374`, `C3742`.
///
/// Ordering is string order, which is a pre-order walk of the tree (`C` < `C37` < `C374` <
/// `C3742` < `C3743` < `C38`), so sorted lists print as an indented outline.
///
/// Groups and classes are not checked against the full standard (we do not carry its 1,382
/// classes); only the section letter and division are validated.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct IndustryCode {
    /// Canonical form; always ASCII, 1, 3, 4 or 5 characters.
    code: String,
}

impl IndustryCode {
    /// Parses the spellings in use: `C3742`, `c3742`, `3742`, `374`, `C37`, `37`, `C`, with
    /// surrounding spaces and full-width characters tolerated. Digits alone get their section
    /// from the division; a given section letter must agree with the division.
    pub fn parse(input: &str) -> Result<IndustryCode, IndustryCodeError> {
        let text = normalise(input);
        let (given_section, digits) = match text.chars().next() {
            None => return Err(IndustryCodeError::Empty),
            // ASCII letter, so slicing off one byte is slicing off one character.
            Some(letter) if letter.is_ascii_uppercase() => (Some(letter), &text[1..]),
            Some(_) => (None, text.as_str()),
        };
        let shape_ok = digits.bytes().all(|b| b.is_ascii_digit()) && matches!(digits.len(), 0 | 2..=4);
        if !shape_ok {
            return Err(IndustryCodeError::BadShape { found: text });
        }
        if let Some(letter) = given_section {
            if section_name_of(letter).is_none() {
                return Err(IndustryCodeError::UnknownSection { found: letter });
            }
        }
        let section = match (given_section, digits.get(..2)) {
            (Some(letter), None) => letter,
            (given, Some(division)) => {
                let expected = section_for_division(division)
                    .ok_or_else(|| IndustryCodeError::UnknownDivision { division: division.to_owned() })?;
                match given {
                    Some(given) if given != expected => {
                        return Err(IndustryCodeError::SectionMismatch {
                            given,
                            expected,
                            division: division.to_owned(),
                        })
                    }
                    _ => expected,
                }
            }
            // Neither letter nor digits: cannot come from a non-empty string, but if it did it
            // would be a shape problem.
            (None, None) => return Err(IndustryCodeError::BadShape { found: text.clone() }),
        };
        Ok(IndustryCode { code: format!("{section}{digits}") })
    }

    /// Canonical form, e.g. `"C3742"`.
    pub fn as_str(&self) -> &str {
        &self.code
    }

    /// The digits after the section letter (`"3742"`; empty for a section).
    pub fn digits(&self) -> &str {
        &self.code[1..]
    }

    /// Section letter (门类), e.g. `'C'`.
    pub fn section(&self) -> char {
        // Canonical form always starts with an ASCII letter.
        char::from(self.code.as_bytes()[0])
    }

    /// Division (大类) digits, e.g. `"37"`; `None` for a bare section.
    pub fn division(&self) -> Option<&str> {
        self.code.get(1..3)
    }

    /// Level of this code: 门类, 大类, 中类 or 小类.
    pub fn level(&self) -> Level {
        match self.code.len() {
            1 => Level::Section,
            3 => Level::Division,
            4 => Level::Group,
            _ => Level::Class,
        }
    }

    /// Every level from the section down to this code, top first: for `C3742` that is `C`,
    /// `C37`, `C374`, `C3742`. What chain views and supply–demand aggregation roll up along.
    pub fn prefixes(&self) -> Vec<IndustryCode> {
        Level::ALL.iter().filter_map(|level| self.truncated(*level)).collect()
    }

    /// The code one level up (`C3742` → `C374`), or `None` for a section.
    pub fn parent(&self) -> Option<IndustryCode> {
        let parent_level = match self.level() {
            Level::Section => return None,
            Level::Division => Level::Section,
            Level::Group => Level::Division,
            Level::Class => Level::Group,
        };
        self.truncated(parent_level)
    }

    /// Whether `self` is `other` or one of its ancestors (`C37` contains `C3742`). Because every
    /// level has a fixed length, string-prefix is exactly tree ancestry.
    pub fn contains(&self, other: &IndustryCode) -> bool {
        other.code.starts_with(&self.code)
    }

    /// Deepest level at which the two codes share an ancestor, `None` if even their sections
    /// differ. `C3742` and `C3743` share `Group` (`C374`); `C3742` and `C3825` share `Section`;
    /// a code and its own parent share the parent's level. Used to score matches.
    pub fn common_level(&self, other: &IndustryCode) -> Option<Level> {
        Level::ALL.iter().rev().copied().find(|&level| match (self.truncated(level), other.truncated(level)) {
            (Some(mine), Some(theirs)) => mine == theirs,
            _ => false,
        })
    }

    /// Chinese name of the section (门类名称), e.g. `"制造业"`.
    pub fn section_name(&self) -> &'static str {
        // Every constructed code has a section in A–T, which all have names.
        section_name_of(self.section()).unwrap_or("")
    }

    /// Chinese name (行业名称) when known: always for sections and divisions; for groups and
    /// classes only those in our short list (e.g. `C3742` → `"航天器及运载火箭制造"`).
    pub fn name(&self) -> Option<&'static str> {
        match self.level() {
            Level::Section => section_name_of(self.section()),
            Level::Division => self
                .division()
                .and_then(division_number)
                .and_then(|number| DIVISION_NAMES.get(usize::from(number).checked_sub(1)?))
                .copied(),
            Level::Group | Level::Class => {
                NAMED_GROUPS_AND_CLASSES.iter().find(|(digits, _)| *digits == self.digits()).map(|&(_, name)| name)
            }
        }
    }

    /// This code cut to `level`, or `None` if `level` is deeper than the code.
    fn truncated(&self, level: Level) -> Option<IndustryCode> {
        self.code.get(..level.canonical_len()).map(|prefix| IndustryCode { code: prefix.to_owned() })
    }
}

impl fmt::Display for IndustryCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.code)
    }
}

impl FromStr for IndustryCode {
    type Err = IndustryCodeError;

    /// Same as [`IndustryCode::parse`].
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        IndustryCode::parse(s)
    }
}

impl AsRef<str> for IndustryCode {
    fn as_ref(&self) -> &str {
        &self.code
    }
}

/// Why a string is not an acceptable GB/T 4754-2017 industry code (行业代码).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IndustryCodeError {
    /// Nothing left after trimming.
    Empty,
    /// Not a section letter and/or 2–4 digits (e.g. one digit, five digits, punctuation).
    BadShape {
        /// The normalised input.
        found: String,
    },
    /// A letter outside the sections A–T.
    UnknownSection {
        /// The letter given.
        found: char,
    },
    /// A division outside 01–97 (00, 98 or 99).
    UnknownDivision {
        /// The two division digits given.
        division: String,
    },
    /// The section letter given does not hold the division given (e.g. `D37`).
    SectionMismatch {
        /// Section letter in the input.
        given: char,
        /// Section the division really belongs to.
        expected: char,
        /// The two division digits.
        division: String,
    },
}

impl IndustryCodeError {
    /// Stable UPPER_SNAKE reason for machine consumers (gRPC error details, batch reports).
    pub fn reason(&self) -> &'static str {
        match self {
            IndustryCodeError::Empty => "EMPTY",
            IndustryCodeError::BadShape { .. } => "BAD_SHAPE",
            IndustryCodeError::UnknownSection { .. } => "UNKNOWN_SECTION",
            IndustryCodeError::UnknownDivision { .. } => "UNKNOWN_DIVISION",
            IndustryCodeError::SectionMismatch { .. } => "SECTION_MISMATCH",
        }
    }
}

impl fmt::Display for IndustryCodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            IndustryCodeError::Empty => f.write_str("industry code is empty"),
            IndustryCodeError::BadShape { found } => write!(
                f,
                "'{found}' is not an industry code (expected a section letter A-T and/or 2, 3 or 4 digits, e.g. C3742, C37 or 3742)"
            ),
            IndustryCodeError::UnknownSection { found } => {
                write!(f, "there is no section {found} (sections are A-T)")
            }
            IndustryCodeError::UnknownDivision { division } => {
                write!(f, "there is no division {division} (divisions are 01-97)")
            }
            IndustryCodeError::SectionMismatch {
                given,
                expected,
                division,
            } => write!(
                f,
                "division {division} belongs to section {expected}, not {given}"
            ),
        }
    }
}

impl std::error::Error for IndustryCodeError {}

#[cfg(test)]
mod tests {
    use super::*;

    fn code(s: &str) -> IndustryCode {
        IndustryCode::parse(s).expect("valid test code")
    }

    #[test]
    fn accepted_spellings() {
        for (input, canonical) in [
            ("C3742", "C3742"),
            ("c3742", "C3742"),
            ("3742", "C3742"),
            ("C374", "C374"),
            ("374", "C374"),
            ("C37", "C37"),
            ("37", "C37"),
            ("C", "C"),
            ("c", "C"),
            ("  I6571\t", "I6571"),
            ("\u{3000}ｃ３７４２\u{3000}", "C3742"),
            ("６５２０", "I6520"),
            ("7320", "M7320"),
            ("01", "A01"),
            ("97", "T97"),
        ] {
            assert_eq!(IndustryCode::parse(input).map(|c| c.to_string()), Ok(canonical.to_owned()), "{input:?}");
        }
    }

    #[test]
    fn accessors() {
        let c = code("C3742");
        assert_eq!(c.as_str(), "C3742");
        assert_eq!(c.as_ref(), "C3742");
        assert_eq!(c.digits(), "3742");
        assert_eq!(c.section(), 'C');
        assert_eq!(c.division(), Some("37"));
        assert_eq!(c.level(), Level::Class);
        assert_eq!(c.section_name(), "制造业");
        assert_eq!(c.name(), Some("航天器及运载火箭制造"));

        let s = code("C");
        assert_eq!(s.division(), None);
        assert_eq!(s.digits(), "");
        assert_eq!(s.level(), Level::Section);
        assert_eq!(s.name(), Some("制造业"));
        assert_eq!(code("C37").level(), Level::Division);
        assert_eq!(code("C37").name(), Some("铁路、船舶、航空航天和其他运输设备制造业"));
        assert_eq!(code("C374").level(), Level::Group);
        assert_eq!(code("C374").name(), Some("航空、航天器及设备制造"));
        assert_eq!(code("C375").name(), None, "unlisted group is simply unnamed");
        assert_eq!(code("C3759").name(), None, "unlisted class is simply unnamed");
    }

    #[test]
    fn zone_classes_have_official_names() {
        for (input, section, name) in [
            ("3742", 'C', "航天器及运载火箭制造"),
            ("3743", 'C', "航天相关设备制造"),
            ("3963", 'C', "智能无人飞行器制造"),
            ("3825", 'C', "光伏设备及元器件制造"),
            ("3841", 'C', "锂离子电池制造"),
            ("4416", 'D', "太阳能发电"),
            ("6339", 'I', "其他卫星传输服务"),
            ("6513", 'I', "应用软件开发"),
            ("6520", 'I', "集成电路设计"),
            ("6571", 'I', "地理遥感信息服务"),
            ("7320", 'M', "工程和技术研究和试验发展"),
        ] {
            let c = code(input);
            assert_eq!(c.section(), section, "{input}");
            assert_eq!(c.level(), Level::Class);
            assert_eq!(c.name(), Some(name), "{input}");
        }
    }

    #[test]
    fn named_groups_and_classes_table_is_consistent() {
        for (i, (digits, name)) in NAMED_GROUPS_AND_CLASSES.iter().enumerate() {
            assert!(matches!(digits.len(), 3 | 4), "{digits}");
            assert!(!name.is_empty());
            let c = code(digits);
            assert_eq!(c.digits(), *digits);
            assert_eq!(c.name(), Some(*name));
            assert!(NAMED_GROUPS_AND_CLASSES[i + 1..].iter().all(|(other, _)| other != digits), "duplicate {digits}");
            // Every listed class has its group listed too, so the outline has no holes.
            if let Some(parent) = c.parent().filter(|p| p.level() == Level::Group) {
                assert!(parent.name().is_some(), "group of {digits} unnamed");
            }
        }
    }

    #[test]
    fn sections_and_divisions_tables() {
        // Sections are A–T in order and their division ranges tile 01–97 without gaps.
        let mut next_division = 1;
        for (i, &(letter, first, last, name)) in SECTIONS.iter().enumerate() {
            assert_eq!(letter, char::from(b'A' + u8::try_from(i).expect("small")));
            assert_eq!(first, next_division, "{letter}");
            assert!(last >= first);
            assert!(!name.is_empty());
            next_division = last + 1;
        }
        assert_eq!(next_division, 98);
        assert_eq!(usize::from(next_division - 1), DIVISION_NAMES.len());
        assert!(DIVISION_NAMES.iter().all(|name| !name.is_empty()));

        assert_eq!(section_name_of('I'), Some("信息传输、软件和信息技术服务业"));
        assert_eq!(section_name_of('T'), Some("国际组织"));
        assert_eq!(section_name_of('U'), None);
        assert_eq!(section_for_division("37"), Some('C'));
        assert_eq!(section_for_division("70"), Some('K'));
        assert_eq!(section_for_division("00"), None);
        assert_eq!(section_for_division("98"), None);
        assert_eq!(section_for_division("3"), None);
        assert_eq!(section_for_division("374"), None);
        assert_eq!(section_for_division("3a"), None);
    }

    #[test]
    fn division_names_spot_checks() {
        for (division, name) in [
            ("01", "农业"),
            ("05", "农、林、牧、渔专业及辅助性活动"),
            ("39", "计算机、通信和其他电子设备制造业"),
            ("43", "金属制品、机械和设备修理业"),
            ("44", "电力、热力生产和供应业"),
            ("63", "电信、广播电视和卫星传输服务"),
            ("65", "软件和信息技术服务业"),
            ("73", "研究和试验发展"),
            ("79", "土地管理业"),
            ("96", "基层群众自治组织及其他组织"),
            ("97", "国际组织"),
        ] {
            assert_eq!(code(division).name(), Some(name), "{division}");
        }
    }

    #[test]
    fn empty_input() {
        for input in ["", "  ", "\u{3000}"] {
            let err = IndustryCode::parse(input).expect_err("empty");
            assert_eq!(err, IndustryCodeError::Empty);
            assert_eq!(err.reason(), "EMPTY");
            assert_eq!(err.to_string(), "industry code is empty");
        }
    }

    #[test]
    fn bad_shape() {
        for (input, found) in [
            ("C1", "C1"),
            ("1", "1"),
            ("C37421", "C37421"),
            ("37421", "37421"),
            ("CC37", "CC37"),
            ("C37A", "C37A"),
            ("C 3742", "C 3742"),
            ("C37.42", "C37.42"),
            ("-37", "-37"),
            ("制造业", "制造业"),
            ("u1", "U1"),
        ] {
            assert_eq!(
                IndustryCode::parse(input),
                Err(IndustryCodeError::BadShape { found: found.to_owned() }),
                "{input:?}"
            );
        }
        let err = IndustryCode::parse("c1").expect_err("bad shape");
        assert_eq!(err.reason(), "BAD_SHAPE");
        assert_eq!(
            err.to_string(),
            "'C1' is not an industry code (expected a section letter A-T and/or 2, 3 or 4 digits, e.g. C3742, C37 or 3742)"
        );
    }

    #[test]
    fn unknown_section() {
        let err = IndustryCode::parse("U").expect_err("no section U");
        assert_eq!(err, IndustryCodeError::UnknownSection { found: 'U' });
        assert_eq!(err.reason(), "UNKNOWN_SECTION");
        assert_eq!(err.to_string(), "there is no section U (sections are A-T)");
        assert_eq!(IndustryCode::parse("z3742"), Err(IndustryCodeError::UnknownSection { found: 'Z' }));
    }

    #[test]
    fn unknown_division() {
        for division in ["00", "98", "99"] {
            assert_eq!(
                IndustryCode::parse(division),
                Err(IndustryCodeError::UnknownDivision { division: division.to_owned() })
            );
        }
        let err = IndustryCode::parse("T9800").expect_err("no division 98");
        assert_eq!(err, IndustryCodeError::UnknownDivision { division: "98".to_owned() });
        assert_eq!(err.reason(), "UNKNOWN_DIVISION");
        assert_eq!(err.to_string(), "there is no division 98 (divisions are 01-97)");
    }

    #[test]
    fn section_mismatch() {
        let err = IndustryCode::parse("D37").expect_err("37 is in C");
        assert_eq!(err, IndustryCodeError::SectionMismatch { given: 'D', expected: 'C', division: "37".to_owned() });
        assert_eq!(err.reason(), "SECTION_MISMATCH");
        assert_eq!(err.to_string(), "division 37 belongs to section C, not D");
        assert_eq!(
            IndustryCode::parse("c6513"),
            Err(IndustryCodeError::SectionMismatch { given: 'C', expected: 'I', division: "65".to_owned() })
        );
    }

    #[test]
    fn prefixes_and_parent() {
        let c = code("C3742");
        let prefixes: Vec<String> = c.prefixes().iter().map(ToString::to_string).collect();
        assert_eq!(prefixes, ["C", "C37", "C374", "C3742"]);
        assert_eq!(code("C37").prefixes(), vec![code("C"), code("C37")]);
        assert_eq!(code("C").prefixes(), vec![code("C")]);

        assert_eq!(c.parent(), Some(code("C374")));
        assert_eq!(code("C374").parent(), Some(code("C37")));
        assert_eq!(code("C37").parent(), Some(code("C")));
        assert_eq!(code("C").parent(), None);
    }

    #[test]
    fn contains_and_common_level() {
        let spacecraft = code("C3742");
        let aerospace_equipment = code("C3743");
        let photovoltaic = code("C3825");
        let software = code("I6513");

        assert!(code("C").contains(&spacecraft));
        assert!(code("C37").contains(&spacecraft));
        assert!(code("C374").contains(&spacecraft));
        assert!(spacecraft.contains(&spacecraft));
        assert!(!spacecraft.contains(&code("C374")));
        assert!(!code("C38").contains(&spacecraft));
        assert!(!code("I").contains(&spacecraft));

        assert_eq!(spacecraft.common_level(&spacecraft), Some(Level::Class));
        assert_eq!(spacecraft.common_level(&aerospace_equipment), Some(Level::Group));
        assert_eq!(spacecraft.common_level(&code("C3751")), Some(Level::Division));
        assert_eq!(spacecraft.common_level(&photovoltaic), Some(Level::Section));
        assert_eq!(spacecraft.common_level(&software), None);
        assert_eq!(spacecraft.common_level(&code("C37")), Some(Level::Division));
        assert_eq!(code("C").common_level(&spacecraft), Some(Level::Section));
    }

    #[test]
    fn ordering_is_a_tree_walk() {
        let mut codes = [code("C38"), code("C3743"), code("C37"), code("A01"), code("C3742"), code("C"), code("C374")];
        codes.sort();
        let sorted: Vec<&str> = codes.iter().map(IndustryCode::as_str).collect();
        assert_eq!(sorted, ["A01", "C", "C37", "C374", "C3742", "C3743", "C38"]);
    }

    #[test]
    fn levels() {
        assert!(Level::Section < Level::Division);
        assert!(Level::Group < Level::Class);
        assert_eq!(Level::ALL.map(Level::label_zh), ["门类", "大类", "中类", "小类"]);
        assert_eq!(Level::ALL.map(Level::digits), [0, 2, 3, 4]);
    }

    #[test]
    fn errors_implement_std_error() {
        fn takes_error(_: &dyn std::error::Error) {}
        takes_error(&IndustryCodeError::Empty);
    }

    /// Property: for every two-digit division 00–99 and every letter A–Z, the lettered code is
    /// accepted exactly when the letter is the division's section; divisions 01–97 therefore
    /// accept exactly one letter, and digits alone always land in that same section.
    #[test]
    fn property_exactly_one_section_per_division() {
        for number in 0..100u8 {
            let division = format!("{number:02}");
            let accepted: Vec<char> =
                ('A'..='Z').filter(|letter| IndustryCode::parse(&format!("{letter}{division}")).is_ok()).collect();
            let digits_only = IndustryCode::parse(&division);
            if (1..=97).contains(&number) {
                assert_eq!(accepted.len(), 1, "division {division}");
                let section = accepted[0];
                assert_eq!(digits_only.map(|c| c.section()), Ok(section));
                assert_eq!(section_for_division(&division), Some(section));
                assert!(code(&division).name().is_some(), "division {division} unnamed");
                for letter in ('A'..='Z').filter(|&l| l != section) {
                    let err = IndustryCode::parse(&format!("{letter}{division}")).expect_err("wrong section");
                    let expected_reason = if letter <= 'T' { "SECTION_MISMATCH" } else { "UNKNOWN_SECTION" };
                    assert_eq!(err.reason(), expected_reason, "{letter}{division}");
                }
            } else {
                assert!(accepted.is_empty(), "division {division}");
                assert_eq!(digits_only, Err(IndustryCodeError::UnknownDivision { division }));
            }
        }
    }

    /// Property: every section letter parses on its own exactly when it is A–T.
    #[test]
    fn property_section_letters() {
        for letter in 'A'..='Z' {
            let parsed = IndustryCode::parse(&letter.to_string());
            assert_eq!(parsed.is_ok(), letter <= 'T', "{letter}");
            let lower = IndustryCode::parse(&letter.to_ascii_lowercase().to_string());
            assert_eq!(parsed, lower);
        }
    }

    /// Property: over every division and a spread of group/class digits, parsing is idempotent
    /// through Display, and prefixes/parent/contains/common_level agree with each other.
    #[test]
    fn property_tree_operations_agree() {
        let mut all = Vec::new();
        for number in 1..=97u8 {
            for suffix in ["", "1", "9", "10", "42", "99"] {
                all.push(code(&format!("{number:02}{suffix}")));
            }
        }
        for c in &all {
            // Round trips.
            assert_eq!(IndustryCode::parse(c.as_str()).as_ref(), Ok(c));
            assert_eq!(c.to_string().parse::<IndustryCode>().as_ref(), Ok(c));
            assert_eq!(IndustryCode::parse(c.digits()).as_ref(), Ok(c));
            assert_eq!(IndustryCode::parse(&c.as_str().to_ascii_lowercase()).as_ref(), Ok(c));

            // Prefixes: top first, one per level down to self, all ancestors.
            let prefixes = c.prefixes();
            assert_eq!(prefixes.first().map(IndustryCode::level), Some(Level::Section));
            assert_eq!(prefixes.last(), Some(c));
            assert!(prefixes.windows(2).all(|w| w[0].level() < w[1].level()));
            assert!(prefixes.windows(2).all(|w| w[1].parent().as_ref() == Some(&w[0])));
            assert!(prefixes.iter().all(|p| p.contains(c)));
            assert!(prefixes.iter().all(|p| p.section() == c.section()));
            assert_eq!(Some(prefixes.len()), Level::ALL.iter().position(|&l| l == c.level()).map(|i| i + 1));

            // Parent chain reaches the section.
            let mut steps = 0;
            let mut current = c.clone();
            while let Some(parent) = current.parent() {
                assert!(parent.contains(&current) && !current.contains(&parent));
                current = parent;
                steps += 1;
            }
            assert_eq!(current.level(), Level::Section);
            assert_eq!(steps + 1, prefixes.len());
        }
        // common_level is symmetric and consistent with contains.
        for a in all.iter().step_by(7) {
            for b in all.iter().step_by(5) {
                let level = a.common_level(b);
                assert_eq!(level, b.common_level(a));
                assert_eq!(level.is_some(), a.section() == b.section());
                if let Some(level) = level {
                    let shared =
                        a.prefixes().into_iter().find(|p| p.level() == level).expect("a reaches the common level");
                    assert!(shared.contains(a) && shared.contains(b));
                }
                if a.contains(b) {
                    assert_eq!(level, Some(a.level()));
                }
            }
        }
    }
}
