//! The lossgp model zoo, written once against `lossgp-core`'s [`Backend`] so that every model
//! runs on every backend. Each model registers itself by name ([`ModelEntry`]); the command
//! line and the search build them with [`lossgp_core::model::build_model`].
//!
//! | name        | what                                                     |
//! |-------------|----------------------------------------------------------|
//! | `small-cnn` | two conv blocks and two linear layers ([`SmallCnn`])     |
//!
//! [`Backend`]: lossgp_core::backend::Backend

pub mod layers;
mod small_cnn;

pub use small_cnn::SmallCnn;

use lossgp_core::backend::inventory;
use lossgp_core::model::ModelEntry;

/// Makes sure a program that names no item of this crate still links its registrations (see
/// `lossgp_backends::link`).
#[inline(never)]
pub fn link() {}

inventory::submit! {
    ModelEntry {
        name: "small-cnn",
        description: "2 conv blocks (32, 64 channels, batch norm, max pool) + 2 linear layers; quick screening",
        build: |b, spec| Ok(Box::new(SmallCnn::new(b, spec)?)),
    }
}

#[cfg(test)]
mod tests {
    use lossgp_backends::burn::BurnBackend;
    use lossgp_core::backend::{Backend, DynBackend, Params};
    use lossgp_core::model::{Model, ModelSpec, build_model, models};

    use super::*;

    fn spec() -> ModelSpec {
        ModelSpec { input: [1, 12, 12], classes: 3, seed: 7 }
    }

    #[test]
    fn small_cnn_has_pytorch_names_and_shapes() {
        let b = BurnBackend::flex();
        let model = SmallCnn::new(&b, &spec()).unwrap();
        let p = model.params();
        let listed: Vec<(String, Vec<usize>)> =
            p.ids().map(|id| (p.name(id).to_owned(), p.shape(id).to_vec())).collect();
        let expect = |name: &str, shape: &[usize]| {
            assert!(listed.contains(&(name.to_owned(), shape.to_vec())), "{name} {shape:?} missing from {listed:?}")
        };
        expect("conv1.weight", &[32, 1, 3, 3]);
        expect("bn1.running_var", &[32]);
        expect("conv2.weight", &[64, 32, 3, 3]);
        expect("fc1.weight", &[128, 64 * 3 * 3]);
        expect("fc2.bias", &[3]);
        // conv 288 + bn 64 + conv 18432 + bn 128 + fc1 73728+128 + fc2 384+3
        assert_eq!(p.count(), 288 + 64 + 18432 + 128 + 73728 + 128 + 384 + 3);
    }

    #[test]
    fn the_same_seed_gives_the_same_network() {
        let b = BurnBackend::flex();
        let values = |seed| {
            let m = SmallCnn::new(&b, &ModelSpec { seed, ..spec() }).unwrap();
            let id = m.params().ids().next().unwrap();
            b.to_vec(m.params().get(id)).unwrap()
        };
        assert_eq!(values(1), values(1));
        assert_ne!(values(1), values(2));
    }

    #[test]
    fn batch_norm_updates_running_statistics_only_in_training() {
        let b = BurnBackend::flex();
        let mut model = SmallCnn::new(&b, &spec()).unwrap();
        let x = b.tensor(&(0..288).map(|i| (i % 17) as f32 / 4.0).collect::<Vec<_>>(), &[2, 1, 12, 12]).unwrap();
        let running = |m: &SmallCnn<BurnBackend>| {
            let p = m.params();
            let id = p.ids().find(|&id| p.name(id) == "bn1.running_mean").unwrap();
            b.to_vec(p.get(id)).unwrap()
        };
        let before = running(&model);
        let logits = model.forward(&b, &x, false).unwrap();
        assert_eq!(b.shape(&logits), [2, 3]);
        assert_eq!(running(&model), before, "inference must not touch the running statistics");
        model.forward(&b, &x, true).unwrap();
        assert_ne!(running(&model), before, "training updates them");
    }

    #[test]
    fn a_checkpoint_round_trips() {
        let b = BurnBackend::flex();
        let dir = std::env::temp_dir().join(format!("lossgp-models-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("small-cnn.safetensors");
        let a = SmallCnn::new(&b, &spec()).unwrap();
        a.params().save(&b, &path).unwrap();
        let mut c = SmallCnn::new(&b, &ModelSpec { seed: 99, ..spec() }).unwrap();
        c.params_mut().load(&b, &path).unwrap();
        let all = |p: &Params<BurnBackend>| p.ids().map(|id| b.to_vec(p.get(id)).unwrap()).collect::<Vec<_>>();
        assert_eq!(all(a.params()), all(c.params()));
        std::fs::remove_dir_all(&dir).ok();
    }

    #[test]
    fn the_zoo_builds_by_name_and_refuses_unknown_names() {
        lossgp_backends::link();
        assert!(models().iter().any(|m| m.name == "small-cnn"));
        let b = DynBackend::new(BurnBackend::flex());
        let model = build_model("small-cnn", &b, &spec()).unwrap();
        assert!(model.describe().starts_with("small-cnn (1x12x12 -> 3 classes"), "{}", model.describe());
        let err = build_model("big-cnn", &b, &spec()).err().unwrap().to_string();
        assert!(err.contains("small-cnn"), "{err}");
        let err = SmallCnn::new(&b, &ModelSpec { input: [1, 2, 2], ..spec() }).err().unwrap().to_string();
        assert!(err.contains("4x4"), "{err}");
    }
}
