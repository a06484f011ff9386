//! The AIP-160 filter subset of `ListEnterprises`.
//!
//! A filter combines conditions `field op value` with `AND` (or whitespace),
//! `OR` and `NOT` (or `-`), grouped by parentheses; as in AIP-160, `OR` binds
//! tighter than `AND`. Values are bare words or quoted strings (`"…"` or
//! `'…'`). The other list methods take conjunctions only ([`parse_terms`]).
//!
//! Parsing validates every field, operator and value, so an accepted filter
//! always evaluates; the store decides which conditions an index can serve.

use crate::domain::credit_code::CreditCode;
use crate::domain::enterprise::Enterprise;
use crate::domain::industry::IndustryCode;
use crate::domain::time::{Date, Micros};
use crate::error::{Error, Result};

/// Longest filter accepted, in bytes.
pub const MAX_FILTER_BYTES: usize = 2048;
/// Most conditions in one filter.
pub const MAX_CONDITIONS: usize = 16;

/// A field that can be filtered on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Field {
    /// `industry_code`: the code or any code below it.
    IndustryCode,
    /// `region`: 2-, 4- or 6-digit prefix of the registered region.
    Region,
    /// `zone`: promotion zone id.
    Zone,
    /// `organisation_type`: credit-code positions 1–2.
    OrganisationType,
    /// `tags`: has the tag.
    Tags,
    /// `service_commissioner`.
    ServiceCommissioner,
    /// `alliance`: active member of the alliance with this id.
    Alliance,
    /// `stage`: the cultivation stage today, compared by rung.
    Stage,
    /// `display_name`: exact (`=`) or substring of current or former names (`:`).
    DisplayName,
    /// `credit_code`: exact.
    CreditCode,
    /// `deleted`: soft-deleted or not.
    Deleted,
    /// `create_time`: comparison with an RFC 3339 time.
    CreateTime,
    /// `update_time`: comparison with an RFC 3339 time.
    UpdateTime,
    /// `founding_date`: comparison with `YYYY-MM-DD`.
    FoundingDate,
}

impl Field {
    const ALL: &'static [(&'static str, Field)] = &[
        ("industry_code", Field::IndustryCode),
        ("region", Field::Region),
        ("region_code", Field::Region),
        ("zone", Field::Zone),
        ("promotion_zone", Field::Zone),
        ("organisation_type", Field::OrganisationType),
        ("tags", Field::Tags),
        ("service_commissioner", Field::ServiceCommissioner),
        ("alliance", Field::Alliance),
        ("stage", Field::Stage),
        ("display_name", Field::DisplayName),
        ("credit_code", Field::CreditCode),
        ("deleted", Field::Deleted),
        ("create_time", Field::CreateTime),
        ("update_time", Field::UpdateTime),
        ("founding_date", Field::FoundingDate),
    ];

    fn parse(name: &str) -> Option<Field> {
        Self::ALL.iter().find(|(n, _)| *n == name).map(|(_, f)| *f)
    }

    /// The field's name in filters.
    pub fn name(self) -> &'static str {
        Self::ALL.iter().find(|(_, f)| *f == self).map_or("", |(n, _)| n)
    }
}

/// A comparison operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    /// `=`
    Eq,
    /// `!=`
    Ne,
    /// `<`
    Lt,
    /// `<=`
    Le,
    /// `>`
    Gt,
    /// `>=`
    Ge,
    /// `:` (has)
    Has,
}

impl Op {
    /// How the operator is written in a filter.
    pub fn symbol(self) -> &'static str {
        match self {
            Op::Eq => "=",
            Op::Ne => "!=",
            Op::Lt => "<",
            Op::Le => "<=",
            Op::Gt => ">",
            Op::Ge => ">=",
            Op::Has => ":",
        }
    }
}

/// A validated value, typed by its field.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Value {
    /// Text (already canonical for codes).
    Text(String),
    /// A boolean.
    Bool(bool),
    /// A timestamp.
    Time(Micros),
    /// A date.
    Date(Date),
}

/// One condition of a filter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Condition {
    /// Negated with NOT or `-`.
    pub negated: bool,
    /// The field compared.
    pub field: Field,
    /// The operator.
    pub op: Op,
    /// The value compared with.
    pub value: Value,
}

