//! Data augmentation and the conversion of images to normalised `f32` arrays.
//!
//! Every geometric step (resizing to the batch's size, mirroring, zoom, shift, padded random
//! crop) is an affine map, so they are composed into one and each output pixel is sampled
//! once, bilinearly for images and nearest for label maps. Where a transform looks outside the
//! image, [`Fill`] decides what it sees; label maps see [`IGNORE`] instead of a zero fill.

use rand::{Rng, RngExt};
use serde::{Deserialize, Serialize};

use super::image::{IGNORE, Image, LabelMap};

/// What pixels from outside the image look like.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Fill {
    /// Black (zero) pixels, and ignored labels: the padding of the standard CIFAR crop.
    #[default]
    Zero,
    /// The nearest edge pixel: Keras' `fill_mode="nearest"`, the default of its
    /// `ImageDataGenerator`.
    Nearest,
    /// The image mirrored at its edges.
    Reflect,
    /// The dataset's mean pixel (0 once normalised), and ignored labels: the padding of the
    /// segmentation recipes (DeepLab pads images with the mean and masks with 255).
    Mean,
}

/// Random augmentations, applied independently to each sample.
///
/// In JSON, e.g. `{"zoom": 0.2, "shift": 0.1, "horizontal_flip": true, "fill": "nearest"}`;
/// missing fields mean "off".
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Augment {
    /// Pad by this many pixels on each side, then crop back to size at a random offset.
    pub crop_padding: u32,
    /// Mirror left to right with probability 1/2.
    pub horizontal_flip: bool,
    /// Scale each axis by an independent factor in `[1 - zoom, 1 + zoom]` (Keras'
    /// `zoom_range`).
    pub zoom: f32,
    /// Translate by up to this fraction of the width and of the height (Keras'
    /// `width_shift_range` and `height_shift_range`).
    pub shift: f32,
    /// What the transforms see outside the image.
    pub fill: Fill,
    /// The segmentation recipes' scale-and-crop, instead of resizing to the output size:
    /// resize by a random factor in `[low, high]` (of the image's own size, e.g. `[0.5, 2.0]`),
    /// then take a random crop of the output size, where the resized image is smaller than the
    /// crop, placed at the top left with [`fill`](Self::fill) beyond it (as torchvision's
    /// reference scripts pad). Masks are always sampled at the nearest pixel. Only
    /// `horizontal_flip` combines with it; zoom, shift and `crop_padding` are left unused.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub scale: Option<[f32; 2]>,
    /// Inception's random-resized crop (torchvision's `RandomResizedCrop`): a crop of a random
    /// fraction of the image's area (`scale`) and aspect ratio (`ratio`, drawn log-uniformly),
    /// resized to the output size; after 10 draws that do not fit, the largest centred crop of
    /// an allowed ratio. Only `horizontal_flip` combines with it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub resized_crop: Option<ResizedCrop>,
    /// Resize the shorter side to this many pixels, then take the centred crop of the output
    /// size: ImageNet's evaluation transform (resize 256, centre crop 224); deterministic.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub resize_shorter: Option<u32>,
}

/// The settings of [`Augment::resized_crop`].
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ResizedCrop {
    /// The crop's area as a fraction of the image's, `[low, high]`.
    pub scale: [f32; 2],
    /// The crop's width over its height, `[low, high]`.
    pub ratio: [f32; 2],
}

impl Default for ResizedCrop {
    /// torchvision's: scale 0.08 to 1, ratio 3/4 to 4/3.
    fn default() -> Self {
        ResizedCrop { scale: [0.08, 1.0], ratio: [3.0 / 4.0, 4.0 / 3.0] }
    }
}

impl Augment {
    /// No augmentation.
    pub fn none() -> Augment {
        Augment::default()
    }

    /// The paper's augmentation (its Keras example): zoom 0.2, shift 0.1, horizontal flip, and
    /// Keras' default nearest fill.
    pub fn paper() -> Augment {
        Augment { zoom: 0.2, shift: 0.1, horizontal_flip: true, fill: Fill::Nearest, ..Augment::default() }
    }

    /// The standard CIFAR recipe: a random 32x32 crop of the image padded by 4, and a
    /// horizontal flip.
    pub fn cifar() -> Augment {
        Augment { crop_padding: 4, horizontal_flip: true, ..Augment::default() }
    }

