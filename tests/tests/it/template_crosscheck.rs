//! Cross-checks the function's source code against `template.yaml`, so the
//! deployment cannot drift from the code it deploys:
//!
//! - every environment variable the function reads is set in the template
//!   (and the inline Vanta credentials are deliberately not);
//! - every AWS action the function's SDK calls need is granted to its role,
//!   and nothing more than that and what the Lambda service itself uses;
//! - the role has no `*` action or resource except where AWS requires one;
//! - every `VantaVulnStats` metric the alarms and the dashboard read is one
//!   the function emits, and the dashboard body is valid JSON.
//!
//! The function's source is read at test time (function/src), so the checks
//! follow whatever the code does today.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use serde_yaml_ng::Value;

/// Logical id of the function in template.yaml.
const FUNCTION_ID: &str = "VantaVulnSyncFunction";

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ has a parent")
        .to_path_buf()
}

/// Lexing and scanning of Rust source, enough to find what the function reads
/// from the environment and which SDK operations it calls.
pub(crate) mod rust_source {
    use std::collections::{BTreeMap, BTreeSet, HashMap};
    use std::path::{Path, PathBuf};

    /// A token of Rust source with comments removed.
    #[derive(Debug, Clone, PartialEq)]
    pub enum Tok {
        Ident(String),
        /// A string literal's raw contents (escapes are left as written).
        Str(String),
        Punct(char),
        /// Numbers, char literals and lifetimes: never interesting here.
        Other,
    }

    /// One source file as tokens, each with its 1-based line.
    pub struct File {
        pub path: PathBuf,
        pub toks: Vec<(Tok, usize)>,
    }

    impl File {
        /// `path:line` for error messages, relative to the repository.
        pub fn at(&self, idx: usize, root: &Path) -> String {
            let rel = self.path.strip_prefix(root).unwrap_or(&self.path);
            format!("{}:{}", rel.display(), self.toks[idx].1)
        }
    }

    /// Every `.rs` file under `dir`, lexed, with `#[cfg(test)]` items removed
    /// (tests set variables and call mocks the deployed function never does).
    pub fn load(dir: &Path) -> Vec<File> {
        let mut paths = Vec::new();
        collect(dir, &mut paths);
        paths.sort();
        paths
            .into_iter()
            .map(|path| {
                let text = std::fs::read_to_string(&path)
                    .unwrap_or_else(|e| panic!("reading {}: {e}", path.display()));
                let toks = strip_cfg_test(lex(&text));
                File { path, toks }
            })
            .collect()
    }

    fn collect(dir: &Path, out: &mut Vec<PathBuf>) {
        let entries =
            std::fs::read_dir(dir).unwrap_or_else(|e| panic!("listing {}: {e}", dir.display()));
        for entry in entries {
            let path = entry.expect("directory entry").path();
            if path.is_dir() {
                collect(&path, out);
            } else if path.extension().is_some_and(|e| e == "rs") {
                out.push(path);
            }
        }
    }

    /// A small Rust lexer: identifiers, string literals (plain, byte, raw),
    /// punctuation; comments dropped; char literals told apart from lifetimes.
    pub fn lex(src: &str) -> Vec<(Tok, usize)> {
        let c: Vec<char> = src.chars().collect();
        let mut out = Vec::new();
        let (mut i, mut line) = (0usize, 1usize);
        let at = |i: usize| c.get(i).copied().unwrap_or('\0');
        while i < c.len() {
            let ch = c[i];
            if ch == '\n' {
                line += 1;
                i += 1;
            } else if ch.is_whitespace() {
                i += 1;
            } else if ch == '/' && at(i + 1) == '/' {
                while i < c.len() && c[i] != '\n' {
                    i += 1;
                }
            } else if ch == '/' && at(i + 1) == '*' {
                let mut depth = 0;
                loop {
                    if i >= c.len() {
                        break;
                    }
                    if c[i] == '/' && at(i + 1) == '*' {
                        depth += 1;
                        i += 2;
                    } else if c[i] == '*' && at(i + 1) == '/' {
                        depth -= 1;
                        i += 2;
                        if depth == 0 {
                            break;
                        }
                    } else {
                        if c[i] == '\n' {
                            line += 1;
                        }
                        i += 1;
                    }
                }
            } else if ch == '"' {
                let start_line = line;
                let (s, next) = plain_string(&c, i + 1, &mut line);
                out.push((Tok::Str(s), start_line));
                i = next;
            } else if ch.is_alphabetic() || ch == '_' {
                let start = i;
                while i < c.len() && (c[i].is_alphanumeric() || c[i] == '_') {
                    i += 1;
                }
                let word: String = c[start..i].iter().collect();
                let raw_prefix = matches!(word.as_str(), "r" | "br" | "cr");
                let str_prefix = matches!(word.as_str(), "b" | "c");
                if raw_prefix && (at(i) == '"' || (at(i) == '#' && matches!(at(i + 1), '#' | '"')))
                {
                    let mut hashes = 0;
                    while at(i) == '#' {
                        hashes += 1;
                        i += 1;
                    }
                    i += 1; // opening quote
                    let start_line = line;
                    let body_start = i;
                    loop {
                        if i >= c.len() {
                            break;
                        }
                        if c[i] == '"' && (1..=hashes).all(|k| at(i + k) == '#') {
                            break;
                        }
                        if c[i] == '\n' {
                            line += 1;
                        }
                        i += 1;
                    }
                    let s: String = c[body_start..i.min(c.len())].iter().collect();
                    out.push((Tok::Str(s), start_line));
                    i += 1 + hashes;
                } else if str_prefix && at(i) == '"' {
                    let start_line = line;
                    let (s, next) = plain_string(&c, i + 1, &mut line);
                    out.push((Tok::Str(s), start_line));
                    i = next;
                } else {
                    out.push((Tok::Ident(word), line));
                }
            } else if ch.is_ascii_digit() {
                while i < c.len() && (c[i].is_alphanumeric() || c[i] == '_') {
                    i += 1;
                }
                out.push((Tok::Other, line));
            } else if ch == '\'' {
                if at(i + 1) == '\\' {
                    // Escaped char literal: '\n', '\'', '\u{..}'.
                    i += 2;
                    while i < c.len() && c[i] != '\'' {
                        i += 1;
                    }
                    i += 1;
                } else if at(i + 2) == '\'' {
                    i += 3;
                } else {
                    // A lifetime or label.
                    i += 1;
                    while i < c.len() && (c[i].is_alphanumeric() || c[i] == '_') {
                        i += 1;
                    }
                }
                out.push((Tok::Other, line));
            } else {
                out.push((Tok::Punct(ch), line));
                i += 1;
            }
        }
        out
    }

