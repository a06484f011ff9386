//! 统一社会信用代码 (Unified Social Credit Code, GB 32100-2015).
//!
//! The credit code is the natural key of every enterprise, bank, university and association in
//! the registry: the statistics bureau, tax and market-regulation systems all match on it, so a
//! nightly sync is only as good as our validation of it. This module normalises what people and
//! batch files actually send (full-width digits, lower case, stray spaces), validates the shape
//! and both check characters, and decodes the parts staff care about (organisation type, region).
//!
//! Layout of the 18 characters:
//!
//! | positions | meaning |
//! |---|---|
//! | 1 | registration authority (登记管理部门) |
//! | 2 | organisation type (机构类别) within that authority |
//! | 3–8 | administrative division code of the registering office (登记管理机关行政区划码, GB/T 2260) |
//! | 9–16 | organisation code body (主体标识码, GB 11714) |
//! | 17 | GB 11714 check character of positions 9–16 |
//! | 18 | mod-31 check character of positions 1–17 (校验码) |
//!
//! A handful of genuine early pilot codes fail a check; [`CreditCode::parse`] rejects them and
//! [`CreditCode::parse_unverified`] exists for the audited, staff-verified override.

use std::fmt;
use std::str::FromStr;

/// The 31-character alphabet of credit codes (代码字符集), in value order 0–30.
///
/// I, O, S, V and Z are excluded because they are easily confused with 1, 0, 5, U and 2.
pub const CHARSET: &str = "0123456789ABCDEFGHJKLMNPQRTUWXY";

/// Number of characters in a credit code.
pub const CODE_LENGTH: usize = 18;

/// Weights of the mod-31 check (position 18): `W_i = 3^(i-1) mod 31` for positions 1–17.
/// Spelled out rather than computed so the table can be compared with the standard by eye;
/// a test recomputes it.
const CHECK_WEIGHTS: [u32; 17] = [1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28];

/// Weights of the GB 11714 organisation-code check (position 17) over positions 9–16.
const ORG_CHECK_WEIGHTS: [u32; 8] = [3, 7, 9, 10, 5, 8, 4, 2];

/// Printed in error messages so staff know what to type instead.
const ALLOWED_DESCRIPTION: &str = "0-9 and A-Y except I, O, S, V, Z";

/// Cleans up a credit code as people and upstream systems send it.
///
/// Trims leading/trailing whitespace (including the full-width space U+3000 that Chinese input
/// methods produce), folds full-width ASCII (U+FF01–U+FF5E, e.g. `９１６１…`) to ASCII and
/// upper-cases ASCII letters. Inner spaces are deliberately kept: a code with a space in the
/// middle is more likely a typo or two codes glued together than something to repair silently,
/// so [`CreditCode::parse`] reports it as an invalid character.
pub fn normalise(input: &str) -> String {
    input.trim().chars().map(|c| fold_full_width(c).to_ascii_uppercase()).collect()
}

/// Maps a full-width ASCII variant (U+FF01–U+FF5E) to its ASCII counterpart; other characters
/// pass through unchanged.
fn fold_full_width(c: char) -> char {
    match c {
        '\u{FF01}'..='\u{FF5E}' => char::from_u32(u32::from(c) - 0xFEE0).unwrap_or(c),
        _ => c,
    }
}

/// Value 0–30 of a character in [`CHARSET`], or `None` if it is not allowed.
fn charset_value(c: char) -> Option<u32> {
    // CHARSET is ASCII, so the byte index returned by `find` is also the character index.
    CHARSET.find(c).and_then(|index| u32::try_from(index).ok())
}

/// Character of [`CHARSET`] with the given value, or `None` if the value is 31 or more.
fn charset_char(value: u32) -> Option<char> {
    let index = usize::try_from(value).ok()?;
    CHARSET.as_bytes().get(index).map(|&b| char::from(b))
}

/// Computes the mod-31 check character (校验码, position 18) for the first 17 characters.
///
/// Returns `None` unless `first17` is exactly 17 characters from [`CHARSET`]; no normalisation
/// is applied, so callers holding raw input should run [`normalise`] first.
pub fn check_character(first17: &str) -> Option<char> {
    if first17.chars().count() != CHECK_WEIGHTS.len() {
        return None;
    }
    let mut sum = 0;
    for (c, weight) in first17.chars().zip(CHECK_WEIGHTS) {
        sum += charset_value(c)? * weight;
    }
    // c18 = 31 - (sum mod 31), where a result of 31 is written as '0'.
    charset_char((31 - sum % 31) % 31)
}

/// Computes the GB 11714 organisation-code check character (组织机构代码校验码, position 17 of a
/// credit code) for the 8-character organisation code body (positions 9–16).
///
/// Digits count 0–9 and letters A=10 … Z=35 (GB 11714 values letters by the alphabet, *not* by
/// their position in [`CHARSET`]). The check is `11 - (sum mod 11)`, written `X` for 10 and `0`
/// for 11. Returns `None` unless `first8` is exactly 8 digits or upper-case ASCII letters.
pub fn organisation_code_check(first8: &str) -> Option<char> {
    if first8.chars().count() != ORG_CHECK_WEIGHTS.len() {
        return None;
    }
    let mut sum = 0;
    for (c, weight) in first8.chars().zip(ORG_CHECK_WEIGHTS) {
        let value = match c {
            '0'..='9' | 'A'..='Z' => c.to_digit(36)?,
            _ => return None,
        };
        sum += value * weight;
    }
    match 11 - sum % 11 {
        10 => Some('X'),
        11 => Some('0'),
        digit => char::from_digit(digit, 10),
    }
}

/// Checks length, alphabet and the digits-only region of a normalised candidate code; the check
/// characters are left to [`check_problems`] so the override path can skip them.
fn validate_shape(code: &str) -> Result<(), CreditCodeError> {
    if code.is_empty() {
        return Err(CreditCodeError::Empty);
    }
    let found = code.chars().count();
    if found != CODE_LENGTH {
        return Err(CreditCodeError::WrongLength { found });
    }
    if let Some((index, c)) = code.chars().enumerate().find(|&(_, c)| charset_value(c).is_none()) {
        return Err(CreditCodeError::InvalidCharacter { position: index + 1, found: c });
    }
    if let Some((index, c)) = code.chars().enumerate().skip(2).take(6).find(|&(_, c)| !c.is_ascii_digit()) {
        return Err(CreditCodeError::RegionNotDigits { position: index + 1, found: c });
    }
    Ok(())
}