    /// The segmentation recipe of torchvision's and mmsegmentation's reference scripts:
    /// random scale 0.5 to 2.0, a random crop of the output size padded with the mean (masks with
    /// the ignore label), and a horizontal flip.
    pub fn segmentation() -> Augment {
        Augment { horizontal_flip: true, fill: Fill::Mean, scale: Some([0.5, 2.0]), ..Augment::default() }
    }

    /// ImageNet's training recipe: the random-resized crop and a horizontal flip.
    pub fn imagenet() -> Augment {
        Augment { horizontal_flip: true, resized_crop: Some(ResizedCrop::default()), ..Augment::default() }
    }

    /// ImageNet's evaluation transform: resize the shorter side to `shorter` (256 for a 224
    /// crop), then the centred crop.
    pub fn centre_crop(shorter: u32) -> Augment {
        Augment { resize_shorter: Some(shorter), ..Augment::default() }
    }

    /// Whether every transform is off.
    pub fn is_identity(&self) -> bool {
        self.crop_padding == 0
            && !self.horizontal_flip
            && self.zoom == 0.0
            && self.shift == 0.0
            && self.scale.is_none()
            && self.resized_crop.is_none()
            && self.resize_shorter.is_none()
    }

    /// Checks the settings.
    pub fn validate(&self) -> Result<(), String> {
        if let Some([low, high]) = self.scale
            && !(low > 0.0 && low <= high && high.is_finite())
        {
            return Err(format!("augment scale [{low}, {high}]: give 0 < low <= high, e.g. [0.5, 2.0]"));
        }
        if let Some(ResizedCrop { scale: [s0, s1], ratio: [r0, r1] }) = self.resized_crop
            && !(s0 > 0.0 && s0 <= s1 && s1 <= 1.0 && r0 > 0.0 && r0 <= r1 && r1.is_finite())
        {
            return Err(format!(
                "augment resized_crop scale [{s0}, {s1}] ratio [{r0}, {r1}]: give 0 < scale low <= high <= 1 and 0 < \
                 ratio low <= high, e.g. scale [0.08, 1.0], ratio [0.75, 1.3333]"
            ));
        }
        if self.resize_shorter == Some(0) {
            return Err("augment resize_shorter must be at least 1 (e.g. 256)".into());
        }
        Ok(())
    }

    /// The map of a crop `(x0, y0, w, h)` of the input resized to the output, mirrored or not.
    fn crop_map(crop: (f32, f32, f32, f32), output: (u32, u32), flip: bool) -> Affine {
        let (x0, y0, w, h) = crop;
        let (out_w, out_h) = (output.0 as f32, output.1 as f32);
        let (sx, sy) = (w / out_w, h / out_h);
        // x_in = x0 + (X + 0.5) * sx - 0.5, with X = x, or out_w - 1 - x when mirrored.
        let (a, c) = if flip { (-sx, x0 + (out_w - 0.5) * sx - 0.5) } else { (sx, x0 + 0.5 * sx - 0.5) };
        Affine { a, c, e: sy, f: y0 + 0.5 * sy - 0.5 }
    }

    /// The random-resized crop's window, as torchvision draws it.
    fn draw_resized_crop<R: Rng + ?Sized>(rng: &mut R, crop: ResizedCrop, input: (u32, u32)) -> (f32, f32, f32, f32) {
        let (width, height) = (input.0 as f32, input.1 as f32);
        let area = width * height;
        let (log_low, log_high) = (crop.ratio[0].ln(), crop.ratio[1].ln());
        for _ in 0..10 {
            let target = area
                * if crop.scale[1] > crop.scale[0] {
                    rng.random_range(crop.scale[0]..=crop.scale[1])
                } else {
                    crop.scale[0]
                };
            let ratio = if log_high > log_low { rng.random_range(log_low..=log_high).exp() } else { crop.ratio[0] };
            let (w, h) = ((target * ratio).sqrt().round(), (target / ratio).sqrt().round());
            if w >= 1.0 && h >= 1.0 && w <= width && h <= height {
                let x0 = rng.random_range(0..=(width - w) as u32) as f32;
                let y0 = rng.random_range(0..=(height - h) as u32) as f32;
                return (x0, y0, w, h);
            }
        }
        // The fallback: the whole image, cut to the nearest allowed ratio, centred.
        let ratio = width / height;
        let (w, h) = if ratio < crop.ratio[0] {
            (width, (width / crop.ratio[0]).round())
        } else if ratio > crop.ratio[1] {
            ((height * crop.ratio[1]).round(), height)
        } else {
            (width, height)
        };
        (((width - w) / 2.0).floor(), ((height - h) / 2.0).floor(), w, h)
    }