impl Condition {
    /// Whether the enterprise satisfies the condition today.
    pub fn matches(&self, e: &Enterprise) -> bool {
        self.matches_on(e, Date::today())
    }

    /// Whether the enterprise satisfies the condition, with its stage taken
    /// on `day` (reports evaluate "as of" a date).
    pub fn matches_on(&self, e: &Enterprise, day: Date) -> bool {
        self.negated != self.matches_positive(e, day)
    }

    fn matches_positive(&self, e: &Enterprise, day: Date) -> bool {
        fn text(v: &Value) -> &str {
            match v {
                Value::Text(t) => t.as_str(),
                _ => "",
            }
        }
        match self.field {
            Field::IndustryCode => {
                let want = text(&self.value);
                let hit = e.industry_code.starts_with(want) && !e.industry_code.is_empty();
                self.eq_or_ne(hit)
            }
            Field::Region => self.eq_or_ne(e.region_code.starts_with(text(&self.value))),
            Field::Zone => self.eq_or_ne(e.promotion_zone == text(&self.value)),
            Field::OrganisationType => self.eq_or_ne(e.credit_code.get(0..2) == Some(text(&self.value))),
            Field::ServiceCommissioner => self.eq_or_ne(e.service_commissioner == text(&self.value)),
            Field::Alliance => self.eq_or_ne(e.memberships.iter().any(|m| m.alliance_id == text(&self.value))),
            Field::Stage => {
                let have = e.stage_on(day) as i32;
                let want: i32 = text(&self.value).parse().unwrap_or(0);
                self.compares(have.cmp(&want))
            }
            Field::Tags => {
                let has = e.tags.iter().any(|t| t == text(&self.value));
                if self.op == Op::Ne {
                    !has
                } else {
                    has
                }
            }
            Field::CreditCode => self.eq_or_ne(e.credit_code == text(&self.value)),
            Field::DisplayName => {
                let want = text(&self.value);
                match self.op {
                    Op::Has => {
                        e.display_name.contains(want) || e.former_names.iter().any(|f| f.display_name.contains(want))
                    }
                    _ => self.eq_or_ne(e.display_name == want),
                }
            }
            Field::Deleted => self.eq_or_ne(matches!(self.value, Value::Bool(b) if b == e.is_deleted())),
            Field::CreateTime => self.compare_time(e.create_time),
            Field::UpdateTime => self.compare_time(e.update_time),
            Field::FoundingDate => match (Date::parse(&e.founding_date), &self.value) {
                // A firm with no founding date satisfies no date comparison.
                (Some(have), Value::Date(want)) => self.compares(have.cmp(want)),
                _ => false,
            },
        }
    }

    fn eq_or_ne(&self, equal: bool) -> bool {
        if self.op == Op::Ne {
            !equal
        } else {
            equal
        }
    }

    fn compare_time(&self, have: Micros) -> bool {
        match self.value {
            Value::Time(want) => self.compares(have.cmp(&want)),
            _ => false,
        }
    }

    /// Whether an ordering of the field's value against the condition's
    /// satisfies the operator (negation not applied).
    pub fn compares(&self, ord: std::cmp::Ordering) -> bool {
        use std::cmp::Ordering::*;
        match self.op {
            Op::Eq => ord == Equal,
            Op::Ne => ord != Equal,
            Op::Lt => ord == Less,
            Op::Le => ord != Greater,
            Op::Gt => ord == Greater,
            Op::Ge => ord != Less,
            Op::Has => false,
        }
    }
}

/// A filter expression: conditions combined with `AND`, `OR`, `NOT` and
/// parentheses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Expr {
    /// Every part holds (the empty conjunction holds always).
    And(Vec<Expr>),
    /// At least one part holds.
    Or(Vec<Expr>),
    /// The part does not hold.
    Not(Box<Expr>),
    /// One condition.
    Cond(Condition),
}

impl Default for Expr {
    fn default() -> Self {
        Expr::And(Vec::new())
    }
}

