//! CloudWatch Logs filter patterns.
//!
//! Term patterns: case-sensitive terms, each a substring, all required;
//! `"quoted phrases"` match exactly (spaces included); `?term` terms are
//! alternatives (at least one must match); `-term` excludes. JSON patterns:
//! `{ $.a.b = "x" }` with `=`, `!=`, `<`, `<=`, `>`, `>=`, `*` wildcards in
//! strings, `IS TRUE|FALSE|NULL`, `NOT EXISTS`, `&&`, `||` and parentheses.
//! Space-delimited patterns: `[ip, user, ..., status=4* || status=5*, size>100]`
//! over fields split on spaces (`"…"` and `[…]` are one field), `...`
//! standing for any number of fields.

use serde_json::Value;

/// Why a filter pattern could not be parsed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub(crate) struct PatternError(String);

/// A parsed filter pattern.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum FilterPattern {
    /// Terms: every `all`, at least one `any` (when there are any), no `none`.
    Terms {
        all: Vec<String>,
        any: Vec<String>,
        none: Vec<String>,
    },
    /// A JSON pattern over messages that are JSON objects.
    Json(JsonExpr),
    /// A space-delimited pattern.
    Fields(Vec<FieldSpec>),
}

/// One element of a space-delimited pattern.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum FieldSpec {
    /// `...`: any number of fields.
    Ellipsis,
    /// One field; it matches when any alternative's conditions all hold.
    Field(Vec<Vec<(Op, Literal)>>),
}

impl FilterPattern {
    /// Parses `pattern`; empty matches everything.
    pub(crate) fn parse(pattern: &str) -> Result<Self, PatternError> {
        let trimmed = pattern.trim();
        if trimmed.starts_with('{') {
            return JsonParser::new(trimmed)
                .parse_pattern()
                .map(FilterPattern::Json);
        }
        if let Some(inner) = trimmed.strip_prefix('[') {
            let inner = inner
                .strip_suffix(']')
                .ok_or_else(|| PatternError("a space-delimited pattern ends with ']'".into()))?;
            return parse_fields(inner).map(FilterPattern::Fields);
        }
        let (mut all, mut any, mut none) = (Vec::new(), Vec::new(), Vec::new());
        let mut chars = trimmed.chars().peekable();
        loop {
            while chars.next_if(|c| c.is_whitespace()).is_some() {}
            let Some(&first) = chars.peek() else { break };
            let bucket = match first {
                '?' => {
                    chars.next();
                    &mut any
                }
                '-' => {
                    chars.next();
                    &mut none
                }
                _ => &mut all,
            };
            let term = if chars.peek() == Some(&'"') {
                chars.next();
                let mut term = String::new();
                loop {
                    match chars.next() {
                        Some('\\') => {
                            if let Some(c) = chars.next() {
                                term.push(c);
                            }
                        }
                        Some('"') => break,
                        Some(c) => term.push(c),
                        None => return Err(PatternError("unterminated quoted term".into())),
                    }
                }
                term
            } else {
                let mut term = String::new();
                while let Some(c) = chars.next_if(|c| !c.is_whitespace()) {
                    term.push(c);
                }
                term
            };
            if term.is_empty() {
                return Err(PatternError("empty term".into()));
            }
            bucket.push(term);
        }
        Ok(FilterPattern::Terms { all, any, none })
    }

    /// Whether `message` matches.
    pub(crate) fn matches(&self, message: &str) -> bool {
        match self {
            FilterPattern::Terms { all, any, none } => {
                all.iter().all(|t| message.contains(t.as_str()))
                    && (any.is_empty() || any.iter().any(|t| message.contains(t.as_str())))
                    && !none.iter().any(|t| message.contains(t.as_str()))
            }
            FilterPattern::Fields(specs) => fields_match(specs, &split_fields(message)),
            FilterPattern::Json(expr) => match serde_json::from_str::<Value>(message.trim_end()) {
                Ok(doc @ Value::Object(_)) => expr.eval(&doc),
                _ => false,
            },
        }
    }
}