/// Both check-character problems of a code that already passed [`validate_shape`], position 17
/// first (the order staff read the code in).
fn check_problems(code: &str) -> Vec<CreditCodeError> {
    let mut problems = Vec::new();
    let chars: Vec<char> = code.chars().collect();
    if let (Some(expected), Some(&found)) = (organisation_code_check(&code[8..16]), chars.get(16)) {
        if expected != found {
            problems.push(CreditCodeError::OrganisationCodeCheckMismatch { expected, found });
        }
    }
    if let (Some(expected), Some(&found)) = (check_character(&code[..17]), chars.get(17)) {
        if expected != found {
            problems.push(CreditCodeError::CheckCharacterMismatch { expected, found });
        }
    }
    problems
}

/// A validated 统一社会信用代码: always 18 characters from [`CHARSET`] with digits in positions
/// 3–8. Codes built by [`CreditCode::parse`] or [`CreditCode::from_parts`] also pass both
/// check characters; one built by [`CreditCode::parse_unverified`] may not (see
/// [`CreditCode::verify`]).
///
/// Ordering is plain string order, which groups codes by authority/type and then by region.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct CreditCode(String);

impl CreditCode {
    /// Normalises `input` (see [`normalise`]) and accepts it only if it is a fully valid credit
    /// code: 18 characters, all in [`CHARSET`], positions 3–8 digits, and both the position-17
    /// organisation-code check and the position-18 check character correct.
    ///
    /// Errors are reported in reading order; when both checks fail, the position-17 mismatch is
    /// the one returned (use [`CreditCode::parse_unverified`] plus [`CreditCode::verify`] to
    /// see both).
    pub fn parse(input: &str) -> Result<CreditCode, CreditCodeError> {
        let code = CreditCode::parse_unverified(input)?;
        match check_problems(&code.0).into_iter().next() {
            Some(problem) => Err(problem),
            None => Ok(code),
        }
    }

    /// Like [`CreditCode::parse`] but tolerates wrong check characters (positions 17 and 18).
    ///
    /// Only for the audited override (人工核验): a few genuine early pilot codes fail the
    /// checks, and staff who verified one on the national registry must still be able to store
    /// it. Length, alphabet and region-shape errors are still rejected, because no genuine code
    /// has them. Callers should record who overrode and why, and can use
    /// [`CreditCode::verify`] to flag such codes later.
    pub fn parse_unverified(input: &str) -> Result<CreditCode, CreditCodeError> {
        let code = normalise(input);
        validate_shape(&code)?;
        Ok(CreditCode(code))
    }

    /// Builds a valid code from its parts, computing positions 17 and 18.
    ///
    /// `authority_and_type` is positions 1–2 (e.g. `"91"`), `region` positions 3–8 (six digits,
    /// e.g. `"610116"`) and `org8` the organisation code body, positions 9–16 (e.g.
    /// `"MA6U0001"`). Parts are taken exactly as given (no normalisation): they come from
    /// sample-data generators and tests, where silently fixing input would hide bugs.
    /// Character errors carry positions within the full 18-character code.
    pub fn from_parts(authority_and_type: &str, region: &str, org8: &str) -> Result<CreditCode, CreditCodeError> {
        for (part, text, expected) in [
            (CodePart::AuthorityAndType, authority_and_type, 2),
            (CodePart::Region, region, 6),
            (CodePart::OrganisationBody, org8, 8),
        ] {
            let found = text.chars().count();
            if found != expected {
                return Err(CreditCodeError::PartWrongLength { part, expected, found });
            }
        }
        let mut code = String::with_capacity(CODE_LENGTH);
        code.push_str(authority_and_type);
        code.push_str(region);
        code.push_str(org8);
        // The placeholders below are only used when a part holds a character outside CHARSET;
        // `validate_shape` then rejects the code, naming that character and its position, so a
        // placeholder can never end up in a returned code.
        code.push(organisation_code_check(org8).unwrap_or('0'));
        code.push(check_character(&code).unwrap_or('0'));
        validate_shape(&code)?;
        Ok(CreditCode(code))
    }

    /// The code as its canonical 18-character string.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Position 1: registration authority (登记管理部门), e.g. `9` market regulation, `5` civil
    /// affairs, `1` institutional establishment (机构编制).
    pub fn registration_authority(&self) -> char {
        self.char_at(0)
    }

    /// Organisation type (机构类别) decoded from positions 1–2. A pair missing from our table is
    /// reported as "未知类型"/"unknown" rather than rejected: the code may be newer than the
    /// table.
    pub fn organisation_type(&self) -> OrganisationType {
        OrganisationType::from_code(&self.0[..2])
    }

    /// Positions 3–8: administrative division code of the registering office
    /// (登记管理机关行政区划码), e.g. `"610116"`.
    pub fn region_code(&self) -> &str {
        &self.0[2..8]
    }

    /// Chinese name of the registering office's region when known (see [`region_name`]).
    /// `None` is a warning for staff, never a reason to reject the code: division codes get
    /// renumbered and development-zone offices use codes of their own.
    pub fn region(&self) -> Option<&'static str> {
        region_name(self.region_code())
    }

    /// Positions 9–17: the GB 11714 organisation code (组织机构代码) including its check
    /// character, e.g. `"M000100Y4"`.
    pub fn organisation_code(&self) -> &str {
        &self.0[8..17]
    }

    /// Check-character problems of a stored code: empty when both the position-17 and the
    /// position-18 checks pass. Lets the service flag codes accepted through the override.
    pub fn verify(&self) -> Vec<CreditCodeError> {
        check_problems(&self.0)
    }

    /// Character at a 0-based index. Sound because every constructor guarantees 18 ASCII
    /// characters.
    fn char_at(&self, index: usize) -> char {
        char::from(self.0.as_bytes()[index])
    }
}