    fn plain_string(c: &[char], mut i: usize, line: &mut usize) -> (String, usize) {
        let start = i;
        while i < c.len() && c[i] != '"' {
            if c[i] == '\\' {
                i += 1;
            }
            if c.get(i) == Some(&'\n') {
                *line += 1;
            }
            i += 1;
        }
        let s = c[start..i.min(c.len())].iter().collect();
        (s, i + 1)
    }

    fn is_punct(t: &Tok, p: char) -> bool {
        *t == Tok::Punct(p)
    }

    fn is_ident(t: &Tok, name: &str) -> bool {
        matches!(t, Tok::Ident(s) if s == name)
    }

    /// Drops every item annotated `#[cfg(test)]`.
    pub fn strip_cfg_test(toks: Vec<(Tok, usize)>) -> Vec<(Tok, usize)> {
        let pattern = ["#", "[", "cfg", "(", "test", ")", "]"];
        let matches_at = |i: usize| {
            pattern
                .iter()
                .enumerate()
                .all(|(k, p)| match toks.get(i + k) {
                    Some((Tok::Punct(c), _)) => p.len() == 1 && p.starts_with(*c),
                    Some((Tok::Ident(s), _)) => s == p,
                    _ => false,
                })
        };
        let mut out = Vec::with_capacity(toks.len());
        let mut i = 0;
        while i < toks.len() {
            if !matches_at(i) {
                out.push(toks[i].clone());
                i += 1;
                continue;
            }
            // Skip the item: up to a `;` at depth 0, or the brace that closes
            // the item's body.
            i += pattern.len();
            let mut depth = 0i32;
            let mut opened_brace = false;
            while i < toks.len() {
                let t = &toks[i].0;
                i += 1;
                match t {
                    Tok::Punct('(' | '[') => depth += 1,
                    Tok::Punct('{') => {
                        depth += 1;
                        opened_brace = true;
                    }
                    Tok::Punct(')' | ']') => depth -= 1,
                    Tok::Punct('}') => {
                        depth -= 1;
                        if depth == 0 && opened_brace {
                            break;
                        }
                    }
                    Tok::Punct(';') if depth == 0 => break,
                    _ => {}
                }
            }
        }
        out
    }

    /// The callee of the call whose argument list holds token `idx`, if the
    /// token sits directly in one: `(name, is_method_call)`.
    fn enclosing_call(toks: &[(Tok, usize)], idx: usize) -> Option<(String, bool)> {
        let mut depth = 0i32;
        let mut j = idx;
        while j > 0 {
            j -= 1;
            match &toks[j].0 {
                Tok::Punct(')' | ']' | '}') => depth += 1,
                Tok::Punct('[' | '{') if depth == 0 => return None,
                Tok::Punct('(') if depth == 0 => break,
                Tok::Punct('(' | '[' | '{') => depth -= 1,
                Tok::Punct(';') if depth == 0 => return None,
                _ => {}
            }
            if j == 0 {
                return None;
            }
        }
        // Skip a turbofish: name::<T>(…)
        let mut k = j.checked_sub(1)?;
        if is_punct(&toks[k].0, '>') {
            let mut angle = 0i32;
            loop {
                match toks[k].0 {
                    Tok::Punct('>') => angle += 1,
                    Tok::Punct('<') => angle -= 1,
                    _ => {}
                }
                if angle == 0 {
                    break;
                }
                k = k.checked_sub(1)?;
            }
            // `::` before `<`
            k = k.checked_sub(3)?;
        }
        match &toks[k].0 {
            Tok::Ident(name) => {
                let method = k > 0 && is_punct(&toks[k - 1].0, '.');
                Some((name.clone(), method))
            }
            _ => None,
        }
    }

    fn reads_process_env(toks: &[(Tok, usize)]) -> bool {
        toks.windows(4).any(|w| {
            is_ident(&w[0].0, "env")
                && is_punct(&w[1].0, ':')
                && is_punct(&w[2].0, ':')
                && matches!(&w[3].0, Tok::Ident(s) if s == "var" || s == "var_os" || s == "vars")
        })
    }

    /// Names of functions and closures (`fn NAME` / `let NAME = |…|`) with
    /// the token range of their body.
    fn callables(toks: &[(Tok, usize)]) -> Vec<(String, std::ops::Range<usize>)> {
        let mut out = Vec::new();
        for i in 0..toks.len().saturating_sub(3) {
            let name = match (&toks[i].0, &toks[i + 1].0, &toks[i + 2].0, &toks[i + 3].0) {
                (Tok::Ident(kw), Tok::Ident(n), _, _) if kw == "fn" => n.clone(),
                (Tok::Ident(kw), Tok::Ident(n), Tok::Punct('='), Tok::Punct('|'))
                    if kw == "let" =>
                {
                    n.clone()
                }
                _ => continue,
            };
            // The body runs to the `;` or closing `}` at depth 0.
            let mut depth = 0i32;
            let mut end = i + 2;
            let mut opened = false;
            while end < toks.len() {
                match toks[end].0 {
                    Tok::Punct('(' | '[') => depth += 1,
                    Tok::Punct('{') => {
                        depth += 1;
                        opened = true;
                    }
                    Tok::Punct(')' | ']') => depth -= 1,
                    Tok::Punct('}') => {
                        depth -= 1;
                        if depth == 0 && opened && is_ident(&toks[i].0, "fn") {
                            break;
                        }
                    }
                    Tok::Punct(';') if depth == 0 => break,
                    _ => {}
                }
                end += 1;
            }
            out.push((name, i..end));
        }
        out
    }

    fn env_like(s: &str) -> bool {
        let mut chars = s.chars();
        s.len() >= 2
            && chars.next().is_some_and(|c| c.is_ascii_uppercase())
            && chars.all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_')
    }