/// A JSON pattern expression.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum JsonExpr {
    And(Box<JsonExpr>, Box<JsonExpr>),
    Or(Box<JsonExpr>, Box<JsonExpr>),
    Compare {
        path: Vec<PathStep>,
        op: Op,
        value: Literal,
    },
    Is {
        path: Vec<PathStep>,
        what: IsWhat,
    },
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) enum PathStep {
    Key(String),
    Index(usize),
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Op {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Literal {
    Number(f64),
    Text(String),
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum IsWhat {
    True,
    False,
    Null,
    NotExists,
}

impl JsonExpr {
    fn eval(&self, doc: &Value) -> bool {
        match self {
            JsonExpr::And(a, b) => a.eval(doc) && b.eval(doc),
            JsonExpr::Or(a, b) => a.eval(doc) || b.eval(doc),
            JsonExpr::Is { path, what } => {
                let found = lookup(doc, path);
                match what {
                    IsWhat::True => found == Some(&Value::Bool(true)),
                    IsWhat::False => found == Some(&Value::Bool(false)),
                    IsWhat::Null => found == Some(&Value::Null),
                    IsWhat::NotExists => found.is_none(),
                }
            }
            JsonExpr::Compare { path, op, value } => {
                let Some(found) = lookup(doc, path) else {
                    return false;
                };
                match value {
                    Literal::Number(n) => {
                        let Some(x) = found.as_f64() else {
                            return false;
                        };
                        match op {
                            Op::Eq => x == *n,
                            Op::Ne => x != *n,
                            Op::Lt => x < *n,
                            Op::Le => x <= *n,
                            Op::Gt => x > *n,
                            Op::Ge => x >= *n,
                        }
                    }
                    Literal::Text(pattern) => {
                        let text = match found {
                            Value::String(s) => s.clone(),
                            Value::Bool(b) => b.to_string(),
                            Value::Number(n) => n.to_string(),
                            _ => return false,
                        };
                        match op {
                            Op::Eq => glob(pattern, &text),
                            Op::Ne => !glob(pattern, &text),
                            // Strings only compare for (in)equality.
                            _ => false,
                        }
                    }
                }
            }
        }
    }
}

/// Splits on `separator` outside double quotes.
fn split_outside_quotes<'a>(s: &'a str, separator: &str) -> Vec<&'a str> {
    let mut out = Vec::new();
    let (mut start, mut quoted) = (0, false);
    let mut i = 0;
    while i < s.len() {
        if s[i..].starts_with('"') {
            quoted = !quoted;
        } else if !quoted && s[i..].starts_with(separator) {
            out.push(&s[start..i]);
            start = i + separator.len();
            i = start;
            continue;
        }
        i += s[i..].chars().next().map_or(1, char::len_utf8);
    }
    out.push(&s[start..]);
    out
}

fn parse_fields(inner: &str) -> Result<Vec<FieldSpec>, PatternError> {
    let mut specs = Vec::new();
    for element in split_outside_quotes(inner, ",") {
        let element = element.trim();
        if element == "..." {
            specs.push(FieldSpec::Ellipsis);
            continue;
        }
        if element.is_empty() {
            return Err(PatternError(
                "empty field in a space-delimited pattern".into(),
            ));
        }
        let mut alternatives = Vec::new();
        for alternative in split_outside_quotes(element, "||") {
            let mut conditions = Vec::new();
            for condition in split_outside_quotes(alternative, "&&") {
                if let Some(c) = parse_field_condition(condition.trim())? {
                    conditions.push(c);
                }
            }
            alternatives.push(conditions);
        }
        specs.push(FieldSpec::Field(alternatives));
    }
    Ok(specs)
}

/// `name`, or `name OP value`; the name itself plays no part in matching.
fn parse_field_condition(condition: &str) -> Result<Option<(Op, Literal)>, PatternError> {
    let ops = [
        ("!=", Op::Ne),
        (">=", Op::Ge),
        ("<=", Op::Le),
        ("=", Op::Eq),
        (">", Op::Gt),
        ("<", Op::Lt),
    ];
    // The leftmost operator; at one position the longer one (`>=` over `>`).
    let Some((at, token, op)) = ops
        .iter()
        .filter_map(|(t, op)| condition.find(t).map(|at| (at, *t, *op)))
        .min_by_key(|(at, t, _)| (*at, std::cmp::Reverse(t.len())))
    else {
        if condition.is_empty() || condition.contains(char::is_whitespace) {
            return Err(PatternError(format!("invalid field {condition:?}")));
        }
        return Ok(None);
    };
    let value = condition[at + token.len()..].trim();
    let value = match value.strip_prefix('"').and_then(|v| v.strip_suffix('"')) {
        Some(quoted) => Literal::Text(quoted.to_string()),
        None if value.is_empty() => return Err(PatternError(format!("no value in {condition:?}"))),
        None => match value.parse::<f64>() {
            Ok(n) => Literal::Number(n),
            Err(_) => Literal::Text(value.to_string()),
        },
    };
    Ok(Some((op, value)))
}

/// The fields of a message: split on whitespace, with `"…"` and `[…]` one
/// field each (without their delimiters).
fn split_fields(message: &str) -> Vec<&str> {
    let mut fields = Vec::new();
    let mut rest = message.trim();
    while let Some(first) = rest.chars().next() {
        let close = match first {
            '"' => Some('"'),
            '[' => Some(']'),
            _ => None,
        };
        let (field, next) = match close {
            Some(close) => match rest[1..].find(close) {
                Some(end) => (&rest[1..=end], &rest[end + 2..]),
                None => (&rest[1..], ""),
            },
            None => match rest.find(char::is_whitespace) {
                Some(end) => (&rest[..end], &rest[end..]),
                None => (rest, ""),
            },
        };
        fields.push(field);
        rest = next.trim_start();
    }
    fields
}

fn fields_match(specs: &[FieldSpec], fields: &[&str]) -> bool {
    match specs.split_first() {
        None => fields.is_empty(),
        Some((FieldSpec::Ellipsis, rest)) => {
            (0..=fields.len()).any(|skip| fields_match(rest, &fields[skip..]))
        }
        Some((FieldSpec::Field(alternatives), rest)) => match fields.split_first() {
            None => false,
            Some((field, others)) => {
                let holds = alternatives.iter().any(|conditions| {
                    conditions
                        .iter()
                        .all(|(op, value)| compare(field, *op, value))
                });
                holds && fields_match(rest, others)
            }
        },
    }
}

/// A field against a literal: numbers compare as numbers, text with `=` and
/// `!=` (with `*` wildcards).
fn compare(field: &str, op: Op, value: &Literal) -> bool {
    match value {
        Literal::Number(n) => {
            let Ok(x) = field.parse::<f64>() else {
                return false;
            };
            match op {
                Op::Eq => x == *n,
                Op::Ne => x != *n,
                Op::Lt => x < *n,
                Op::Le => x <= *n,
                Op::Gt => x > *n,
                Op::Ge => x >= *n,
            }
        }
        Literal::Text(pattern) => match op {
            Op::Eq => glob(pattern, field),
            Op::Ne => !glob(pattern, field),
            _ => false,
        },
    }
}

fn lookup<'a>(doc: &'a Value, path: &[PathStep]) -> Option<&'a Value> {
    path.iter().try_fold(doc, |v, step| match step {
        PathStep::Key(k) => v.get(k),
        PathStep::Index(i) => v.get(i),
    })
}

