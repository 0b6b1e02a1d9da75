//! Self-contained SVG line charts (no scripts, no fonts fetched) for
//! `report.html`: the load time series and the power sweep.

use std::fmt::Write as _;

use crate::measure::series::SecondStats;

/// Which vertical axis a series is drawn against.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Axis {
    /// The axis on the left.
    Left,
    /// The axis on the right.
    Right,
}

/// One line of a chart.
#[derive(Debug, Clone, PartialEq)]
pub struct Series {
    /// Legend text.
    pub name: String,
    /// CSS colour.
    pub color: String,
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
    /// Label of the right axis; empty when no series uses it.
    pub right_label: String,
    /// The lines.
    pub series: Vec<Series>,
}

const W: f64 = 760.0;
const H: f64 = 320.0;
const ML: f64 = 70.0;
const MR: f64 = 80.0;
const MT: f64 = 40.0;
const MB: f64 = 50.0;

/// Escapes text for SVG content and attribute values.
pub fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// A short label for an axis tick.
fn tick_label(v: f64) -> String {
    let a = v.abs();
    if a == 0.0 {
        "0".into()
    } else if a >= 100.0 {
        format!("{v:.0}")
    } else if a >= 1.0 {
        format!("{v:.1}")
    } else if a >= 0.001 {
        format!("{v:.3}")
    } else {
        format!("{v:.2e}")
    }
}

fn range(values: impl Iterator<Item = f64>) -> (f64, f64) {
    let (mut lo, mut hi) = (f64::INFINITY, f64::NEG_INFINITY);
    for v in values.filter(|v| v.is_finite()) {
        lo = lo.min(v);
        hi = hi.max(v);
    }
    if !lo.is_finite() {
        return (0.0, 1.0);
    }
    // Values start at zero so heights compare honestly.
    let lo = lo.min(0.0);
    if hi <= lo {
        (lo, lo + 1.0)
    } else {
        (lo, hi * 1.05)
    }
}

impl LineChart {
    /// Renders the chart as an `<svg>` element.
    pub fn to_svg(&self) -> String {
        let xs = self
            .series
            .iter()
            .flat_map(|s| s.points.iter().map(|p| p.0));
        let (x0, x1) = range(xs);
        let ys = |axis: Axis| {
            range(
                self.series
                    .iter()
                    .filter(move |s| s.axis == axis)
                    .flat_map(|s| s.points.iter().filter_map(|p| p.1)),
            )
        };
        let (l0, l1) = ys(Axis::Left);
        let (r0, r1) = ys(Axis::Right);
        let has_right = self.series.iter().any(|s| s.axis == Axis::Right);
        let pw = W - ML - MR;
        let ph = H - MT - MB;
        let px = |x: f64| ML + (x - x0) / (x1 - x0) * pw;
        let py = |y: f64, (a, b): (f64, f64)| MT + ph - (y - a) / (b - a) * ph;

        let mut s = String::new();
        let _ = write!(
            s,
            r#"<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {W} {H}" width="{W}" height="{H}" font-family="sans-serif" font-size="11" role="img" aria-label="{t}">"#,
            t = escape(&self.title)
        );
        let _ = write!(
            s,
            r#"<text x="{}" y="20" text-anchor="middle" font-size="14">{}</text>"#,
            W / 2.0,
            escape(&self.title)
        );
        let _ = write!(
            s,
            r##"<rect x="{ML}" y="{MT}" width="{pw}" height="{ph}" fill="none" stroke="#999"/>"##
        );
        for i in 0..=4 {
            let f = f64::from(i) / 4.0;
            let y = MT + ph - f * ph;
            let _ = write!(
                s,
                r##"<line x1="{ML}" y1="{y:.1}" x2="{:.1}" y2="{y:.1}" stroke="#eee"/><text x="{:.1}" y="{:.1}" text-anchor="end">{}</text>"##,
                ML + pw,
                ML - 5.0,
                y + 4.0,
                tick_label(l0 + f * (l1 - l0))
            );
            if has_right {
                let _ = write!(
                    s,
                    r#"<text x="{:.1}" y="{:.1}">{}</text>"#,
                    ML + pw + 5.0,
                    y + 4.0,
                    tick_label(r0 + f * (r1 - r0))
                );
            }
            let x = ML + f * pw;
            let _ = write!(
                s,
                r#"<text x="{x:.1}" y="{:.1}" text-anchor="middle">{}</text>"#,
                MT + ph + 15.0,
                tick_label(x0 + f * (x1 - x0))
            );
        }
        let _ = write!(
            s,
            r#"<text x="{:.1}" y="{:.1}" text-anchor="middle">{}</text>"#,
            ML + pw / 2.0,
            H - 10.0,
            escape(&self.x_label)
        );
        let _ = write!(
            s,
            r#"<text transform="translate(15,{:.1}) rotate(-90)" text-anchor="middle">{}</text>"#,
            MT + ph / 2.0,
            escape(&self.left_label)
        );
        if has_right {
            let _ = write!(
                s,
                r#"<text transform="translate({:.1},{:.1}) rotate(90)" text-anchor="middle">{}</text>"#,
                W - 12.0,
                MT + ph / 2.0,
                escape(&self.right_label)
            );
        }
        for (i, series) in self.series.iter().enumerate() {
            let yr = if series.axis == Axis::Left {
                (l0, l1)
            } else {
                (r0, r1)
            };
            let color = escape(&series.color);
            // A gap (None) ends one polyline and starts the next.
            let mut runs: Vec<Vec<(f64, f64)>> = vec![Vec::new()];
            for &(x, y) in &series.points {
                match y {
                    Some(y) if y.is_finite() => runs.last_mut().unwrap().push((px(x), py(y, yr))),
                    _ => runs.push(Vec::new()),
                }
            }
            for run in runs.iter().filter(|r| !r.is_empty()) {
                let pts: Vec<String> = run.iter().map(|(x, y)| format!("{x:.1},{y:.1}")).collect();
                let _ = write!(
                    s,
                    r#"<polyline fill="none" stroke="{color}" stroke-width="1.5" points="{}"/>"#,
                    pts.join(" ")
                );
                if run.len() <= 40 {
                    for (x, y) in run {
                        let _ = write!(
                            s,
                            r#"<circle cx="{x:.1}" cy="{y:.1}" r="2.5" fill="{color}"/>"#
                        );
                    }
                }
            }
            let lx = ML + 10.0 + (i as f64) * 150.0;
            let axis_note = if has_right && series.axis == Axis::Right {
                " (right)"
            } else {
                ""
            };
            let _ = write!(
                s,
                r#"<rect x="{lx:.1}" y="{:.1}" width="10" height="3" fill="{color}"/><text x="{:.1}" y="{:.1}">{}{}</text>"#,
                MT + 8.0,
                lx + 14.0,
                MT + 12.0,
                escape(&series.name),
                axis_note
            );
        }
        s.push_str("</svg>");
        s
    }
}

