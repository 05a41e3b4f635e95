//! Unicode case folding for attributes with `caseExact: false` (RFC 7643 §2.2).
//!
//! Both filter engines and the stored folded columns use this one function, so "equal ignoring
//! case" means the same thing in SQL, in memory and for `userName` uniqueness.
//!
//! It is full case folding (Unicode CaseFolding.txt, status C and F; the Unicode Standard
//! §3.13 "default caseless matching"): `ß` and `ss`, `Σ`, `σ` and `ς`, `K` and the Kelvin sign
//! all fold alike. It is not locale-tailored (the Turkish dotless `ı` stays distinct from `i`,
//! and `İ` folds to `i` followed by a combining dot), and it does not normalize (a precomposed
//! `é` and `e` + combining acute stay different), as the default algorithm specifies.

use std::borrow::Cow;

/// The folded form of `s`: equal folded forms mean equal ignoring case. Borrows when folding
/// changes nothing (the common ASCII lowercase case).
pub fn fold(s: &str) -> Cow<'_, str> {
    if s.bytes().all(|b| b.is_ascii() && !b.is_ascii_uppercase()) {
        return Cow::Borrowed(s);
    }
    Cow::Owned(unicase::UniCase::unicode(s).to_folded_case())
}

/// `fold` when the attribute is not `caseExact`, else the text unchanged.
pub fn fold_if(s: &str, case_exact: bool) -> Cow<'_, str> {
    if case_exact {
        Cow::Borrowed(s)
    } else {
        fold(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn folds_the_cases_lowercasing_misses() {
        assert_eq!(fold("ÉMILE@C.COM"), "émile@c.com");
        assert_eq!(fold("Straße"), "strasse");
        assert_eq!(fold("STRASSE"), "strasse");
        assert_eq!(fold("ẞ"), "ss");
        // Final and medial sigma fold alike.
        assert_eq!(fold("ΟΔΥΣΣΕΥΣ"), fold("οδυσσευς"));
        assert_eq!(fold("\u{212A}elvin"), "kelvin");
        // Default folding is not Turkish: dotless ı stays, İ keeps its dot as a mark.
        assert_eq!(fold("ı"), "ı");
        assert_eq!(fold("I"), "i");
        assert_eq!(fold("İ"), "i\u{307}");
        // No normalization: precomposed and decomposed é differ.
        assert_ne!(fold("é"), fold("e\u{301}"));
    }

    #[test]
    fn ascii_lowercase_is_borrowed() {
        assert!(matches!(fold("bjensen@example.com"), Cow::Borrowed(_)));
        assert!(matches!(fold("BJensen"), Cow::Owned(_)));
        assert_eq!(fold_if("ABC", true), "ABC");
        assert_eq!(fold_if("ABC", false), "abc");
    }
}