/// `*` matches any run of characters.
fn glob(pattern: &str, text: &str) -> bool {
    let parts: Vec<&str> = pattern.split('*').collect();
    if parts.len() == 1 {
        return pattern == text;
    }
    let (first, last) = (parts[0], parts[parts.len() - 1]);
    if !text.starts_with(first) || text.len() < first.len() + last.len() || !text.ends_with(last) {
        return false;
    }
    let mut rest = &text[first.len()..text.len() - last.len()];
    for middle in &parts[1..parts.len() - 1] {
        match rest.find(middle) {
            Some(i) => rest = &rest[i + middle.len()..],
            None => return false,
        }
    }
    true
}

struct JsonParser<'a> {
    src: &'a str,
    pos: usize,
}

impl<'a> JsonParser<'a> {
    fn new(src: &'a str) -> Self {
        Self { src, pos: 0 }
    }

    fn err<T>(&self, what: &str) -> Result<T, PatternError> {
        Err(PatternError(format!(
            "{what} at offset {} of the JSON pattern",
            self.pos
        )))
    }

    fn rest(&self) -> &'a str {
        &self.src[self.pos..]
    }

    fn skip_ws(&mut self) {
        let trimmed = self.rest().trim_start();
        self.pos = self.src.len() - trimmed.len();
    }

    fn eat(&mut self, token: &str) -> bool {
        self.skip_ws();
        if self.rest().starts_with(token) {
            self.pos += token.len();
            true
        } else {
            false
        }
    }

    fn eat_word(&mut self, word: &str) -> bool {
        self.skip_ws();
        let rest = self.rest();
        if rest.len() >= word.len()
            && rest[..word.len()].eq_ignore_ascii_case(word)
            && !rest[word.len()..].starts_with(|c: char| c.is_alphanumeric())
        {
            self.pos += word.len();
            true
        } else {
            false
        }
    }

    fn parse_pattern(mut self) -> Result<JsonExpr, PatternError> {
        if !self.eat("{") {
            return self.err("expected '{'");
        }
        let expr = self.parse_or()?;
        if !self.eat("}") {
            return self.err("expected '}'");
        }
        self.skip_ws();
        if !self.rest().is_empty() {
            return self.err("unexpected text after '}'");
        }
        Ok(expr)
    }

    fn parse_or(&mut self) -> Result<JsonExpr, PatternError> {
        let mut left = self.parse_and()?;
        while self.eat("||") {
            let right = self.parse_and()?;
            left = JsonExpr::Or(Box::new(left), Box::new(right));
        }
        Ok(left)
    }

    fn parse_and(&mut self) -> Result<JsonExpr, PatternError> {
        let mut left = self.parse_atom()?;
        while self.eat("&&") {
            let right = self.parse_atom()?;
            left = JsonExpr::And(Box::new(left), Box::new(right));
        }
        Ok(left)
    }

    fn parse_atom(&mut self) -> Result<JsonExpr, PatternError> {
        if self.eat("(") {
            let inner = self.parse_or()?;
            if !self.eat(")") {
                return self.err("expected ')'");
            }
            return Ok(inner);
        }
        let path = self.parse_selector()?;
        if self.eat_word("IS") {
            let what = if self.eat_word("TRUE") {
                IsWhat::True
            } else if self.eat_word("FALSE") {
                IsWhat::False
            } else if self.eat_word("NULL") {
                IsWhat::Null
            } else {
                return self.err("expected TRUE, FALSE or NULL after IS");
            };
            return Ok(JsonExpr::Is { path, what });
        }
        if self.eat_word("NOT") {
            if self.eat_word("EXISTS") {
                return Ok(JsonExpr::Is {
                    path,
                    what: IsWhat::NotExists,
                });
            }
            return self.err("expected EXISTS after NOT");
        }
        let op = if self.eat("!=") {
            Op::Ne
        } else if self.eat("<=") {
            Op::Le
        } else if self.eat(">=") {
            Op::Ge
        } else if self.eat("=") {
            Op::Eq
        } else if self.eat("<") {
            Op::Lt
        } else if self.eat(">") {
            Op::Gt
        } else {
            return self.err("expected a comparison operator");
        };
        let value = self.parse_literal()?;
        Ok(JsonExpr::Compare { path, op, value })
    }

    fn parse_selector(&mut self) -> Result<Vec<PathStep>, PatternError> {
        if !self.eat("$") {
            return self.err("expected a selector starting with '$'");
        }
        let mut path = Vec::new();
        loop {
            if self.rest().starts_with('.') {
                self.pos += 1;
                let key: String = self
                    .rest()
                    .chars()
                    .take_while(|c| c.is_alphanumeric() || *c == '_' || *c == '-' || *c == '@')
                    .collect();
                if key.is_empty() {
                    return self.err("expected a field name after '.'");
                }
                self.pos += key.len();
                path.push(PathStep::Key(key));
            } else if self.rest().starts_with('[') {
                self.pos += 1;
                let digits: String = self
                    .rest()
                    .chars()
                    .take_while(char::is_ascii_digit)
                    .collect();
                self.pos += digits.len();
                let Ok(i) = digits.parse() else {
                    return self.err("expected an array index");
                };
                if !self.rest().starts_with(']') {
                    return self.err("expected ']'");
                }
                self.pos += 1;
                path.push(PathStep::Index(i));
            } else {
                break;
            }
        }
        Ok(path)
    }

    fn parse_literal(&mut self) -> Result<Literal, PatternError> {
        self.skip_ws();
        if self.rest().starts_with('"') {
            self.pos += 1;
            let mut out = String::new();
            let mut chars = self.rest().char_indices();
            loop {
                match chars.next() {
                    Some((_, '\\')) => {
                        if let Some((_, c)) = chars.next() {
                            out.push(c);
                        }
                    }
                    Some((i, '"')) => {
                        self.pos += i + 1;
                        return Ok(Literal::Text(out));
                    }
                    Some((_, c)) => out.push(c),
                    None => return self.err("unterminated string"),
                }
            }
        }
        let word: String = self
            .rest()
            .chars()
            .take_while(|c| !c.is_whitespace() && !"(){}&|".contains(*c))
            .collect();
        if word.is_empty() {
            return self.err("expected a value");
        }
        self.pos += word.len();
        Ok(match word.parse::<f64>() {
            Ok(n) => Literal::Number(n),
            Err(_) => Literal::Text(word),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(pattern: &str, message: &str) -> bool {
        FilterPattern::parse(pattern).unwrap().matches(message)
    }

    #[test]
    fn terms_are_anded_substrings_and_case_sensitive() {
        assert!(m("", "anything"));
        assert!(m("ERROR timeout", "ERROR: a timeout happened"));
        assert!(!m("ERROR timeout", "ERROR: fine"));
        assert!(!m("error", "ERROR"));
    }

    #[test]
    fn quoted_phrases_match_exactly() {
        let report = "REPORT RequestId: 1\tDuration: 1.00 ms\t\n";
        assert!(m("\"REPORT RequestId\"", report));
        assert!(!m(
            "\"REPORT RequestId\"",
            "START RequestId: 1 Version: $LATEST\n"
        ));
        assert!(!m("\"RequestId REPORT\"", report));
    }

    #[test]
    fn question_marks_are_alternatives_and_minus_excludes() {
        assert!(m("?ERROR ?WARN", "WARN disk"));
        assert!(!m("?ERROR ?WARN", "INFO disk"));
        assert!(m("ERROR -Retrying", "ERROR final"));
        assert!(!m("ERROR -Retrying", "ERROR Retrying in 2s"));
        assert!(!m("-\"Retrying in\"", "Retrying in 2s"));
    }

    #[test]
    fn json_patterns_select_fields() {
        let rec = r#"{"time":"2026-01-01T00:00:00.000Z","type":"platform.report","record":{"requestId":"r1","status":"success","metrics":{"durationMs":3.5,"initDurationMs":120.0},"tags":["a","b"]}}"#;
        assert!(m(r#"{ $.type = "platform.report" }"#, rec));
        assert!(m(r#"{ $.type = "platform.*" }"#, rec));
        assert!(!m(r#"{ $.type = "platform.start" }"#, rec));
        assert!(m(
            r#"{ $.record.metrics.durationMs > 3 && $.record.status = success }"#,
            rec
        ));
        assert!(m(
            r#"{ ($.type = "x") || $.record.metrics.initDurationMs >= 120 }"#,
            rec
        ));
        assert!(m(r#"{ $.record.tags[1] = "b" }"#, rec));
        assert!(m(r#"{ $.record.errorType NOT EXISTS }"#, rec));
        assert!(!m(
            r#"{ $.type = "platform.report" }"#,
            "REPORT RequestId: r1"
        ));
    }

    #[test]
    fn space_delimited_patterns_match_fields() {
        let access =
            r#"127.0.0.1 - frank [10/Oct/2000:13:25:15 -0700] "GET /a.gif HTTP/1.0" 404 1534"#;
        assert!(m(
            "[ip, id, user, timestamp, request, status_code, size]",
            access
        ));
        assert!(
            !m("[ip, id, user]", access),
            "field count must match without ..."
        );
        assert!(m("[ip, ..., status_code=4*, size]", access));
        assert!(m(
            "[..., status_code=404 || status_code=500, size>1000]",
            access
        ));
        assert!(!m("[..., status_code=5*, size]", access));
        assert!(m(r#"[ip=127.*, id, user="frank", ...]"#, access));
        assert!(m(
            r#"[..., request="GET /a.gif HTTP/1.0", status, size]"#,
            access
        ));
        assert!(!m("[..., size<1000]", access));
        let report = "REPORT RequestId: abc\tDuration: 3.01 ms\tBilled Duration: 4 ms";
        assert!(m("[type=REPORT, ...]", report));
        assert!(m("[type, label, id=abc, ..., unit=ms]", report));
        assert!(!m("[type=START, ...]", report));
    }

    #[test]
    fn malformed_patterns_are_errors() {
        assert!(FilterPattern::parse("\"unterminated").is_err());
        assert!(FilterPattern::parse("{ $.a = }").is_err());
        assert!(FilterPattern::parse("{ $.a = 1").is_err());
        assert!(FilterPattern::parse("[ip, user").is_err());
        assert!(FilterPattern::parse("[ip, , user]").is_err());
        assert!(FilterPattern::parse("[ip, user=]").is_err());
    }
}