impl fmt::Display for CreditCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl FromStr for CreditCode {
    type Err = CreditCodeError;

    /// Same as [`CreditCode::parse`].
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        CreditCode::parse(s)
    }
}

impl AsRef<str> for CreditCode {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

/// Organisation type (机构类别) of a credit code, from its first two characters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrganisationType {
    /// The two characters, e.g. `"91"`.
    pub code: String,
    /// Chinese label as used by staff, e.g. `"企业"`; `"未知类型"` when not in our table.
    pub label_zh: &'static str,
    /// English label, e.g. `"company"`; `"unknown"` when not in our table.
    pub label_en: &'static str,
}

/// GB 32100-2015 appendix: registration authority + organisation type → labels. Labels of the
/// catch-all "other" rows name their authority in brackets so they stay distinguishable.
const ORGANISATION_TYPES: &[(&str, &str, &str)] = &[
    // 1: 机构编制
    ("11", "机关", "government body"),
    ("12", "事业单位", "public institution"),
    ("13", "中央编办直接管理机构编制的群众团体", "mass organisation under the central establishment office"),
    ("19", "其他（机构编制）", "other (institutional establishment)"),
    // 2: 外交
    ("21", "外国常驻新闻机构", "resident office of a foreign news agency"),
    ("29", "其他（外交）", "other (foreign affairs)"),
    // 3: 司法行政
    ("31", "律师执业机构", "law firm"),
    ("32", "公证处", "notary office"),
    ("33", "基层法律服务所", "grassroots legal service office"),
    ("34", "司法鉴定机构", "forensic appraisal institution"),
    ("35", "仲裁委员会", "arbitration commission"),
    ("39", "其他（司法行政）", "other (judicial administration)"),
    // 4: 文化
    ("41", "外国在华文化中心", "foreign cultural centre in China"),
    ("49", "其他（文化）", "other (culture)"),
    // 5: 民政
    ("51", "社会团体", "social organisation"),
    ("52", "民办非企业单位", "private non-enterprise unit"),
    ("53", "基金会", "foundation"),
    ("59", "其他（民政）", "other (civil affairs)"),
    // 6: 旅游
    ("61", "外国旅游部门常驻代表机构", "resident representative office of a foreign tourism authority"),
    (
        "62",
        "港澳台地区旅游部门常驻内地（大陆）代表机构",
        "mainland representative office of a Hong Kong, Macao or Taiwan tourism authority",
    ),
    ("69", "其他（旅游）", "other (tourism)"),
    // 7: 宗教
    ("71", "宗教活动场所", "religious venue"),
    ("72", "宗教院校", "religious college"),
    ("79", "其他（宗教）", "other (religious affairs)"),
    // 8: 工会
    ("81", "基层工会", "grassroots trade union"),
    ("89", "其他（工会）", "other (trade unions)"),
    // 9: 工商 / 市场监管
    ("91", "企业", "company"),
    ("92", "个体工商户", "individual business"),
    ("93", "农民专业合作社", "farmers' cooperative"),
    // A: 中央军委改革和编制办公室
    ("A1", "军队事业单位", "military public institution"),
    ("A9", "其他（中央军委改革和编制办公室）", "other (CMC reform and establishment office)"),
    // N: 农业
    ("N1", "组级集体经济组织", "group-level collective economic organisation"),
    ("N2", "村级集体经济组织", "village-level collective economic organisation"),
    ("N3", "乡镇级集体经济组织", "township-level collective economic organisation"),
    ("N9", "其他（农业）", "other (agriculture)"),
    // Y: 其他
    ("Y1", "其他", "other"),
];

impl OrganisationType {
    /// Looks up a two-character type code (e.g. `"91"`); unknown pairs get the "未知类型" /
    /// "unknown" labels instead of an error.
    pub fn from_code(code: &str) -> OrganisationType {
        let (label_zh, label_en) = ORGANISATION_TYPES
            .iter()
            .find(|(known, _, _)| *known == code)
            .map_or(("未知类型", "unknown"), |&(_, zh, en)| (zh, en));
        OrganisationType { code: code.to_owned(), label_zh, label_en }
    }

    /// Whether the type is in our table (false for "未知类型").
    pub fn is_known(&self) -> bool {
        ORGANISATION_TYPES.iter().any(|(known, _, _)| *known == self.code)
    }
}

/// Division codes around the zone, matched exactly. The zone's own office (610138) is not a
/// GB/T 2260 county but has been seen on real codes, so it is listed here too.
const EXACT_REGIONS: &[(&str, &str)] = &[
    ("610000", "陕西省"),
    ("610100", "西安市"),
    ("610102", "新城区"),
    ("610103", "碑林区"),
    ("610104", "莲湖区"),
    ("610111", "灞桥区"),
    ("610112", "未央区"),
    ("610113", "雁塔区"),
    ("610114", "阎良区"),
    ("610115", "临潼区"),
    ("610116", "长安区"),
    ("610117", "高陵区"),
    ("610118", "鄠邑区"),
    ("610122", "蓝田县"),
    ("610124", "周至县"),
    ("610138", "西安国家民用航天产业基地"),
];

/// Province-level divisions (省级行政区) by the first two digits of a GB/T 2260 code.
const PROVINCES: &[(&str, &str)] = &[
    ("11", "北京市"),
    ("12", "天津市"),
    ("13", "河北省"),
    ("14", "山西省"),
    ("15", "内蒙古自治区"),
    ("21", "辽宁省"),
    ("22", "吉林省"),
    ("23", "黑龙江省"),
    ("31", "上海市"),
    ("32", "江苏省"),
    ("33", "浙江省"),
    ("34", "安徽省"),
    ("35", "福建省"),
    ("36", "江西省"),
    ("37", "山东省"),
    ("41", "河南省"),
    ("42", "湖北省"),
    ("43", "湖南省"),
    ("44", "广东省"),
    ("45", "广西壮族自治区"),
    ("46", "海南省"),
    ("50", "重庆市"),
    ("51", "四川省"),
    ("52", "贵州省"),
    ("53", "云南省"),
    ("54", "西藏自治区"),
    ("61", "陕西省"),
    ("62", "甘肃省"),
    ("63", "青海省"),
    ("64", "宁夏回族自治区"),
    ("65", "新疆维吾尔自治区"),
    ("71", "台湾省"),
    ("81", "香港特别行政区"),
    ("82", "澳门特别行政区"),
];

