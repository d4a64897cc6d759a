//! The health page's chart of key ages against the rotation policy, drawn on the server as an
//! inline SVG (no script): one bar per age group, stacked by where the keys stand against their
//! service's policy. The geometry is computed here; `partials/key_age_chart.html` writes it.

use crate::ops::key_health::{AGE_GROUPS, HealthReport, Standing};

/// The drawing's coordinates (its `viewBox`); it scales to the page's width.
pub const WIDTH: u32 = 480;
pub const HEIGHT: u32 = 236;
/// The plot's left edge (room for the counts' axis), its top, and its baseline.
const LEFT: u32 = 36;
const TOP: u32 = 16;
const BASELINE: u32 = 200;
const BAR: u32 = 44;

pub struct AgeChart {
    pub bars: Vec<Bar>,
    /// Lines across the plot with their count: 0, the middle, the top.
    pub ticks: Vec<(u32, usize)>,
    /// The keys of each standing, for the legend: class, words, count.
    pub legend: Vec<(&'static str, &'static str, usize)>,
    /// The chart in words, for those who do not see it.
    pub summary: String,
    pub left: u32,
    pub right: u32,
    pub baseline: u32,
}

pub struct Bar {
    pub label: &'static str,
    /// The bar's left edge and its middle.
    pub x: u32,
    pub middle: u32,
    pub width: u32,
    pub total: usize,
    /// Where its total is written, above it.
    pub total_y: u32,
    pub segments: Vec<Segment>,
}

pub struct Segment {
    pub class: &'static str,
    pub words: &'static str,
    pub y: u32,
    pub height: u32,
    pub count: usize,
}

fn class(standing: Standing) -> &'static str {
    match standing {
        Standing::Within => "within",
        Standing::DueSoon => "due-soon",
        Standing::Overdue => "overdue",
        Standing::NoPolicy => "no-policy",
    }
}

fn words(standing: Standing) -> &'static str {
    match standing {
        Standing::Within => "within policy",
        Standing::DueSoon => "rotation due soon",
        Standing::Overdue => "overdue",
        Standing::NoPolicy => "no policy",
    }
}

/// The smallest of 1, 2, 5, 10, 20, 50… at least `n`: the axis's top.
fn axis_top(n: usize) -> usize {
    let mut step = 1;
    loop {
        for top in [step, 2 * step, 5 * step] {
            if top >= n {
                return top;
            }
        }
        step *= 10;
    }
}

impl AgeChart {
    pub fn new(report: &HealthReport) -> AgeChart {
        let most = report
            .ages
            .iter()
            .map(|group| group.iter().sum::<usize>())
            .max()
            .unwrap_or(0);
        let top = axis_top(most.max(1));
        let plot = BASELINE - TOP;
        let height = |count: usize| -> u32 {
            let h = (count as u64 * u64::from(plot) + top as u64 / 2) / top as u64;
            // A group's few keys stay visible beside many.
            (h as u32).max(u32::from(count > 0))
        };
        let slot = (WIDTH - LEFT) / AGE_GROUPS.len() as u32;
        let mut bars = Vec::new();
        let mut summary = Vec::new();
        for (n, ((_, label), group)) in AGE_GROUPS.iter().zip(report.ages).enumerate() {
            let x = LEFT + n as u32 * slot + (slot - BAR) / 2;
            let mut y = BASELINE;
            let mut segments = Vec::new();
            for (standing, count) in Standing::ALL.into_iter().zip(group) {
                if count == 0 {
                    continue;
                }
                let h = height(count).min(y - TOP);
                y -= h;
                segments.push(Segment {
                    class: class(standing),
                    words: words(standing),
                    y,
                    height: h,
                    count,
                });
            }
            let total = group.iter().sum();
            summary.push(format!("{label} days: {total}"));
            bars.push(Bar {
                label,
                x,
                middle: x + BAR / 2,
                width: BAR,
                total,
                total_y: y.saturating_sub(4),
                segments,
            });
        }
        let legend = Standing::ALL
            .into_iter()
            .enumerate()
            .map(|(n, s)| {
                let count = report.ages.iter().map(|group| group[n]).sum();
                (class(s), words(s), count)
            })
            .collect();
        let mut ticks = vec![0, top];
        if top.is_multiple_of(2) {
            ticks.insert(1, top / 2);
        }
        let ticks = ticks
            .into_iter()
            .map(|t| (BASELINE - height(t).min(plot), t))
            .collect();
        AgeChart {
            bars,
            ticks,
            legend,
            summary: format!("Keys by age: {}.", summary.join("; ")),
            left: LEFT,
            right: WIDTH,
            baseline: BASELINE,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_axis_tops_out_at_a_round_number() {
        let tops: Vec<usize> = [1, 2, 3, 6, 11, 49, 51, 10_000]
            .into_iter()
            .map(axis_top)
            .collect();
        assert_eq!(tops, [1, 2, 5, 10, 20, 50, 100, 10_000]);
    }
}
