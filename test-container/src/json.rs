//! A minimal JSON value and its compact encoder. Owns only output: the program never
//! parses JSON. Objects keep their insertion order so reports read the same every run.

use std::fmt::{self, Write};

/// A JSON value.
#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    Null,
    Bool(bool),
    Int(i64),
    UInt(u64),
    Str(String),
    Array(Vec<Value>),
    Object(Vec<(String, Value)>),
}

impl Value {
    /// An empty object, to be filled with [`Value::set`].
    pub fn object() -> Value {
        Value::Object(Vec::new())
    }

    /// Adds `key` to an object (no-op on other values); returns the object for chaining.
    pub fn set(mut self, key: &str, value: impl Into<Value>) -> Value {
        if let Value::Object(fields) = &mut self {
            fields.push((key.to_string(), value.into()));
        }
        self
    }

    /// Adds `key` to an object in place.
    pub fn insert(&mut self, key: &str, value: impl Into<Value>) {
        if let Value::Object(fields) = self {
            fields.push((key.to_string(), value.into()));
        }
    }
}

impl From<bool> for Value {
    fn from(v: bool) -> Value {
        Value::Bool(v)
    }
}

macro_rules! from_signed {
    ($($t:ty),*) => {$(
        impl From<$t> for Value {
            fn from(v: $t) -> Value {
                Value::Int(i64::from(v))
            }
        }
    )*};
}
macro_rules! from_unsigned {
    ($($t:ty),*) => {$(
        impl From<$t> for Value {
            fn from(v: $t) -> Value {
                Value::UInt(u64::from(v))
            }
        }
    )*};
}
from_signed!(i8, i16, i32, i64);
from_unsigned!(u8, u16, u32, u64);

impl From<usize> for Value {
    fn from(v: usize) -> Value {
        Value::UInt(v as u64)
    }
}

impl From<&str> for Value {
    fn from(v: &str) -> Value {
        Value::Str(v.to_string())
    }
}

impl From<String> for Value {
    fn from(v: String) -> Value {
        Value::Str(v)
    }
}

impl<T: Into<Value>> From<Option<T>> for Value {
    fn from(v: Option<T>) -> Value {
        v.map_or(Value::Null, Into::into)
    }
}

impl<T: Into<Value>> From<Vec<T>> for Value {
    fn from(v: Vec<T>) -> Value {
        Value::Array(v.into_iter().map(Into::into).collect())
    }
}

fn write_str(f: &mut fmt::Formatter<'_>, s: &str) -> fmt::Result {
    f.write_char('"')?;
    for c in s.chars() {
        match c {
            '"' => f.write_str("\\\"")?,
            '\\' => f.write_str("\\\\")?,
            '\n' => f.write_str("\\n")?,
            '\r' => f.write_str("\\r")?,
            '\t' => f.write_str("\\t")?,
            c if (c as u32) < 0x20 || c == '\u{7f}' => write!(f, "\\u{:04x}", c as u32)?,
            c => f.write_char(c)?,
        }
    }
    f.write_char('"')
}

impl fmt::Display for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Value::Null => f.write_str("null"),
            Value::Bool(b) => write!(f, "{b}"),
            Value::Int(i) => write!(f, "{i}"),
            Value::UInt(u) => write!(f, "{u}"),
            Value::Str(s) => write_str(f, s),
            Value::Array(items) => {
                f.write_char('[')?;
                for (i, item) in items.iter().enumerate() {
                    if i > 0 {
                        f.write_char(',')?;
                    }
                    write!(f, "{item}")?;
                }
                f.write_char(']')
            }
            Value::Object(fields) => {
                f.write_char('{')?;
                for (i, (key, value)) in fields.iter().enumerate() {
                    if i > 0 {
                        f.write_char(',')?;
                    }
                    write_str(f, key)?;
                    write!(f, ":{value}")?;
                }
                f.write_char('}')
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Value;

    #[test]
    fn encodes_nested_values_that_a_json_parser_reads_back() {
        let v = Value::object()
            .set("s", "quote \" back \\ nl \n tab \t bell \u{7} del \u{7f} é")
            .set("i", -5i32)
            .set("u", u64::MAX)
            .set("n", Option::<u32>::None)
            .set("b", true)
            .set("a", vec![1u8, 2])
            .set("o", Value::object().set("x", "y"));
        let text = v.to_string();
        let parsed: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(
            parsed["s"],
            "quote \" back \\ nl \n tab \t bell \u{7} del \u{7f} é"
        );
        assert_eq!(parsed["i"], -5);
        assert_eq!(parsed["u"], u64::MAX);
        assert!(parsed["n"].is_null());
        assert_eq!(parsed["b"], true);
        assert_eq!(parsed["a"], serde_json::json!([1, 2]));
        assert_eq!(parsed["o"]["x"], "y");
    }

    #[test]
    fn keeps_insertion_order() {
        let v = Value::object().set("z", 1u8).set("a", 2u8);
        assert_eq!(v.to_string(), r#"{"z":1,"a":2}"#);
    }
}