    /// Environment variables read by the code: string literals (or `const`s
    /// holding one) of the form `^[A-Z][A-Z0-9_]+$` passed to `env::var`,
    /// `env::var_os`, or, in a file that reads the process environment, to a
    /// function or closure that (transitively) does. Maps each name to where
    /// it is read.
    pub fn env_vars_read(files: &[File], root: &Path) -> BTreeMap<String, Vec<String>> {
        let mut consts: HashMap<String, String> = HashMap::new();
        for f in files {
            for (i, w) in f.toks.windows(2).enumerate() {
                let (Tok::Ident(kw), Tok::Ident(name)) = (&w[0].0, &w[1].0) else {
                    continue;
                };
                if kw != "const" && kw != "static" {
                    continue;
                }
                // `const NAME: &str = "VALUE";`: the first literal before `;`.
                let value = f.toks[i + 2..]
                    .iter()
                    .take_while(|t| !is_punct(&t.0, ';'))
                    .find_map(|t| match &t.0 {
                        Tok::Str(s) => Some(s),
                        _ => None,
                    });
                if let Some(s) = value.filter(|s| env_like(s)) {
                    consts.insert(name.clone(), s.clone());
                }
            }
        }
        let mut found: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for f in files {
            let mut readers: BTreeSet<String> =
                ["var", "var_os"].iter().map(|s| s.to_string()).collect();
            if reads_process_env(&f.toks) {
                // The environment reaches the code through a lookup closure
                // or helper: whatever calls a reader is a reader (fixpoint).
                readers.insert("lookup".into());
                let defs = callables(&f.toks);
                loop {
                    let before = readers.len();
                    for (name, body) in &defs {
                        let calls_reader = body.clone().any(|k| {
                            matches!(&f.toks[k].0, Tok::Ident(n) if readers.contains(n))
                                && f.toks.get(k + 1).is_some_and(|t| is_punct(&t.0, '('))
                        });
                        if calls_reader || mentions_fn_str(&f.toks[body.clone()]) {
                            readers.insert(name.clone());
                        }
                    }
                    if readers.len() == before {
                        break;
                    }
                }
            }
            for (idx, (tok, _)) in f.toks.iter().enumerate() {
                let name = match tok {
                    Tok::Str(s) if env_like(s) => s.clone(),
                    Tok::Ident(id) if consts.contains_key(id) => consts[id].clone(),
                    _ => continue,
                };
                if let Some((callee, method)) = enclosing_call(&f.toks, idx) {
                    if !method && readers.contains(&callee) {
                        found.entry(name).or_default().push(f.at(idx, root));
                    }
                }
            }
        }
        found
    }

    /// Whether a function's signature takes an `Fn(&str)` lookup.
    fn mentions_fn_str(body: &[(Tok, usize)]) -> bool {
        let sig_end = body
            .iter()
            .position(|t| is_punct(&t.0, '{'))
            .unwrap_or(body.len());
        body[..sig_end].windows(5).any(|w| {
            is_ident(&w[0].0, "Fn")
                && is_punct(&w[1].0, '(')
                && is_punct(&w[2].0, '&')
                && is_ident(&w[3].0, "str")
                && is_punct(&w[4].0, ')')
        })
    }

    /// Method calls `.NAME(` for the given names, with where they happen.
    pub fn method_calls(
        files: &[File],
        names: &BTreeSet<&str>,
        root: &Path,
    ) -> BTreeMap<String, Vec<String>> {
        let mut found: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for f in files {
            for (idx, w) in f.toks.windows(3).enumerate() {
                if let (Tok::Punct('.'), Tok::Ident(m), Tok::Punct('(')) =
                    (&w[0].0, &w[1].0, &w[2].0)
                {
                    if names.contains(m.as_str()) {
                        found
                            .entry(m.clone())
                            .or_default()
                            .push(f.at(idx + 1, root));
                    }
                }
            }
        }
        found
    }

    /// Every string literal in the code (for metric names).
    pub fn string_literals(files: &[File]) -> BTreeSet<String> {
        files
            .iter()
            .flat_map(|f| f.toks.iter())
            .filter_map(|(t, _)| match t {
                Tok::Str(s) => Some(s.clone()),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn the_scanner_finds_reads_through_helpers_and_ignores_tests() {
        let src = r##"
            const BUCKET_VAR: &str = "S3_BUCKET";
            fn from_env() -> C { from_lookup(|n| std::env::var(n).ok()) }
            fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> C {
                let get = |name: &str| lookup(name).filter(|v| !v.is_empty());
                let a = get("VANTA_BASE_URL");
                let b = parse_number::<u32>(&get, "VANTA_PAGE_SIZE", 1, 2, 3);
                let c = get(BUCKET_VAR);
                let d = map.get("NOT_AN_ENV_READ"); // a method call
                let e = format!("{}", "ALSO_NOT");
                let f = r#"RAW_NOT"#;
                let g = 'x'; let h: &'static str = "LIT_NOT";
                C
            }
            fn parse_number<T>(get: &impl Fn(&str) -> Option<String>, var: &'static str, d: T, lo: T, hi: T) -> T { get(var) }
            /* block "BLOCK_NOT" */
            #[cfg(test)]
            mod tests { fn t() { std::env::var("TEST_ONLY"); } }
        "##;
        let file = File {
            path: PathBuf::from("x.rs"),
            toks: strip_cfg_test(lex(src)),
        };
        let found = env_vars_read(&[file], Path::new(""));
        let names: Vec<&str> = found.keys().map(String::as_str).collect();
        assert_eq!(names, ["S3_BUCKET", "VANTA_BASE_URL", "VANTA_PAGE_SIZE"]);
    }
}

/// Helpers over the CloudFormation / SAM YAML (short and long intrinsic forms).
pub(crate) mod cfn {
    use serde_yaml_ng::Value;

    pub fn load(path: &std::path::Path) -> Value {
        let text = std::fs::read_to_string(path)
            .unwrap_or_else(|e| panic!("reading {}: {e}", path.display()));
        serde_yaml_ng::from_str(&text)
            .unwrap_or_else(|e| panic!("{} is not valid YAML: {e}", path.display()))
    }

    pub fn get<'a>(v: &'a Value, key: &str) -> Option<&'a Value> {
        v.as_mapping()?.get(key)
    }

    pub fn resource<'a>(t: &'a Value, id: &str) -> &'a Value {
        get(t, "Resources")
            .and_then(|r| get(r, id))
            .unwrap_or_else(|| panic!("template.yaml has no resource {id}"))
    }

    /// The target of `!GetAtt X.Arn` / `Fn::GetAtt: [X, Arn]` / `!Ref X`.
    pub fn referenced_id(v: &Value) -> Option<String> {
        match v {
            Value::Tagged(t) if t.tag == "GetAtt" => {
                let s = t.value.as_str()?;
                Some(s.split('.').next()?.to_string())
            }
            Value::Tagged(t) if t.tag == "Ref" => t.value.as_str().map(str::to_string),
            Value::Mapping(m) => {
                if let Some(g) = m.get("Fn::GetAtt") {
                    match g {
                        Value::Sequence(s) => s.first()?.as_str().map(str::to_string),
                        Value::String(s) => Some(s.split('.').next()?.to_string()),
                        _ => None,
                    }
                } else {
                    m.get("Ref")?.as_str().map(str::to_string)
                }
            }
            _ => None,
        }
    }

    /// A string or a list of strings (IAM `Action`), or literal `*` checks.
    pub fn strings(v: &Value) -> Vec<String> {
        match v {
            Value::String(s) => vec![s.clone()],
            Value::Sequence(s) => s.iter().flat_map(strings).collect(),
            _ => Vec::new(),
        }
    }

    /// Whether a `Resource` value is (or contains) the literal `*`.
    pub fn has_star(v: &Value) -> bool {
        match v {
            Value::String(s) => s == "*",
            Value::Sequence(s) => s.iter().any(has_star),
            _ => false,
        }
    }
}

