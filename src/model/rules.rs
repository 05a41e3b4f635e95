//! Role rules for Teams the IdP pushes: how a rule matches a Team's displayName (exact,
//! prefix or a glob pattern, all case-insensitive like displayName itself), and whether two
//! rules could match the same name (they may not: one Team, one template).
//!
//! A pattern knows `*` (any run of characters, also none) and `?` (one character); every
//! other character stands for itself. Character classes (`[...]`) and `\` escapes are refused
//! rather than silently taken literally, so a pattern never means something else than it
//! seems to.

/// How a rule matches.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Exact,
    Prefix,
    Pattern,
}

impl Kind {
    pub fn parse(s: &str) -> Option<Kind> {
        match s.to_ascii_lowercase().as_str() {
            "exact" => Some(Kind::Exact),
            "prefix" => Some(Kind::Prefix),
            "pattern" => Some(Kind::Pattern),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Exact => "exact",
            Kind::Prefix => "prefix",
            Kind::Pattern => "pattern",
        }
    }
}

/// The longest value a rule may have (displayNames are not longer in practice).
pub const MAX_VALUE: usize = 256;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Tok {
    Char(char),
    One,
    Any,
}

/// A rule's matcher, compiled from its kind and value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Matcher {
    toks: Vec<Tok>,
}

impl Matcher {
    /// Compiles a rule, or says what is wrong with its value (naming it).
    pub fn new(kind: Kind, value: &str) -> Result<Matcher, String> {
        if value.trim().is_empty() {
            return Err(format!("the {} rule's value is empty", kind.as_str()));
        }
        if value.chars().count() > MAX_VALUE {
            return Err(format!("the rule's value is over {MAX_VALUE} characters"));
        }
        if value.chars().any(char::is_control) {
            return Err(format!("{value:?} has a control character"));
        }
        let lower = |c: char| c.to_lowercase().next().unwrap_or(c);
        let mut toks: Vec<Tok> = Vec::new();
        match kind {
            Kind::Exact | Kind::Prefix => {
                toks.extend(value.chars().map(|c| Tok::Char(lower(c))));
                if kind == Kind::Prefix {
                    toks.push(Tok::Any);
                }
            }
            Kind::Pattern => {
                for c in value.chars() {
                    match c {
                        '*' if toks.last() == Some(&Tok::Any) => {}
                        '*' => toks.push(Tok::Any),
                        '?' => toks.push(Tok::One),
                        '[' | ']' | '\\' => {
                            return Err(format!(
                                "pattern {value:?}: {c:?} is not supported (a pattern knows * \
                                 and ? only)"
                            ));
                        }
                        c => toks.push(Tok::Char(lower(c))),
                    }
                }
                if toks.iter().all(|t| *t == Tok::Any) {
                    return Err(format!(
                        "pattern {value:?} matches every Team; name some of the displayName"
                    ));
                }
            }
        }
        Ok(Matcher { toks })
    }

    /// Whether a displayName matches (case-insensitively).
    pub fn matches(&self, name: &str) -> bool {
        let name: Vec<char> = name
            .chars()
            .map(|c| c.to_lowercase().next().unwrap_or(c))
            .collect();
        let other = Matcher {
            toks: name.into_iter().map(Tok::Char).collect(),
        };
        self.overlaps(&other)
    }

    /// Whether some displayName matches both. Decided exactly over the two token lists (a
    /// memoized walk of both at once), so `team-*` and `*-admins` overlap but `a-*` and
    /// `b-*` do not.
    pub fn overlaps(&self, other: &Matcher) -> bool {
        let (a, b) = (&self.toks, &other.toks);
        let mut memo = vec![None; (a.len() + 1) * (b.len() + 1)];
        walk(a, b, 0, 0, &mut memo)
    }
}

fn walk(a: &[Tok], b: &[Tok], i: usize, j: usize, memo: &mut [Option<bool>]) -> bool {
    let key = i * (b.len() + 1) + j;
    if let Some(v) = memo[key] {
        return v;
    }
    let v = match (a.get(i), b.get(j)) {
        (None, None) => true,
        (Some(Tok::Any), _) | (_, Some(Tok::Any)) => {
            let a_any = a.get(i) == Some(&Tok::Any);
            let b_any = b.get(j) == Some(&Tok::Any);
            (a_any && walk(a, b, i + 1, j, memo))
                || (b_any && walk(a, b, i, j + 1, memo))
                // a's star takes one character of b's (or b's takes one of a's).
                || (a_any && j < b.len() && walk(a, b, i, j + 1, memo))
                || (b_any && i < a.len() && walk(a, b, i + 1, j, memo))
        }
        (Some(x), Some(y)) => {
            let fits = match (x, y) {
                (Tok::Char(p), Tok::Char(q)) => p == q,
                _ => true,
            };
            fits && walk(a, b, i + 1, j + 1, memo)
        }
        _ => false,
    };
    memo[key] = Some(v);
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(kind: Kind, v: &str) -> Matcher {
        Matcher::new(kind, v).unwrap()
    }

    #[test]
    fn each_kind_matches_what_it_says() {
        assert!(m(Kind::Exact, "astro-prod-admins").matches("Astro-Prod-Admins"));
        assert!(!m(Kind::Exact, "astro-prod-admins").matches("astro-prod-admins2"));
        assert!(m(Kind::Prefix, "astro-prod-").matches("astro-prod-admins"));
        assert!(!m(Kind::Prefix, "astro-prod-").matches("astro-dev-admins"));
        let p = m(Kind::Pattern, "astro-*-admins");
        assert!(p.matches("astro-prod-admins"));
        assert!(p.matches("astro--admins"));
        assert!(!p.matches("astro-prod-viewers"));
        assert!(m(Kind::Pattern, "team-?").matches("team-7"));
        assert!(!m(Kind::Pattern, "team-?").matches("team-77"));
    }

    #[test]
    fn overlaps_are_found_exactly() {
        let cases = [
            ((Kind::Exact, "a"), (Kind::Exact, "A"), true),
            ((Kind::Exact, "a"), (Kind::Exact, "b"), false),
            ((Kind::Prefix, "astro-"), (Kind::Exact, "astro-x"), true),
            (
                (Kind::Prefix, "astro-"),
                (Kind::Prefix, "astro-prod-"),
                true,
            ),
            ((Kind::Prefix, "a-"), (Kind::Prefix, "b-"), false),
            ((Kind::Pattern, "team-*"), (Kind::Pattern, "*-admins"), true),
            ((Kind::Pattern, "a-*-x"), (Kind::Pattern, "b-*"), false),
            ((Kind::Pattern, "?-x"), (Kind::Exact, "ab-x"), false),
            ((Kind::Pattern, "*prod*"), (Kind::Prefix, "dev-"), true),
        ];
        for ((k1, v1), (k2, v2), want) in cases {
            let (a, b) = (m(k1, v1), m(k2, v2));
            assert_eq!(a.overlaps(&b), want, "{v1} vs {v2}");
            assert_eq!(b.overlaps(&a), want, "{v2} vs {v1}");
        }
    }

    #[test]
    fn bad_values_are_refused_naming_them() {
        for (kind, v) in [
            (Kind::Pattern, "team-[ab]"),
            (Kind::Pattern, "**"),
            (Kind::Pattern, "a\\*"),
            (Kind::Exact, "  "),
            (Kind::Prefix, "a\u{7}"),
        ] {
            assert!(Matcher::new(kind, v).is_err(), "{v:?}");
        }
        let e = Matcher::new(Kind::Pattern, "x[1]").unwrap_err();
        assert!(e.contains("x[1]"), "{e}");
    }
}