    /// The scale-and-crop map of [`scale`](Self::scale).
    fn draw_scaled<R: Rng + ?Sized>(
        &self,
        rng: &mut R,
        [low, high]: [f32; 2],
        input: (u32, u32),
        output: (u32, u32),
    ) -> Affine {
        let (out_w, out_h) = (output.0 as f32, output.1 as f32);
        let s = if high > low { rng.random_range(low..=high) } else { low };
        let (scaled_w, scaled_h) = (input.0 as f32 * s, input.1 as f32 * s);
        // Whole-pixel crop offsets within the resized image.
        let mut offset =
            |scaled: f32, out: f32| if scaled > out { rng.random_range(0..=(scaled - out) as u32) as f32 } else { 0.0 };
        let (ox, oy) = (offset(scaled_w, out_w), offset(scaled_h, out_h));
        let flip = self.horizontal_flip && rng.random_bool(0.5);
        // x_in = (X + 0.5 + ox) / s - 0.5, with X = x, or out_w - 1 - x when mirrored.
        let (a, c) = if flip { (-1.0 / s, (out_w - 0.5 + ox) / s - 0.5) } else { (1.0 / s, (0.5 + ox) / s - 0.5) };
        Affine { a, c, e: 1.0 / s, f: (0.5 + oy) / s - 0.5 }
    }

    /// The source position, in input pixel coordinates, of each output pixel, for one draw of
    /// the random transforms.
    fn draw<R: Rng + ?Sized>(&self, rng: &mut R, input: (u32, u32), output: (u32, u32)) -> Affine {
        if let Some(range) = self.scale {
            return self.draw_scaled(rng, range, input, output);
        }
        if let Some(crop) = self.resized_crop {
            let window = Self::draw_resized_crop(rng, crop, input);
            let flip = self.horizontal_flip && rng.random_bool(0.5);
            return Self::crop_map(window, output, flip);
        }
        if let Some(shorter) = self.resize_shorter {
            // Resized by s, the centred window of the output's size is, in input pixels, this.
            let s = shorter as f32 / input.0.min(input.1) as f32;
            let (w, h) = (output.0 as f32 / s, output.1 as f32 / s);
            let window = ((input.0 as f32 - w) / 2.0, (input.1 as f32 - h) / 2.0, w, h);
            return Self::crop_map(window, output, false);
        }
        let (out_w, out_h) = (output.0 as f32, output.1 as f32);
        // Centred output coordinates X = x + 0.5 - W/2, then, in order: mirror, zoom, shift,
        // crop offset, and scaling to the input.
        let flip = if self.horizontal_flip && rng.random_bool(0.5) { -1.0 } else { 1.0 };
        let factor = |rng: &mut R| if self.zoom > 0.0 { 1.0 + rng.random_range(-self.zoom..=self.zoom) } else { 1.0 };
        let (zx, zy) = (factor(rng), factor(rng));
        let offset = |rng: &mut R, size: f32| {
            if self.shift > 0.0 { size * rng.random_range(-self.shift..=self.shift) } else { 0.0 }
        };
        let (mut tx, mut ty) = (offset(rng, out_w), offset(rng, out_h));
        if self.crop_padding > 0 {
            let p = self.crop_padding as i64;
            tx += rng.random_range(-p..=p) as f32;
            ty += rng.random_range(-p..=p) as f32;
        }
        let (sx, sy) = (input.0 as f32 / out_w, input.1 as f32 / out_h);
        // x_in = sx * (zx * flip * X + tx) + in_w/2 - 0.5, with X = x + 0.5 - out_w/2.
        let a = sx * zx * flip;
        let e = sy * zy;
        Affine {
            a,
            c: a * (0.5 - out_w / 2.0) + sx * tx + input.0 as f32 / 2.0 - 0.5,
            e,
            f: e * (0.5 - out_h / 2.0) + sy * ty + input.1 as f32 / 2.0 - 0.5,
        }
    }
}

/// `x_in = a*x + c`, `y_in = e*y + f`: the transforms here never rotate or shear.
#[derive(Clone, Copy, Debug)]
struct Affine {
    a: f32,
    c: f32,
    e: f32,
    f: f32,
}

