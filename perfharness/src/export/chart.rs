//! The one SVG chart module of every HTML page (full, load, power, gate,
//! compare): histograms of several series overlaid on shared bins, their
//! CDFs, and line charts with one or two vertical axes. Every chart has the
//! same frame: the title on the first line and the legend on its own line
//! under it (so the two never overlap), axes whose ticks fall on round
//! 1-2-5 steps, light grid lines; no scripts, no fonts fetched.

use std::fmt::Write as _;

use super::page::esc;

const W: f64 = 580.0;
const H: f64 = 280.0;
const ML: f64 = 58.0;
const MR: f64 = 58.0;
const MT: f64 = 50.0;
const MB: f64 = 42.0;
/// The plot area: left, right, bottom, top.
const X0: f64 = ML;
const X1: f64 = W - MR;
const Y0: f64 = H - MB;
const Y1: f64 = MT;

/// A set of values drawn as a histogram or a CDF.
#[derive(Debug, Clone, Copy)]
pub struct Series<'a> {
    /// Legend label.
    pub label: &'a str,
    /// Values (non-finite ones are skipped).
    pub values: &'a [f64],
    /// CSS colour.
    pub colour: &'a str,
}

/// Which vertical axis a line is read against.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Axis {
    /// The axis on the left.
    Left,
    /// The axis on the right.
    Right,
}

/// One line of a [`LineChart`].
#[derive(Debug, Clone, PartialEq)]
pub struct Line {
    /// Legend text.
    pub name: String,
    /// CSS colour.
    pub colour: &'static str,
    /// Axis the values are read against.
    pub axis: Axis,
    /// Points `(x, y)`; a `None` y leaves a gap in the line.
    pub points: Vec<(f64, Option<f64>)>,
}

/// A line chart with one or two vertical axes.
#[derive(Debug, Clone, PartialEq)]
pub struct LineChart {
    /// Title above the plot.
    pub title: String,
    /// Label of the horizontal axis.
    pub x_label: String,
    /// Label of the left axis.
    pub left_label: String,
    /// Label of the right axis; unused when no line is read against it.
    pub right_label: String,
    /// The lines.
    pub lines: Vec<Line>,
}

/// A round tick step (1, 2 or 5 times a power of ten) for about five
/// intervals over `span`.
pub fn nice_step(span: f64) -> f64 {
    let raw = (span / 5.0).max(f64::MIN_POSITIVE);
    let mag = 10f64.powf(raw.log10().floor());
    let f = raw / mag;
    mag * if f <= 1.0 {
        1.0
    } else if f <= 2.0 {
        2.0
    } else if f <= 5.0 {
        5.0
    } else {
        10.0
    }
}

/// An axis from one round tick to another.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Scale {
    /// First tick.
    pub lo: f64,
    /// Last tick.
    pub hi: f64,
    /// Distance between ticks.
    pub step: f64,
}

impl Scale {
    /// The round ticks around `lo..=hi` (a flat range gets a unit of room).
    pub fn around(lo: f64, hi: f64) -> Scale {
        let hi = if hi > lo { hi } else { lo + 1.0 };
        let step = nice_step(hi - lo);
        let lo = (lo / step).floor() * step;
        let hi = ((hi / step).ceil() * step).max(lo + step);
        Scale { lo, hi, step }
    }

    /// The round ticks around the finite `values`; `from_zero` starts the
    /// axis at zero (heights then compare honestly). `None` without values.
    fn of(values: impl Iterator<Item = f64>, from_zero: bool) -> Option<Scale> {
        let (mut lo, mut hi) = (f64::INFINITY, f64::NEG_INFINITY);
        for v in values.filter(|v| v.is_finite()) {
            lo = lo.min(v);
            hi = hi.max(v);
        }
        if !lo.is_finite() {
            return None;
        }
        Some(Scale::around(if from_zero { lo.min(0.0) } else { lo }, hi))
    }

    /// `v` mapped onto the pixels `a..b`.
    fn at(&self, v: f64, a: f64, b: f64) -> f64 {
        a + (b - a) * (v - self.lo) / (self.hi - self.lo)
    }

