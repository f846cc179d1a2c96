//! Settings chosen by a `kind` (`selection = { kind = "tournament", size = 3 }`, an optimiser,
//! a schedule) whose `kind` may be left out, like every other setting: a table without one
//! takes the default's kind, so `selection = { size = 3 }` changes only the tournament size of
//! the default double tournament. Such a setting's fields each have their own default too.
//!
//! Use it on a field: `#[serde(deserialize_with = "crate::kind::or_default")]`. The type keeps
//! its derived (strict) deserializer elsewhere.

use serde::de::{DeserializeOwned, Deserializer, Error};
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// Reads an internally tagged setting (tag `kind`), taking the kind of `T::default()` when the
/// table has none.
pub fn or_default<'de, D, T>(deserializer: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Default + Serialize + DeserializeOwned,
{
    let mut value = Value::deserialize(deserializer)?;
    if let Value::Object(table) = &mut value
        && !table.contains_key("kind")
        && let Some(kind) = serde_json::to_value(T::default()).map_err(D::Error::custom)?.get("kind")
    {
        table.insert("kind".into(), kind.clone());
    }
    serde_json::from_value(value).map_err(D::Error::custom)
}

#[cfg(test)]
mod tests {
    use serde::{Deserialize, Serialize};

    #[derive(Debug, PartialEq, Serialize, Deserialize)]
    #[serde(tag = "kind", rename_all = "lowercase")]
    enum Pick {
        Best,
        Tournament {
            #[serde(default = "four")]
            size: usize,
        },
    }

    fn four() -> usize {
        4
    }

    impl Default for Pick {
        fn default() -> Self {
            Pick::Tournament { size: four() }
        }
    }

    #[derive(Debug, PartialEq, Deserialize)]
    struct Holder {
        #[serde(deserialize_with = "super::or_default")]
        pick: Pick,
    }

    fn read(json: &str) -> Result<Pick, String> {
        serde_json::from_str::<Holder>(json).map(|h| h.pick).map_err(|e| e.to_string())
    }

    #[test]
    fn a_missing_kind_is_the_defaults_and_a_given_one_is_kept() {
        assert_eq!(read(r#"{"pick": {"size": 3}}"#), Ok(Pick::Tournament { size: 3 }));
        assert_eq!(read(r#"{"pick": {}}"#), Ok(Pick::Tournament { size: 4 }));
        assert_eq!(read(r#"{"pick": {"kind": "best"}}"#), Ok(Pick::Best));
        let err = read(r#"{"pick": {"kind": "worst"}}"#).unwrap_err();
        assert!(err.contains("unknown variant `worst`"), "{err}");
    }
}
