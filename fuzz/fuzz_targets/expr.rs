//! A loss as text (`lossgp loss show`, `--loss`, configs): parsing, and every export and key of
//! what parses, must never panic, and the text must parse back to the same loss.
#![no_main]

use libfuzzer_sys::fuzz_target;
use lossgp_core::Loss;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    if text.len() > 2048 {
        return;
    }
    let Ok(loss) = text.parse::<Loss>() else { return };
    let printed = loss.to_string();
    let again: Loss = printed.parse().unwrap_or_else(|e| panic!("`{printed}` does not parse back: {e}"));
    assert_eq!(again.key(), loss.key(), "`{text}` and its printed form `{printed}` differ");
    let _ = loss.to_latex();
    let _ = loss.to_pytorch("f");
    let _ = loss.training_key();
    let _ = loss.simplify();
});