/// One IAM statement of the function's role, flattened.
#[derive(Debug)]
struct Statement {
    sid: String,
    allow: bool,
    actions: Vec<String>,
    resource_star: bool,
}

/// Statements of the role the function runs as: the `AWS::IAM::Role` its
/// `Role` names (inline policies plus `AWS::IAM::Policy` resources attached to
/// it), or the SAM `Policies` statements when it has no explicit role.
fn function_statements(t: &Value) -> Vec<Statement> {
    let func = cfn::resource(t, FUNCTION_ID);
    let props = cfn::get(func, "Properties").expect("function has Properties");
    let mut docs: Vec<&Value> = Vec::new();
    if let Some(role) = cfn::get(props, "Role") {
        let role_id = cfn::referenced_id(role)
            .expect("the function's Role is a !GetAtt of a role in this template");
        let role_res = cfn::resource(t, &role_id);
        let role_props = cfn::get(role_res, "Properties").expect("role has Properties");
        for p in cfn::get(role_props, "Policies")
            .and_then(Value::as_sequence)
            .into_iter()
            .flatten()
        {
            docs.extend(cfn::get(p, "PolicyDocument"));
        }
        for (_, res) in cfn::get(t, "Resources")
            .and_then(Value::as_mapping)
            .expect("Resources")
        {
            let ty = cfn::get(res, "Type").and_then(Value::as_str).unwrap_or("");
            if ty != "AWS::IAM::Policy" && ty != "AWS::IAM::ManagedPolicy" {
                continue;
            }
            let p = cfn::get(res, "Properties").expect("policy Properties");
            let attached = cfn::get(p, "Roles")
                .and_then(Value::as_sequence)
                .is_some_and(|roles| {
                    roles
                        .iter()
                        .any(|r| cfn::referenced_id(r).as_deref() == Some(&role_id))
                });
            if attached {
                docs.extend(cfn::get(p, "PolicyDocument"));
            }
        }
        assert!(
            cfn::get(role_props, "ManagedPolicyArns").is_none(),
            "the function's role attaches managed policies; their grants cannot be checked here \
             and are broader than the function needs: use inline statements"
        );
    } else {
        for p in cfn::get(props, "Policies")
            .and_then(Value::as_sequence)
            .into_iter()
            .flatten()
        {
            assert!(
                cfn::get(p, "Statement").is_some(),
                "the function's Policies use a SAM policy template ({p:?}); write inline \
                 statements so the grants can be checked"
            );
            docs.push(p);
        }
    }
    let mut out = Vec::new();
    for doc in docs {
        for s in cfn::get(doc, "Statement")
            .and_then(Value::as_sequence)
            .into_iter()
            .flatten()
        {
            out.push(Statement {
                sid: cfn::get(s, "Sid")
                    .and_then(Value::as_str)
                    .unwrap_or("(no Sid)")
                    .to_string(),
                allow: cfn::get(s, "Effect").and_then(Value::as_str) == Some("Allow"),
                actions: cfn::get(s, "Action").map(cfn::strings).unwrap_or_default(),
                resource_star: cfn::get(s, "Resource").is_some_and(cfn::has_star),
            });
        }
    }
    assert!(
        !out.is_empty(),
        "found no IAM statements for {FUNCTION_ID} in template.yaml"
    );
    out
}

/// IAM action pattern match (case-insensitive, `*` and `?` wildcards).
fn action_matches(pattern: &str, action: &str) -> bool {
    fn go(p: &[u8], a: &[u8]) -> bool {
        match (p.first(), a.first()) {
            (None, None) => true,
            (Some(b'*'), _) => go(&p[1..], a) || (!a.is_empty() && go(p, &a[1..])),
            (Some(b'?'), Some(_)) => go(&p[1..], &a[1..]),
            (Some(x), Some(y)) if x.eq_ignore_ascii_case(y) => go(&p[1..], &a[1..]),
            _ => false,
        }
    }
    go(pattern.as_bytes(), action.as_bytes())
}

/// What each SDK operation the function may call needs from IAM.
const SDK_ACTIONS: &[(&str, &[&str])] = &[
    ("put_object", &["s3:PutObject"]),
    ("create_multipart_upload", &["s3:PutObject"]),
    ("upload_part", &["s3:PutObject"]),
    ("complete_multipart_upload", &["s3:PutObject"]),
    ("abort_multipart_upload", &["s3:AbortMultipartUpload"]),
    ("get_object", &["s3:GetObject"]),
    ("head_object", &["s3:GetObject"]),
    ("copy_object", &["s3:GetObject", "s3:PutObject"]),
    ("delete_object", &["s3:DeleteObject"]),
    ("delete_objects", &["s3:DeleteObject"]),
    ("list_objects_v2", &["s3:ListBucket"]),
    ("list_objects", &["s3:ListBucket"]),
    ("list_multipart_uploads", &["s3:ListBucketMultipartUploads"]),
    ("list_parts", &["s3:ListMultipartUploadParts"]),
    ("get_secret_value", &["secretsmanager:GetSecretValue"]),
    ("describe_secret", &["secretsmanager:DescribeSecret"]),
    ("invoke", &["lambda:InvokeFunction"]),
    ("invoke_async", &["lambda:InvokeFunction"]),
    ("put_metric_data", &["cloudwatch:PutMetricData"]),
    ("send_message", &["sqs:SendMessage"]),
];

/// Actions the Lambda service performs with the function's role on its behalf:
/// writing its logs, its X-Ray segments, and failed async events to the DLQ.
fn service_actions(t: &Value) -> BTreeSet<&'static str> {
    let props = cfn::get(cfn::resource(t, FUNCTION_ID), "Properties").expect("Properties");
    let mut out: BTreeSet<&str> = ["logs:CreateLogStream", "logs:PutLogEvents"].into();
    if cfn::get(props, "Tracing").and_then(Value::as_str) == Some("Active") {
        out.extend(["xray:PutTraceSegments", "xray:PutTelemetryRecords"]);
    }
    let on_failure_sqs = cfn::get(props, "EventInvokeConfig")
        .and_then(|c| cfn::get(c, "DestinationConfig"))
        .and_then(|c| cfn::get(c, "OnFailure"))
        .and_then(|c| cfn::get(c, "Type"))
        .and_then(Value::as_str)
        == Some("SQS");
    let dlq_sqs = cfn::get(props, "DeadLetterQueue")
        .and_then(|c| cfn::get(c, "Type"))
        .and_then(Value::as_str)
        == Some("SQS");
    if on_failure_sqs || dlq_sqs {
        out.insert("sqs:SendMessage");
    }
    out
}

struct Fixture {
    root: PathBuf,
    template: Value,
    sources: Vec<rust_source::File>,
}