/// Chinese name of a 6-digit administrative division code (行政区划代码): the exact name for
/// Xi'an and its districts (and the zone's own office, 610138), otherwise the province name from
/// the first two digits, otherwise `None`. Also `None` unless `code6` is exactly six ASCII
/// digits.
pub fn region_name(code6: &str) -> Option<&'static str> {
    if code6.len() != 6 || !code6.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    EXACT_REGIONS
        .iter()
        .find(|(code, _)| *code == code6)
        .or_else(|| PROVINCES.iter().find(|(code, _)| *code == &code6[..2]))
        .map(|&(_, name)| name)
}

/// One of the three parts given to [`CreditCode::from_parts`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CodePart {
    /// Positions 1–2: registration authority and organisation type (登记管理部门和机构类别).
    AuthorityAndType,
    /// Positions 3–8: administrative division code (行政区划码).
    Region,
    /// Positions 9–16: organisation code body without its check character (主体标识码本体).
    OrganisationBody,
}

impl fmt::Display for CodePart {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            CodePart::AuthorityAndType => "authority and type part (positions 1-2)",
            CodePart::Region => "region part (positions 3-8)",
            CodePart::OrganisationBody => "organisation code part (positions 9-16)",
        })
    }
}

/// Why a string is not an acceptable 统一社会信用代码.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CreditCodeError {
    /// Nothing left after trimming.
    Empty,
    /// Not 18 characters (counted after normalisation).
    WrongLength {
        /// Number of characters found.
        found: usize,
    },
    /// A character outside [`CHARSET`] (including I, O, S, V, Z, punctuation and inner spaces).
    InvalidCharacter {
        /// 1-based position in the normalised code.
        position: usize,
        /// The offending character (after normalisation).
        found: char,
    },
    /// A letter in positions 3–8, which must be the digits of a division code.
    RegionNotDigits {
        /// 1-based position in the code (3–8).
        position: usize,
        /// The offending character.
        found: char,
    },
    /// Position 17 is not the GB 11714 check character of positions 9–16.
    OrganisationCodeCheckMismatch {
        /// What the check should be.
        expected: char,
        /// What the code has.
        found: char,
    },
    /// Position 18 is not the mod-31 check character (校验码) of positions 1–17.
    CheckCharacterMismatch {
        /// What the check should be.
        expected: char,
        /// What the code has.
        found: char,
    },
    /// A part given to [`CreditCode::from_parts`] has the wrong number of characters.
    PartWrongLength {
        /// Which part.
        part: CodePart,
        /// Characters the part must have.
        expected: usize,
        /// Characters it has.
        found: usize,
    },
}

impl CreditCodeError {
    /// Stable UPPER_SNAKE reason for machine consumers (gRPC error details, batch reports).
    pub fn reason(&self) -> &'static str {
        match self {
            CreditCodeError::Empty => "EMPTY",
            CreditCodeError::WrongLength { .. } => "WRONG_LENGTH",
            CreditCodeError::InvalidCharacter { .. } => "INVALID_CHARACTER",
            CreditCodeError::RegionNotDigits { .. } => "REGION_NOT_DIGITS",
            CreditCodeError::OrganisationCodeCheckMismatch { .. } => "ORGANISATION_CODE_CHECK_MISMATCH",
            CreditCodeError::CheckCharacterMismatch { .. } => "CHECK_CHARACTER_MISMATCH",
            CreditCodeError::PartWrongLength { .. } => "PART_WRONG_LENGTH",
        }
    }

    /// True for the two check-character mismatches, the only errors the audited override
    /// ([`CreditCode::parse_unverified`]) may waive.
    pub fn is_check_mismatch(&self) -> bool {
        matches!(
            self,
            CreditCodeError::OrganisationCodeCheckMismatch { .. } | CreditCodeError::CheckCharacterMismatch { .. }
        )
    }
}

/// Shows a character so staff can see it even when it is invisible: printable ASCII as `'O'`,
/// whitespace and control characters by code point only, anything else as both.
struct Shown(char);

impl fmt::Display for Shown {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let c = self.0;
        if c.is_ascii_graphic() {
            write!(f, "'{c}'")
        } else if c.is_whitespace() || c.is_control() {
            write!(f, "U+{:04X}", u32::from(c))
        } else {
            write!(f, "'{c}' (U+{:04X})", u32::from(c))
        }
    }
}

impl fmt::Display for CreditCodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CreditCodeError::Empty => f.write_str("credit code is empty"),
            CreditCodeError::WrongLength { found } => {
                let noun = if *found == 1 { "character" } else { "characters" };
                write!(
                    f,
                    "has {found} {noun}, a credit code has exactly {CODE_LENGTH}"
                )
            }
            CreditCodeError::InvalidCharacter { position, found } => write!(
                f,
                "character {} at position {position} is not allowed (allowed: {ALLOWED_DESCRIPTION})",
                Shown(*found)
            ),
            CreditCodeError::RegionNotDigits { position, found } => write!(
                f,
                "character {} at position {position} must be a digit (positions 3-8 are the administrative division code)",
                Shown(*found)
            ),
            CreditCodeError::OrganisationCodeCheckMismatch { expected, found } => write!(
                f,
                "organisation code check character (position 17) is {} but should be {}",
                Shown(*found),
                Shown(*expected)
            ),
            CreditCodeError::CheckCharacterMismatch { expected, found } => write!(
                f,
                "check character (position 18) is {} but should be {}",
                Shown(*found),
                Shown(*expected)
            ),
            CreditCodeError::PartWrongLength {
                part,
                expected,
                found,
            } => {
                let noun = if *found == 1 { "character" } else { "characters" };
                write!(f, "{part} has {found} {noun}, it needs exactly {expected}")
            }
        }
    }
}

impl std::error::Error for CreditCodeError {}

#[cfg(test)]
mod tests {
    use super::*;

