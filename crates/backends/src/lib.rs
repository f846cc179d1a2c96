//! Implementations of `lossgp-core`'s tensor backend on deep-learning frameworks (burn's CPU
//! backend by default; libtorch, wgpu and candle behind Cargo features), each registering
//! itself by name.