fn fixture() -> Fixture {
    let root = repo_root();
    let template = cfn::load(&root.join("template.yaml"));
    let sources = rust_source::load(&root.join("function/src"));
    assert!(!sources.is_empty(), "no Rust sources under function/src");
    Fixture {
        root,
        template,
        sources,
    }
}

fn template_env(t: &Value) -> BTreeSet<String> {
    let mut keys = BTreeSet::new();
    let func_props =
        cfn::get(cfn::resource(t, FUNCTION_ID), "Properties").expect("function Properties");
    let globals = cfn::get(t, "Globals").and_then(|g| cfn::get(g, "Function"));
    for props in [Some(func_props), globals].into_iter().flatten() {
        if let Some(vars) = cfn::get(props, "Environment")
            .and_then(|e| cfn::get(e, "Variables"))
            .and_then(Value::as_mapping)
        {
            keys.extend(vars.keys().filter_map(Value::as_str).map(str::to_string));
        }
    }
    keys
}

/// Variables the Lambda runtime sets in every execution environment itself
/// (the reserved names: `AWS_*`, the task and runtime directories, `TZ`,
/// `LANG`, `PATH`, `LD_LIBRARY_PATH`), which a template never has to declare.
fn runtime_provided(name: &str) -> bool {
    name.starts_with("AWS_")
        || matches!(
            name,
            "LAMBDA_TASK_ROOT" | "LAMBDA_RUNTIME_DIR" | "TZ" | "LANG" | "PATH" | "LD_LIBRARY_PATH"
        )
}

/// Inline Vanta credentials: a local and test convenience. In the deployment
/// the secret lives in Secrets Manager and must never be in the environment.
const INLINE_SECRETS: &[&str] = &["VANTA_CLIENT_ID", "VANTA_CLIENT_SECRET"];

#[test]
fn every_environment_variable_the_function_reads_is_set_in_the_template() {
    let fx = fixture();
    let read = rust_source::env_vars_read(&fx.sources, &fx.root);
    // The settings DESIGN.md and issue 3 name must be found, or the scanner
    // (not the template) is what is broken.
    for expected in [
        "VANTA_CREDENTIALS_SECRET",
        "VANTA_BASE_URL",
        "S3_BUCKET",
        "S3_PREFIX",
    ] {
        assert!(
            read.contains_key(expected),
            "the scanner did not find the function reading {expected}; found {:?}. \
             Did the config module change how it reads the environment?",
            read.keys().collect::<Vec<_>>()
        );
    }
    let set = template_env(&fx.template);
    let missing: Vec<String> = read
        .iter()
        .filter(|(name, _)| !runtime_provided(name) && !INLINE_SECRETS.contains(&name.as_str()))
        .filter(|(name, _)| !set.contains(*name))
        .map(|(name, at)| format!("{name} (read at {})", at.join(", ")))
        .collect();
    assert!(
        missing.is_empty(),
        "template.yaml's {FUNCTION_ID} Environment.Variables lacks variables the function \
         reads; add them (from a parameter with the function's default):\n  {}",
        missing.join("\n  ")
    );
    let unused: Vec<&String> = set.iter().filter(|n| !read.contains_key(*n)).collect();
    assert!(
        unused.is_empty(),
        "template.yaml sets variables the function never reads: {unused:?}"
    );
}

#[test]
fn the_vanta_credentials_never_travel_in_the_environment() {
    let fx = fixture();
    let set = template_env(&fx.template);
    for name in INLINE_SECRETS {
        assert!(
            !set.contains(*name),
            "template.yaml sets {name}: the deployed function must read its credentials from \
             Secrets Manager (VANTA_CREDENTIALS_SECRET), not from plain-text environment variables"
        );
    }
    // Only meaningful while the function really offers the inline path.
    let read = rust_source::env_vars_read(&fx.sources, &fx.root);
    assert!(
        read.contains_key("VANTA_CREDENTIALS_SECRET"),
        "the function no longer reads VANTA_CREDENTIALS_SECRET; update this test and template"
    );
}

#[test]
fn every_aws_action_the_function_calls_is_granted_and_nothing_more() {
    let fx = fixture();
    let names: BTreeSet<&str> = SDK_ACTIONS.iter().map(|(m, _)| *m).collect();
    let calls = rust_source::method_calls(&fx.sources, &names, &fx.root);
    assert!(
        !calls.is_empty(),
        "found no AWS SDK calls in function/src (looked for {names:?}); the scanner or the \
         function is broken"
    );
    let statements = function_statements(&fx.template);
    let granted = |action: &str| {
        statements
            .iter()
            .any(|s| s.allow && s.actions.iter().any(|p| action_matches(p, action)))
    };
    let mut needed: BTreeMap<&str, Vec<String>> = BTreeMap::new();
    for (method, at) in &calls {
        let (_, actions) = SDK_ACTIONS
            .iter()
            .find(|(m, _)| m == method)
            .expect("method from the table");
        for a in *actions {
            needed
                .entry(a)
                .or_default()
                .push(format!(".{method}( at {}", at.join(", ")));
        }
    }
    let missing: Vec<String> = needed
        .iter()
        .filter(|(a, _)| !granted(a))
        .map(|(a, why)| format!("{a}: needed by {}", why.join("; ")))
        .collect();
    assert!(
        missing.is_empty(),
        "the function's role in template.yaml does not grant actions the function calls:\n  {}",
        missing.join("\n  ")
    );

    // Least privilege: every granted action is one the code or the Lambda
    // service needs.
    let service = service_actions(&fx.template);
    let extra: Vec<String> = statements
        .iter()
        .filter(|s| s.allow)
        .flat_map(|s| s.actions.iter().map(move |a| (s, a)))
        .filter(|(_, a)| {
            !needed.keys().any(|n| n.eq_ignore_ascii_case(a))
                && !service.iter().any(|n| n.eq_ignore_ascii_case(a))
        })
        .map(|(s, a)| format!("{a} (statement {})", s.sid))
        .collect();
    assert!(
        extra.is_empty(),
        "the function's role grants actions no code path uses (least privilege): {extra:?}; \
         the function calls {:?}",
        calls.keys().collect::<Vec<_>>()
    );
}

#[test]
fn the_role_has_no_wildcards_beyond_what_aws_requires() {
    let fx = fixture();
    for s in function_statements(&fx.template).iter().filter(|s| s.allow) {
        for a in &s.actions {
            assert!(
                !a.contains('*'),
                "statement {} grants the wildcard action {a}; name the actions",
                s.sid
            );
        }
        // X-Ray's write actions have no resource-level permissions.
        let star_allowed = s.actions.iter().all(|a| {
            a.eq_ignore_ascii_case("xray:PutTraceSegments")
                || a.eq_ignore_ascii_case("xray:PutTelemetryRecords")
        });
        assert!(
            !s.resource_star || star_allowed,
            "statement {} grants {:?} on Resource '*'; scope it to this stack's resources",
            s.sid,
            s.actions
        );
    }
}