    fn ticks(&self) -> impl Iterator<Item = f64> + '_ {
        let n = ((self.hi - self.lo) / self.step).round() as usize;
        (0..=n).map(move |i| self.lo + self.step * i as f64)
    }

    /// A tick's label with as many decimals as the step needs (0.25 → 2,
    /// 20 → 0), never 0.30000000000000004.
    pub fn label(&self, v: f64) -> String {
        let d = (0..9)
            .find(|d| {
                let x = self.step * 10f64.powi(*d);
                (x - x.round()).abs() < 1e-6 * x.max(1.0)
            })
            .unwrap_or(9) as usize;
        let s = format!("{v:.d$}");
        if s.starts_with('-') && s.trim_start_matches(['-', '0', '.']).is_empty() {
            s[1..].to_string()
        } else {
            s
        }
    }
}

/// Axes, labels and legend of one chart.
struct Frame<'a> {
    title: &'a str,
    x: Scale,
    x_label: &'a str,
    left: Scale,
    left_label: &'a str,
    right: Option<(Scale, &'a str)>,
    legend: Vec<(String, &'a str)>,
}

impl Frame<'_> {
    /// The `<svg>` element around `body` (the marks, drawn in the plot area).
    fn render(&self, body: &str) -> String {
        let mut s = String::with_capacity(body.len() + 4096);
        let _ = write!(
            s,
            r#"<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{H}" viewBox="0 0 {W} {H}" role="img" class="chart"><title>{t}</title><text x="{ML}" y="16" class="ct">{t}</text>"#,
            t = esc(self.title)
        );
        for v in self.left.ticks() {
            let y = self.left.at(v, Y0, Y1);
            let _ = write!(
                s,
                r#"<line x1="{X0}" y1="{y:.1}" x2="{X1}" y2="{y:.1}" class="grid"/><text x="{:.1}" y="{:.1}" class="tk" text-anchor="end">{}</text>"#,
                X0 - 5.0,
                y + 3.5,
                self.left.label(v)
            );
        }
        if let Some((r, _)) = &self.right {
            for v in r.ticks() {
                let _ = write!(
                    s,
                    r#"<text x="{:.1}" y="{:.1}" class="tk">{}</text>"#,
                    X1 + 5.0,
                    r.at(v, Y0, Y1) + 3.5,
                    r.label(v)
                );
            }
        }
        for v in self.x.ticks() {
            let x = self.x.at(v, X0, X1);
            let _ = write!(
                s,
                r#"<line x1="{x:.1}" y1="{Y0}" x2="{x:.1}" y2="{:.1}" class="ax"/><text x="{x:.1}" y="{:.1}" class="tk" text-anchor="middle">{}</text>"#,
                Y0 + 4.0,
                Y0 + 15.0,
                self.x.label(v)
            );
        }
        let _ = write!(
            s,
            r#"<line x1="{X0}" y1="{Y0}" x2="{X1}" y2="{Y0}" class="ax"/><line x1="{X0}" y1="{Y0}" x2="{X0}" y2="{Y1}" class="ax"/><text x="{:.1}" y="{:.1}" class="al" text-anchor="middle">{}</text><text transform="translate(14,{:.1}) rotate(-90)" class="al" text-anchor="middle">{}</text>"#,
            (X0 + X1) / 2.0,
            H - 6.0,
            esc(self.x_label),
            (Y0 + Y1) / 2.0,
            esc(self.left_label)
        );
        if let Some((_, label)) = &self.right {
            let _ = write!(
                s,
                r#"<line x1="{X1}" y1="{Y0}" x2="{X1}" y2="{Y1}" class="ax"/><text transform="translate({:.1},{:.1}) rotate(90)" class="al" text-anchor="middle">{}</text>"#,
                W - 12.0,
                (Y0 + Y1) / 2.0,
                esc(label)
            );
        }
        s.push_str(body);
        // The legend on its own line under the title.
        let mut lx = ML;
        for (text, colour) in &self.legend {
            let _ = write!(
                s,
                r#"<rect x="{lx:.1}" y="24" width="10" height="10" fill="{}"/><text x="{:.1}" y="33" class="tk">{}</text>"#,
                esc(colour),
                lx + 14.0,
                esc(text),
            );
            lx += 26.0 + 5.6 * text.chars().count() as f64;
        }
        s.push_str("</svg>");
        s
    }
}

