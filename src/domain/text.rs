//! Free text a person reads later — display names, notes, reasons — checked once, the same way
//! everywhere: bounded, and without characters that make text say something else than it
//! shows (control characters, bidirectional overrides and isolates, zero-width characters).

/// True for a character that changes how the text around it is displayed, or that cannot be
/// seen: bidirectional embeddings, overrides and isolates (U+202A–U+202E, U+2066–U+2069), the
/// directional marks (U+200E, U+200F, U+061C), and the zero-width characters (U+200B–U+200D,
/// U+2060, U+FEFF).
#[must_use]
pub fn is_deceptive(character: char) -> bool {
    matches!(
        character,
        '\u{202A}'..='\u{202E}'
            | '\u{2066}'..='\u{2069}'
            | '\u{200E}'
            | '\u{200F}'
            | '\u{061C}'
            | '\u{200B}'..='\u{200D}'
            | '\u{2060}'
            | '\u{FEFF}'
    )
}

/// Whether free text may hold line breaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lines {
    /// One line (a title, a name).
    One,
    /// Several lines (a note, a reason).
    Many,
}

/// Checks free text: at most `max_chars` characters (counted only up to the bound, so a huge
/// value costs no more than a short one), no control character (but `\n` where `lines` allows),
/// no non-character U+FFFE or U+FFFF (XML 1.0 cannot hold them), and nothing deceptive
/// ([`is_deceptive`]).
///
/// # Errors
/// A description of the first rule broken; it never repeats the text.
pub fn check_free_text(raw: &str, max_chars: usize, lines: Lines) -> Result<(), String> {
    if raw.len() > max_chars.saturating_mul(4) || raw.chars().nth(max_chars).is_some() {
        return Err(format!("must be at most {max_chars} characters"));
    }
    for character in raw.chars() {
        if character.is_control() && !(character == '\n' && lines == Lines::Many) {
            return Err(format!("must not contain control characters (found U+{:04X})", u32::from(character)));
        }
        if matches!(character, '\u{FFFE}' | '\u{FFFF}') {
            return Err(format!(
                "must not contain U+{:04X}: it is not a character (and no XML document, such as an e-invoice, may hold it)",
                u32::from(character)
            ));
        }
        if is_deceptive(character) {
            return Err(format!(
                "must not contain bidirectional or zero-width characters (found U+{:04X}): they make text show \
                 something else than it says",
                u32::from(character)
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_that_lies_is_refused_and_plain_text_passes() {
        assert!(check_free_text("Utrecht flexpool 2027", 200, Lines::One).is_ok());
        assert!(check_free_text("line one\nline two", 200, Lines::Many).is_ok());
        assert!(check_free_text("line one\nline two", 200, Lines::One).is_err());
        for sneaky in ['\u{202E}', '\u{2066}', '\u{2069}', '\u{200B}', '\u{200D}', '\u{FEFF}', '\u{200F}', '\0'] {
            let text = format!("pay{sneaky}ment");
            let refused = check_free_text(&text, 200, Lines::Many).unwrap_err();
            assert!(refused.contains("U+"), "{sneaky:?}: {refused}");
            assert!(!refused.contains("pay"), "the refusal does not echo the text");
        }
        assert!(check_free_text(&"x".repeat(201), 200, Lines::One).is_err());
        assert!(check_free_text("a\u{FFFE}", 200, Lines::One).is_err());
        assert!(check_free_text("a\u{FFFF}", 200, Lines::One).is_err());
        assert!(check_free_text(&"é".repeat(200), 200, Lines::One).is_ok());
    }
}