/// Metric names of namespace `VantaVulnStats` read by the alarms and the
/// dashboard (whose body must be valid JSON once substituted).
fn stats_metrics_in_template(t: &Value) -> BTreeSet<String> {
    const NS: &str = "VantaVulnStats";
    let mut names = BTreeSet::new();
    let resources = cfn::get(t, "Resources")
        .and_then(Value::as_mapping)
        .expect("Resources");
    for (id, res) in resources {
        let ty = cfn::get(res, "Type").and_then(Value::as_str).unwrap_or("");
        let Some(props) = cfn::get(res, "Properties") else {
            continue;
        };
        if ty == "AWS::CloudWatch::Alarm"
            && cfn::get(props, "Namespace").and_then(Value::as_str) == Some(NS)
        {
            names.extend(
                cfn::get(props, "MetricName")
                    .and_then(Value::as_str)
                    .map(str::to_string),
            );
        }
        if ty == "AWS::CloudWatch::Dashboard" {
            let body = match cfn::get(props, "DashboardBody") {
                Some(Value::Tagged(tv)) if tv.tag == "Sub" => match &tv.value {
                    Value::String(s) => s.clone(),
                    Value::Sequence(seq) => seq[0].as_str().expect("Sub text").to_string(),
                    other => panic!("unexpected DashboardBody {other:?}"),
                },
                Some(Value::String(s)) => s.clone(),
                other => panic!("unexpected DashboardBody {other:?}"),
            };
            // Every ${…} becomes 1 (numbers appear unquoted in the body).
            let mut text = String::new();
            let mut rest = body.as_str();
            while let Some(start) = rest.find("${") {
                text.push_str(&rest[..start]);
                let end = rest[start..].find('}').expect("closing }") + start;
                text.push('1');
                rest = &rest[end + 1..];
            }
            text.push_str(rest);
            let json: serde_json::Value = serde_json::from_str(&text).unwrap_or_else(|e| {
                panic!("{id:?}'s DashboardBody is not valid JSON after substitution: {e}")
            });
            for w in json["widgets"].as_array().expect("widgets") {
                let Some(rows) = w["properties"]["metrics"].as_array() else {
                    continue;
                };
                let mut last_ns = String::new();
                let mut last_name = String::new();
                for row in rows {
                    let row = row.as_array().expect("metric row");
                    let strs: Vec<&str> = row.iter().filter_map(|v| v.as_str()).collect();
                    if strs.first() == Some(&"...") {
                        // Same metric as the previous row.
                    } else {
                        if strs.first() != Some(&".") {
                            last_ns = strs[0].to_string();
                        }
                        last_name = strs.get(1).expect("metric name").to_string();
                    }
                    if last_ns == NS {
                        names.insert(last_name.clone());
                    }
                }
            }
        }
    }
    names
}

#[test]
fn the_alarms_and_dashboard_read_metrics_the_function_emits() {
    let fx = fixture();
    let wanted = stats_metrics_in_template(&fx.template);
    assert!(
        wanted.contains("SyncSuccess") && wanted.contains("SyncFailure"),
        "the stale-data and failure alarms must read SyncSuccess and SyncFailure; found {wanted:?}"
    );
    let literals = rust_source::string_literals(&fx.sources);
    assert!(
        literals.iter().any(|l| l.contains("VantaVulnStats")),
        "the function does not emit the VantaVulnStats namespace (no such literal in function/src)"
    );
    let missing: Vec<&String> = wanted
        .iter()
        .filter(|m| !literals.iter().any(|l| l.contains(m.as_str())))
        .collect();
    assert!(
        missing.is_empty(),
        "template.yaml reads VantaVulnStats metrics the function never emits: {missing:?}"
    );
}

/// The Hive/Athena type Athena reads an Arrow column of this type as.
fn hive_type(dt: &arrow_schema::DataType) -> String {
    use arrow_schema::DataType as D;
    match dt {
        D::Utf8 | D::LargeUtf8 | D::Utf8View => "string".into(),
        D::Boolean => "boolean".into(),
        D::Float64 => "double".into(),
        D::Float32 => "float".into(),
        D::Int64 | D::UInt32 => "bigint".into(),
        D::Int32 | D::UInt16 | D::Int16 | D::Int8 | D::UInt8 => "int".into(),
        D::Date32 => "date".into(),
        D::Timestamp(_, _) => "timestamp".into(),
        D::List(f) | D::LargeList(f) => format!("array<{}>", hive_type(f.data_type())),
        D::Struct(fields) => format!(
            "struct<{}>",
            fields
                .iter()
                .map(|f| format!("{}:{}", f.name().to_lowercase(), hive_type(f.data_type())))
                .collect::<Vec<_>>()
                .join(",")
        ),
        other => panic!("no Athena type for the Arrow type {other:?}; extend hive_type"),
    }
}