impl Expr {
    /// Whether the enterprise satisfies the expression, stages taken on `day`.
    pub fn matches_on(&self, e: &Enterprise, day: Date) -> bool {
        match self {
            Expr::And(parts) => parts.iter().all(|p| p.matches_on(e, day)),
            Expr::Or(parts) => parts.iter().any(|p| p.matches_on(e, day)),
            Expr::Not(inner) => !inner.matches_on(e, day),
            Expr::Cond(c) => c.matches_on(e, day),
        }
    }

    fn collect<'a>(&'a self, out: &mut Vec<&'a Condition>) {
        match self {
            Expr::And(parts) | Expr::Or(parts) => parts.iter().for_each(|p| p.collect(out)),
            Expr::Not(inner) => inner.collect(out),
            Expr::Cond(c) => out.push(c),
        }
    }
}

/// A parsed filter. AIP-160 precedence: `OR` binds tighter than `AND` (and
/// than the implicit `AND` of juxtaposed conditions), so `a b OR c` is
/// `a AND (b OR c)`; parentheses group as written.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Filter {
    /// The expression; the empty filter is the empty conjunction.
    pub expr: Expr,
}

impl Filter {
    /// Parses and validates a filter; the empty string is the empty filter.
    pub fn parse(input: &str) -> Result<Filter> {
        let expr = type_tree(parse_tree(input)?)?;
        Ok(Filter { expr })
    }

    /// A filter of one conjunction of conditions.
    pub fn all(conditions: Vec<Condition>) -> Filter {
        Filter { expr: Expr::And(conditions.into_iter().map(Expr::Cond).collect()) }
    }

    /// Whether the filter has no condition at all.
    pub fn is_empty(&self) -> bool {
        self.conditions().is_empty()
    }

    /// Every condition of the filter, in the order written.
    pub fn conditions(&self) -> Vec<&Condition> {
        let mut out = Vec::new();
        self.expr.collect(&mut out);
        out
    }

    /// Whether the enterprise satisfies the filter today.
    pub fn matches(&self, e: &Enterprise) -> bool {
        self.matches_on(e, Date::today())
    }

    /// Whether the enterprise satisfies the filter, stages taken on `day`.
    pub fn matches_on(&self, e: &Enterprise, day: Date) -> bool {
        self.expr.matches_on(e, day)
    }

    /// Whether any condition is about the deleted state (which then implies
    /// `show_deleted`).
    pub fn mentions_deleted(&self) -> bool {
        self.conditions().iter().any(|c| c.field == Field::Deleted)
    }
}

/// Types every condition of a parsed tree by its field.
fn type_tree(tree: TermTree) -> Result<Expr> {
    Ok(match tree {
        TermTree::And(parts) => Expr::And(parts.into_iter().map(type_tree).collect::<Result<_>>()?),
        TermTree::Or(parts) => Expr::Or(parts.into_iter().map(type_tree).collect::<Result<_>>()?),
        TermTree::Not(inner) => Expr::Not(Box::new(type_tree(*inner)?)),
        TermTree::Term(term) => {
            let Some(field) = Field::parse(&term.field) else {
                return Err(unknown_field(&term.field, Field::ALL.iter().map(|(n, _)| *n)));
            };
            let value = typed_value(field, term.op, &term.value)?;
            Expr::Cond(Condition { negated: term.negated, field, op: term.op, value })
        }
    })
}

/// One parsed but not yet typed condition: `[NOT] field op value`. Other
/// list methods map terms onto their own fields.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Term {
    /// Negated with NOT or `-`.
    pub negated: bool,
    /// The field name as written.
    pub field: String,
    /// The operator.
    pub op: Op,
    /// The value as written (quotes removed).
    pub value: String,
}

/// A parsed but not yet typed filter expression.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TermTree {
    /// Every part holds.
    And(Vec<TermTree>),
    /// At least one part holds.
    Or(Vec<TermTree>),
    /// The group does not hold.
    Not(Box<TermTree>),
    /// One condition.
    Term(Term),
}

impl TermTree {
    fn count(&self) -> usize {
        match self {
            TermTree::And(parts) | TermTree::Or(parts) => parts.iter().map(TermTree::count).sum(),
            TermTree::Not(inner) => inner.count(),
            TermTree::Term(_) => 1,
        }
    }
}

