//! One colour per series, the same in every plot lossgp draws (the search's progress, its
//! tasks, the transfer grids and the dashboard): cross entropy is always blue, NGL always
//! orange, label smoothing green, the found losses pinks and reds. Colours are the Tableau 10
//! palette, which stays distinct for readers with the common colour-vision deficiencies.

use plotters::style::RGBColor;

pub const BLUE: RGBColor = RGBColor(31, 119, 180);
pub const ORANGE: RGBColor = RGBColor(255, 127, 14);
pub const GREEN: RGBColor = RGBColor(44, 160, 44);
pub const RED: RGBColor = RGBColor(214, 39, 40);
pub const PURPLE: RGBColor = RGBColor(148, 103, 189);
pub const BROWN: RGBColor = RGBColor(140, 86, 75);
pub const PINK: RGBColor = RGBColor(227, 119, 194);
pub const GREY: RGBColor = RGBColor(127, 127, 127);
pub const OLIVE: RGBColor = RGBColor(188, 189, 34);
pub const CYAN: RGBColor = RGBColor(23, 190, 207);
/// The confirmed leader of a search: black, the strongest line.
pub const LEADER: RGBColor = RGBColor(0, 0, 0);

/// The search's best fitness per generation (on its own seed).
pub const BEST: RGBColor = RED;
/// The population's median fitness.
pub const MEDIAN: RGBColor = GREY;
/// Candidates per generation: trained (new), drawn again because known, drawn again because
/// screening rejected them.
pub const NEW: RGBColor = BLUE;
pub const KNOWN: RGBColor = RGBColor(174, 199, 232);
pub const SCREENED: RGBColor = RGBColor(255, 187, 120);

/// Found losses by rank (`best-1`, `run#1`, ...): after these, they repeat.
const FOUND: [RGBColor; 4] = [RED, PINK, BROWN, CYAN];
/// Other losses, by a hash of the name.
const OTHERS: [RGBColor; 4] = [CYAN, OLIVE, BROWN, PINK];

/// The colour of a loss or baseline by its name: `ce` blue, `ngl` orange, label smoothing
/// (`ls-tuned`, `ls-ce(0.1)`, ...) green, `poly1` purple, `focal` olive, found losses
/// (`best-K`, `RUN#K`) by their rank (and run), anything else by a hash of its name.
pub fn loss_colour(name: &str) -> RGBColor {
    let base = name.split(" (").next().unwrap_or(name).trim();
    if let Some(rank) = found_rank(base) {
        // Losses of different runs side by side (a transfer grid's `a#1`, `b#1`) differ.
        let run = base.rsplit_once('#').map_or(0, |(run, _)| hash(run));
        return FOUND[(rank.max(1) - 1 + run) % FOUND.len()];
    }
    match base {
        "ce" | "ce-l2" => BLUE,
        "ngl" => ORANGE,
        "poly1" => PURPLE,
        "focal" => OLIVE,
        "sce" => BROWN,
        b if b.starts_with("ls") => GREEN,
        b => OTHERS[hash(b) % OTHERS.len()],
    }
}

/// A hash of a name that is the same in every build (not the standard library's).
fn hash(text: &str) -> usize {
    text.bytes().fold(0usize, |h, c| h.wrapping_mul(31).wrapping_add(c as usize))
}

/// The rank of a found loss's name: `best-2` and `runs/mine#2` are 2.
fn found_rank(name: &str) -> Option<usize> {
    let digits = name.strip_prefix("best-").or_else(|| name.rsplit_once('#').map(|(_, k)| k))?;
    digits.parse().ok()
}

/// As `#rrggbb`, for web pages.
pub fn hex(colour: RGBColor) -> String {
    format!("#{:02x}{:02x}{:02x}", colour.0, colour.1, colour.2)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_loss_keeps_its_colour_in_every_plot() {
        assert_eq!(loss_colour("ce"), BLUE);
        assert_eq!(loss_colour("ce (0.8063 ± 0.0211, 3 seeds)"), BLUE);
        assert_eq!(loss_colour("ngl"), ORANGE);
        assert_eq!(loss_colour("ls-tuned"), GREEN);
        assert_eq!(loss_colour("ls-ce(0.7)"), GREEN);
        assert_ne!(loss_colour("best-1"), loss_colour("best-2"));
        assert_ne!(loss_colour("discovery#1"), loss_colour("discovery-one#1"), "two runs' best differ");
        // Found losses never take a baseline's colour.
        for k in 1..=8 {
            let c = loss_colour(&format!("best-{k}"));
            assert!(![BLUE, ORANGE, GREEN, PURPLE].contains(&c), "best-{k}");
        }
        assert_eq!(hex(ORANGE), "#ff7f0e");
    }
}