#[test]
fn the_athena_tables_match_the_parquet_the_function_writes() {
    use vanta_vuln_sync::engine::SyncRecord;
    use vanta_vuln_sync::sink::parquet::ParquetRecord;
    use vanta_vuln_sync::vanta::model::{Remediation, Vulnerability, VulnerableAsset};

    let fx = fixture();
    let tables = [
        (
            "VulnerabilitiesTable",
            Vulnerability::ENDPOINT.dataset(),
            Vulnerability::schema(),
        ),
        (
            "RemediationsTable",
            Remediation::ENDPOINT.dataset(),
            Remediation::schema(),
        ),
        (
            "VulnerableAssetsTable",
            VulnerableAsset::ENDPOINT.dataset(),
            VulnerableAsset::schema(),
        ),
    ];
    for (id, dataset, schema) in tables {
        let input = cfn::get(cfn::resource(&fx.template, id), "Properties")
            .and_then(|p| cfn::get(p, "TableInput"))
            .unwrap_or_else(|| panic!("{id} has no TableInput"));
        let name = cfn::get(input, "Name").and_then(Value::as_str);
        assert_eq!(name, Some(dataset), "{id}'s table is named for its dataset");

        // Partitions are projected from the key layout the function writes.
        let location = cfn::get(input, "Parameters")
            .and_then(|p| cfn::get(p, "storage.location.template"))
            .and_then(|v| match v {
                Value::Tagged(t) if t.tag == "Sub" => match &t.value {
                    Value::Sequence(s) => s.first().and_then(Value::as_str),
                    Value::String(s) => Some(s.as_str()),
                    _ => None,
                },
                _ => v.as_str(),
            })
            .unwrap_or_else(|| panic!("{id} has no storage.location.template"));
        // A symlink manifest table: the partition location is the folder
        // where the function writes, at commit, the one text file naming
        // exactly the manifest's Parquet files (never the snapshot's own
        // folder, where a failed attempt's parts may lie).
        let expected_tail = format!("/symlinks/dt=${{!dt}}/run=${{!run}}/{dataset}/");
        assert!(
            location.ends_with(&expected_tail) && location.contains("${S3Prefix}"),
            "{id}'s storage.location.template {location:?} does not follow the function's \
             symlink layout <prefix>{expected_tail}"
        );
        let storage = cfn::get(input, "StorageDescriptor").expect("StorageDescriptor");
        assert_eq!(
            cfn::get(storage, "InputFormat").and_then(Value::as_str),
            Some("org.apache.hadoop.hive.ql.io.SymlinkTextInputFormat"),
            "{id} reads the symlink files, not the snapshot's folder"
        );
        assert_eq!(
            cfn::get(storage, "SerdeInfo")
                .and_then(|i| cfn::get(i, "SerializationLibrary"))
                .and_then(Value::as_str),
            Some("org.apache.hadoop.hive.ql.io.parquet.serde.ParquetHiveSerDe"),
            "{id}'s files are Parquet"
        );

        let columns: BTreeMap<String, String> = cfn::get(
            cfn::get(input, "StorageDescriptor").expect("StorageDescriptor"),
            "Columns",
        )
        .and_then(Value::as_sequence)
        .expect("Columns")
        .iter()
        .map(|c| {
            (
                cfn::get(c, "Name")
                    .and_then(Value::as_str)
                    .expect("Name")
                    .to_string(),
                cfn::get(c, "Type")
                    .and_then(Value::as_str)
                    .expect("Type")
                    .to_string(),
            )
        })
        .collect();
        let written: BTreeMap<String, String> = schema
            .fields()
            .iter()
            .map(|f| (f.name().to_lowercase(), hive_type(f.data_type())))
            .collect();
        assert_eq!(
            columns, written,
            "{id}'s Glue columns (left) differ from the Parquet schema the function writes \
             for {dataset} (right)"
        );
    }
}

