//! What every plot of lossgp shares: the embedded font, PNG output, the colours of series
//! ([`palette`]) and legends beside the data ([`legend`]).

pub mod legend;
pub mod palette;

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, anyhow};
use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::FontStyle;

/// The font every label is drawn with, embedded so that no system font library is needed
/// (DejaVu Sans Mono; its licence is in `assets/`).
static FONT: &[u8] = include_bytes!("../../assets/DejaVuSansMono.ttf");

/// Registers the embedded font as `sans-serif` (once per process).
pub fn register_font() -> Result<()> {
    static ONCE: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    let ok = *ONCE.get_or_init(|| plotters::style::register_font("sans-serif", FontStyle::Normal, FONT).is_ok());
    if ok { Ok(()) } else { Err(anyhow!("the embedded font could not be loaded")) }
}

/// Writes `rgb` pixels (`width` x `height`, 3 bytes each) as a PNG file.
pub fn write_png(path: &Path, rgb: &[u8], (width, height): (u32, u32)) -> Result<()> {
    let file = std::io::BufWriter::new(std::fs::File::create(path)?);
    let mut encoder = png::Encoder::new(file, width, height);
    encoder.set_color(png::ColorType::Rgb);
    encoder.set_depth(png::BitDepth::Eight);
    encoder.write_header()?.write_image_data(rgb)?;
    Ok(())
}

/// A picture drawn by `draw` as SVG text.
pub fn svg<F>(size: (u32, u32), draw: F) -> Result<String>
where
    F: FnOnce(DrawingArea<SVGBackend<'_>, Shift>) -> Result<()>,
{
    register_font()?;
    let mut text = String::new();
    draw(SVGBackend::with_string(&mut text, size).into_drawing_area())?;
    Ok(text)
}

/// A picture drawn by `draw` into memory.
pub fn pixels<F>(size: (u32, u32), draw: F) -> Result<Pixels>
where
    F: FnOnce(DrawingArea<BitMapBackend<'_>, Shift>) -> Result<()>,
{
    register_font()?;
    let mut rgb = vec![0u8; (size.0 * size.1 * 3) as usize];
    draw(BitMapBackend::with_buffer(&mut rgb, size).into_drawing_area())?;
    Ok(Pixels { rgb, size })
}

/// Writes a picture as `STEM.svg` and `STEM.png` into `dir`; returns their paths.
pub fn save(dir: &Path, stem: &str, svg: &str, pixels: &Pixels) -> Result<[PathBuf; 2]> {
    let svg_path = dir.join(format!("{stem}.svg"));
    std::fs::write(&svg_path, svg).with_context(|| format!("writing {}", svg_path.display()))?;
    let png_path = dir.join(format!("{stem}.png"));
    write_png(&png_path, &pixels.rgb, pixels.size).with_context(|| format!("writing {}", png_path.display()))?;
    Ok([png_path, svg_path])
}

/// Pixels of a picture drawn into memory: `width * height * 3` bytes of RGB.
pub struct Pixels {
    pub rgb: Vec<u8>,
    pub size: (u32, u32),
}

#[cfg(test)]
impl Pixels {
    /// The colour at `(x, y)`.
    pub fn at(&self, x: u32, y: u32) -> RGBColor {
        let i = 3 * (y * self.size.0 + x) as usize;
        RGBColor(self.rgb[i], self.rgb[i + 1], self.rgb[i + 2])
    }

    /// Whether `colour` appears anywhere in the rectangle `[x0, x1) x [y0, y1)`.
    pub fn contains(&self, colour: RGBColor, (x0, y0): (u32, u32), (x1, y1): (u32, u32)) -> bool {
        (y0..y1.min(self.size.1)).any(|y| (x0..x1.min(self.size.0)).any(|x| self.at(x, y) == colour))
    }
}