/// The two pixels a bilinear sample at coordinate `s` mixes along one axis of `n` pixels, and
/// the weight of the second. A position within the image's extent (`-0.5..=extent-0.5`, where
/// `extent` is `n` unless the image was shrunk and lost a few edge pixels) uses the edge pixel
/// where a neighbour falls off, as any resize does; only positions beyond it see the fill.
fn neighbours(s: f32, n: i64, extent: f32, fill: Fill) -> ([Option<usize>; 2], f32) {
    let i0 = s.floor() as i64;
    let t = s - s.floor();
    if (-0.5..=extent - 0.5).contains(&s) {
        let clamp = |i: i64| Some(i.clamp(0, n - 1) as usize);
        ([clamp(i0), clamp(i0 + 1)], t)
    } else {
        ([wrap(i0, n, fill), wrap(i0 + 1, n, fill)], t)
    }
}

/// The pixel nearest to coordinate `s` along an axis of length `n`, by the same rule.
fn nearest(s: f32, n: i64, fill: Fill) -> Option<usize> {
    if (-0.5..=n as f32 - 0.5).contains(&s) {
        Some((s.round() as i64).clamp(0, n - 1) as usize)
    } else {
        wrap(s.round() as i64, n, fill)
    }
}

/// Maps a coordinate outside `0..n` back inside according to `fill`; `None` for a zero fill.
fn wrap(i: i64, n: i64, fill: Fill) -> Option<usize> {
    if (0..n).contains(&i) {
        return Some(i as usize);
    }
    match fill {
        Fill::Zero | Fill::Mean => None,
        Fill::Nearest => Some(i.clamp(0, n - 1) as usize),
        Fill::Reflect => {
            let period = 2 * n;
            let m = i.rem_euclid(period);
            Some(if m < n { m } else { period - 1 - m } as usize)
        }
    }
}

/// Averages `k × k` blocks: a cheap anti-aliasing step before a strong downscale, which
/// bilinear sampling alone would alias.
fn shrink(image: &Image, k: u32) -> Image {
    let (w, h, c) = (image.width() / k, image.height() / k, image.channels() as usize);
    let mut pixels = Vec::with_capacity(w as usize * h as usize * c);
    for y in 0..h {
        for x in 0..w {
            for ch in 0..c {
                let mut sum = 0u64;
                for dy in 0..k {
                    for dx in 0..k {
                        sum += u64::from(image.get(x * k + dx, y * k + dy, ch as u8));
                    }
                }
                let area = u64::from(k) * u64::from(k);
                pixels.push(((sum + area / 2) / area) as u8);
            }
        }
    }
    Image::new(w, h, c as u8, pixels).unwrap_or_else(|_| image.clone())
}

/// Turns samples into normalised `f32` CHW arrays of a fixed size: what the loader runs on
/// every sample.
#[derive(Clone, Debug)]
pub(crate) struct Pipeline {
    pub augment: Augment,
    pub width: u32,
    pub height: u32,
    pub channels: u8,
    /// `x * scale[c] + bias[c]` normalises a raw 0-255 value of channel `c`.
    pub scale: Vec<f32>,
    pub bias: Vec<f32>,
    /// The raw 0-255 mean of each input channel, for [`Fill::Mean`].
    pub raw_mean: Vec<f32>,
}

impl std::str::FromStr for Augment {
    type Err = String;

    /// A named recipe: `none`, `paper` or `cifar`.
    fn from_str(text: &str) -> Result<Augment, String> {
        match text {
            "none" => Ok(Augment::none()),
            "paper" => Ok(Augment::paper()),
            "cifar" => Ok(Augment::cifar()),
            "segmentation" => Ok(Augment::segmentation()),
            "imagenet" => Ok(Augment::imagenet()),
            _ => Err(format!(
                "`{text}` is not an augmentation recipe: use none, paper (zoom, shift, flip), cifar (pad-crop, flip) or \
                 segmentation (scale 0.5-2, crop padded with the mean, flip)"
            )),
        }
    }
}

impl Pipeline {
    pub fn new(augment: Augment, (width, height, channels): (u32, u32, u8), mean: &[f32], std: &[f32]) -> Pipeline {
        let scale: Vec<f32> = std.iter().map(|s| 1.0 / (255.0 * s)).collect();
        let bias = mean.iter().zip(std).map(|(m, s)| -m / s).collect();
        let raw_mean = mean.iter().map(|m| 255.0 * m).collect();
        Pipeline { augment, width, height, channels, scale, bias, raw_mean }
    }

