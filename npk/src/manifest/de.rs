//! Deserialization helpers.
//!
//! Validating types deserialize through a visitor so that their errors are raised inside the
//! YAML deserializer, which then attaches the line and the field path to them.

use serde::de::{self, Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use std::{
    collections::{BTreeMap, BTreeSet},
    fmt,
    marker::PhantomData,
};

/// Implement `Deserialize` (from a string, via `Self::new(&str) -> Result<Self, String>`) and
/// `Serialize` (as `Display`) for a validating string type.
macro_rules! string_type_serde {
    ($type:ty, $expecting:literal) => {
        impl<'de> serde::Deserialize<'de> for $type {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                struct V;
                impl serde::de::Visitor<'_> for V {
                    type Value = $type;
                    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                        f.write_str($expecting)
                    }
                    fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<$type, E> {
                        <$type>::new(v).map_err(E::custom)
                    }
                }
                d.deserialize_str(V)
            }
        }
        impl serde::Serialize for $type {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.collect_str(self)
            }
        }
    };
}
pub(crate) use string_type_serde;

/// A map that rejects a key given twice (YAML parsers keep the last one silently).
pub(crate) fn unique_map<'de, D, K, V>(d: D) -> Result<BTreeMap<K, V>, D::Error>
where
    D: Deserializer<'de>,
    K: Deserialize<'de> + Ord + fmt::Display,
    V: Deserialize<'de>,
{
    struct MapVisitor<K, V>(PhantomData<(K, V)>);
    impl<'de, K, V> Visitor<'de> for MapVisitor<K, V>
    where
        K: Deserialize<'de> + Ord + fmt::Display,
        V: Deserialize<'de>,
    {
        type Value = BTreeMap<K, V>;
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("a mapping")
        }
        fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
            let mut result = BTreeMap::new();
            while let Some(key) = map.next_key::<K>()? {
                if result.contains_key(&key) {
                    return Err(de::Error::custom(format!("duplicate entry `{key}`")));
                }
                let value = map.next_value()?;
                result.insert(key, value);
            }
            Ok(result)
        }
    }
    d.deserialize_map(MapVisitor(PhantomData))
}

/// `Option` of [`unique_map`].
pub(crate) fn unique_map_opt<'de, D, K, V>(d: D) -> Result<Option<BTreeMap<K, V>>, D::Error>
where
    D: Deserializer<'de>,
    K: Deserialize<'de> + Ord + fmt::Display,
    V: Deserialize<'de>,
{
    unique_map(d).map(Some)
}

/// A set given as a sequence that rejects an element given twice.
pub(crate) fn unique_set<'de, D, T>(d: D) -> Result<BTreeSet<T>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de> + Ord + fmt::Display,
{
    d.deserialize_seq(SetVisitor(PhantomData))
}

pub(crate) struct SetVisitor<T>(pub(crate) PhantomData<T>);

impl<'de, T> Visitor<'de> for SetVisitor<T>
where
    T: Deserialize<'de> + Ord + fmt::Display,
{
    type Value = BTreeSet<T>;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a sequence")
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        let mut result = BTreeSet::new();
        while let Some(element) = seq.next_element::<T>()? {
            if result.contains(&element) {
                return Err(de::Error::custom(format!("duplicate entry `{element}`")));
            }
            result.insert(element);
        }
        Ok(result)
    }
}