/// Parses the AIP-160 syntax into an expression of terms, checking length,
/// nesting and count limits.
pub fn parse_tree(input: &str) -> Result<TermTree> {
    if input.len() > MAX_FILTER_BYTES {
        return Err(filter_error(format!("is {} bytes long, at most {MAX_FILTER_BYTES} allowed", input.len())));
    }
    let tokens = tokenize(input)?;
    let mut parser = Parser { tokens, pos: 0, depth: 0 };
    let tree = parser.sequence()?;
    if let Some(tok) = parser.peek() {
        return Err(filter_error(format!("unexpected {}", tok.describe())));
    }
    let count = tree.count();
    if count > MAX_CONDITIONS {
        return Err(filter_error(format!("has {count} conditions, at most {MAX_CONDITIONS} allowed")));
    }
    Ok(tree)
}

/// Parses a filter that must be a conjunction of conditions (the list
/// methods other than `ListEnterprises`): `OR`, and `NOT` of a group of
/// several conditions, are refused.
pub fn parse_terms(input: &str) -> Result<Vec<Term>> {
    fn flatten(tree: TermTree, negate: bool, out: &mut Vec<Term>) -> Result<()> {
        match tree {
            TermTree::Term(mut term) => {
                term.negated ^= negate;
                out.push(term);
                Ok(())
            }
            TermTree::And(parts) if !negate || parts.len() == 1 => {
                parts.into_iter().try_for_each(|p| flatten(p, negate, out))
            }
            TermTree::Not(inner) => flatten(*inner, !negate, out),
            TermTree::Or(_) => Err(filter_error("OR is not supported here: run one query per alternative".into())),
            TermTree::And(_) => Err(filter_error("NOT of a group of several conditions is not supported here".into())),
        }
    }
    let mut out = Vec::new();
    flatten(parse_tree(input)?, false, &mut out)?;
    Ok(out)
}

/// The error for a field a filter does not know.
pub fn unknown_field<'a>(name: &str, known: impl Iterator<Item = &'a str>) -> Error {
    let known: Vec<&str> = known.collect();
    Error::invalid_field(
        "filter",
        "UNKNOWN_FILTER_FIELD",
        format!("unknown field {name:?} (known: {})", known.join(", ")),
    )
}

/// An INVALID_FILTER error on the `filter` field.
pub fn filter_error(description: String) -> Error {
    Error::invalid_field("filter", "INVALID_FILTER", description)
}

#[derive(Debug, Clone, PartialEq)]
enum Token {
    Word(String),
    Quoted(String),
    Op(Op),
    Open,
    Close,
    Minus,
}

impl Token {
    fn describe(&self) -> String {
        match self {
            Token::Word(w) => format!("{w:?}"),
            Token::Quoted(q) => format!("string {q:?}"),
            Token::Op(op) => format!("operator {}", op.symbol()),
            Token::Open => "'('".into(),
            Token::Close => "')'".into(),
            Token::Minus => "'-'".into(),
        }
    }
}