    /// Writes `image`, transformed, into `out` (`channels × height × width`), and `mask`
    /// transformed the same way into `mask_out` (`height × width`).
    pub fn run<R: Rng + ?Sized>(
        &self,
        rng: &mut R,
        image: &Image,
        mask: Option<(&LabelMap, &mut [u8])>,
        out: &mut [f32],
    ) {
        let plane = (self.width * self.height) as usize;
        let same_size = image.width() == self.width && image.height() == self.height;
        if self.augment.is_identity() && same_size && mask.is_none() {
            self.copy_exact(image, out);
            return;
        }
        // Source positions are drawn in the original image's pixel coordinates, so that the
        // label map (read at full resolution) and the image stay aligned.
        let map = self.augment.draw(rng, (image.width(), image.height()), (self.width, self.height));
        // Anti-alias strong downscales by averaging k x k blocks first, then sample the shrunk
        // image at the same positions: original x is shrunk (x + 0.5)/k - 0.5.
        let cropping = self.augment.scale.is_some()
            || self.augment.resized_crop.is_some()
            || self.augment.resize_shorter.is_some();
        let k = if cropping {
            // The sampling step itself: a crop, not the whole image, is resized to the output.
            map.a.abs().min(map.e.abs()).floor().max(0.0) as u32
        } else {
            (image.width() / self.width).min(image.height() / self.height)
        };
        let (source, image_map) = if k >= 2 {
            let k_f = k as f32;
            let shrunk_map =
                Affine { a: map.a / k_f, c: (map.c + 0.5) / k_f - 0.5, e: map.e / k_f, f: (map.f + 0.5) / k_f - 0.5 };
            (std::borrow::Cow::Owned(shrink(image, k)), shrunk_map)
        } else {
            (std::borrow::Cow::Borrowed(image), map)
        };
        let fill = self.augment.fill;
        let (w, h) = (i64::from(source.width()), i64::from(source.height()));
        // The original image's extent in the sampled image's coordinates.
        let (extent_w, extent_h) = (image.width() as f32 / k.max(1) as f32, image.height() as f32 / k.max(1) as f32);
        let in_channels = source.channels();
        let mut value = [0f32; 3];
        for y in 0..self.height {
            let (rows, ty) = neighbours(image_map.e * y as f32 + image_map.f, h, extent_h, fill);
            for x in 0..self.width {
                let (cols, tx) = neighbours(image_map.a * x as f32 + image_map.c, w, extent_w, fill);
                for (ch, v) in value.iter_mut().enumerate().take(in_channels as usize) {
                    let outside = match fill {
                        Fill::Mean => self.raw_mean.get(ch).or(self.raw_mean.last()).copied().unwrap_or(0.0),
                        _ => 0.0,
                    };
                    let at = |r: Option<usize>, c: Option<usize>| match (r, c) {
                        (Some(r), Some(c)) => f32::from(source.get(c as u32, r as u32, ch as u8)),
                        _ => outside,
                    };
                    let top = at(rows[0], cols[0]) * (1.0 - tx) + at(rows[0], cols[1]) * tx;
                    let bottom = at(rows[1], cols[0]) * (1.0 - tx) + at(rows[1], cols[1]) * tx;
                    *v = top * (1.0 - ty) + bottom * ty;
                }
                let i = (y * self.width + x) as usize;
                self.store(&value[..in_channels as usize], out, i, plane);
            }
        }
        if let Some((labels, mask_out)) = mask {
            // Label maps are sampled at the nearest pixel, from the full-resolution map (which may
            // in principle have another resolution than the image).
            let scale_x = labels.width() as f32 / image.width() as f32;
            let scale_y = labels.height() as f32 / image.height() as f32;
            let (lw, lh) = (i64::from(labels.width()), i64::from(labels.height()));
            for y in 0..self.height {
                let row = nearest((map.e * y as f32 + map.f + 0.5) * scale_y - 0.5, lh, fill);
                for x in 0..self.width {
                    let col = nearest((map.a * x as f32 + map.c + 0.5) * scale_x - 0.5, lw, fill);
                    let label = match (col, row) {
                        (Some(c), Some(r)) => labels.get(c as u32, r as u32),
                        _ => IGNORE,
                    };
                    mask_out[(y * self.width + x) as usize] = label;
                }
            }
        }
    }

    /// The identity transform, without interpolation: pixel values arrive exactly.
    fn copy_exact(&self, image: &Image, out: &mut [f32]) {
        let plane = (self.width * self.height) as usize;
        let c = image.channels() as usize;
        let mut value = [0f32; 3];
        for (i, pixel) in image.pixels().chunks(c).enumerate() {
            for (v, &p) in value.iter_mut().zip(pixel) {
                *v = f32::from(p);
            }
            self.store(&value[..c], out, i, plane);
        }
    }

