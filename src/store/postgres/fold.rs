//! `scimbox_fold` on PostgreSQL: the Unicode full case folding of `model::fold` (status C and
//! F of CaseFolding.txt, as the `unicase` crate applies it) as an SQL function, for filters on
//! values that have no stored folded column (SQLite registers the Rust function itself).
//!
//! PostgreSQL 15 has no case folding of its own (`lower` follows the locale and is not
//! folding), so `fold.sql` spells out every code point `model::fold` changes, by block of 256
//! code points, each block only when the text has a character in it: the ones that fold to
//! one code point through one `translate`, the ones that fold to several (`ß` to `ss`)
//! through `replace`. Each code point folds on its own and a folded text folds to itself, so
//! the order does not matter. ASCII-only text takes a short path.
//!
//! `fold.sql` is generated from `model::fold` by [`function_sql`]; a test fails when the two
//! drift apart (a new `unicase`), and `SCIMBOX_WRITE_FOLD_SQL=1` rewrites the file. Another
//! test runs the function on PostgreSQL over every code point.

/// The `CREATE FUNCTION` statement for `scimbox_fold`, from `model::fold` itself.
#[cfg(test)]
pub(crate) fn function_sql() -> String {
    use crate::model::fold::fold;
    use std::collections::BTreeMap;
    // Per block of 256 code points: (from, to) of one-to-one folds, and the longer folds.
    type Block = (String, String, Vec<(char, String)>);
    let mut blocks: BTreeMap<u32, Block> = BTreeMap::new();
    for c in (0x80..=0x10FFFFu32).filter_map(char::from_u32) {
        let one = c.to_string();
        let folded = fold(&one);
        if folded == one {
            continue;
        }
        let block = blocks.entry(u32::from(c) >> 8).or_default();
        let mut chars = folded.chars();
        match (chars.next(), chars.next()) {
            (Some(f), None) => {
                block.0.push(c);
                block.1.push(f);
            }
            _ => block.2.push((c, folded.into_owned())),
        }
    }
    let escape = |cp: u32| {
        if cp > 0xFFFF {
            format!("\\U{cp:08x}")
        } else {
            format!("\\u{cp:04x}")
        }
    };
    let mut body = String::new();
    for (block, (from, to, multi)) in &blocks {
        let (lo, hi) = (escape((block << 8).max(0x80)), escape((block << 8) | 0xFF));
        body.push_str(&format!("    IF s ~ '[{lo}-{hi}]' THEN\n"));
        for (c, f) in multi {
            body.push_str(&format!("        s := replace(s, '{c}', '{f}');\n"));
        }
        if !from.is_empty() {
            body.push_str(&format!("        s := translate(s, '{from}', '{to}');\n"));
        }
        body.push_str("    END IF;\n");
    }
    format!(
        "-- Generated from model::fold by store::postgres::fold::function_sql; do not edit.\n\
         CREATE FUNCTION scimbox_fold(s TEXT) RETURNS TEXT\n\
         LANGUAGE plpgsql IMMUTABLE STRICT PARALLEL SAFE AS $fold$\n\
         BEGIN\n\
         \x20   s := translate(s, 'ABCDEFGHIJKLMNOPQRSTUVWXYZ', 'abcdefghijklmnopqrstuvwxyz');\n\
         \x20   IF octet_length(s) = char_length(s) THEN\n\
         \x20       RETURN s;\n\
         \x20   END IF;\n\
         {body}\
         \x20   RETURN s;\n\
         END $fold$;\n"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_sql_function_is_generated_from_model_fold() {
        let want = function_sql();
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/src/store/postgres/fold.sql");
        if std::env::var_os("SCIMBOX_WRITE_FOLD_SQL").is_some() {
            std::fs::write(path, &want).unwrap();
        }
        assert!(
            include_str!("fold.sql") == want,
            "fold.sql differs from model::fold: rewrite it with SCIMBOX_WRITE_FOLD_SQL=1 \
             cargo test --lib the_sql_function_is_generated, and add a PostgreSQL step that \
             replaces the function"
        );
    }

    /// On PostgreSQL, `scimbox_fold` folds every code point as `model::fold` does (NUL aside:
    /// PostgreSQL text cannot hold it), ASCII and NULL included.
    #[test]
    fn the_sql_function_folds_every_code_point_as_model_fold() {
        use crate::model::fold::fold;
        use crate::store::sql::params;
        let Some(url) = crate::store::testing::fresh_postgres() else {
            return;
        };
        let store = crate::store::Store::open_target(
            &crate::store::target::Target::Postgres(url),
            &crate::store::StoreOptions::default(),
        )
        .unwrap();
        let chars: Vec<char> = (1..=0x10FFFFu32).filter_map(char::from_u32).collect();
        let mut texts: Vec<String> = chars.chunks(2000).map(|c| c.iter().collect()).collect();
        texts.extend(["Straße".into(), "ΟΔΥΣΣΕΥΣ".into(), "BJensen@X.io".into()]);
        let wrong = store
            .read_blocking(move |c| {
                let mut wrong = Vec::new();
                for t in texts {
                    let got: String =
                        c.query_row("SELECT scimbox_fold(?)", params![t], |r| r.get(0))?;
                    if got != fold(&t) {
                        wrong.extend(t.chars().filter(|ch| {
                            let one = ch.to_string();
                            c.query_row("SELECT scimbox_fold(?)", params![one], |r| {
                                r.get::<String>(0)
                            })
                            .is_ok_and(|g| g != fold(&one))
                        }));
                    }
                }
                let null: Option<String> =
                    c.query_row("SELECT scimbox_fold(CAST(NULL AS TEXT))", params![], |r| {
                        r.get(0)
                    })?;
                assert_eq!(null, None);
                Ok(wrong)
            })
            .unwrap();
        assert!(
            wrong.is_empty(),
            "folded otherwise on PostgreSQL: {wrong:?}"
        );
        store.close();
    }
}