fn tokenize(input: &str) -> Result<Vec<Token>> {
    let mut tokens = Vec::new();
    let mut chars = input.char_indices().peekable();
    while let Some(&(i, c)) = chars.peek() {
        match c {
            c if c.is_whitespace() => {
                chars.next();
            }
            '(' => {
                chars.next();
                tokens.push(Token::Open);
            }
            ')' => {
                chars.next();
                tokens.push(Token::Close);
            }
            '-' if tokens.last().is_none_or(|t| !matches!(t, Token::Op(_))) => {
                chars.next();
                tokens.push(Token::Minus);
            }
            // Chinese input methods type the full-width forms.
            '=' | ':' | '＝' | '：' => {
                chars.next();
                tokens.push(Token::Op(if matches!(c, '=' | '＝') { Op::Eq } else { Op::Has }));
            }
            '!' | '<' | '>' => {
                chars.next();
                let eq = chars.next_if(|&(_, n)| n == '=').is_some();
                tokens.push(Token::Op(match (c, eq) {
                    ('!', true) => Op::Ne,
                    ('<', false) => Op::Lt,
                    ('<', true) => Op::Le,
                    ('>', false) => Op::Gt,
                    ('>', true) => Op::Ge,
                    _ => return Err(filter_error(format!("'!' at byte {i} must be followed by '='"))),
                }));
            }
            '"' | '\'' | '“' | '‘' => {
                chars.next();
                let close = match c {
                    '“' => '”',
                    '‘' => '’',
                    other => other,
                };
                let mut text = String::new();
                let mut closed = false;
                while let Some((_, ch)) = chars.next() {
                    match ch {
                        '\\' => match chars.next() {
                            Some((_, esc)) => text.push(esc),
                            None => break,
                        },
                        ch if ch == close => {
                            closed = true;
                            break;
                        }
                        ch => text.push(ch),
                    }
                }
                if !closed {
                    return Err(filter_error(format!("string starting at byte {i} is not closed")));
                }
                tokens.push(Token::Quoted(text));
            }
            _ => {
                // A bare value (after an operator) may contain ':' and '-', as
                // RFC 3339 times do; a field name ends at the operator.
                let is_value = matches!(tokens.last(), Some(Token::Op(_)));
                let mut word = String::new();
                while let Some(&(_, ch)) = chars.peek() {
                    let stop = if is_value { "()" } else { "()=:!<>\"'＝：“‘" };
                    if ch.is_whitespace() || stop.contains(ch) {
                        break;
                    }
                    word.push(ch);
                    chars.next();
                }
                tokens.push(Token::Word(word));
            }
        }
    }
    Ok(tokens)
}

struct Parser {
    tokens: Vec<Token>,
    pos: usize,
    depth: usize,
}

impl Parser {
    fn peek(&self) -> Option<&Token> {
        self.tokens.get(self.pos)
    }

    fn next(&mut self) -> Option<Token> {
        let tok = self.tokens.get(self.pos).cloned();
        self.pos += 1;
        tok
    }

    /// `factor { [AND] factor }` up to the end or a closing parenthesis.
    fn sequence(&mut self) -> Result<TermTree> {
        let mut out = Vec::new();
        loop {
            match self.peek() {
                None | Some(Token::Close) => break,
                Some(Token::Word(w)) if w == "OR" => {
                    return Err(filter_error("OR needs a condition before it".into()));
                }
                Some(Token::Word(w)) if w == "AND" => {
                    if out.is_empty() {
                        return Err(filter_error("AND needs a condition before it".into()));
                    }
                    self.next();
                    match self.peek() {
                        None | Some(Token::Close) => return Err(filter_error("AND needs a condition after it".into())),
                        Some(Token::Word(w)) if w == "AND" => return Err(filter_error("AND is written twice".into())),
                        Some(Token::Word(w)) if w == "OR" => {
                            return Err(filter_error("OR needs a condition before it".into()))
                        }
                        _ => {}
                    }
                }
                _ => out.push(self.factor()?),
            }
        }
        Ok(if out.len() == 1 { out.remove(0) } else { TermTree::And(out) })
    }

    /// `term { OR term }`.
    fn factor(&mut self) -> Result<TermTree> {
        let mut out = vec![self.term()?];
        while matches!(self.peek(), Some(Token::Word(w)) if w == "OR") {
            self.next();
            match self.peek() {
                None | Some(Token::Close) => return Err(filter_error("OR needs a condition after it".into())),
                Some(Token::Word(w)) if w == "OR" || w == "AND" => {
                    return Err(filter_error(format!("OR is followed by {w}")))
                }
                _ => out.push(self.term()?),
            }
        }
        Ok(if out.len() == 1 { out.remove(0) } else { TermTree::Or(out) })
    }