/// The two charts of a load run: throughput (offered, achieved, throttles,
/// errors) and client latency (p50, p99) per second.
pub fn load_charts(series: &[SecondStats]) -> Vec<LineChart> {
    let pts = |f: &dyn Fn(&SecondStats) -> Option<f64>| -> Vec<(f64, Option<f64>)> {
        series.iter().map(|s| (s.second as f64, f(s))).collect()
    };
    let line = |name: &str, color: &str, axis, points| Series {
        name: name.into(),
        color: color.into(),
        axis,
        points,
    };
    vec![
        LineChart {
            title: "Throughput per second".into(),
            x_label: "seconds since start".into(),
            left_label: "invocations / s".into(),
            right_label: "in flight".into(),
            series: vec![
                line(
                    "offered",
                    "#888",
                    Axis::Left,
                    pts(&|s| Some(s.offered as f64)),
                ),
                line("ok", "#2a7", Axis::Left, pts(&|s| Some(s.ok as f64))),
                line(
                    "throttled",
                    "#e80",
                    Axis::Left,
                    pts(&|s| Some(s.throttles as f64)),
                ),
                line(
                    "errors",
                    "#d22",
                    Axis::Left,
                    pts(&|s| Some(s.errors.values().sum::<u64>() as f64)),
                ),
                line(
                    "in flight",
                    "#57c",
                    Axis::Right,
                    pts(&|s| Some(s.max_in_flight as f64)),
                ),
            ],
        },
        LineChart {
            title: "Client latency per second (from scheduled start)".into(),
            x_label: "seconds since start".into(),
            left_label: "ms".into(),
            right_label: String::new(),
            series: vec![
                line("p50", "#2a7", Axis::Left, pts(&|s| s.latency_p50_ms)),
                line("p99", "#d22", Axis::Left, pts(&|s| s.latency_p99_ms)),
            ],
        },
    ]
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
            series: vec![
                Series {
                    name: "p50".into(),
                    color: "#2a7".into(),
                    axis: Axis::Left,
                    points: vec![
                        (128.0, Some(40.0)),
                        (256.0, None),
                        (512.0, Some(10.0)),
                        (1024.0, Some(5.0)),
                    ],
                },
                Series {
                    name: "cost".into(),
                    color: "#d22".into(),
                    axis: Axis::Right,
                    points: vec![(128.0, Some(1e-7)), (1024.0, Some(2e-7))],
                },
            ],
        }
    }

    #[test]
    fn svg_is_balanced_and_escaped() {
        let svg = chart().to_svg();
        assert!(svg.starts_with("<svg") && svg.ends_with("</svg>"));
        assert!(svg.contains("Duration &amp; cost &lt;by memory&gt;"));
        assert!(!svg.contains("<by memory>"));
        // The gap splits the first series into two polylines, plus one for cost.
        assert_eq!(svg.matches("<polyline").count(), 3);
        assert_eq!(svg.matches("<text").count(), svg.matches("</text>").count());
        assert!(svg.contains("(right)"));
        assert!(!svg.contains("NaN") && !svg.contains("inf"));
    }

    #[test]
    fn points_stay_inside_the_plot() {
        let svg = chart().to_svg();
        for cap in svg.split("points=\"").skip(1) {
            let pts = cap.split('"').next().unwrap();
            for p in pts.split(' ') {
                let (x, y) = p.split_once(',').unwrap();
                let (x, y): (f64, f64) = (x.parse().unwrap(), y.parse().unwrap());
                assert!((ML..=W - MR).contains(&x), "x {x}");
                assert!((MT..=H - MB).contains(&y), "y {y}");
            }
        }
    }

    #[test]
    fn empty_chart_renders() {
        let c = LineChart {
            title: "t".into(),
            x_label: "x".into(),
            left_label: "y".into(),
            right_label: String::new(),
            series: vec![],
        };
        let svg = c.to_svg();
        assert!(svg.ends_with("</svg>"));
        assert!(!svg.contains("NaN"));
    }

    #[test]
    fn load_charts_cover_the_series() {
        let ts = crate::measure::series::per_second(&[]);
        assert_eq!(load_charts(&ts).len(), 2);
    }
}
