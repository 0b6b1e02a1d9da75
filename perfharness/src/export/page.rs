//! What every report page shares (full, load, power, gate, compare): the
//! one HTML escaper, the one style sheet and page frame (title, one line of
//! context, the headline cards first, then the body), tables, and the
//! writers of a run directory and of `$GITHUB_STEP_SUMMARY`. Pages are
//! self-contained (inline CSS and SVG, no scripts, no network fetches) and
//! well-formed XML apart from the doctype.

use std::io::Write as _;
use std::path::{Path, PathBuf};

/// Escapes text for HTML and SVG content and attribute values (control
/// characters other than newline and tab become spaces).
pub fn esc(s: &str) -> String {
    let mut o = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => o.push_str("&amp;"),
            '<' => o.push_str("&lt;"),
            '>' => o.push_str("&gt;"),
            '"' => o.push_str("&quot;"),
            '\'' => o.push_str("&#39;"),
            c if (c as u32) < 0x20 && c != '\n' && c != '\t' => o.push(' '),
            c => o.push(c),
        }
    }
    o
}

const CSS: &str = "body{font-family:system-ui,sans-serif;margin:2em;color:#222;max-width:1240px}\
h1{font-size:24px;margin:0 0 4px 0}h2{font-size:18px;margin:1.4em 0 0.4em 0}h3{font-size:15px}\
.meta{color:#555;margin:0 0 1em 0}\
table{border-collapse:collapse;margin:0.6em 0}td,th{border:1px solid #ccc;padding:3px 8px;text-align:right}\
td:first-child,th:first-child,td.t,th.t{text-align:left}th{background:#f3f5f8}\
.PASS{color:#070;font-weight:bold}.FAIL{color:#b00;font-weight:bold}.NODATA,.UNDECIDED{color:#a60;font-weight:bold}\
.warn{color:#b00}.note{color:#555}\
.headline{display:flex;flex-wrap:wrap;gap:12px;margin:1em 0;padding:0}\
.headline div{border:1px solid #ccc;border-radius:6px;padding:8px 14px;background:#f7f9fc}\
.headline dt{font-size:12px;color:#555;margin:0}.headline dd{font-size:20px;font-weight:bold;margin:2px 0 0 0}\
.charts{display:flex;flex-wrap:wrap;gap:12px}.chart{border:1px solid #eee}\
.ct{font-size:13px;font-weight:bold}.tk{font-size:10px;fill:#444}.al{font-size:11px;fill:#222}\
.ax{stroke:#444;stroke-width:1}.grid{stroke:#e6e6e6;stroke-width:1}";

/// A whole page: `title` as its heading, `meta` (what was measured, where,
/// when) on one line under it, the `headline` (label, value) cards — the
/// answer first — and then `body` (already HTML).
pub fn document(title: &str, meta: &str, headline: &[(String, String)], body: &str) -> String {
    let mut o = String::with_capacity(body.len() + 4096);
    o.push_str(&format!(
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"/><title>{t}</title><style>{CSS}</style></head><body><h1>{t}</h1><p class=\"meta\">{}</p>",
        esc(meta),
        t = esc(title),
    ));
    if !headline.is_empty() {
        o.push_str("<dl class=\"headline\">");
        for (label, value) in headline {
            o.push_str(&format!(
                "<div><dt>{}</dt><dd>{}</dd></div>",
                esc(label),
                esc(value)
            ));
        }
        o.push_str("</dl>");
    }
    o.push_str(body);
    o.push_str("</body></html>\n");
    o
}

/// The CSS class of a verdict word (PASS, FAIL, NO DATA, UNDECIDED), if
/// `cell` is one.
fn verdict_class(cell: &str) -> Option<String> {
    ["PASS", "FAIL", "NO DATA", "UNDECIDED"]
        .contains(&cell)
        .then(|| cell.replace(' ', ""))
}

/// Whether a cell reads as a figure (right-aligned) rather than text.
fn is_figure(cell: &str) -> bool {
    cell.starts_with(|c: char| c.is_ascii_digit() || "+-$".contains(c)) || cell == "n/a"
}

