//! Succeeded and failed payments per bucket as bars, the success rate as a line: coordinates for the inline
//! SVG in `templates/admin/chart.html` (styled by the stylesheet: no inline styles, no script), with a
//! table of the same numbers for screen readers. Each bar carries its number, so one day of data reads well.

use crate::routes::pages::kes;
use crate::store::StatsBucket;

pub struct GridLine {
    pub y: String,
    pub text_y: String,
    pub count: String,
    pub percent: String,
}

pub struct Bar {
    pub class: &'static str,
    pub x: String,
    pub y: String,
    pub w: String,
    pub h: String,
    pub title: String,
    /// The number above the bar.
    pub label_x: String,
    pub label_y: String,
    pub n: i64,
}

pub struct Label {
    pub x: String,
    pub y: String,
    pub text: String,
}

pub struct Dot {
    pub x: String,
    pub y: String,
    pub title: String,
}

pub struct TableRow {
    pub when: String,
    pub succeeded: i64,
    pub failed: i64,
    pub needs_review: i64,
    pub pending: i64,
    pub collected: String,
}

pub struct Chart {
    pub w: f64,
    pub h: f64,
    pub title: String,
    pub left: f64,
    pub right_x: f64,
    pub count_x: String,
    pub percent_x: String,
    pub axis_y: String,
    pub grid: Vec<GridLine>,
    pub bars: Vec<Bar>,
    pub labels: Vec<Label>,
    pub rate_line: Option<String>,
    pub dots: Vec<Dot>,
    pub table: Vec<TableRow>,
}

fn f(v: f64) -> String {
    format!("{v:.1}")
}

pub fn chart(series: &[StatsBucket], daily: bool) -> Chart {
    let (w, h, left, right, top, bottom) = (720.0_f64, 260.0_f64, 40.0, 56.0, 24.0, 34.0);
    let plot_h = h - top - bottom;
    let slot = (w - left - right) / series.len().max(1) as f64;
    // An even top (at least 2), so the middle grid line is a whole number.
    let top_count = series.iter().map(|b| b.succeeded.max(b.failed)).max().unwrap_or(0).max(2);
    let max = (top_count + top_count % 2) as f64;
    let tz = jiff::tz::TimeZone::get("Africa/Nairobi").unwrap_or(jiff::tz::TimeZone::UTC);
    let label = |b: &StatsBucket| match jiff::Timestamp::from_millisecond(b.start) {
        Ok(t) if daily => t.to_zoned_datetime(tz.clone()).strftime("%d %b").to_string(),
        Ok(t) => t.to_zoned_datetime(tz.clone()).strftime("%H:00").to_string(),
        Err(_) => String::new(),
    };
    let finished: i64 = series.iter().map(|b| b.succeeded + b.failed).sum();
    let grid = [0.0, 0.5, 1.0]
        .iter()
        .map(|frac| {
            let y = top + plot_h * (1.0 - frac);
            GridLine {
                y: f(y),
                text_y: f(y + 4.0),
                count: format!("{}", (max * frac).round()),
                percent: format!("{:.0}%", frac * 100.0),
            }
        })
        .collect();
    let bar_w = (slot * 0.38).max(1.0);
    let (mut bars, mut labels, mut points, mut dots) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for (i, b) in series.iter().enumerate() {
        let x = left + slot * i as f64 + slot * 0.1;
        let name = label(b);
        for (n, class, what, dx) in [(b.succeeded, "bar-ok", "succeeded", 0.0), (b.failed, "bar-bad", "failed", bar_w)]
        {
            if n > 0 {
                let bh = plot_h * n as f64 / max;
                bars.push(Bar {
                    class,
                    x: f(x + dx),
                    y: f(top + plot_h - bh),
                    w: f(bar_w),
                    h: f(bh),
                    title: format!("{name}: {n} {what}"),
                    label_x: f(x + dx + bar_w / 2.0),
                    label_y: f(top + plot_h - bh - 3.0),
                    n,
                });
            }
        }
        if b.succeeded + b.failed > 0 {
            let r = b.succeeded as f64 / (b.succeeded + b.failed) as f64;
            let (px, py) = (x + bar_w, top + plot_h * (1.0 - r));
            points.push(format!("{px:.1},{py:.1}"));
            dots.push(Dot { x: f(px), y: f(py), title: format!("{name}: {:.0}% succeeded", r * 100.0) });
        }
        let every = if daily { 2 } else { 4 };
        if i % every == 0 {
            labels.push(Label { x: f(x + bar_w), y: f(h - 8.0), text: name });
        }
    }
    let table = series
        .iter()
        .rev()
        .map(|b| TableRow {
            when: label(b),
            succeeded: b.succeeded,
            failed: b.failed,
            needs_review: b.needs_review,
            pending: b.pending,
            collected: kes(b.collected),
        })
        .collect();
    Chart {
        w,
        h,
        title: format!(
            "Succeeded and failed payments {} ({finished} finished), with the success rate",
            if daily { "per day" } else { "per hour" }
        ),
        left,
        right_x: w - right,
        count_x: f(left - 4.0),
        percent_x: f(w - right + 4.0),
        axis_y: f(top + plot_h),
        grid,
        bars,
        labels,
        rate_line: (points.len() > 1).then(|| points.join(" ")),
        dots,
        table,
    }
}