    /// The worked example of GB 32100-2015.
    const EXAMPLE: &str = "91350100M000100Y43";

    /// Tiny deterministic generator (64-bit LCG) so the property tests need no crates and
    /// always exercise the same inputs.
    struct Lcg(u64);

    impl Lcg {
        fn next(&mut self) -> u64 {
            self.0 = self.0.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
            self.0 >> 33
        }

        fn pick(&mut self, alphabet: &str) -> char {
            let chars: Vec<char> = alphabet.chars().collect();
            let index = usize::try_from(self.next()).expect("fits") % chars.len();
            chars[index]
        }

        fn string(&mut self, alphabet: &str, len: usize) -> String {
            (0..len).map(|_| self.pick(alphabet)).collect()
        }
    }

    fn random_valid(rng: &mut Lcg) -> CreditCode {
        let kind = ORGANISATION_TYPES[usize::try_from(rng.next()).expect("fits") % ORGANISATION_TYPES.len()].0;
        let region = rng.string("0123456789", 6);
        let org8 = rng.string(CHARSET, 8);
        CreditCode::from_parts(kind, &region, &org8).expect("generated parts are valid")
    }

    #[test]
    fn weights_are_powers_of_three_mod_31() {
        let mut w = 1;
        for weight in CHECK_WEIGHTS {
            assert_eq!(weight, w);
            w = w * 3 % 31;
        }
    }

    #[test]
    fn charset_has_31_distinct_characters_without_confusables() {
        let mut chars: Vec<char> = CHARSET.chars().collect();
        assert_eq!(chars.len(), 31);
        chars.sort_unstable();
        chars.dedup();
        assert_eq!(chars.len(), 31);
        for banned in ['I', 'O', 'S', 'V', 'Z'] {
            assert!(!CHARSET.contains(banned));
        }
    }

    #[test]
    fn worked_example_check_character() {
        // Sum given by the standard is 1640; 1640 mod 31 = 28, 31 - 28 = 3.
        let sum: u32 =
            "91350100M000100Y4".chars().zip(CHECK_WEIGHTS).map(|(c, w)| charset_value(c).expect("valid") * w).sum();
        assert_eq!(sum, 1640);
        assert_eq!(check_character("91350100M000100Y4"), Some('3'));
    }

    #[test]
    fn worked_example_organisation_code_check() {
        // M=22, Y=34: 22*3 + 0*7 + 0*9 + 0*10 + 1*5 + 0*8 + 0*4 + 34*2 = 139;
        // 139 mod 11 = 7; 11 - 7 = 4. So '4' is indeed the GB 11714 check of M000100Y and the
        // standard's example passes both checks.
        assert_eq!(organisation_code_check("M000100Y"), Some('4'));
    }

    #[test]
    fn worked_example_parses() {
        let code = CreditCode::parse(EXAMPLE).expect("valid");
        assert_eq!(code.as_str(), EXAMPLE);
        assert_eq!(code.to_string(), EXAMPLE);
        assert_eq!(code.registration_authority(), '9');
        assert_eq!(code.organisation_type().code, "91");
        assert_eq!(code.organisation_type().label_zh, "企业");
        assert_eq!(code.organisation_type().label_en, "company");
        assert_eq!(code.region_code(), "350100");
        assert_eq!(code.region(), Some("福建省"));
        assert_eq!(code.organisation_code(), "M000100Y4");
        assert!(code.verify().is_empty());
        assert_eq!(EXAMPLE.parse::<CreditCode>(), Ok(code.clone()));
        assert_eq!(code.as_ref(), EXAMPLE);
    }

    #[test]
    fn organisation_code_check_special_values() {
        // Sum 4·3 = 12 ≡ 1 (mod 11) → 11 - 1 = 10 → 'X'.
        assert_eq!(organisation_code_check("40000000"), Some('X'));
        // Sum 0 → 11 - 0 = 11 → '0'.
        assert_eq!(organisation_code_check("00000000"), Some('0'));
        // Sum 2 → 9.
        assert_eq!(organisation_code_check("00000001"), Some('9'));
        // Letters are valued by the alphabet (Z = 35, not a CHARSET value), so GB 11714
        // letters missing from CHARSET work: 35·2 = 70 ≡ 4 (mod 11) → 7.
        assert_eq!(organisation_code_check("0000000Z"), Some('7'));
        // J = 19 by the alphabet (its CHARSET value would be 18): 19·2 = 38 ≡ 5 → 6.
        assert_eq!(organisation_code_check("0000000J"), Some('6'));
    }

    #[test]
    fn check_functions_reject_bad_input() {
        assert_eq!(check_character(""), None);
        assert_eq!(check_character("91350100M000100Y"), None);
        assert_eq!(check_character("91350100M000100Y43"), None);
        assert_eq!(check_character("91350100O000100Y4"), None);
        assert_eq!(check_character("91350100m000100Y4"), None);
        assert_eq!(organisation_code_check("M000100"), None);
        assert_eq!(organisation_code_check("M000100Y4"), None);
        assert_eq!(organisation_code_check("m000100Y"), None);
        assert_eq!(organisation_code_check("M000-00Y"), None);
        assert_eq!(organisation_code_check("M000１00Y"), None);
    }

    #[test]
    fn check_character_31_is_written_zero() {
        // Find a prefix whose sum is divisible by 31 and confirm its check is '0'.
        let mut rng = Lcg(7);
        let mut seen_zero = false;
        for _ in 0..2000 {
            let prefix = rng.string(CHARSET, 17);
            let sum: u32 = prefix.chars().zip(CHECK_WEIGHTS).map(|(c, w)| charset_value(c).expect("valid") * w).sum();
            if sum % 31 == 0 {
                assert_eq!(check_character(&prefix), Some('0'));
                seen_zero = true;
            }
        }
        assert!(seen_zero, "the generator should hit sum ≡ 0 (mod 31) at least once");
    }

