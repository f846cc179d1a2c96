//! The lossgp model zoo (Inception, ResNet, segmentation heads), written once against
//! `lossgp-core`'s traits so that every model runs on every backend.