    /// Writes one pixel's input channels, converted to the output channels and normalised.
    fn store(&self, value: &[f32], out: &mut [f32], i: usize, plane: usize) {
        match (value.len(), self.channels) {
            (1, out_channels) => {
                for c in 0..out_channels as usize {
                    out[c * plane + i] = value[0] * self.scale[c] + self.bias[c];
                }
            }
            (_, 1) => {
                let grey = 0.299 * value[0] + 0.587 * value[1] + 0.114 * value[2];
                out[i] = grey * self.scale[0] + self.bias[0];
            }
            _ => {
                for c in 0..3 {
                    out[c * plane + i] = value[c] * self.scale[c] + self.bias[c];
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand_chacha::ChaCha8Rng;

    fn ramp(w: u32, h: u32) -> Image {
        Image::new(w, h, 1, (0..w * h).map(|i| (i % 251) as u8).collect()).unwrap()
    }

    fn run(pipeline: &Pipeline, image: &Image, seed: u64) -> Vec<f32> {
        let mut out = vec![0.0; (pipeline.channels as u32 * pipeline.width * pipeline.height) as usize];
        pipeline.run(&mut ChaCha8Rng::seed_from_u64(seed), image, None, &mut out);
        out
    }

    fn raw(augment: Augment, size: (u32, u32, u8)) -> Pipeline {
        Pipeline::new(augment, size, &vec![0.0; size.2 as usize], &vec![1.0 / 255.0; size.2 as usize])
    }

    #[test]
    fn identity_keeps_pixels_exactly() {
        let image = ramp(5, 4);
        let out = run(&raw(Augment::none(), (5, 4, 1)), &image, 0);
        assert_eq!(out, image.pixels().iter().map(|&p| f32::from(p)).collect::<Vec<_>>());
    }

    #[test]
    fn normalisation_uses_mean_and_std() {
        let image = Image::new(1, 1, 3, vec![0, 255, 51]).unwrap();
        let pipeline = Pipeline::new(Augment::none(), (1, 1, 3), &[0.5, 0.5, 0.2], &[0.25, 0.5, 0.1]);
        let out = run(&pipeline, &image, 0);
        assert!((out[0] + 2.0).abs() < 1e-6 && (out[1] - 1.0).abs() < 1e-6 && out[2].abs() < 1e-6, "{out:?}");
    }

    #[test]
    fn grey_and_rgb_convert() {
        let grey = Image::new(1, 1, 1, vec![100]).unwrap();
        assert_eq!(run(&raw(Augment::none(), (1, 1, 3)), &grey, 0), vec![100.0; 3]);
        let rgb = Image::new(1, 1, 3, vec![100, 100, 100]).unwrap();
        assert!((run(&raw(Augment::none(), (1, 1, 1)), &rgb, 0)[0] - 100.0).abs() < 1e-3);
    }

    #[test]
    fn a_flip_mirrors_exactly() {
        let image = ramp(6, 3);
        let flip = Augment { horizontal_flip: true, ..Augment::none() };
        let outputs: Vec<Vec<f32>> = (0..20).map(|seed| run(&raw(flip.clone(), (6, 3, 1)), &image, seed)).collect();
        let plain: Vec<f32> = image.pixels().iter().map(|&p| f32::from(p)).collect();
        let mirrored: Vec<f32> = plain.chunks(6).flat_map(|row| row.iter().rev().copied()).collect();
        assert!(outputs.iter().all(|o| *o == plain || *o == mirrored));
        assert!(outputs.contains(&plain) && outputs.contains(&mirrored));
    }

    #[test]
    fn padded_crops_shift_by_whole_pixels_with_zero_fill() {
        let image = Image::new(4, 4, 1, vec![200; 16]).unwrap();
        let crop = Augment { crop_padding: 2, ..Augment::none() };
        for seed in 0..20 {
            let out = run(&raw(crop.clone(), (4, 4, 1)), &image, seed);
            assert!(out.iter().all(|&v| v == 200.0 || v == 0.0), "{out:?}");
        }
        // The nearest fill repeats the edge instead.
        let nearest = Augment { crop_padding: 2, fill: Fill::Nearest, ..Augment::none() };
        assert!((0..20).all(|seed| run(&raw(nearest.clone(), (4, 4, 1)), &image, seed).iter().all(|&v| v == 200.0)));
    }

    #[test]
    fn resizing_preserves_a_constant_image_and_shrinks_smoothly() {
        let flat = Image::new(64, 48, 3, vec![77; 64 * 48 * 3]).unwrap();
        for size in [(16, 12, 3), (100, 80, 3), (7, 9, 3)] {
            assert!(run(&raw(Augment::none(), size), &flat, 0).iter().all(|&v| (v - 77.0).abs() < 1e-3), "{size:?}");
        }
        let checker =
            Image::new(64, 64, 1, (0..64 * 64).map(|i| if (i % 64 + i / 64) % 2 == 0 { 0 } else { 255 }).collect())
                .unwrap();
        let small = run(&raw(Augment::none(), (8, 8, 1)), &checker, 0);
        assert!(small.iter().all(|&v| (v - 127.5).abs() < 2.0), "aliasing: {small:?}");
    }

    #[test]
    fn masks_stay_aligned_through_a_strong_downscale() {
        // Columns 0-4 are class 1 and dark, 5-10 class 2 and bright; shrinking 11 to 3 columns
        // averages blocks of 3 (and drops the last column). Wherever the mask says class 2,
        // the image must be bright.
        let image = Image::new(11, 11, 1, (0..121).map(|i| if i % 11 < 5 { 0 } else { 240 }).collect()).unwrap();
        let labels = LabelMap::new(11, 11, (0..121).map(|i| if i % 11 < 5 { 1 } else { 2 }).collect()).unwrap();
        let pipeline = raw(Augment::none(), (3, 3, 1));
        let mut out = vec![0.0; 9];
        let mut mask = vec![0u8; 9];
        pipeline.run(&mut ChaCha8Rng::seed_from_u64(0), &image, Some((&labels, &mut mask)), &mut out);
        for i in 0..9 {
            let bright = out[i] > 120.0;
            assert_eq!(mask[i] == 2, bright, "pixel {i}: value {} but label {}", out[i], mask[i]);
        }
    }

    #[test]
    fn zoom_and_shift_move_content_within_their_ranges() {
        // A single bright column in the middle: a shift of at most 10% of 20 pixels moves it by
        // at most 2 pixels (plus interpolation spread).
        let mut pixels = vec![0u8; 20 * 20];
        (0..20).for_each(|y| pixels[y * 20 + 10] = 255);
        let image = Image::new(20, 20, 1, pixels).unwrap();
        let shift = Augment { shift: 0.1, ..Augment::none() };
        let mut moved = false;
        for seed in 0..30 {
            let out = run(&raw(shift.clone(), (20, 20, 1)), &image, seed);
            let row = &out[10 * 20..11 * 20];
            let peak = row.iter().enumerate().max_by(|a, b| a.1.total_cmp(b.1)).unwrap().0;
            assert!((7..=13).contains(&peak), "column moved to {peak}");
            moved |= peak != 10;
        }
        assert!(moved);
    }

    #[test]
    fn masks_follow_the_image_and_pad_with_ignore() {
        let image = ramp(4, 4);
        let labels = LabelMap::new(4, 4, (0..16).map(|i| (i % 4) as u8).collect()).unwrap();
        let augment = Augment { crop_padding: 1, horizontal_flip: true, ..Augment::none() };
        let pipeline = raw(augment, (4, 4, 1));
        for seed in 0..20 {
            let mut out = vec![0.0; 16];
            let mut mask = vec![0u8; 16];
            pipeline.run(&mut ChaCha8Rng::seed_from_u64(seed), &image, Some((&labels, &mut mask)), &mut out);
            for i in 0..16 {
                // Wherever the image shows an input pixel, the mask shows that pixel's label.
                if mask[i] == IGNORE {
                    assert_eq!(out[i], 0.0);
                } else {
                    assert_eq!(out[i] as u32 % 4, u32::from(mask[i]), "seed {seed}: {out:?} {mask:?}");
                }
            }
        }
    }

    /// A pipeline over 8x8 grey images and masks, normalising with mean 0.5 and sd 0.25.
    fn masked(augment: Augment, side: u32) -> Pipeline {
        Pipeline::new(augment, (side, side, 1), &[0.5], &[0.25])
    }

    fn run_masked(pipeline: &Pipeline, image: &Image, labels: &LabelMap, seed: u64) -> (Vec<f32>, Vec<u8>) {
        let plane = (pipeline.width * pipeline.height) as usize;
        let (mut out, mut mask) = (vec![0.0; plane], vec![0u8; plane]);
        pipeline.run(&mut ChaCha8Rng::seed_from_u64(seed), image, Some((labels, &mut mask)), &mut out);
        (out, mask)
    }

    #[test]
    fn segmentation_scale_and_crop_pads_with_the_mean_and_the_ignore_label() {
        let image = ramp(8, 8);
        let labels = LabelMap::new(8, 8, (0..64).map(|i| (i % 5) as u8).collect()).unwrap();
        // Half size: the 4x4 image sits at the top left of the 8x8 crop; the rest is the mean
        // (0 once normalised) and the ignore label.
        let half = masked(Augment { scale: Some([0.5, 0.5]), fill: Fill::Mean, ..Augment::default() }, 8);
        let (out, mask) = run_masked(&half, &image, &labels, 1);
        for y in 0..8 {
            for x in 0..8 {
                let i = y * 8 + x;
                if x < 4 && y < 4 {
                    assert_ne!(mask[i], IGNORE, "({x}, {y}) is inside");
                    // Nearest sampling: the label of one of the 2x2 source pixels.
                    let sources: Vec<u8> = [(0, 0), (1, 0), (0, 1), (1, 1)]
                        .iter()
                        .map(|(dx, dy)| labels.get(2 * x as u32 + dx, 2 * y as u32 + dy))
                        .collect();
                    assert!(sources.contains(&mask[i]), "({x}, {y}): {} not among {sources:?}", mask[i]);
                } else {
                    assert_eq!((mask[i], out[i]), (IGNORE, 0.0), "({x}, {y}) is padding");
                }
            }
        }
        // Double size: a 4x4 crop of the 16x16 enlargement, each source pixel covering 2
        // output pixels a side (the crop's edges may cut one), labels never blended.
        let double = masked(Augment { scale: Some([2.0, 2.0]), horizontal_flip: true, ..Augment::segmentation() }, 4);
        for seed in 0..50 {
            let (_, mask) = run_masked(&double, &image, &labels, seed);
            assert!(mask.iter().all(|&l| l < 5), "seed {seed}: {mask:?}");
            for line in 0..4 {
                let row: Vec<u8> = (0..4).map(|x| mask[line * 4 + x]).collect();
                let column: Vec<u8> = (0..4).map(|y| mask[y * 4 + line]).collect();
                for run in [row, column] {
                    // No pixel inside the crop differs from both its neighbours.
                    assert!((1..3).all(|i| run[i] == run[i - 1] || run[i] == run[i + 1]), "seed {seed}: {run:?}");
                }
            }
        }
        assert!("segmentation".parse::<Augment>().unwrap().scale.is_some());
        assert!("imagenet".parse::<Augment>().unwrap().resized_crop.is_some());
        assert!(Augment { scale: Some([2.0, 0.5]), ..Augment::default() }.validate().is_err());
    }

    #[test]
    fn imagenet_crops_stay_inside_the_image_and_evaluation_takes_the_centre() {
        // An all-bright image: a zero fill anywhere in the output would show.
        let bright = Image::new(40, 30, 1, vec![200; 1200]).unwrap();
        let train = masked(Augment::imagenet(), 8);
        for seed in 0..200 {
            let out = run(&train, &bright, seed);
            let expected = 200.0 * train.scale[0] + train.bias[0];
            assert!(out.iter().all(|v| (v - expected).abs() < 1e-4), "seed {seed}: a crop left the image");
        }
        // Resize the shorter side 6 -> 6 (s = 1), the centred 4x4 of an 8x6 image: columns 2-5,
        // rows 1-4, sampled exactly.
        let ramp = Image::new(8, 6, 1, (0..48).map(|i| (i % 8 * 10 + i / 8) as u8).collect()).unwrap();
        let centre = masked(Augment::centre_crop(6), 4);
        let out = run(&centre, &ramp, 0);
        let raw: Vec<f32> = out.iter().map(|v| ((v - centre.bias[0]) / centre.scale[0]).round()).collect();
        let expected: Vec<f32> = (1..5).flat_map(|y| (2..6).map(move |x| (x * 10 + y) as f32)).collect();
        assert_eq!(raw, expected);
        let bad =
            Augment { resized_crop: Some(ResizedCrop { scale: [0.5, 2.0], ratio: [0.75, 1.33] }), ..Augment::none() };
        assert!(bad.validate().is_err());
    }
}
