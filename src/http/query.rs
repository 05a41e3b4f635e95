//! Query strings and path segments: `+` is a space in a query (Entra sends `filter=a+eq+%22b%22`)
//! and percent-encoding is decoded exactly once.

/// Decodes `%XX` escapes once; `plus_is_space` for query components. Invalid escapes are kept
/// as written, and invalid UTF-8 becomes U+FFFD, so decoding never fails.
pub fn decode(s: &str, plus_is_space: bool) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' if plus_is_space => out.push(b' '),
            b'%' if i + 2 < bytes.len() => match (hex(bytes[i + 1]), hex(bytes[i + 2])) {
                (Some(h), Some(l)) => {
                    out.push(h << 4 | l);
                    i += 2;
                }
                _ => out.push(b'%'),
            },
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn hex(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

/// Splits and decodes a query string into (name, value) pairs, in order.
pub fn parse(query: &str) -> Vec<(String, String)> {
    query
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|pair| match pair.split_once('=') {
            Some((k, v)) => (decode(k, true), decode(v, true)),
            None => (decode(pair, true), String::new()),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_plus_and_percent_once() {
        assert_eq!(
            parse("filter=externalId+eq+%22johnwong%22&count=1&aadOptscim062020"),
            vec![
                ("filter".into(), "externalId eq \"johnwong\"".into()),
                ("count".into(), "1".into()),
                ("aadOptscim062020".into(), "".into()),
            ]
        );
        assert_eq!(decode("a%2540b", true), "a%40b");
        assert_eq!(decode("100%", true), "100%");
        assert_eq!(decode("%zz%4", true), "%zz%4");
        assert_eq!(decode("a+b", false), "a+b");
        assert_eq!(decode("%C3%A9", true), "é");
        assert_eq!(decode("%FF", true), "\u{FFFD}");
    }
}
