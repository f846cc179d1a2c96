//! Bilinear resizing as matrices, for backends whose framework has no differentiable bilinear
//! kernel (candle; burn's ndarray and CubeCL backends): resizing `[.., h, w]` to `[.., H, W]` is
//! `R · x · Cᵀ` with `R = bilinear_matrix(h, H)` and `C = bilinear_matrix(w, W)`, two matrix
//! products that every framework differentiates.

/// The `[to, from]` matrix (row-major) of linear interpolation from `from` to `to` samples with
/// half-pixel centres: PyTorch's `interpolate(mode="bilinear", align_corners=False)` along one
/// axis.
pub fn bilinear_matrix(from: usize, to: usize) -> Vec<f32> {
    let mut m = vec![0f32; to * from];
    if from == 0 {
        return m;
    }
    let scale = from as f64 / to as f64;
    for i in 0..to {
        let x = ((i as f64 + 0.5) * scale - 0.5).max(0.0);
        let lo = (x.floor() as usize).min(from - 1);
        let hi = (lo + 1).min(from - 1);
        let t = (x - lo as f64) as f32;
        m[i * from + lo] += 1.0 - t;
        m[i * from + hi] += t;
    }
    m
}

#[cfg(test)]
mod tests {
    use super::bilinear_matrix;

    #[test]
    fn the_same_size_is_the_identity() {
        assert_eq!(bilinear_matrix(3, 3), [1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0]);
    }

    #[test]
    fn doubling_matches_pytorch() {
        // torch.nn.functional.interpolate(torch.tensor([[[[0., 1.]]]]), size=(1, 4),
        // mode="bilinear", align_corners=False) gives [0, 0.25, 0.75, 1].
        let m = bilinear_matrix(2, 4);
        let resized: Vec<f32> = m.chunks(2).map(|row| row[1]).collect();
        assert_eq!(resized, [0.0, 0.25, 0.75, 1.0]);
        assert!(m.chunks(2).all(|row| (row.iter().sum::<f32>() - 1.0).abs() < 1e-6));
    }

    #[test]
    fn shrinking_averages_neighbours() {
        // From 4 to 2 samples: centres at 0.5 and 2.5, halfway between two inputs each.
        assert_eq!(bilinear_matrix(4, 2), [0.5, 0.5, 0.0, 0.0, 0.0, 0.0, 0.5, 0.5]);
    }
}
