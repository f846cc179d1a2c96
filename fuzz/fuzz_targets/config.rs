//! Search and training settings as TOML and JSON (`lossgp search --config`, `lossgp train
//! --config`): any text gives settings or an error, never a panic, and settings that read and
//! validate survive a write and a read unchanged.
#![no_main]

use libfuzzer_sys::fuzz_target;
use lossgp_core::search::SearchConfig;
use lossgp_core::train::TrainConfig;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    if let Ok(search) = toml::from_str::<SearchConfig>(text)
        && search.validate().is_ok()
    {
        let written = toml::to_string(&search).expect("valid settings write as TOML");
        let again: SearchConfig = toml::from_str(&written).unwrap_or_else(|e| panic!("{written}: {e}"));
        assert_eq!(again, search);
    }
    if let Ok(train) = serde_json::from_str::<TrainConfig>(text)
        && train.validate(true).is_ok()
    {
        let written = serde_json::to_string(&train).expect("valid settings write as JSON");
        let again: TrainConfig = serde_json::from_str(&written).unwrap_or_else(|e| panic!("{written}: {e}"));
        assert_eq!(again, train);
    }
});