    #[test]
    fn normalise_trims_folds_and_upper_cases() {
        assert_eq!(normalise("  91350100m000100y43\t"), EXAMPLE);
        assert_eq!(normalise("\u{3000}９１３５０１００Ｍ０００１００Ｙ４３\u{3000}"), EXAMPLE);
        assert_eq!(normalise("９１３５０１００ｍ０００１００ｙ４３"), EXAMPLE);
        // Inner spaces stay, so parsing can report them.
        assert_eq!(normalise(" 9135 0100 "), "9135 0100");
        assert_eq!(normalise("9135\u{3000}0100"), "9135\u{3000}0100");
        assert_eq!(normalise(""), "");
    }

    #[test]
    fn parse_accepts_messy_input() {
        let expected = CreditCode::parse(EXAMPLE).expect("valid");
        for input in [
            "91350100m000100y43",
            " 91350100M000100Y43 ",
            "\u{3000}９１３５０１００Ｍ０００１００Ｙ４３\u{3000}",
            "\n91350100M000100Y43\r\n",
        ] {
            assert_eq!(CreditCode::parse(input).as_ref(), Ok(&expected), "{input:?}");
        }
    }

    #[test]
    fn empty_input() {
        for input in ["", "   ", "\u{3000}\u{3000}", "\t\n"] {
            let err = CreditCode::parse(input).expect_err("empty");
            assert_eq!(err, CreditCodeError::Empty);
            assert_eq!(err.reason(), "EMPTY");
            assert_eq!(err.to_string(), "credit code is empty");
        }
    }

    #[test]
    fn wrong_length() {
        let err = CreditCode::parse("91350100M000100Y4").expect_err("17 chars");
        assert_eq!(err, CreditCodeError::WrongLength { found: 17 });
        assert_eq!(err.reason(), "WRONG_LENGTH");
        assert_eq!(err.to_string(), "has 17 characters, a credit code has exactly 18");
        assert_eq!(CreditCode::parse("91350100M000100Y433"), Err(CreditCodeError::WrongLength { found: 19 }));
        assert_eq!(
            CreditCodeError::WrongLength { found: 1 }.to_string(),
            "has 1 character, a credit code has exactly 18"
        );
        // Length counts characters after normalisation, not bytes.
        assert_eq!(
            CreditCode::parse("９１３５０１００Ｍ０００１００Ｙ４"),
            Err(CreditCodeError::WrongLength { found: 17 })
        );
        // Length is checked before the alphabet.
        assert_eq!(CreditCode::parse("OOO"), Err(CreditCodeError::WrongLength { found: 3 }));
    }

    #[test]
    fn invalid_character() {
        let err = CreditCode::parse("9135O100M000100Y43").expect_err("letter O");
        assert_eq!(err, CreditCodeError::InvalidCharacter { position: 5, found: 'O' });
        assert_eq!(err.reason(), "INVALID_CHARACTER");
        assert_eq!(
            err.to_string(),
            "character 'O' at position 5 is not allowed (allowed: 0-9 and A-Y except I, O, S, V, Z)"
        );
        for (banned, position) in [('I', 9), ('O', 10), ('S', 11), ('V', 12), ('Z', 18)] {
            let mut chars: Vec<char> = EXAMPLE.chars().collect();
            chars[position - 1] = banned;
            let input: String = chars.into_iter().collect();
            assert_eq!(
                CreditCode::parse(&input),
                Err(CreditCodeError::InvalidCharacter { position, found: banned }),
                "{input}"
            );
        }
        // Lower-case banned letters are reported upper-cased, as the normalised code has them.
        assert_eq!(
            CreditCode::parse("91350100M000100y4o"),
            Err(CreditCodeError::InvalidCharacter { position: 18, found: 'O' })
        );
        // The first offending position wins.
        assert_eq!(
            CreditCode::parse("9I350100M000100Y4-"),
            Err(CreditCodeError::InvalidCharacter { position: 2, found: 'I' })
        );
    }

    #[test]
    fn inner_spaces_are_invalid_characters() {
        let err = CreditCode::parse("9135 100M000100Y43").expect_err("space");
        assert_eq!(err, CreditCodeError::InvalidCharacter { position: 5, found: ' ' });
        assert!(err.to_string().starts_with("character U+0020 at position 5 "));
        let err = CreditCode::parse("9135\u{3000}100M000100Y43").expect_err("full-width space");
        assert_eq!(err, CreditCodeError::InvalidCharacter { position: 5, found: '\u{3000}' });
        assert!(err.to_string().starts_with("character U+3000 at position 5 "));
        let err = CreditCode::parse("9135中100M000100Y43").expect_err("CJK");
        assert!(err.to_string().starts_with("character '中' (U+4E2D) at position 5 "));
    }

    #[test]
    fn region_not_digits() {
        let err = CreditCode::parse("9135A100M000100Y43").expect_err("letter in region");
        assert_eq!(err, CreditCodeError::RegionNotDigits { position: 5, found: 'A' });
        assert_eq!(err.reason(), "REGION_NOT_DIGITS");
        assert_eq!(
            err.to_string(),
            "character 'A' at position 5 must be a digit (positions 3-8 are the administrative division code)"
        );
        assert_eq!(
            CreditCode::parse("91Y50100M000100Y43"),
            Err(CreditCodeError::RegionNotDigits { position: 3, found: 'Y' })
        );
        assert_eq!(
            CreditCode::parse("9135010XM000100Y43"),
            Err(CreditCodeError::RegionNotDigits { position: 8, found: 'X' })
        );
    }

    #[test]
    fn organisation_code_check_mismatch() {
        // Position 17 changed from 4 to 5: both checks now fail; the position-17 one is reported.
        let err = CreditCode::parse("91350100M000100Y53").expect_err("bad org check");
        assert_eq!(err, CreditCodeError::OrganisationCodeCheckMismatch { expected: '4', found: '5' });
        assert_eq!(err.reason(), "ORGANISATION_CODE_CHECK_MISMATCH");
        assert_eq!(err.to_string(), "organisation code check character (position 17) is '5' but should be '4'");
        assert!(err.is_check_mismatch());
    }