    fn term(&mut self) -> Result<TermTree> {
        let negated = match self.peek() {
            Some(Token::Minus) => {
                self.next();
                true
            }
            Some(Token::Word(w)) if w == "NOT" => {
                self.next();
                true
            }
            _ => false,
        };
        if self.peek() == Some(&Token::Open) {
            self.next();
            self.depth += 1;
            if self.depth > 8 {
                return Err(filter_error("parentheses nest too deep".into()));
            }
            let inner = self.sequence()?;
            if self.next() != Some(Token::Close) {
                return Err(filter_error("'(' is not closed".into()));
            }
            self.depth -= 1;
            if inner == TermTree::And(Vec::new()) {
                return Err(filter_error("'()' holds no condition".into()));
            }
            return Ok(match (negated, inner) {
                (false, inner) => inner,
                (true, TermTree::Term(mut term)) => {
                    term.negated = !term.negated;
                    TermTree::Term(term)
                }
                (true, inner) => TermTree::Not(Box::new(inner)),
            });
        }
        let field_name = match self.next() {
            Some(Token::Word(w)) => w,
            Some(other) => return Err(filter_error(format!("expected a field name, found {}", other.describe()))),
            None => return Err(filter_error("expected a condition after NOT".into())),
        };
        let op = match self.next() {
            Some(Token::Op(op)) => op,
            other => {
                return Err(filter_error(format!(
                    "expected an operator after {field_name}, found {}",
                    other.map_or("the end".into(), |t| t.describe())
                )))
            }
        };
        let raw = match self.next() {
            Some(Token::Word(w)) => w,
            Some(Token::Quoted(q)) => q,
            other => {
                return Err(filter_error(format!(
                    "expected a value after {field_name}, found {}",
                    other.map_or("the end".into(), |t| t.describe())
                )))
            }
        };
        Ok(TermTree::Term(Term { negated, field: field_name, op, value: raw }))
    }
}

