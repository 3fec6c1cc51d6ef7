//! The chart of a run, as a self-contained SVG: for each database and workload, throughput (solid, left
//! axis) and p99 latency (dashed, right axis) against concurrent connections, lipa beside the floor.

use std::fmt::Write;

use crate::bench::{Point, Report};

const W: f64 = 440.0;
const H: f64 = 270.0;
const LIPA: &str = "#1f6feb";
const FLOOR: &str = "#8c959f";

fn nice_max(v: f64) -> f64 {
    if v <= 0.0 {
        return 1.0;
    }
    let mag = 10f64.powf(v.log10().floor());
    for m in [1.0, 2.0, 2.5, 5.0, 10.0] {
        if v <= m * mag {
            return m * mag;
        }
    }
    10.0 * mag
}

fn esc(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;")
}

pub fn svg(r: &Report) -> String {
    let workloads = [("callbacks", "callbacks ingested /s"), ("payments", "payments created /s")];
    let rows = r.results.len().max(1);
    let (total_w, total_h) = (W * 2.0 + 20.0, H * rows as f64 + 60.0);
    let mut s = String::new();
    let _ = write!(
        s,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{total_w}" height="{total_h}" viewBox="0 0 {total_w} {total_h}" font-family="sans-serif" font-size="11">"#
    );
    let _ = write!(s, r#"<rect width="100%" height="100%" fill="white"/>"#);
    let _ = write!(
        s,
        r#"<text x="10" y="18" font-size="13" font-weight="bold">lipa vs floor — {} — {}</text>"#,
        esc(&r.label),
        esc(&r.machine)
    );
    let _ = write!(
        s,
        r#"<g transform="translate(10,34)"><line x1="0" y1="0" x2="22" y2="0" stroke="{LIPA}" stroke-width="2.5"/><text x="26" y="4">lipa req/s</text><line x1="100" y1="0" x2="122" y2="0" stroke="{FLOOR}" stroke-width="2.5"/><text x="126" y="4">floor req/s</text><line x1="210" y1="0" x2="232" y2="0" stroke="{LIPA}" stroke-width="1.5" stroke-dasharray="5,3"/><text x="236" y="4">lipa p99 ms</text><line x1="320" y1="0" x2="342" y2="0" stroke="{FLOOR}" stroke-width="1.5" stroke-dasharray="5,3"/><text x="346" y="4">floor p99 ms (right axis)</text></g>"#
    );
    for (row, res) in r.results.iter().enumerate() {
        for (col, (workload, title)) in workloads.iter().enumerate() {
            let pts: Vec<&Point> = res.points.iter().filter(|p| p.workload == *workload).collect();
            let (ox, oy) = (10.0 + col as f64 * (W + 10.0), 50.0 + row as f64 * H);
            panel(&mut s, ox, oy, &format!("{} — {title}", res.db.as_str()), &r.connections, &pts);
        }
    }
    s.push_str("</svg>\n");
    s
}

fn panel(s: &mut String, ox: f64, oy: f64, title: &str, conns: &[usize], pts: &[&Point]) {
    let (l, rgt, t, b) = (ox + 55.0, ox + W - 45.0, oy + 25.0, oy + H - 40.0);
    let _ = write!(s, r#"<text x="{}" y="{}" font-weight="bold">{}</text>"#, l, oy + 14.0, esc(title));
    let _ = write!(
        s,
        r#"<rect x="{l}" y="{t}" width="{}" height="{}" fill="none" stroke="rgb(208,215,222)"/>"#,
        rgt - l,
        b - t
    );
    if pts.is_empty() || conns.is_empty() {
        let _ = write!(s, r#"<text x="{}" y="{}">not measured</text>"#, l + 10.0, t + 20.0);
        return;
    }
    let ymax = nice_max(pts.iter().map(|p| p.stats.per_second).fold(0.0, f64::max));
    let lmax = nice_max(pts.iter().map(|p| p.stats.p99_ms).fold(0.0, f64::max));
    let x = |i: usize| {
        if conns.len() == 1 {
            (l + rgt) / 2.0
        } else {
            l + 20.0 + (rgt - l - 40.0) * i as f64 / (conns.len() - 1) as f64
        }
    };
    let y = |v: f64| b - (b - t) * v / ymax;
    let yl = |v: f64| b - (b - t) * v / lmax;
    for k in 0..=4 {
        let v = ymax * k as f64 / 4.0;
        let lv = lmax * k as f64 / 4.0;
        let _ = write!(s, r#"<line x1="{l}" y1="{0}" x2="{rgt}" y2="{0}" stroke="rgb(234,238,242)"/>"#, y(v));
        let _ = write!(s, r#"<text x="{}" y="{}" text-anchor="end">{:.0}</text>"#, l - 4.0, y(v) + 4.0, v);
        let _ =
            write!(s, r#"<text x="{}" y="{}" fill="rgb(87,96,106)">{}</text>"#, rgt + 4.0, yl(lv) + 4.0, fmt_ms(lv));
    }
    for (i, c) in conns.iter().enumerate() {
        let _ = write!(s, r#"<text x="{}" y="{}" text-anchor="middle">{c}</text>"#, x(i), b + 14.0);
    }
    let _ = write!(
        s,
        r#"<text x="{}" y="{}" text-anchor="middle" fill="rgb(87,96,106)">concurrent connections</text>"#,
        (l + rgt) / 2.0,
        b + 30.0
    );
    for (target, color) in [("floor", FLOOR), ("lipa", LIPA)] {
        let series: Vec<(usize, &Point)> = conns
            .iter()
            .enumerate()
            .filter_map(|(i, c)| pts.iter().find(|p| p.target == target && p.stats.connections == *c).map(|p| (i, *p)))
            .collect();
        if series.is_empty() {
            continue;
        }
        let thr: Vec<String> =
            series.iter().map(|(i, p)| format!("{:.1},{:.1}", x(*i), y(p.stats.per_second))).collect();
        let lat: Vec<String> = series.iter().map(|(i, p)| format!("{:.1},{:.1}", x(*i), yl(p.stats.p99_ms))).collect();
        let _ = write!(s, r#"<polyline points="{}" fill="none" stroke="{color}" stroke-width="2.5"/>"#, thr.join(" "));
        let _ = write!(
            s,
            r#"<polyline points="{}" fill="none" stroke="{color}" stroke-width="1.5" stroke-dasharray="5,3"/>"#,
            lat.join(" ")
        );
        for (i, p) in &series {
            let _ = write!(s, r#"<circle cx="{:.1}" cy="{:.1}" r="3" fill="{color}"/>"#, x(*i), y(p.stats.per_second));
        }
        if target == "lipa" {
            if let Some((i, p)) = series.last() {
                let _ = write!(
                    s,
                    r#"<text x="{:.1}" y="{:.1}" text-anchor="end" fill="{color}">{:.0}/s</text>"#,
                    x(*i) - 6.0,
                    y(p.stats.per_second) - 6.0,
                    p.stats.per_second
                );
            }
        }
    }
}

fn fmt_ms(v: f64) -> String {
    if v >= 10.0 {
        format!("{v:.0} ms")
    } else {
        format!("{v:.1} ms")
    }
}