    #[test]
    fn check_character_mismatch() {
        let err = CreditCode::parse("91350100M000100Y4X").expect_err("bad check");
        assert_eq!(err, CreditCodeError::CheckCharacterMismatch { expected: '3', found: 'X' });
        assert_eq!(err.reason(), "CHECK_CHARACTER_MISMATCH");
        assert_eq!(err.to_string(), "check character (position 18) is 'X' but should be '3'");
        assert!(err.is_check_mismatch());
        assert!(!CreditCodeError::Empty.is_check_mismatch());
    }

    #[test]
    fn part_wrong_length() {
        let err = CreditCode::from_parts("9", "1610116", "MA6U0001").expect_err("misaligned");
        assert_eq!(err, CreditCodeError::PartWrongLength { part: CodePart::AuthorityAndType, expected: 2, found: 1 });
        assert_eq!(err.reason(), "PART_WRONG_LENGTH");
        assert_eq!(err.to_string(), "authority and type part (positions 1-2) has 1 character, it needs exactly 2");
        assert_eq!(
            CreditCode::from_parts("91", "61011", "MA6U0001"),
            Err(CreditCodeError::PartWrongLength { part: CodePart::Region, expected: 6, found: 5 })
        );
        assert_eq!(
            CreditCode::from_parts("91", "610116", "MA6U00012"),
            Err(CreditCodeError::PartWrongLength { part: CodePart::OrganisationBody, expected: 8, found: 9 })
        );
    }

    #[test]
    fn from_parts_builds_valid_codes() {
        let code = CreditCode::from_parts("91", "350100", "M000100Y").expect("valid");
        assert_eq!(code.as_str(), EXAMPLE);

        let code = CreditCode::from_parts("91", "610116", "MA6U0001").expect("valid");
        assert!(code.verify().is_empty());
        assert_eq!(CreditCode::parse(code.as_str()), Ok(code.clone()));
        assert_eq!(code.region(), Some("长安区"));
        assert_eq!(&code.organisation_code()[..8], "MA6U0001");
    }

    #[test]
    fn from_parts_reports_positions_in_the_full_code() {
        assert_eq!(
            CreditCode::from_parts("91", "610116", "MA6O0001"),
            Err(CreditCodeError::InvalidCharacter { position: 12, found: 'O' })
        );
        assert_eq!(
            CreditCode::from_parts("91", "61011A", "MA6U0001"),
            Err(CreditCodeError::RegionNotDigits { position: 8, found: 'A' })
        );
        // No normalisation in from_parts: lower case is a mistake in the generator.
        assert_eq!(
            CreditCode::from_parts("91", "610116", "ma6u0001"),
            Err(CreditCodeError::InvalidCharacter { position: 9, found: 'm' })
        );
        assert_eq!(
            CreditCode::from_parts("9I", "610116", "MA6U0001"),
            Err(CreditCodeError::InvalidCharacter { position: 2, found: 'I' })
        );
    }

    #[test]
    fn parse_unverified_tolerates_only_check_characters() {
        // Both checks wrong.
        let code = CreditCode::parse_unverified("91350100M000100Y5X").expect("shape is fine");
        assert_eq!(
            code.verify(),
            vec![
                CreditCodeError::OrganisationCodeCheckMismatch { expected: '4', found: '5' },
                CreditCodeError::CheckCharacterMismatch {
                    // The mod-31 check is computed over position 17 as stored ('5').
                    expected: check_character("91350100M000100Y5").expect("valid"),
                    found: 'X'
                },
            ]
        );
        // Only position 18 wrong.
        let code = CreditCode::parse_unverified("91350100M000100Y4X").expect("shape is fine");
        assert_eq!(code.verify(), vec![CreditCodeError::CheckCharacterMismatch { expected: '3', found: 'X' }]);
        // Normalisation still applies.
        assert_eq!(
            CreditCode::parse_unverified(" ９１３５０１００ｍ０００１００ｙ４ｘ ").map(|c| c.as_str().to_owned()),
            Ok("91350100M000100Y4X".to_owned())
        );
        // Shape errors are never waived.
        assert_eq!(CreditCode::parse_unverified(""), Err(CreditCodeError::Empty));
        assert_eq!(CreditCode::parse_unverified("91350100M000100Y4"), Err(CreditCodeError::WrongLength { found: 17 }));
        assert_eq!(
            CreditCode::parse_unverified("91350100M000100YOX"),
            Err(CreditCodeError::InvalidCharacter { position: 17, found: 'O' })
        );
        assert_eq!(
            CreditCode::parse_unverified("91A50100M000100Y4X"),
            Err(CreditCodeError::RegionNotDigits { position: 3, found: 'A' })
        );
    }

    #[test]
    fn position_17_letter_is_a_check_mismatch() {
        // 'A' is in CHARSET but can never be a GB 11714 check character (0-9 or X).
        let prefix = "91350100M000100YA";
        let check = check_character(prefix).expect("valid");
        let input = format!("{prefix}{check}");
        assert_eq!(
            CreditCode::parse(&input),
            Err(CreditCodeError::OrganisationCodeCheckMismatch { expected: '4', found: 'A' })
        );
    }

    #[test]
    fn organisation_types() {
        let cases = [
            ("11", "机关"),
            ("12", "事业单位"),
            ("13", "中央编办直接管理机构编制的群众团体"),
            ("19", "其他（机构编制）"),
            ("21", "外国常驻新闻机构"),
            ("31", "律师执业机构"),
            ("35", "仲裁委员会"),
            ("51", "社会团体"),
            ("52", "民办非企业单位"),
            ("53", "基金会"),
            ("62", "港澳台地区旅游部门常驻内地（大陆）代表机构"),
            ("72", "宗教院校"),
            ("81", "基层工会"),
            ("91", "企业"),
            ("92", "个体工商户"),
            ("93", "农民专业合作社"),
            ("A1", "军队事业单位"),
            ("N2", "村级集体经济组织"),
            ("Y1", "其他"),
        ];
        for (code, zh) in cases {
            let t = OrganisationType::from_code(code);
            assert_eq!(t.code, code);
            assert_eq!(t.label_zh, zh, "{code}");
            assert!(t.is_known());
        }
        assert_eq!(ORGANISATION_TYPES.len(), 36);
        // Table codes are unique and use only CHARSET characters.
        for (i, (code, _, _)) in ORGANISATION_TYPES.iter().enumerate() {
            assert!(code.chars().all(|c| CHARSET.contains(c)), "{code}");
            assert!(ORGANISATION_TYPES[i + 1..].iter().all(|(other, _, _)| other != code), "duplicate {code}");
        }
    }

