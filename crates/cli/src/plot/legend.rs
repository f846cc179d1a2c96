//! Legends drawn beside the data, never over it: a column of swatches and names in an area of
//! their own. What a legend drew is returned, so that tests can check each swatch's colour
//! appears in the plot it explains.

use anyhow::{Result, anyhow};
use plotters::coord::Shift;
use plotters::prelude::*;

/// How a series is drawn, and so how its swatch looks.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Mark {
    /// A line.
    Line,
    /// A filled box: a bar, or a band.
    Bar,
}

/// One entry of a legend.
#[derive(Clone, Debug, PartialEq)]
pub struct Entry {
    pub label: String,
    pub colour: RGBColor,
    pub mark: Mark,
}

impl Entry {
    pub fn new(label: impl Into<String>, colour: RGBColor, mark: Mark) -> Entry {
        Entry { label: label.into(), colour, mark }
    }
}

/// Height of one entry, in pixels.
pub const ROW: i32 = 18;

/// Draws `entries` top-down into `area` from `top` pixels down, under an optional `title`.
pub fn draw<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    top: i32,
    title: Option<&str>,
    entries: &[Entry],
) -> Result<()>
where
    DB::ErrorType: 'static,
{
    let err = |e: DrawingAreaErrorKind<DB::ErrorType>| anyhow!("{e:?}");
    let font = ("sans-serif", 12).into_font();
    let mut y = top;
    if let Some(title) = title {
        area.draw_text(title, &("sans-serif", 14).into_font().color(&BLACK), (8, y)).map_err(err)?;
        y += ROW + 2;
    }
    for entry in entries {
        let middle = y + ROW / 2 - 2;
        match entry.mark {
            Mark::Line => {
                area.draw(&PathElement::new([(8, middle), (32, middle)], entry.colour.stroke_width(3))).map_err(err)?
            }
            Mark::Bar => {
                area.draw(&Rectangle::new([(10, middle - 6), (30, middle + 6)], entry.colour.filled())).map_err(err)?
            }
        }
        area.draw_text(&entry.label, &font.color(&BLACK), (40, y)).map_err(err)?;
        y += ROW;
    }
    Ok(())
}