/// A table of text cells (escaped here): figures right-aligned, text and
/// the first column left-aligned, a verdict word in its colour; a header
/// is aligned as its column's cells are (left over a column of text).
pub fn table<S: AsRef<str>>(header: &[&str], rows: &[Vec<S>]) -> String {
    let mut o = String::from("<table><tr>");
    for (i, h) in header.iter().enumerate() {
        let text = !rows.is_empty()
            && rows.iter().all(|r| {
                r.get(i).is_none_or(|c| {
                    let c = c.as_ref();
                    verdict_class(c).is_none() && !is_figure(c)
                })
            });
        let class = if text { " class=\"t\"" } else { "" };
        o.push_str(&format!("<th{class}>{}</th>", esc(h)));
    }
    o.push_str("</tr>");
    for row in rows {
        o.push_str("<tr>");
        for cell in row {
            let cell = cell.as_ref();
            match verdict_class(cell) {
                Some(c) => o.push_str(&format!("<td class=\"{c}\">{cell}</td>")),
                None if is_figure(cell) => o.push_str(&format!("<td>{}</td>", esc(cell))),
                None => o.push_str(&format!("<td class=\"t\">{}</td>", esc(cell))),
            }
        }
        o.push_str("</tr>");
    }
    o.push_str("</table>");
    o
}

/// Charts side by side, wrapping; the empty ones (nothing to draw) left out.
pub fn charts(svgs: &[String]) -> String {
    let drawn: Vec<&String> = svgs.iter().filter(|s| !s.is_empty()).collect();
    if drawn.is_empty() {
        return String::new();
    }
    let mut o = String::from("<div class=\"charts\">");
    for s in drawn {
        o.push_str(s);
    }
    o.push_str("</div>");
    o
}

/// Writes `files` (name, contents) into `dir`, created if needed; returns
/// the paths written.
pub fn write_files(dir: &Path, files: &[(&str, &str)]) -> std::io::Result<Vec<PathBuf>> {
    std::fs::create_dir_all(dir)?;
    files
        .iter()
        .map(|(name, body)| {
            let p = dir.join(name);
            std::fs::write(&p, body).map(|()| p)
        })
        .collect()
}

/// Appends `markdown` to the GitHub Actions job summary when
/// `$GITHUB_STEP_SUMMARY` names a file (nothing to do otherwise).
pub fn append_step_summary(markdown: &str) -> std::io::Result<()> {
    let Some(path) = std::env::var_os("GITHUB_STEP_SUMMARY").filter(|p| !p.is_empty()) else {
        return Ok(());
    };
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&path)
        .map_err(|e| {
            std::io::Error::new(
                e.kind(),
                format!("$GITHUB_STEP_SUMMARY {}: {e}", Path::new(&path).display()),
            )
        })?;
    writeln!(f, "{markdown}")
}

/// [`append_step_summary`] for commands whose report is already written: a
/// failure is a warning, not the run's error.
pub fn step_summary_or_warn(markdown: &str) {
    if let Err(e) = append_step_summary(markdown) {
        tracing::warn!("cannot append to the job summary: {e}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escaping_and_tables() {
        assert_eq!(esc("a<b>&\"c'\u{7}"), "a&lt;b&gt;&amp;&quot;c&#39; ");
        let t = table(&["k", "v"], &[vec!["<x>", "PASS"], vec!["y", "NO DATA"]]);
        assert!(
            t.contains("<td class=\"t\">&lt;x&gt;</td><td class=\"PASS\">PASS</td>"),
            "{t}"
        );
        assert!(t.contains("class=\"NODATA\""), "{t}");
        let u = table(&["k", "v"], &[vec!["a", "-2.5"], vec!["b", "n/a"]]);
        assert!(
            u.contains("<td>-2.5</td>") && u.contains("<td>n/a</td>"),
            "{u}"
        );
        // Headers align with their columns: left over text, right over figures.
        let w = table(
            &["figure", "value", "meaning"],
            &[vec!["a", "1.5", "what a is"], vec!["b", "2", "what b is"]],
        );
        assert!(
            w.contains("<th class=\"t\">figure</th><th>value</th><th class=\"t\">meaning</th>"),
            "{w}"
        );
        let page = document("T & t", "m", &[("first".into(), "1 ms".into())], "<p>b</p>");
        assert!(page.starts_with("<!DOCTYPE html>\n") && page.ends_with("</html>\n"));
        let (cards, body) = (
            page.find("class=\"headline\"").unwrap(),
            page.find("<p>b</p>").unwrap(),
        );
        assert!(cards < body, "the headline first");
        assert_eq!(charts(&[String::new()]), "");
    }
}