    #[test]
    fn unknown_organisation_type_is_not_an_error() {
        let code = CreditCode::from_parts("94", "610116", "MA6U0001").expect("valid");
        let t = code.organisation_type();
        assert_eq!(t, OrganisationType { code: "94".to_owned(), label_zh: "未知类型", label_en: "unknown" });
        assert!(!t.is_known());
        assert_eq!(code.registration_authority(), '9');
    }

    #[test]
    fn regions() {
        assert_eq!(region_name("610116"), Some("长安区"));
        assert_eq!(region_name("610138"), Some("西安国家民用航天产业基地"));
        assert_eq!(region_name("610100"), Some("西安市"));
        assert_eq!(region_name("610000"), Some("陕西省"));
        assert_eq!(region_name("610118"), Some("鄠邑区"));
        // Unlisted Shaanxi code falls back to the province.
        assert_eq!(region_name("610402"), Some("陕西省"));
        assert_eq!(region_name("110108"), Some("北京市"));
        assert_eq!(region_name("820000"), Some("澳门特别行政区"));
        assert_eq!(region_name("990000"), None);
        assert_eq!(region_name("000000"), None);
        assert_eq!(region_name("6101"), None);
        assert_eq!(region_name("61011A"), None);
        assert_eq!(region_name("６１０１１６"), None);
        assert_eq!(PROVINCES.len(), 34);

        let code = CreditCode::from_parts("91", "990000", "MA6U0001").expect("valid");
        assert_eq!(code.region(), None, "unknown region is not a rejection");
    }

    #[test]
    fn accessors_slice_the_right_positions() {
        let code = CreditCode::from_parts("N3", "610124", "0123ABCD").expect("valid");
        assert_eq!(code.registration_authority(), 'N');
        assert_eq!(code.organisation_type().label_zh, "乡镇级集体经济组织");
        assert_eq!(code.region_code(), "610124");
        assert_eq!(code.region(), Some("周至县"));
        assert_eq!(code.organisation_code().len(), 9);
        assert!(code.organisation_code().starts_with("0123ABCD"));
        assert_eq!(code.organisation_code().chars().last(), organisation_code_check("0123ABCD"));
    }

    #[test]
    fn ordering_and_hashing_follow_the_string() {
        use std::collections::HashSet;
        let a = CreditCode::from_parts("12", "610116", "MA6U0001").expect("valid");
        let b = CreditCode::from_parts("91", "610116", "MA6U0001").expect("valid");
        assert!(a < b);
        let set: HashSet<CreditCode> = [a.clone(), b, a].into_iter().collect();
        assert_eq!(set.len(), 2);
    }

    #[test]
    fn errors_implement_std_error() {
        fn takes_error(_: &dyn std::error::Error) {}
        takes_error(&CreditCodeError::Empty);
    }

    /// Property: for any 17-character prefix whose position 17 is right, exactly one of the 31
    /// possible last characters is accepted, and it is the computed check character.
    #[test]
    fn property_exactly_one_last_character_is_accepted() {
        let mut rng = Lcg(2015);
        for _ in 0..300 {
            let code = random_valid(&mut rng);
            let prefix = &code.as_str()[..17];
            let accepted: Vec<char> =
                CHARSET.chars().filter(|&last| CreditCode::parse(&format!("{prefix}{last}")).is_ok()).collect();
            assert_eq!(accepted, vec![code.char_at(17)], "{prefix}");
            assert_eq!(check_character(prefix), Some(code.char_at(17)));
        }
    }

    /// Property: of the 11 possible GB 11714 check characters (0-9, X), exactly one is accepted
    /// at position 17 when position 18 is recomputed to match.
    #[test]
    fn property_exactly_one_organisation_check_is_accepted() {
        let mut rng = Lcg(11714);
        for _ in 0..300 {
            let code = random_valid(&mut rng);
            let prefix16 = &code.as_str()[..16];
            let accepted: Vec<char> = "0123456789X"
                .chars()
                .filter(|&c17| {
                    let first17 = format!("{prefix16}{c17}");
                    check_character(&first17)
                        .map(|c18| CreditCode::parse(&format!("{first17}{c18}")).is_ok())
                        .unwrap_or(false)
                })
                .collect();
            assert_eq!(accepted, vec![code.char_at(16)], "{prefix16}");
        }
    }

    /// Property: the mod-31 check catches every single-character substitution, because 31 is
    /// prime and no weight is 0 mod 31.
    #[test]
    fn property_single_substitutions_are_rejected() {
        let mut rng = Lcg(32100);
        for _ in 0..100 {
            let code = random_valid(&mut rng);
            let original: Vec<char> = code.as_str().chars().collect();
            for position in 0..CODE_LENGTH {
                for replacement in CHARSET.chars().filter(|&c| c != original[position]) {
                    let mut mutated = original.clone();
                    mutated[position] = replacement;
                    let input: String = mutated.into_iter().collect();
                    assert!(CreditCode::parse(&input).is_err(), "{input} accepted");
                }
            }
        }
    }

    /// Property: parse ∘ display is the identity, with or without full-width/lower-case noise.
    #[test]
    fn property_round_trips() {
        let mut rng = Lcg(4754);
        for _ in 0..300 {
            let code = random_valid(&mut rng);
            assert_eq!(CreditCode::parse(code.as_str()), Ok(code.clone()));
            assert_eq!(CreditCode::parse_unverified(code.as_str()), Ok(code.clone()));
            let noisy: String = code
                .as_str()
                .chars()
                .map(|c| {
                    let lower = c.to_ascii_lowercase();
                    char::from_u32(u32::from(lower) + 0xFEE0).unwrap_or(lower)
                })
                .collect();
            assert_eq!(CreditCode::parse(&format!("\u{3000}{noisy} ")), Ok(code.clone()));
            assert!(code.verify().is_empty());
        }
    }
}
