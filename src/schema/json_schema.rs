//! JSON Schema payloads: the bytes after the wire header are plain JSON, validated against
//! the record's schema before they become properties, so a payload that breaks its contract
//! is a bad record with the validator's reason instead of half-applied data. Pure.

use serde_json::Value as Json;

/// A compiled JSON Schema validator.
pub struct JsonSchema {
    validator: jsonschema::Validator,
}

impl std::fmt::Debug for JsonSchema {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JsonSchema").finish_non_exhaustive()
    }
}

impl JsonSchema {
    /// Compiles the schema text.
    ///
    /// # Errors
    /// When the text is not JSON or not a valid schema (including a `$ref` to something not
    /// inside it: remote references are not fetched).
    pub fn compile(text: &str) -> Result<Self, String> {
        let schema: Json = serde_json::from_str(text).map_err(|e| e.to_string())?;
        let validator = jsonschema::validator_for(&schema).map_err(|e| e.to_string())?;
        Ok(Self { validator })
    }

    /// Parses and validates the payload.
    ///
    /// # Errors
    /// When it is not JSON or does not satisfy the schema (the first violation, with where).
    pub fn decode(&self, bytes: &[u8]) -> Result<Json, String> {
        let json: Json = serde_json::from_slice(bytes).map_err(|e| format!("invalid JSON: {e}"))?;
        if let Err(e) = self.validator.validate(&json) {
            let at = e.instance_path().to_string();
            let at = if at.is_empty() { "/".to_owned() } else { at };
            return Err(format!("at {at}: {e}"));
        }
        Ok(json)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn valid_payloads_pass_and_violations_say_where() {
        let s = JsonSchema::compile(
            r#"{"type": "object", "properties": {"temp": {"type": "number"}}, "required": ["temp"]}"#,
        )
        .unwrap();
        assert_eq!(
            s.decode(br#"{"temp": 1.5}"#).unwrap(),
            serde_json::json!({"temp": 1.5})
        );
        let e = s.decode(br#"{"temp": "hot"}"#).unwrap_err();
        assert!(e.starts_with("at /temp:"), "{e}");
        assert!(s.decode(br#"{"x": 1}"#).unwrap_err().contains("temp"));
        assert!(s.decode(b"{").unwrap_err().starts_with("invalid JSON"));
        assert!(JsonSchema::compile("{").is_err());
    }
}