/// Checks the operator for the field and converts the value to its type.
fn typed_value(field: Field, op: Op, raw: &str) -> Result<Value> {
    let name = field.name();
    let bad_op = || filter_error(format!("operator {} is not supported on {name}", op.symbol()));
    let bad_value = |why: String| filter_error(format!("{name}: {why}"));
    match field {
        Field::IndustryCode => {
            if !matches!(op, Op::Eq | Op::Ne) {
                return Err(bad_op());
            }
            IndustryCode::parse(raw).map(|c| Value::Text(c.as_str().to_string())).map_err(|e| bad_value(e.to_string()))
        }
        Field::Region => {
            if !matches!(op, Op::Eq | Op::Ne) {
                return Err(bad_op());
            }
            let ok = matches!(raw.len(), 2 | 4 | 6) && raw.bytes().all(|b| b.is_ascii_digit());
            if ok {
                Ok(Value::Text(raw.to_string()))
            } else {
                Err(bad_value(format!("{raw:?} is not a 2-, 4- or 6-digit region code")))
            }
        }
        Field::Stage => {
            if op == Op::Has {
                return Err(bad_op());
            }
            // Stored as the rung number, the value of the stage index.
            crate::domain::ladder::Stage::parse(raw).map(|st| Value::Text((st as i32).to_string())).ok_or_else(|| {
                bad_value(format!("{raw:?} is not a stage (STAGE_NURTURE … STAGE_LISTED, or STAGE_UNSPECIFIED)"))
            })
        }
        Field::Alliance => {
            if !matches!(op, Op::Eq | Op::Ne) {
                return Err(bad_op());
            }
            let id = raw.trim().strip_prefix("alliances/").unwrap_or(raw.trim());
            crate::domain::alliance::check_alliance_id("filter", id).map_err(|e| bad_value(e.to_string()))?;
            Ok(Value::Text(id.to_string()))
        }
        Field::Zone | Field::ServiceCommissioner | Field::OrganisationType => {
            if !matches!(op, Op::Eq | Op::Ne) {
                return Err(bad_op());
            }
            Ok(Value::Text(raw.trim().to_string()))
        }
        Field::Tags => {
            if !matches!(op, Op::Has | Op::Eq | Op::Ne) {
                return Err(bad_op());
            }
            Ok(Value::Text(raw.trim().to_string()))
        }
        Field::DisplayName => {
            if !matches!(op, Op::Has | Op::Eq | Op::Ne) {
                return Err(bad_op());
            }
            if raw.trim().is_empty() {
                return Err(bad_value("the value must not be empty".into()));
            }
            Ok(Value::Text(raw.trim().to_string()))
        }
        Field::CreditCode => {
            if !matches!(op, Op::Eq | Op::Ne) {
                return Err(bad_op());
            }
            CreditCode::parse_unverified(raw)
                .map(|c| Value::Text(c.as_str().to_string()))
                .map_err(|e| bad_value(e.to_string()))
        }
        Field::Deleted => {
            if !matches!(op, Op::Eq | Op::Ne) {
                return Err(bad_op());
            }
            match raw {
                "true" => Ok(Value::Bool(true)),
                "false" => Ok(Value::Bool(false)),
                _ => Err(bad_value(format!("{raw:?} is not true or false"))),
            }
        }
        Field::CreateTime | Field::UpdateTime => {
            if op == Op::Has {
                return Err(bad_op());
            }
            let ts: prost_types::Timestamp = raw
                .parse()
                .map_err(|_| bad_value(format!("{raw:?} is not an RFC 3339 time such as 2024-05-01T00:00:00Z")))?;
            Ok(Value::Time(ts.seconds * 1_000_000 + i64::from(ts.nanos) / 1000))
        }
        Field::FoundingDate => {
            if op == Op::Has {
                return Err(bad_op());
            }
            Date::parse(raw).map(Value::Date).ok_or_else(|| bad_value(format!("{raw:?} is not a date YYYY-MM-DD")))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reason(input: &str) -> &'static str {
        match Filter::parse(input) {
            Err(e) => e.reason(),
            Ok(f) => panic!("{input:?} should fail, parsed {f:?}"),
        }
    }

    fn firm() -> Enterprise {
        Enterprise {
            credit_code: "91610116MA6U0001XX".into(),
            display_name: "西安航天动力有限公司".into(),
            former_names: vec![crate::domain::enterprise::FormerName {
                display_name: "陕西火箭厂".into(),
                change_time: 1,
            }],
            industry_code: "C3742".into(),
            region_code: "610116".into(),
            promotion_zone: "east".into(),
            tags: vec!["专精特新".into(), "储能".into()],
            founding_date: "2015-06-01".into(),
            create_time: 1_700_000_000_000_000,
            ..Default::default()
        }
    }

    #[test]
    fn empty_filter_matches_everything() {
        let f = Filter::parse("  ").unwrap();
        assert!(f.is_empty());
        assert!(f.matches(&firm()));
    }

    #[test]
    fn parses_conjunctions_in_every_spelling() {
        let a = Filter::parse(r#"industry_code = "C37" AND zone = east tags:"专精特新""#).unwrap();
        let b = Filter::parse(r#"(industry_code=37) zone="east" AND (tags:专精特新)"#).unwrap();
        assert_eq!(a, b);
        assert_eq!(a.conditions().len(), 3);
        assert!(a.matches(&firm()));
    }

    #[test]
    fn industry_code_matches_descendants_only() {
        assert!(Filter::parse("industry_code = C").unwrap().matches(&firm()));
        assert!(Filter::parse("industry_code = C374").unwrap().matches(&firm()));
        assert!(!Filter::parse("industry_code = C3743").unwrap().matches(&firm()));
        assert!(!Filter::parse("industry_code != C37").unwrap().matches(&firm()));
    }

    #[test]
    fn negation_and_substring_over_former_names() {
        assert!(Filter::parse(r#"display_name:"航天""#).unwrap().matches(&firm()));
        assert!(Filter::parse(r#"display_name:"火箭厂""#).unwrap().matches(&firm()));
        assert!(!Filter::parse(r#"NOT display_name:"航天""#).unwrap().matches(&firm()));
        assert!(!Filter::parse(r#"-tags:"储能""#).unwrap().matches(&firm()));
        assert!(Filter::parse(r#"NOT (zone = west)"#).unwrap().matches(&firm()));
    }

    #[test]
    fn comparisons_on_times_and_dates() {
        assert!(Filter::parse("create_time >= 2023-01-01T00:00:00Z").unwrap().matches(&firm()));
        assert!(!Filter::parse("create_time < 2023-01-01T00:00:00Z").unwrap().matches(&firm()));
        assert!(Filter::parse("founding_date <= 2015-06-01").unwrap().matches(&firm()));
        assert!(!Filter::parse("founding_date > 2015-06-01").unwrap().matches(&firm()));
    }

    #[test]
    fn or_binds_tighter_than_and_and_not_negates_groups() {
        let f = Filter::parse("zone = west zone = east OR tags:储能").unwrap();
        // zone = west AND (zone = east OR tags:储能): the firm is in east.
        assert!(!f.matches(&firm()));
        let f = Filter::parse("(zone = west zone = east) OR tags:储能").unwrap();
        assert!(f.matches(&firm()));
        let f = Filter::parse("NOT (zone = east OR tags:储能)").unwrap();
        assert!(!f.matches(&firm()));
        let f = Filter::parse("NOT (zone = west OR tags:无)").unwrap();
        assert!(f.matches(&firm()));
        assert_eq!(f.conditions().len(), 2);
        let f = Filter::parse("industry_code = C38 OR industry_code = C37 OR region = 6201").unwrap();
        assert!(matches!(&f.expr, Expr::Or(parts) if parts.len() == 3));
        assert!(f.matches(&firm()));
    }

    #[test]
    fn conjunction_only_parsing_refuses_or_and_negated_groups() {
        let reason_of = |input: &str| parse_terms(input).unwrap_err().reason();
        assert_eq!(reason_of("state = a OR state = b"), "INVALID_FILTER");
        assert_eq!(reason_of("NOT (state = a state = b)"), "INVALID_FILTER");
        let terms = parse_terms("NOT (state = a) role = b").unwrap();
        assert_eq!(terms.len(), 2);
        assert!(terms[0].negated && !terms[1].negated);
    }

    #[test]
    fn bad_filters_have_precise_reasons() {
        assert_eq!(reason("colour = red"), "UNKNOWN_FILTER_FIELD");
        assert_eq!(reason("OR zone = b"), "INVALID_FILTER");
        assert_eq!(reason("zone = a OR"), "INVALID_FILTER");
        assert_eq!(reason("zone = a OR OR zone = b"), "INVALID_FILTER");
        assert_eq!(reason("()"), "INVALID_FILTER");
        assert_eq!(reason("zone ="), "INVALID_FILTER");
        assert_eq!(reason("zone east"), "INVALID_FILTER");
        assert_eq!(reason(r#"display_name:"unclosed"#), "INVALID_FILTER");
        assert_eq!(reason("industry_code = D37"), "INVALID_FILTER");
        assert_eq!(reason("region = 61011"), "INVALID_FILTER");
        assert_eq!(reason("deleted = maybe"), "INVALID_FILTER");
        assert_eq!(reason("create_time > yesterday"), "INVALID_FILTER");
        assert_eq!(reason("zone < east"), "INVALID_FILTER");
        assert_eq!(reason("(zone = east"), "INVALID_FILTER");
        assert_eq!(reason("zone = east)"), "INVALID_FILTER");
        assert_eq!(reason("AND zone = east"), "INVALID_FILTER");
        assert_eq!(reason(&"zone = e ".repeat(17)), "INVALID_FILTER");
        assert_eq!(reason(&"x".repeat(MAX_FILTER_BYTES + 1)), "INVALID_FILTER");
    }

    #[test]
    fn deleted_condition_is_detected() {
        assert!(Filter::parse("deleted = true").unwrap().mentions_deleted());
        assert!(!Filter::parse("zone = east").unwrap().mentions_deleted());
    }

    #[test]
    fn chinese_input_method_punctuation_is_understood() {
        let ascii = Filter::parse(r#"tags:"专精特新" zone = "east""#).unwrap();
        assert_eq!(Filter::parse("tags：“专精特新” zone ＝ ‘east’").unwrap(), ascii);
    }

    #[test]
    fn resource_field_names_are_aliases() {
        assert_eq!(
            Filter::parse("promotion_zone = east region_code = 6101").unwrap(),
            Filter::parse("zone = east region = 6101").unwrap()
        );
    }

    #[test]
    fn errors_show_operators_as_written() {
        let err = Filter::parse("zone < east").unwrap_err().to_string();
        assert!(err.contains("operator < is not supported on zone"), "{err}");
        assert_eq!(reason("zone = a AND AND zone = b"), "INVALID_FILTER");
    }
}