fn finite<'a>(s: &Series<'a>) -> impl Iterator<Item = f64> + 'a {
    s.values.iter().copied().filter(|v| v.is_finite())
}

fn legend<'a>(series: &[Series<'a>]) -> Vec<(String, &'a str)> {
    series
        .iter()
        .map(|s| (format!("{} (n={})", s.label, finite(s).count()), s.colour))
        .filter(|(t, _)| !t.ends_with("(n=0)"))
        .collect()
}

/// A histogram of several series overlaid on shared bins whose edges fall
/// on round numbers (about `bins` of them); empty without values.
pub fn histogram(title: &str, unit: &str, series: &[Series], bins: usize) -> String {
    let Some(x) = Scale::of(series.iter().flat_map(finite), false) else {
        return String::new();
    };
    // Bins a whole fraction of the tick step, so their edges are round too.
    let per_step = [1.0, 2.0, 5.0, 10.0]
        .into_iter()
        .min_by_key(|p| (((x.hi - x.lo) / x.step * p) - bins as f64).abs() as u64)
        .unwrap_or(1.0);
    let width = x.step / per_step;
    let n = (((x.hi - x.lo) / width).round() as usize).max(1);
    let counts: Vec<Vec<usize>> = series
        .iter()
        .map(|s| {
            let mut c = vec![0usize; n];
            for v in finite(s) {
                c[(((v - x.lo) / width) as usize).min(n - 1)] += 1;
            }
            c
        })
        .collect();
    let peak = counts.iter().flatten().copied().max().unwrap_or(1).max(1);
    // Counts are whole: ticks at least one apart.
    let y = match Scale::around(0.0, peak as f64) {
        s if s.step >= 1.0 => s,
        _ => Scale {
            lo: 0.0,
            hi: peak as f64,
            step: 1.0,
        },
    };
    let overlaid = series.iter().filter(|s| finite(s).count() > 0).count() > 1;
    let mut body = String::new();
    for (se, c) in series.iter().zip(&counts) {
        for (bi, k) in c.iter().enumerate().filter(|(_, k)| **k > 0) {
            let (a, b) = (x.lo + width * bi as f64, x.lo + width * (bi + 1) as f64);
            let (px, top) = (x.at(a, X0, X1), y.at(*k as f64, Y0, Y1));
            let _ = write!(
                body,
                r#"<rect x="{px:.1}" y="{top:.1}" width="{:.1}" height="{:.1}" fill="{}"{}><title>{}: {k} in [{}, {})</title></rect>"#,
                (x.at(b, X0, X1) - px - 1.0).max(1.0),
                Y0 - top,
                esc(se.colour),
                if overlaid {
                    r#" fill-opacity="0.55""#
                } else {
                    ""
                },
                esc(se.label),
                x.label(a),
                x.label(b),
            );
        }
    }
    Frame {
        title,
        x,
        x_label: unit,
        left: y,
        left_label: "count",
        right: None,
        legend: legend(series),
    }
    .render(&body)
}

/// The empirical CDFs of several series; empty without values.
pub fn cdf(title: &str, unit: &str, series: &[Series]) -> String {
    let Some(x) = Scale::of(series.iter().flat_map(finite), false) else {
        return String::new();
    };
    let y = Scale {
        lo: 0.0,
        hi: 1.0,
        step: 0.25,
    };
    let mut body = String::new();
    for se in series {
        let mut v: Vec<f64> = finite(se).collect();
        if v.is_empty() {
            continue;
        }
        v.sort_by(f64::total_cmp);
        let n = v.len() as f64;
        let mut pts = format!("{X0:.1},{Y0:.1}");
        for (i, value) in v.iter().enumerate() {
            let px = x.at(*value, X0, X1);
            let _ = write!(
                pts,
                " {px:.1},{:.1} {px:.1},{:.1}",
                y.at(i as f64 / n, Y0, Y1),
                y.at((i + 1) as f64 / n, Y0, Y1)
            );
        }
        let _ = write!(
            body,
            r#"<polyline points="{pts}" fill="none" stroke="{}" stroke-width="2"/>"#,
            esc(se.colour)
        );
    }
    Frame {
        title,
        x,
        x_label: unit,
        left: y,
        left_label: "fraction at or below",
        right: None,
        legend: legend(series),
    }
    .render(&body)
}

