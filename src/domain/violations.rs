//! Field violations, collected rather than returned one at a time, so a client learns every
//! problem of a request at once.

use serde::Serialize;

/// One problem with one field of a request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FieldViolation {
    /// Path of the field, in the API's snake_case naming, e.g. `contract.gemeente`.
    pub field: String,
    /// What is wrong and how to fix it.
    pub description: String,
}

/// An ordered collection of field violations.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Violations {
    items: Vec<FieldViolation>,
}

impl Violations {
    /// An empty collection.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// Records a violation of `field`.
    pub fn add(&mut self, field: impl Into<String>, description: impl Into<String>) {
        self.items.push(FieldViolation { field: field.into(), description: description.into() });
    }

    /// Keeps the value of a successful parse, or records its error against `field`.
    pub fn check<T>(&mut self, field: &str, parsed: Result<T, String>) -> Option<T> {
        match parsed {
            Ok(value) => Some(value),
            Err(description) => {
                self.add(field, description);
                None
            }
        }
    }

    /// Moves every violation of `other` into this collection, prefixing their fields with
    /// `prefix` and a dot.
    pub fn absorb(&mut self, prefix: &str, other: Violations) {
        for item in other.items {
            self.add(format!("{prefix}.{}", item.field), item.description);
        }
    }

    /// Moves every violation of `other` into this collection as it is.
    pub fn merge(&mut self, other: Violations) {
        self.items.extend(other.items);
    }

    /// Orders violations by the index of the repeated element they name (`entries[3].minutes`
    /// after `entries[1].kind`), keeping the order within one element; fields outside a
    /// repeated element come first.
    pub fn sort_by_element(&mut self) {
        fn index(field: &str) -> Option<usize> {
            let open = field.find('[')?;
            let close = field[open..].find(']')? + open;
            field[open + 1..close].parse().ok()
        }
        self.items.sort_by_key(|item| index(&item.field));
    }

    /// True when nothing was recorded.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    /// The violations, in the order they were recorded.
    #[must_use]
    pub fn items(&self) -> &[FieldViolation] {
        &self.items
    }

    /// `Ok(value)` when nothing was recorded, otherwise the collection.
    ///
    /// # Errors
    /// The collected violations, when there are any.
    pub fn into_result<T>(self, value: impl FnOnce() -> T) -> Result<T, Violations> {
        if self.is_empty() { Ok(value()) } else { Err(self) }
    }

    /// A collection holding a single violation.
    #[must_use]
    pub fn single(field: impl Into<String>, description: impl Into<String>) -> Self {
        let mut violations = Self::new();
        violations.add(field, description);
        violations
    }
}

impl std::fmt::Display for Violations {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut first = true;
        for item in &self.items {
            if !first {
                f.write_str("; ")?;
            }
            first = false;
            write!(f, "{}: {}", item.field, item.description)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn violations_sort_by_element_index_and_keep_their_order_within() {
        let mut violations = Violations::new();
        violations.add("entries[10].kind", "a");
        violations.add("entries[2].minutes", "b");
        violations.add("request_id", "c");
        violations.add("entries[2].kind", "d");
        violations.sort_by_element();
        let fields: Vec<&str> = violations.items().iter().map(|item| item.field.as_str()).collect();
        assert_eq!(fields, ["request_id", "entries[2].minutes", "entries[2].kind", "entries[10].kind"]);
    }
}
