//! Records as the application hands them in and the metadata the broker hands back.

/// A record header: a string key and optional bytes value. Keys need not be unique.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Header {
    pub key: String,
    pub value: Option<Vec<u8>>,
}

impl Header {
    /// A header with a value.
    pub fn new(key: impl Into<String>, value: impl Into<Vec<u8>>) -> Self {
        Header { key: key.into(), value: Some(value.into()) }
    }
}