impl LineChart {
    /// The chart as an `<svg>` element; empty when no line has a point.
    pub fn to_svg(&self) -> String {
        let Some(x) = Scale::of(
            self.lines.iter().flat_map(|l| l.points.iter().map(|p| p.0)),
            false,
        ) else {
            return String::new();
        };
        let ys = |axis: Axis| {
            Scale::of(
                self.lines
                    .iter()
                    .filter(|l| l.axis == axis)
                    .flat_map(|l| l.points.iter().filter_map(|p| p.1)),
                true,
            )
        };
        let left = ys(Axis::Left).unwrap_or(Scale::around(0.0, 1.0));
        let right = ys(Axis::Right);
        let mut body = String::new();
        for line in &self.lines {
            let scale = match line.axis {
                Axis::Right => right.unwrap_or(left),
                Axis::Left => left,
            };
            // A gap (None) ends one polyline and starts the next.
            let mut runs: Vec<Vec<(f64, f64)>> = vec![Vec::new()];
            for &(px, py) in &line.points {
                match py.filter(|v| v.is_finite()) {
                    Some(v) if px.is_finite() => runs
                        .last_mut()
                        .expect("never empty")
                        .push((x.at(px, X0, X1), scale.at(v, Y0, Y1))),
                    _ => runs.push(Vec::new()),
                }
            }
            for run in runs.iter().filter(|r| !r.is_empty()) {
                let pts: Vec<String> = run.iter().map(|(a, b)| format!("{a:.1},{b:.1}")).collect();
                let _ = write!(
                    body,
                    r#"<polyline fill="none" stroke="{c}" stroke-width="1.8" points="{}"/>"#,
                    pts.join(" "),
                    c = esc(line.colour)
                );
                if run.len() <= 40 {
                    for (a, b) in run {
                        let _ = write!(
                            body,
                            r#"<circle cx="{a:.1}" cy="{b:.1}" r="2.5" fill="{}"/>"#,
                            esc(line.colour)
                        );
                    }
                }
            }
        }
        let legend = self
            .lines
            .iter()
            .map(|l| {
                let note = if right.is_some() && l.axis == Axis::Right {
                    " (right axis)"
                } else {
                    ""
                };
                (format!("{}{note}", l.name), l.colour)
            })
            .collect();
        Frame {
            title: &self.title,
            x,
            x_label: &self.x_label,
            left,
            left_label: &self.left_label,
            right: right.map(|r| (r, self.right_label.as_str())),
            legend,
        }
        .render(&body)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chart() -> LineChart {
        LineChart {
            title: "Duration & cost <by memory>".into(),
            x_label: "MB".into(),
            left_label: "ms".into(),
            right_label: "$".into(),
            lines: vec![
                Line {
                    name: "p50".into(),
                    colour: "#2a7",
                    axis: Axis::Left,
                    points: vec![
                        (128.0, Some(40.0)),
                        (256.0, None),
                        (512.0, Some(10.0)),
                        (1024.0, Some(5.0)),
                    ],
                },
                Line {
                    name: "cost".into(),
                    colour: "#d22",
                    axis: Axis::Right,
                    points: vec![(128.0, Some(1e-7)), (1024.0, Some(2e-7))],
                },
            ],
        }
    }

    fn tick_labels(svg: &str) -> Vec<String> {
        svg.split(r#"class="tk""#)
            .skip(1)
            .filter_map(|t| {
                let t = t.split_once('>')?.1;
                Some(t.split('<').next()?.to_string())
            })
            .collect()
    }

    #[test]
    fn ticks_fall_on_round_numbers() {
        assert_eq!(nice_step(29.88), 10.0);
        assert_eq!(nice_step(4.7), 1.0);
        assert_eq!(nice_step(0.3), 0.1);
        assert_eq!(
            Scale::around(2.65, 32.53),
            Scale {
                lo: 0.0,
                hi: 40.0,
                step: 10.0
            }
        );
        let s = Scale::around(0.0, 1.0);
        assert_eq!(s.label(0.30000000000000004), "0.3");
        let q = Scale {
            lo: 0.0,
            hi: 1.0,
            step: 0.25,
        };
        assert_eq!(q.label(0.75), "0.75");
        assert_eq!(Scale::around(0.0, 300.0).label(200.0), "200");
        // Every label of a real chart parses as a multiple of its step.
        let v = [4.70, 5.88, 7.05];
        let svg = histogram(
            "t",
            "ms",
            &[Series {
                label: "a",
                values: &v,
                colour: "red",
            }],
            20,
        );
        let labels = tick_labels(&svg);
        assert!(labels.contains(&"5.0".to_string()), "{labels:?}");
        assert!(!labels.iter().any(|l| l.contains("4.7")), "{labels:?}");
    }

    #[test]
    fn svg_is_balanced_and_escaped() {
        let svg = chart().to_svg();
        assert!(svg.starts_with("<svg") && svg.ends_with("</svg>"));
        assert!(svg.contains("Duration &amp; cost &lt;by memory&gt;"));
        assert!(!svg.contains("<by memory>"));
        // The gap splits the first line into two polylines, plus one for cost.
        assert_eq!(svg.matches("<polyline").count(), 3);
        assert_eq!(svg.matches("<text").count(), svg.matches("</text>").count());
        assert!(svg.contains("(right axis)"));
        assert!(!svg.contains("NaN") && !svg.contains("inf"));
    }

    #[test]
    fn marks_stay_inside_the_plot_and_the_legend_under_the_title() {
        let svg = chart().to_svg();
        for cap in svg.split("points=\"").skip(1) {
            let pts = cap.split('"').next().unwrap();
            for p in pts.split(' ') {
                let (x, y) = p.split_once(',').unwrap();
                let (x, y): (f64, f64) = (x.parse().unwrap(), y.parse().unwrap());
                assert!((X0..=X1).contains(&x), "x {x}");
                assert!((Y1..=Y0).contains(&y), "y {y}");
            }
        }
        // Title baseline 16, legend 24-34, plot from 50: no overlap.
        assert!(svg.contains(r#"y="16" class="ct""#) && svg.contains(r#"y="24" width="10""#));
        const { assert!(Y1 > 34.0) };
    }

    #[test]
    fn histograms_overlay_and_count_every_value() {
        let a = [1.0, 1.5, 2.0, 9.0];
        let b = [3.0, 3.0, f64::NAN];
        let svg = histogram(
            "h",
            "ms",
            &[
                Series {
                    label: "cold",
                    values: &a,
                    colour: "#d00",
                },
                Series {
                    label: "warm",
                    values: &b,
                    colour: "#00d",
                },
            ],
            20,
        );
        let counted: usize = svg
            .split("<title>")
            .skip(2)
            .map(|t| {
                let t = t.split(" in [").next().unwrap();
                t.rsplit(": ").next().unwrap().parse::<usize>().unwrap()
            })
            .sum();
        assert_eq!(counted, 6, "every finite value in a bin");
        assert!(svg.contains("fill-opacity") && svg.contains("warm (n=2)"));
        let cdf = cdf(
            "c",
            "ms",
            &[Series {
                label: "a",
                values: &a,
                colour: "#d00",
            }],
        );
        assert_eq!(cdf.matches("<polyline").count(), 1);
    }

    #[test]
    fn nothing_to_draw_is_no_chart() {
        let c = LineChart {
            title: "t".into(),
            x_label: "x".into(),
            left_label: "y".into(),
            right_label: String::new(),
            lines: vec![],
        };
        assert_eq!(c.to_svg(), "");
        let none: [f64; 0] = [];
        let s = [Series {
            label: "a",
            values: &none,
            colour: "red",
        }];
        assert_eq!(histogram("t", "ms", &s, 10), "");
        assert_eq!(cdf("t", "ms", &s), "");
    }
}