/// A YAML scalar as the string Lambda would put in the environment.
fn scalar_text(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

#[test]
fn the_emulator_runs_the_function_as_the_template_deploys_it() {
    use vanta_vuln_sync::config::{Config, CredentialSource};

    let fx = fixture();
    let executable = fx.root.join("target/release/vanta-vuln-sync");
    let specs = emulator::template::load_functions(
        &fx.root.join("template.yaml"),
        &[("vanta-vuln-sync".to_string(), executable.clone())],
    )
    .expect("the emulator reads template.yaml");
    assert_eq!(specs.len(), 1);
    let spec = &specs[0];
    assert_eq!(spec.executable, executable);

    let props = cfn::get(cfn::resource(&fx.template, FUNCTION_ID), "Properties")
        .expect("function Properties");
    assert_eq!(
        cfn::get(props, "FunctionName").and_then(Value::as_str),
        Some("vanta-vuln-sync"),
        "the deployed name is the one the emulator, perfharness and README use"
    );
    let number = |key: &str| {
        cfn::get(props, key)
            .and_then(Value::as_u64)
            .unwrap_or_else(|| panic!("{FUNCTION_ID}.{key} must be a literal number"))
    };
    assert_eq!(
        u64::from(spec.memory_mb),
        number("MemorySize"),
        "MemorySize"
    );
    assert_eq!(u64::from(spec.timeout_s), number("Timeout"), "Timeout");
    assert_eq!(
        spec.timeout_s, 900,
        "the sync runs up to Lambda's 15 minutes"
    );
    let arch = cfn::get(props, "Architectures")
        .and_then(Value::as_sequence)
        .and_then(|a| a.first())
        .and_then(Value::as_str);
    assert_eq!(arch, Some("arm64"));
    assert_eq!(spec.architecture, "arm64");
    assert_eq!(spec.log_format, emulator::lambda::LogFormat::Json);

    // Every variable set from a parameter reaches the local process with the
    // parameter's default; the others (an !If over the bucket) are left to
    // the caller.
    let params = cfn::get(&fx.template, "Parameters").expect("Parameters");
    let vars = cfn::get(props, "Environment")
        .and_then(|e| cfn::get(e, "Variables"))
        .and_then(Value::as_mapping)
        .expect("Environment.Variables");
    for (key, value) in vars {
        let key = key.as_str().expect("variable name");
        let from_param = match value {
            Value::Tagged(t) if t.tag == "Ref" => t.value.as_str(),
            _ => None,
        };
        match from_param {
            Some(param) => {
                let default = cfn::get(params, param)
                    .and_then(|p| cfn::get(p, "Default"))
                    .and_then(scalar_text)
                    .unwrap_or_else(|| panic!("parameter {param} (for {key}) has no Default"));
                assert_eq!(
                    spec.environment.get(key),
                    Some(&default),
                    "{key}: the emulator should give the default of {param}"
                );
            }
            None => assert!(
                !spec.environment.contains_key(key),
                "{key} is not a plain parameter; the emulator cannot know its value"
            ),
        }
    }

    // The function accepts what the template's defaults give it.
    let env = spec.environment.clone();
    let config = Config::from_lookup(|k| env.get(k).cloned())
        .unwrap_or_else(|e| panic!("the function rejects the template's defaults: {e}"));
    assert_eq!(
        config.credentials,
        CredentialSource::SecretsManager(env["VANTA_CREDENTIALS_SECRET"].clone())
    );
    assert_eq!(config.page_size.to_string(), env["VANTA_PAGE_SIZE"]);
    assert_eq!(
        config.rate_limit_per_min.to_string(),
        env["VANTA_RATE_LIMIT_PER_MIN"]
    );
    assert_eq!(
        config.checkpoint_margin.as_secs().to_string(),
        env["CHECKPOINT_MARGIN_S"]
    );
    assert_eq!(config.prefix, env["S3_PREFIX"]);
    assert_eq!(config.base_url, env["VANTA_BASE_URL"]);
}

/// The function's release binary, rebuilt by cargo when older than its
/// sources (the harness's own locator, so a stale binary is never tested).
async fn function_binary() -> PathBuf {
    perfharness::local::ensure_binary(perfharness::local::FUNCTION_BINARY)
        .await
        .expect("the vanta-vuln-sync release binary")
}

/// Parses an EMF document out of a log event (bare, or wrapped in a JSON
/// log record's `message`).
fn emf_document(message: &str) -> Option<serde_json::Value> {
    let start = message.find('{')?;
    let doc: serde_json::Value = serde_json::from_str(message[start..].trim_end()).ok()?;
    if doc.get("_aws").is_some() {
        return Some(doc);
    }
    doc.get("message")
        .and_then(serde_json::Value::as_str)
        .and_then(emf_document)
}

/// The deployment as the template defines it, run locally: the emulator
/// starts the real function from template.yaml's settings, the function reads
/// its Vanta credentials from Secrets Manager under the template's secret
/// name (the deployed path, not the inline test variables), writes under the
/// template's prefix, and emits the metrics the alarms read with the
/// dimensions they filter on.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_template_deployment_syncs_locally_with_its_secret_and_alarm_dimensions() {
    use aws_sdk_s3::config::{BehaviorVersion, Credentials, Region};

    const BUCKET: &str = "vanta-vuln-template";
    let fx = fixture();
    let vanta = mock_vanta::Server::start(mock_vanta::Config {
        data: mock_vanta::DataConfig {
            seed: 11,
            vulnerabilities: 250,
            remediations: 100,
            assets: 25,
            now: "2026-11-26T06:00:00.000Z".parse().expect("instant"),
        },
        ..mock_vanta::Config::default()
    })
    .await
    .expect("mock-vanta starts");

    let mut specs = emulator::template::load_functions(
        &fx.root.join("template.yaml"),
        &[("vanta-vuln-sync".to_string(), function_binary().await)],
    )
    .expect("the emulator reads template.yaml");
    let spec = &mut specs[0];
    // Locally only the Vanta host and the bucket (an !If in the template)
    // differ from a deployment; every other setting is the template's.
    assert!(!spec.environment.contains_key("S3_BUCKET"));
    spec.environment.insert("S3_BUCKET".into(), BUCKET.into());
    spec.environment
        .insert("VANTA_BASE_URL".into(), vanta.base_url());
    let prefix = spec.environment["S3_PREFIX"].clone();
    let secret_name = spec.environment["VANTA_CREDENTIALS_SECRET"].clone();
    let function_name = spec.name.clone();

    let emu = emulator::Emulator::start(emulator::EmulatorConfig {
        functions: specs,
        ..emulator::EmulatorConfig::default()
    })
    .await
    .expect("the emulator starts");
    let sdk = aws_config::defaults(BehaviorVersion::latest())
        .region(Region::new("us-east-1"))
        .endpoint_url(emu.endpoint_url())
        .credentials_provider(Credentials::new("test", "test", None, None, "test"))
        .load()
        .await;
    let s3 = aws_sdk_s3::Client::from_conf(
        aws_sdk_s3::config::Builder::from(&sdk)
            .force_path_style(true)
            .build(),
    );
    s3.create_bucket()
        .bucket(BUCKET)
        .send()
        .await
        .expect("bucket");
    aws_sdk_secretsmanager::Client::new(&sdk)
        .create_secret()
        .name(&secret_name)
        .secret_string(r#"{"client_id":"vci_mock","client_secret":"vcs_mock"}"#)
        .send()
        .await
        .expect("create the credentials secret");

    let out = aws_sdk_lambda::Client::new(&sdk)
        .invoke()
        .function_name(&function_name)
        .payload(aws_sdk_lambda::primitives::Blob::new(
            r#"{"asOf":"2026-11-26T06:00:00.000Z"}"#,
        ))
        .send()
        .await
        .expect("invoke");
    let body: serde_json::Value =
        serde_json::from_slice(out.payload().expect("payload").as_ref()).expect("JSON result");
    assert!(out.function_error().is_none(), "function failed: {body}");
    assert_eq!(body["status"], "complete", "{body}");
    assert_eq!(body["counts"]["vulnerabilities"], 250, "{body}");
    let snapshot = body["snapshot"].as_str().expect("snapshot URI");
    assert!(
        snapshot.starts_with(&format!("s3://{BUCKET}/{prefix}/snapshots/dt=")),
        "{snapshot} is not under the template's prefix {prefix:?}"
    );
    let latest = s3
        .get_object()
        .bucket(BUCKET)
        .key(format!("{prefix}/latest.json"))
        .send()
        .await
        .expect("latest.json under the template's prefix");
    let latest: serde_json::Value =
        serde_json::from_slice(&latest.body.collect().await.expect("body").into_bytes())
            .expect("latest.json is JSON");
    assert_eq!(latest["snapshot"], snapshot);

    // Each VantaVulnStats alarm filters on a dimension set; CloudWatch only
    // matches a metric emitted with exactly that set and those values.
    let logs = aws_sdk_cloudwatchlogs::Client::new(&sdk);
    let mut emf = None;
    for _ in 0..50 {
        let events = logs
            .filter_log_events()
            .log_group_name(format!("/aws/lambda/{function_name}"))
            .filter_pattern("VantaVulnStats")
            .send()
            .await
            .expect("FilterLogEvents");
        emf = events
            .events()
            .iter()
            .filter_map(|e| e.message().and_then(emf_document))
            .next();
        if emf.is_some() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    let emf = emf.expect("the invocation's log has an EMF line in namespace VantaVulnStats");
    let directive = &emf["_aws"]["CloudWatchMetrics"][0];
    assert_eq!(directive["Namespace"], "VantaVulnStats");
    let emitted_sets: Vec<BTreeSet<String>> = directive["Dimensions"]
        .as_array()
        .expect("Dimensions")
        .iter()
        .map(|set| {
            set.as_array()
                .expect("dimension set")
                .iter()
                .map(|d| d.as_str().expect("dimension name").to_string())
                .collect()
        })
        .collect();
    assert_eq!(emf["SyncSuccess"], 1, "{emf}");
    let resources = cfn::get(&fx.template, "Resources")
        .and_then(Value::as_mapping)
        .expect("Resources");
    let mut checked = 0;
    for (id, res) in resources {
        let props = cfn::get(res, "Properties");
        let Some(props) = props
            .filter(|p| cfn::get(p, "Namespace").and_then(Value::as_str) == Some("VantaVulnStats"))
        else {
            continue;
        };
        let mut names = BTreeSet::new();
        for d in cfn::get(props, "Dimensions")
            .and_then(Value::as_sequence)
            .into_iter()
            .flatten()
        {
            let name = cfn::get(d, "Name").and_then(Value::as_str).expect("Name");
            let value = cfn::get(d, "Value").expect("Value");
            // The only value an alarm may take from the stack is the
            // function's own name.
            let expected = match cfn::referenced_id(value) {
                Some(r) if r == FUNCTION_ID => function_name.clone(),
                _ => value.as_str().expect("literal dimension value").to_string(),
            };
            assert_eq!(
                emf[name], expected,
                "{id:?} filters on {name}={expected}, the function emits {}",
                emf[name]
            );
            names.insert(name.to_string());
        }
        assert!(
            emitted_sets.contains(&names),
            "{id:?} filters on the dimension set {names:?}; the function emits {emitted_sets:?}"
        );
        checked += 1;
    }
    assert!(
        checked >= 2,
        "expected the SyncFailure and stale-data alarms"
    );

    emu.shutdown().await;
    vanta.shutdown().await;
}
