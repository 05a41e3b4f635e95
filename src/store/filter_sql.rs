//! Compiles a SCIM filter AST (RFC 7644 §3.4.2.2) to a parameterized SQL condition, and
//! `sortBy` (RFC 7644 §3.4.2.3) to an ORDER BY expression, in the dialect of either engine
//! (the `_on` functions take it; the others are SQLite's). PostgreSQL's text means the same
//! (see `Dialect`); SQLite's is written exactly as before PostgreSQL, for its plans.
//!
//! Every value is a bound parameter. Column names and JSON paths come only from the fixed mapping
//! below, keyed by catalogue entries, so client text never reaches the SQL text.
//!
//! The output is a condition over the alias `u` (users) or `t` (teams). The caller writes
//! `SELECT ... FROM users u WHERE u.org_pk = ? AND (<sql>)` and binds `org_pk` first, then
//! `params` in order. Every subquery is tied to the row (its pk and organization), so nothing
//! from another organization can match.
//!
//! Lookups through a subquery (`emails.value eq`, `members.value eq`, `groups.value eq`) are
//! written as uncorrelated `pk IN (SELECT ...)` so SQLite can start from their index. It does
//! so only when `sqlite_stat1` exists: without statistics it assumes `org_pk = ?` selects ten
//! rows and walks the organization instead, so `schema.sql` ships statistics for the intended
//! shape. A correlated EXISTS can never drive the query (SQLite keeps it as the inner loop),
//! so those are used only where no index could help anyway. The email lookup names the
//! caller's organization as `?1`, the caller's first parameter.
//!
//! The result is two-valued: an absent attribute (SQL NULL) counts as "no match", also under
//! `not`. The SQL form of `not` is `NOT COALESCE(x, 0)` (`FALSE` on PostgreSQL), because a
//! bare `NOT` of an unknown result would drop the row. RFC 7644 §3.4.2.2 defines `not` as the
//! inverse of the match.

use super::sql::{Engine, Value};
use serde_json::Value as Json;
use time::OffsetDateTime;

use crate::error::{Error, Result};
use crate::model::declared;
use crate::model::filter::{AttrPath, CompareOp, Filter};
use crate::model::fold::fold;
use crate::model::schema::{
    Attr, AttrType, ENTERPRISE_USER_SCHEMA, GROUP_TYPE, ResourceType, Schema, TEAM_GROUP_SCHEMA,
    USER_TYPE,
};
use crate::model::typing::{
    Operand as Typed, Test, clip, null_test, shown, type_comparison, unfilterable,
};

/// The SQL function that folds case exactly as `model::fold` does (it calls it), registered on
/// every connection the store opens (`store::register_functions`). Only queries use it, never
/// an index, a view or a trigger, so the file stays readable by any SQLite (the `sqlite3`
/// shell, a backup) without it. Indexed attributes are compared through stored folded columns
/// instead, computed in Rust when a row is written.
pub const FOLD_FUNCTION: &str = "scimbox_fold";

/// A compiled filter: a condition over `u` or `t`, and its parameters in placeholder order.
#[derive(Debug, Clone, PartialEq)]
pub struct SqlFilter {
    pub sql: String,
    pub params: Vec<Value>,
}

/// Compiles a `/Users` filter to a SQLite condition over `users u`.
///
/// Fails with `InvalidFilter` for an unknown or unfilterable attribute (password, `$ref`,
/// `meta.location`, the computed access extension), a value of the wrong type, an ordering
/// operator on a boolean or binary attribute, an unparsable dateTime, or a filter that is too
/// large or too deeply nested.
pub fn compile_users(filter: &Filter) -> Result<SqlFilter> {
    compile_users_in(&USER_TYPE, filter)
}

/// [`compile_users`] for an organization's User type, its declared extensions included.
pub fn compile_users_in(rt: &'static ResourceType, filter: &Filter) -> Result<SqlFilter> {
    compile_users_on(Engine::Sqlite, rt, filter)
}

/// [`compile_users_in`] in the dialect of `engine`: the same answers on either (the
/// differential test runs both against the in-memory matcher).
pub fn compile_users_on(
    engine: Engine,
    rt: &'static ResourceType,
    filter: &Filter,
) -> Result<SqlFilter> {
    Compiler::new(Res::Users, rt, engine).compile(filter)
}

/// Compiles a `/Groups` filter to a SQLite condition over `teams t`. Fails like
/// [`compile_users`].
pub fn compile_teams(filter: &Filter) -> Result<SqlFilter> {
    compile_teams_in(&GROUP_TYPE, filter)
}

/// [`compile_teams`] for an organization's Group type.
pub fn compile_teams_in(rt: &'static ResourceType, filter: &Filter) -> Result<SqlFilter> {
    compile_teams_on(Engine::Sqlite, rt, filter)
}

/// [`compile_teams_in`] in the dialect of `engine`.
pub fn compile_teams_on(
    engine: Engine,
    rt: &'static ResourceType,
    filter: &Filter,
) -> Result<SqlFilter> {
    Compiler::new(Res::Teams, rt, engine).compile(filter)
}

/// The SQLite ORDER BY expression for `sortBy` on `/Users` (RFC 7644 §3.4.2.3). It has no
/// parameters.
///
/// A case-insensitive attribute sorts case-insensitively. A multi-valued attribute sorts by
/// the primary value, else the first (`emails.value`, or `emails` alone). `groups.*` sort by
/// their smallest value, since a user's groups have no order or primary.
///
/// Absent values must sort last ascending and first descending, the opposite of SQLite's
/// default; build the clause with [`order_by`], which also appends the `pk` tiebreaker.
///
/// Fails with `InvalidValue` naming the attribute when it is unknown or not sortable (a complex
/// attribute without a sub-attribute, password, `$ref`, `meta.location`, computed attributes).
pub fn users_sort_expr(path: &AttrPath) -> Result<String> {
    users_sort_expr_in(&USER_TYPE, path)
}

/// [`users_sort_expr`] for an organization's User type.
pub fn users_sort_expr_in(rt: &'static ResourceType, path: &AttrPath) -> Result<String> {
    users_sort_expr_on(Engine::Sqlite, rt, path)
}

/// [`users_sort_expr_in`] in the dialect of `engine` (text sorts by code point on both).
pub fn users_sort_expr_on(
    engine: Engine,
    rt: &'static ResourceType,
    path: &AttrPath,
) -> Result<String> {
    Compiler::new(Res::Users, rt, engine).sort_expr(path)
}

/// The ORDER BY expression for `sortBy` on `/Groups`; see [`users_sort_expr`]. `members.*`
/// sort by their smallest value.
pub fn teams_sort_expr(path: &AttrPath) -> Result<String> {
    teams_sort_expr_in(&GROUP_TYPE, path)
}

/// [`teams_sort_expr`] for an organization's Group type.
pub fn teams_sort_expr_in(rt: &'static ResourceType, path: &AttrPath) -> Result<String> {
    teams_sort_expr_on(Engine::Sqlite, rt, path)
}

/// [`teams_sort_expr_in`] in the dialect of `engine`.
pub fn teams_sort_expr_on(
    engine: Engine,
    rt: &'static ResourceType,
    path: &AttrPath,
) -> Result<String> {
    Compiler::new(Res::Teams, rt, engine).sort_expr(path)
}

/// The full ORDER BY list for a sort expression: absent values last when ascending and first
/// when descending (RFC 7644 §3.4.2.3), then `pk` (`"u.pk"` or `"t.pk"`) so that pages are
/// stable. `NULLS LAST` on an indexed column still lets SQLite read the index in order.
pub fn order_by(sort_expr: &str, descending: bool, pk: &str) -> String {
    if descending {
        format!("{sort_expr} DESC NULLS FIRST, {pk} DESC")
    } else {
        format!("{sort_expr} ASC NULLS LAST, {pk} ASC")
    }
}

/// Nesting beyond this (groups of `and`/`or` alternations, `not`, value paths) is refused. The
/// parser caps depth too; this keeps the compiler's recursion bounded on any tree.
const MAX_DEPTH: usize = 32;
/// Comparisons per filter. SQLite caps expression depth at 1000, and a long `or` chain
/// compiles to a left-deep tree, so stay well below that.
const MAX_TERMS: usize = 200;
/// SQLite refuses LIKE/GLOB patterns over 50,000 bytes at run time; refuse them up front.
const MAX_PATTERN: usize = 10_000;

#[derive(Clone, Copy, PartialEq, Eq)]
enum Res {
    Users,
    Teams,
}

impl Res {
    fn alias(self) -> &'static str {
        match self {
            Res::Users => "u",
            Res::Teams => "t",
        }
    }
}

/// SQL text with its parameters in placeholder order. Fragments are only ever appended, so the
/// order of `?` in the text and of `params` cannot drift apart.
#[derive(Default)]
struct Sql {
    text: String,
    params: Vec<Value>,
}

impl Sql {
    fn raw(text: &str) -> Self {
        Sql {
            text: text.to_string(),
            params: Vec::new(),
        }
    }

    fn str(&mut self, text: &str) {
        self.text.push_str(text);
    }

    /// A bound value, written `+?`: SQLite plans with a bare parameter's value in view and
    /// then marks the statement to be prepared again whenever it is bound anew (and rusqlite
    /// clears bindings each time a cached statement is reused), so a bare `?` meant a parse and
    /// plan per request. Through `+` the value is only read when the statement runs; plans and
    /// index use stay the same (LIKE/GLOB patterns keep their bare `?`: the LIKE optimization
    /// needs to see them).
    ///
    /// On PostgreSQL a bound value is a typed `CAST(? AS ...)`: the server infers a bare
    /// parameter's type from its use, which is not always the value's (a JSON number, a
    /// constant).
    fn bind(&mut self, d: Dialect, value: Value) {
        self.text.push_str(match (d.0, &value) {
            (Engine::Sqlite, _) => "+?",
            (Engine::Postgres, Value::Integer(_)) => "CAST(? AS BIGINT)",
            (Engine::Postgres, Value::Real(_)) => "CAST(? AS DOUBLE PRECISION)",
            (Engine::Postgres, _) => "CAST(? AS TEXT)",
        });
        self.params.push(value);
    }

    /// A bound boolean: an integer on SQLite, a BOOLEAN on PostgreSQL.
    fn bind_bool(&mut self, d: Dialect, b: bool) {
        self.text.push_str(match d.0 {
            Engine::Sqlite => "+?",
            Engine::Postgres => "CAST(? AS BOOLEAN)",
        });
        self.params.push(Value::Integer(i64::from(b)));
    }

    fn append(&mut self, other: Sql) {
        self.text.push_str(&other.text);
        self.params.extend(other.params);
    }

    fn wrap(before: &str, inner: Sql, after: &str) -> Sql {
        let mut out = Sql::raw(before);
        out.append(inner);
        out.str(after);
        out
    }
}

/// What differs between the engines' SQL, in one place. SQLite's text is exactly what it was
/// before PostgreSQL (its plans and the tests on them depend on it).
///
/// PostgreSQL reads the TEXT `data` column as `jsonb` (a cast per use: no second copy to
/// write or store, and a value's text stays byte for byte what the store wrote, on both
/// engines). JSON text cannot carry `\u0000` into `jsonb`, so the cast sees it as U+FFFD: a
/// stored NUL never makes a filter fail. Text is compared and sorted by code point
/// (`COLLATE "C"`, as SQLite's BINARY), whatever the database's default collation; equality
/// leaves the column's collation alone (deterministic collations compare bytes anyway), so
/// every index still serves it.
#[derive(Clone, Copy, PartialEq, Eq)]
struct Dialect(Engine);

impl Dialect {
    fn pg(self) -> bool {
        self.0 == Engine::Postgres
    }

    /// The row's resource JSON, in a form the JSON operators take.
    fn data(self, a: &str) -> String {
        match self.0 {
            Engine::Sqlite => format!("{a}.data"),
            Engine::Postgres => {
                format!("CAST(replace({a}.data, '\\u0000', '\\ufffd') AS JSONB)")
            }
        }
    }

    /// The caller's organization, its first parameter, for uncorrelated subqueries.
    fn org(self) -> &'static str {
        match self.0 {
            Engine::Sqlite => "+?1",
            Engine::Postgres => "?1",
        }
    }

    /// `NOT` of a condition that may be unknown (an absent value): unknown counts as false.
    fn not(self, inner: Sql) -> Sql {
        match self.0 {
            Engine::Sqlite => Sql::wrap("NOT COALESCE((", inner, "), 0)"),
            Engine::Postgres => Sql::wrap("NOT COALESCE((", inner, "), FALSE)"),
        }
    }

    fn truth(self, b: bool) -> Sql {
        Sql::raw(match (self.0, b) {
            (Engine::Sqlite, true) => "1",
            (Engine::Sqlite, false) => "0",
            (Engine::Postgres, true) => "TRUE",
            (Engine::Postgres, false) => "FALSE",
        })
    }

    /// Text compared by code point: ordering operators, patterns and sort keys.
    fn ordered(self, text: &str) -> String {
        match self.0 {
            Engine::Sqlite => text.to_string(),
            Engine::Postgres => format!("({text}) COLLATE \"C\""),
        }
    }

    /// A scalar at `path` inside the row's JSON, as the SQL type of `ty`: text for strings
    /// (and dateTimes, stored as text), a boolean, a number. A value of another JSON type is
    /// NULL on PostgreSQL, so it matches nothing.
    fn scalar(self, a: &str, path: &JsonPath, ty: AttrType) -> String {
        match self.0 {
            Engine::Sqlite => format!("({a}.data ->> '{}')", path.sqlite()),
            Engine::Postgres => match ty {
                AttrType::Boolean | AttrType::Integer | AttrType::Decimal => {
                    pg_typed(&format!("({} #> '{}')", self.data(a), path.pg()), ty)
                }
                _ => format!("({} #>> '{}')", self.data(a), path.pg()),
            },
        }
    }

    /// `FROM` one row per element of the array at `path` as `j`; SQLite's `json_each` gives
    /// `j.value`, `j.type`, `j.atom`, `j.key`, PostgreSQL's `j.value` (jsonb) and `j.key`
    /// (its position). PostgreSQL's lax path yields nothing when there is no such array.
    fn each(self, a: &str, path: &JsonPath) -> String {
        match self.0 {
            Engine::Sqlite => format!("json_each({a}.data, '{}') j", path.sqlite()),
            Engine::Postgres => format!(
                "jsonb_path_query({}, '{}[*]') WITH ORDINALITY j(value, key)",
                self.data(a),
                path.jsonpath()
            ),
        }
    }

    /// `FROM` one row per member of the object at `path` as `j` (its members' values).
    fn members(self, a: &str, path: &JsonPath) -> String {
        match self.0 {
            Engine::Sqlite => format!("json_each({a}.data, '{}') j", path.sqlite()),
            Engine::Postgres => format!(
                "jsonb_path_query({}, '{}.*') j(value)",
                self.data(a),
                path.jsonpath()
            ),
        }
    }

    /// The element `j` is a JSON object.
    fn is_object(self) -> &'static str {
        match self.0 {
            Engine::Sqlite => "j.type = 'object'",
            Engine::Postgres => "jsonb_typeof(j.value) = 'object'",
        }
    }

    /// The JSON value `v` (`j` or `k` of an `each`) is a non-empty scalar: SQLite's
    /// `atom IS NOT NULL AND atom <> ''`.
    fn atom_present(self, v: &str) -> String {
        match self.0 {
            Engine::Sqlite => format!("{v}.atom IS NOT NULL AND {v}.atom <> ''"),
            Engine::Postgres => format!(
                "jsonb_typeof({v}.value) NOT IN ('object', 'array', 'null') \
                 AND ({v}.value #>> '{{}}') <> ''"
            ),
        }
    }
}

/// A JSON value of PostgreSQL as the SQL type of `ty`, NULL when it has another JSON type.
fn pg_typed(v: &str, ty: AttrType) -> String {
    match ty {
        AttrType::Boolean => {
            format!("(CASE WHEN jsonb_typeof({v}) = 'boolean' THEN CAST({v} AS BOOLEAN) END)")
        }
        AttrType::Integer => {
            format!("(CASE WHEN jsonb_typeof({v}) = 'number' THEN CAST({v} AS NUMERIC) END)")
        }
        AttrType::Decimal => format!(
            "(CASE WHEN jsonb_typeof({v}) = 'number' THEN CAST({v} AS DOUBLE PRECISION) END)"
        ),
        _ => format!("({v} #>> '{{}}')"),
    }
}

/// The path of an attribute inside `data`: the extension's URN (if any), the attribute, the
/// sub-attribute. Names come from the catalogue and pass `check_name`, so none can end an SQL
/// string literal or a quoted path step.
#[derive(Clone, Debug, PartialEq)]
struct JsonPath {
    ext: Option<String>,
    names: Vec<String>,
}

impl JsonPath {
    /// SQLite's `$.name.givenName`, `$."urn:...:User".manager.value`.
    fn sqlite(&self) -> String {
        let mut p = String::from("$");
        if let Some(ext) = &self.ext {
            p.push_str(&format!(".\"{ext}\""));
        }
        for name in &self.names {
            p.push('.');
            p.push_str(name);
        }
        p
    }

    fn steps(&self) -> impl Iterator<Item = &String> {
        self.ext.iter().chain(self.names.iter())
    }

    /// PostgreSQL's text-array path for `#>`: `{"name","givenName"}`.
    fn pg(&self) -> String {
        let steps: Vec<String> = self.steps().map(|s| format!("\"{s}\"")).collect();
        format!("{{{}}}", steps.join(","))
    }

    /// An SQL/JSON path (PostgreSQL): `$."name"."givenName"`.
    fn jsonpath(&self) -> String {
        let mut p = String::from("$");
        for s in self.steps() {
            p.push_str(&format!(".\"{s}\""));
        }
        p
    }
}

/// A single value reachable from the row (or from one element of a multi-valued attribute).
struct Operand {
    /// The value as stored.
    expr: String,
    attr: &'static Attr,
    /// The stored folded column holding `model::fold(expr)`, where there is one (indexed).
    folded: Option<String>,
    /// A better sort key than `expr`, where there is one.
    sort_key: Option<String>,
    /// For a user's declared string attribute: its key in `declared_values`, where `eq` is
    /// one index seek instead of a walk over every user's JSON.
    indexed: Option<String>,
}

impl Operand {
    fn new(expr: impl Into<String>, attr: &'static Attr) -> Self {
        Operand {
            expr: expr.into(),
            attr,
            folded: None,
            sort_key: None,
            indexed: None,
        }
    }

    fn folded(mut self, expr: impl Into<String>) -> Self {
        self.folded = Some(expr.into());
        self
    }

    /// The text a string comparison reads: the value itself when the attribute is
    /// `caseExact`, else its fold (RFC 7643 §2.2), compared byte for byte with an operand the
    /// typing pass folded the same way. Comparing folded UTF-8 bytes orders by code point, as
    /// the in-memory matcher does.
    fn text(&self) -> String {
        if self.attr.case_exact {
            return self.expr.clone();
        }
        match &self.folded {
            Some(f) => f.clone(),
            None => format!("{FOLD_FUNCTION}({})", self.expr),
        }
    }
}

/// The storage behind a multi-valued attribute.
#[derive(Clone)]
enum Coll {
    /// `emails`, mirrored in `user_emails` for value, type and primary.
    Emails,
    /// Any other multi-valued complex attribute, an array in `data` at this JSON path.
    Json(JsonPath),
    /// `User.groups`, derived from memberships.
    Groups,
    /// `Group.members`, stored in memberships.
    Members,
}

/// How one element of a collection is reached inside its subquery.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Elem {
    /// `user_emails e`
    EmailRow,
    /// `json_each(..) j`
    JsonItem,
    /// `teams gt`, a group of the user.
    Team,
    /// `users mu`, a member of the team.
    Member,
}

/// What an attribute path names.
enum Target {
    /// One value per row.
    Scalar(Operand),
    /// A multi-valued attribute, optionally narrowed to a sub-attribute.
    Multi {
        coll: Coll,
        attr: &'static Attr,
        sub: Option<&'static Attr>,
    },
    /// A single-valued complex attribute named without a sub-attribute (`name`, `meta`).
    Complex {
        /// Its JSON path in `data`, or `None` for the computed `meta`.
        json: Option<JsonPath>,
        attr: &'static Attr,
    },
}

/// Where the attribute paths of a (sub-)filter are resolved.
#[derive(Clone, Copy)]
enum Scope<'a> {
    /// Against the resource type.
    Row,
    /// Inside `name[...]`: paths are sub-attributes of a single-valued complex attribute.
    Prefix(&'a AttrPath),
    /// Inside `emails[...]`: paths are sub-attributes of one element.
    Element(Elem, &'static Attr),
}

struct Compiler {
    res: Res,
    d: Dialect,
    /// The organization's resource type: the built-in one with its declared extensions.
    rt: &'static ResourceType,
    terms: usize,
}

impl Compiler {
    fn new(res: Res, rt: &'static ResourceType, engine: Engine) -> Self {
        Compiler {
            res,
            d: Dialect(engine),
            rt,
            terms: 0,
        }
    }

    fn compile(mut self, filter: &Filter) -> Result<SqlFilter> {
        let sql = self.filter(filter, Scope::Row, 0)?;
        Ok(SqlFilter {
            sql: sql.text,
            params: sql.params,
        })
    }

    fn filter(&mut self, filter: &Filter, scope: Scope<'_>, depth: usize) -> Result<Sql> {
        if depth > MAX_DEPTH {
            return Err(invalid(format!(
                "the filter is nested more than {MAX_DEPTH} levels deep"
            )));
        }
        match filter {
            Filter::And(..) | Filter::Or(..) => {
                let is_and = matches!(filter, Filter::And(..));
                let mut out = Sql::default();
                for (i, part) in flatten(filter, is_and).into_iter().enumerate() {
                    if i > 0 {
                        out.str(if is_and { " AND " } else { " OR " });
                    }
                    out.append(Sql::wrap("(", self.filter(part, scope, depth + 1)?, ")"));
                }
                Ok(out)
            }
            Filter::Not(inner) => Ok(self.d.not(self.filter(inner, scope, depth + 1)?)),
            Filter::Compare { path, op, value } => {
                self.count_term()?;
                self.compare(path, *op, value, scope, depth)
            }
            Filter::Present(path) => {
                self.count_term()?;
                self.present(path, scope, depth)
            }
            Filter::ValuePath { path, filter } => {
                if !matches!(scope, Scope::Row) {
                    return Err(invalid(format!(
                        "value filters cannot be nested (\"{}\")",
                        shown(path)
                    )));
                }
                self.value_path(path, filter, depth + 1)
            }
        }
    }

    fn count_term(&mut self) -> Result<()> {
        self.terms += 1;
        if self.terms > MAX_TERMS {
            return Err(invalid(format!(
                "the filter has more than {MAX_TERMS} comparisons"
            )));
        }
        Ok(())
    }

    /// `attrPath op value` (RFC 7644 §3.4.2.2, Table 3), typed by `model::typing`.
    fn compare(
        &mut self,
        path: &AttrPath,
        op: CompareOp,
        value: &Json,
        scope: Scope<'_>,
        depth: usize,
    ) -> Result<Sql> {
        if value.is_null() {
            // `eq null` is "has no value", `ne null` "has a value": exactly `not pr` and `pr`.
            let present = self.present(path, scope, depth)?;
            return Ok(match null_test(op)? {
                Test::Absent => self.d.not(present),
                _ => present,
            });
        }
        let (coll, attr, sub) = match self.leaf(path, scope)? {
            Target::Scalar(operand) => return compare(self.d, &operand, op, value, path),
            Target::Complex { attr, .. } => {
                // A single-valued complex attribute compares its `value` (`manager eq "id"`),
                // as a multi-valued one does; without one the typing pass refuses it.
                let Some(sub) = attr.sub_attr("value") else {
                    return type_comparison(attr, path, op, value).map(|_| Sql::default());
                };
                let full = AttrPath {
                    urn: path.urn.clone(),
                    name: path.name.clone(),
                    sub: Some(sub.name.to_string()),
                };
                return match self.leaf(&full, scope)? {
                    Target::Scalar(operand) => compare(self.d, &operand, op, value, path),
                    _ => Err(Error::Internal(format!(
                        "{}.value is not scalar",
                        attr.name
                    ))),
                };
            }
            Target::Multi { coll, attr, sub } => (coll, attr, sub),
        };
        if !attr.is_complex()
            && let Coll::Json(json) = &coll
        {
            // A multi-valued simple attribute (only declared extensions have them): the
            // filter matches when any of its values does.
            let item = match self.d.0 {
                Engine::Sqlite => {
                    "(CASE WHEN j.type NOT IN ('object', 'array') THEN j.value END)".to_string()
                }
                Engine::Postgres => match attr.ty {
                    AttrType::Boolean | AttrType::Integer | AttrType::Decimal => {
                        pg_typed("j.value", attr.ty)
                    }
                    _ => "(CASE WHEN jsonb_typeof(j.value) NOT IN ('object', 'array') \
                          THEN j.value #>> '{}' END)"
                        .to_string(),
                },
            };
            let operand = Operand::new(item, attr);
            let cond = compare(self.d, &operand, op, value, path)?;
            return Ok(Sql::wrap(
                &format!(
                    "EXISTS (SELECT 1 FROM {} WHERE (",
                    self.d.each(self.res.alias(), json)
                ),
                cond,
                "))",
            ));
        }
        // A multi-valued attribute without a sub-attribute compares its `value`; the filter
        // matches when any element does (RFC 7644 §3.4.2.2).
        let Some(sub) = sub.or_else(|| attr.sub_attr("value")) else {
            return type_comparison(attr, path, op, value).map(|_| Sql::default());
        };
        // Type here, with the client's path in any error, then again per element (the same
        // answer): the element's path is only the sub-attribute's name.
        type_comparison(sub, path, op, value)?;
        let one = Filter::Compare {
            path: AttrPath::simple(sub.name),
            op,
            value: value.clone(),
        };
        self.collection(&coll, attr, &one, depth)
    }

    /// `attrPath pr`: "If the attribute has a non-empty value, or if it contains a non-empty node
    /// for complex attributes, there is a match" (RFC 7644 §3.4.2.2).
    fn present(&mut self, path: &AttrPath, scope: Scope<'_>, depth: usize) -> Result<Sql> {
        let a = self.res.alias();
        match self.leaf(path, scope)? {
            Target::Scalar(operand) => Ok(present(&operand)),
            Target::Multi {
                coll: Coll::Json(json),
                attr,
                sub: None,
            } if !attr.is_complex() => Ok(Sql::raw(&format!(
                "EXISTS (SELECT 1 FROM {} WHERE {})",
                self.d.each(a, &json),
                self.d.atom_present("j")
            ))),
            Target::Multi {
                coll,
                attr,
                sub: Some(sub),
            } => {
                let one = Filter::Present(AttrPath::simple(sub.name));
                self.collection(&coll, attr, &one, depth)
            }
            // Some element has a non-empty node. Memberships always have their `value`.
            Target::Multi {
                coll: coll @ (Coll::Groups | Coll::Members),
                attr,
                sub: None,
            } => {
                let one = Filter::Present(AttrPath::simple("value"));
                self.collection(&coll, attr, &one, depth)
            }
            Target::Multi {
                coll: coll @ (Coll::Emails | Coll::Json(_)),
                attr,
                sub: None,
            } => {
                let json = match coll {
                    Coll::Json(json) => json,
                    _ => json_path(None, attr, None)?,
                };
                Ok(Sql::raw(&match self.d.0 {
                    Engine::Sqlite => format!(
                        "EXISTS (SELECT 1 FROM json_each({a}.data, '{}') j \
                         WHERE j.type = 'object' AND EXISTS (SELECT 1 FROM json_each(j.value) k \
                         WHERE k.atom IS NOT NULL AND k.atom <> ''))",
                        json.sqlite()
                    ),
                    Engine::Postgres => format!(
                        "EXISTS (SELECT 1 FROM {} WHERE {} AND EXISTS \
                         (SELECT 1 FROM jsonb_path_query(j.value, '$.*') k(value) WHERE {}))",
                        self.d.each(a, &json),
                        self.d.is_object(),
                        self.d.atom_present("k")
                    ),
                }))
            }
            // `meta` is computed and always there.
            Target::Complex { json: None, .. } => Ok(self.d.truth(true)),
            Target::Complex {
                json: Some(json), ..
            } => Ok(Sql::raw(&format!(
                "EXISTS (SELECT 1 FROM {} WHERE {})",
                self.d.members(a, &json),
                self.d.atom_present("j")
            ))),
        }
    }

    /// `attrPath "[" valFilter "]"` (RFC 7644 §3.4.2.2): the inner filter must hold for one
    /// and the same element.
    fn value_path(&mut self, path: &AttrPath, inner: &Filter, depth: usize) -> Result<Sql> {
        match self.target(path, invalid)? {
            Target::Multi {
                coll,
                attr,
                sub: None,
            } => self.collection(&coll, attr, inner, depth),
            // A single-valued complex attribute has one "element": its sub-attributes. With no
            // value at all there is no element to match, even for `name[not (...)]`.
            Target::Complex { json: None, .. } => self.filter(inner, Scope::Prefix(path), depth),
            Target::Complex {
                json: Some(json), ..
            } => {
                let a = self.res.alias();
                let there = match self.d.0 {
                    Engine::Sqlite => format!("json_type({a}.data, '{}')", json.sqlite()),
                    Engine::Postgres => format!("({} #> '{}')", self.d.data(a), json.pg()),
                };
                Ok(Sql::wrap(
                    &format!("{there} IS NOT NULL AND ("),
                    self.filter(inner, Scope::Prefix(path), depth)?,
                    ")",
                ))
            }
            Target::Multi { sub: Some(_), .. } | Target::Scalar(_) => Err(invalid(format!(
                "\"{}\" is not a complex attribute, so it cannot take a \"[...]\" filter",
                shown(path)
            ))),
        }
    }

    /// Compiles `inner` over one element of a collection and wraps it in the subquery that
    /// asks whether such an element exists.
    fn collection(
        &mut self,
        coll: &Coll,
        attr: &'static Attr,
        inner: &Filter,
        depth: usize,
    ) -> Result<Sql> {
        let a = self.res.alias();
        match coll {
            // `user_emails` holds only emails with a value, so it answers only filters that no
            // email without one can satisfy; the rest read the stored resource, as the matcher
            // does.
            Coll::Emails
                if uses_only(inner, &["value", "type", "primary"]) && needs_value(inner) =>
            {
                let cond = self.filter(inner, Scope::Element(Elem::EmailRow, attr), depth)?;
                Ok(if pins_value(inner) {
                    // Uncorrelated, so SQLite can run it once and fetch the users by pk.
                    // `?1` is the caller's organization (always the first parameter: see
                    // the module doc), so the lookup is one seek in (org_pk, value_fold).
                    Sql::wrap(
                        &format!(
                            "{a}.pk IN (SELECT e.user_pk FROM user_emails e \
                             WHERE e.org_pk = {} AND (",
                            self.d.org()
                        ),
                        cond,
                        "))",
                    )
                } else {
                    Sql::wrap(
                        &format!(
                            "EXISTS (SELECT 1 FROM user_emails e \
                             WHERE e.org_pk = {a}.org_pk AND e.user_pk = {a}.pk AND ("
                        ),
                        cond,
                        "))",
                    )
                })
            }
            Coll::Emails | Coll::Json(_) => {
                let json = match coll {
                    Coll::Json(json) => json.clone(),
                    _ => json_path(None, attr, None)?,
                };
                let cond = self.filter(inner, Scope::Element(Elem::JsonItem, attr), depth)?;
                Ok(Sql::wrap(
                    &format!("EXISTS (SELECT 1 FROM {} WHERE (", self.d.each(a, &json)),
                    cond,
                    "))",
                ))
            }
            Coll::Groups => {
                let cond = self.filter(inner, Scope::Element(Elem::Team, attr), depth)?;
                Ok(if pins_value(inner) {
                    // Uncorrelated, so SQLite runs it once from the unique index on teams.id
                    // and then fetches the users by pk. Memberships never cross organizations
                    // (checked here too), and the outer row is in the caller's organization.
                    Sql::wrap(
                        "u.pk IN (SELECT gm.user_pk FROM teams gt \
                         JOIN memberships gm ON gm.team_pk = gt.pk \
                         JOIN users gu ON gu.pk = gm.user_pk \
                         WHERE gu.org_pk = gt.org_pk AND (",
                        cond,
                        "))",
                    )
                } else {
                    Sql::wrap(
                        "EXISTS (SELECT 1 FROM memberships gm JOIN teams gt ON gt.pk = gm.team_pk \
                         WHERE gm.user_pk = u.pk AND gt.org_pk = u.org_pk AND (",
                        cond,
                        "))",
                    )
                })
            }
            Coll::Members => {
                let cond = self.filter(inner, Scope::Element(Elem::Member, attr), depth)?;
                Ok(if pins_value(inner) {
                    // As for groups: driven by the unique index on users.id.
                    Sql::wrap(
                        "t.pk IN (SELECT mm.team_pk FROM users mu \
                         JOIN memberships mm ON mm.user_pk = mu.pk \
                         JOIN teams mt ON mt.pk = mm.team_pk \
                         WHERE mt.org_pk = mu.org_pk AND (",
                        cond,
                        "))",
                    )
                } else {
                    Sql::wrap(
                        "EXISTS (SELECT 1 FROM memberships mm JOIN users mu ON mu.pk = mm.user_pk \
                         WHERE mm.team_pk = t.pk AND mu.org_pk = t.org_pk AND (",
                        cond,
                        "))",
                    )
                })
            }
        }
    }

    /// Resolves the path of a comparison or `pr` in its scope.
    fn leaf(&self, path: &AttrPath, scope: Scope<'_>) -> Result<Target> {
        match scope {
            Scope::Row => self.target(path, invalid),
            Scope::Prefix(outer) => {
                let sub = relative(path, outer.name.as_str())?;
                // The errors the matcher gives inside `attr[...]`, in the catalogue's spelling.
                let rt = self.rt;
                if let Some(r) = rt.resolve(outer.urn.as_deref(), &outer.name, None) {
                    let s = r.attr.sub_attr(sub).ok_or_else(|| {
                        invalid(format!(
                            "unknown attribute \"{}.{}\"",
                            r.attr.name,
                            clip(sub)
                        ))
                    })?;
                    if let Some(why) = unfilterable(None, r.attr, Some(s)) {
                        return Err(invalid(format!("\"{}.{}\" {why}", r.attr.name, s.name)));
                    }
                }
                let full = AttrPath {
                    urn: outer.urn.clone(),
                    name: outer.name.clone(),
                    sub: Some(sub.to_string()),
                };
                self.target(&full, invalid)
            }
            Scope::Element(elem, attr) => {
                let name = relative(path, attr.name)?;
                let sub = attr.sub_attr(name).ok_or_else(|| {
                    invalid(format!(
                        "unknown attribute \"{}.{}\"",
                        attr.name,
                        clip(name)
                    ))
                })?;
                Ok(Target::Scalar(element_operand(self.d, elem, attr, sub)?))
            }
        }
    }

    /// Maps a resource-level path to where its data lives. `err` builds the error for an
    /// unknown or unusable attribute: `InvalidFilter` for filters, `InvalidValue` for sortBy.
    fn target(&self, path: &AttrPath, err: fn(String) -> Error) -> Result<Target> {
        let rt = self.rt;
        let (urn, name) = match &path.urn {
            Some(urn) => (Some(urn.as_str()), path.name.as_str()),
            None => rt.split_urn(&path.name),
        };
        // Accept `name.givenName` arriving unsplit; a URN's own dots were split off above.
        let (name, sub) = match (&path.sub, name.split_once('.')) {
            (None, Some((name, sub))) => (name, Some(sub)),
            (sub, _) => (name, sub.as_deref()),
        };
        let r = rt
            .resolve(urn, name, sub)
            .ok_or_else(|| err(format!("unknown attribute \"{}\"", shown(path))))?;
        let refuse = |why: &str| Err(err(format!("\"{}\" {why}", shown(path))));
        let attr = r.attr;
        let leaf = r.sub.unwrap_or(attr);
        // The same refusals as the in-memory matcher: one decision, in the typing pass.
        if let Some(why) = unfilterable(r.extension, attr, r.sub) {
            return refuse(why);
        }
        let a = self.res.alias();
        let column = |expr: &str| Ok(Target::Scalar(Operand::new(expr, leaf)));
        let folded =
            |expr: &str, folded: &str| Ok(Target::Scalar(Operand::new(expr, leaf).folded(folded)));
        let ext = r.extension.map(|s| s.id);
        match (ext, attr.name, r.sub.map(|s| s.name)) {
            (None, "id", None) => column(&format!("{a}.id")),
            (None, "externalId", None) => column(&format!("{a}.external_id")),
            (None, "displayName", None) => folded(
                &format!("{a}.display_name"),
                &format!("{a}.display_name_fold"),
            ),
            (None, "userName", None) => folded("u.user_name", "u.user_name_fold"),
            (None, "active", None) => column("u.active"),
            (None, "meta", None) => Ok(Target::Complex { json: None, attr }),
            (None, "meta", Some("created")) => column(&format!("{a}.created")),
            (None, "meta", Some("lastModified")) => column(&format!("{a}.last_modified")),
            (None, "meta", Some("resourceType")) => column(&match self.d.0 {
                Engine::Sqlite => format!("'{}'", rt.name),
                Engine::Postgres => format!("CAST('{}' AS TEXT)", rt.name),
            }),
            // The ETag form clients see (RFC 7644 §3.14); sorted as the number it carries.
            (None, "meta", Some("version")) => {
                let mut operand = Operand::new(format!("('W/\"' || {a}.version || '\"')"), leaf);
                operand.sort_key = Some(format!("{a}.version"));
                Ok(Target::Scalar(operand))
            }
            (None, "emails", _) => Ok(Target::Multi {
                coll: Coll::Emails,
                attr,
                sub: r.sub,
            }),
            (None, "groups", _) if self.res == Res::Users => Ok(Target::Multi {
                coll: Coll::Groups,
                attr,
                sub: r.sub,
            }),
            (None, "members", _) if self.res == Res::Teams => Ok(Target::Multi {
                coll: Coll::Members,
                attr,
                sub: r.sub,
            }),
            (Some(TEAM_GROUP_SCHEMA), "description", None) => column("t.description"),
            (Some(TEAM_GROUP_SCHEMA), "organizationRole", None) => column("t.org_role"),
            (Some(_), _, _) if r.extension.is_some_and(declared::is_declared) => {
                let schema = r.extension;
                if attr.multi {
                    Ok(Target::Multi {
                        coll: Coll::Json(json_path(schema, attr, None)?),
                        attr,
                        sub: r.sub,
                    })
                } else if attr.is_complex() && r.sub.is_none() {
                    Ok(Target::Complex {
                        json: Some(json_path(schema, attr, None)?),
                        attr,
                    })
                } else {
                    let json = json_path(schema, attr, r.sub)?;
                    let mut operand = Operand::new(self.d.scalar(a, &json, leaf.ty), leaf);
                    if let (Res::Users, Some(schema)) = (self.res, schema)
                        && declared::indexed(leaf)
                    {
                        operand.indexed = Some(declared::index_key(schema, attr, r.sub));
                    }
                    Ok(Target::Scalar(operand))
                }
            }
            (None | Some(ENTERPRISE_USER_SCHEMA), _, _) if self.res == Res::Users => {
                let schema = r.extension;
                if attr.multi {
                    Ok(Target::Multi {
                        coll: Coll::Json(json_path(schema, attr, None)?),
                        attr,
                        sub: r.sub,
                    })
                } else if attr.is_complex() && r.sub.is_none() {
                    Ok(Target::Complex {
                        json: Some(json_path(schema, attr, None)?),
                        attr,
                    })
                } else {
                    let json = json_path(schema, attr, r.sub)?;
                    column(&self.d.scalar("u", &json, leaf.ty))
                }
            }
            _ => Err(Error::Internal(format!(
                "no storage mapping for {}",
                shown(path)
            ))),
        }
    }

    fn sort_expr(&self, path: &AttrPath) -> Result<String> {
        let a = self.res.alias();
        let not_sortable = || {
            Err(Error::InvalidValue(format!(
                "sortBy \"{}\" names a complex attribute; name one of its sub-attributes",
                shown(path)
            )))
        };
        match self.target(path, Error::InvalidValue)? {
            Target::Scalar(operand) => Ok(match &operand.sort_key {
                Some(key) => key.clone(),
                None => sort_key(self.d, &operand),
            }),
            Target::Complex { .. } => not_sortable(),
            Target::Multi { coll, attr, sub } => {
                let Some(sub) = sub.or_else(|| attr.sub_attr("value")) else {
                    return not_sortable();
                };
                let (elem, from) = match coll {
                    // RFC 7644 §3.4.2.3: the primary value, else the first.
                    Coll::Emails | Coll::Json(_) => {
                        let json = match coll {
                            Coll::Json(json) => json,
                            _ => json_path(None, attr, None)?,
                        };
                        let operand = element_operand(self.d, Elem::JsonItem, attr, sub)?;
                        let primary = match self.d.0 {
                            Engine::Sqlite => {
                                "(CASE WHEN j.type = 'object' THEN j.value ->> '$.primary' END) \
                                 IS 1"
                            }
                            Engine::Postgres => {
                                "COALESCE(j.value -> 'primary' = CAST('true' AS JSONB), FALSE)"
                            }
                        };
                        return Ok(format!(
                            "(SELECT {} FROM {} ORDER BY {primary} DESC, j.key LIMIT 1)",
                            sort_key(self.d, &operand),
                            self.d.each(a, &json)
                        ));
                    }
                    Coll::Groups => (
                        Elem::Team,
                        "FROM memberships gm JOIN teams gt ON gt.pk = gm.team_pk \
                         WHERE gm.user_pk = u.pk AND gt.org_pk = u.org_pk",
                    ),
                    Coll::Members => (
                        Elem::Member,
                        "FROM memberships mm JOIN users mu ON mu.pk = mm.user_pk \
                         WHERE mm.team_pk = t.pk AND mu.org_pk = t.org_pk",
                    ),
                };
                // Neither a user's groups nor a team's members have a primary or an order.
                let operand = element_operand(self.d, elem, attr, sub)?;
                Ok(format!(
                    "(SELECT MIN({}) {from})",
                    sort_key(self.d, &operand)
                ))
            }
        }
    }
}

/// The operand for sub-attribute `sub` of one element of `attr`.
fn element_operand(d: Dialect, elem: Elem, attr: &Attr, sub: &'static Attr) -> Result<Operand> {
    if let Some(why) = unfilterable(None, attr, Some(sub)) {
        return Err(invalid(format!("\"{}.{}\" {why}", attr.name, sub.name)));
    }
    let operand = |expr: &str| Ok(Operand::new(expr, sub));
    let folded = |expr: &str, folded: &str| Ok(Operand::new(expr, sub).folded(folded));
    // A constant's fold is a constant too (catalogue words, no quote in them).
    let constant = |text: &str| {
        let f = fold(text);
        Ok(match d.0 {
            Engine::Sqlite => Operand::new(format!("'{text}'"), sub).folded(format!("'{f}'")),
            Engine::Postgres => Operand::new(format!("CAST('{text}' AS TEXT)"), sub)
                .folded(format!("CAST('{f}' AS TEXT)")),
        })
    };
    match (elem, sub.name) {
        (Elem::EmailRow, "value") => folded("e.value", "e.value_fold"),
        (Elem::EmailRow, "type") => folded("e.type", "e.type_fold"),
        (Elem::EmailRow, "primary") => operand("e.is_primary"),
        // RFC 7643 §2.4: an element's unset `primary` is false.
        (Elem::JsonItem, "primary") if !d.pg() => {
            operand("COALESCE((CASE WHEN j.type = 'object' THEN j.value ->> '$.primary' END), 0)")
        }
        (Elem::JsonItem, "primary") => operand(&format!(
            "COALESCE({}, FALSE)",
            pg_typed("(j.value -> 'primary')", AttrType::Boolean)
        )),
        (Elem::JsonItem, name) if !d.pg() => {
            check_name(name)?;
            // CASE keeps `->>` away from a non-object element, which would be malformed JSON.
            operand(&format!(
                "(CASE WHEN j.type = 'object' THEN j.value ->> '$.{name}' END)"
            ))
        }
        // PostgreSQL's `->` is NULL on a non-object element.
        (Elem::JsonItem, name) => {
            check_name(name)?;
            operand(&match sub.ty {
                AttrType::Boolean | AttrType::Integer | AttrType::Decimal => {
                    pg_typed(&format!("(j.value -> '{name}')"), sub.ty)
                }
                _ => format!("(j.value ->> '{name}')"),
            })
        }
        (Elem::Team, "value") => operand("gt.id"),
        (Elem::Team, "display") => folded("gt.display_name", "gt.display_name_fold"),
        // Teams do not nest, so every membership is direct.
        (Elem::Team, "type") => constant("direct"),
        (Elem::Member, "value") => operand("mu.id"),
        (Elem::Member, "display") => folded(
            "COALESCE(mu.display_name, mu.user_name)",
            "COALESCE(mu.display_name_fold, mu.user_name_fold)",
        ),
        (Elem::Member, "type") => constant("User"),
        _ => Err(invalid(format!(
            "\"{}.{}\" is computed and cannot be used in a filter",
            attr.name, sub.name
        ))),
    }
}

/// Compiles one comparison on a single value, typed by `model::typing` (RFC 7644 §3.4.2.2).
fn compare(
    d: Dialect,
    operand: &Operand,
    op: CompareOp,
    value: &Json,
    path: &AttrPath,
) -> Result<Sql> {
    let x = &operand.expr;
    let mut out = Sql::default();
    let test = type_comparison(operand.attr, path, op, value)?;
    if let (Some(key), Test::Compare(CompareOp::Eq, Typed::Text(s))) = (&operand.indexed, &test) {
        // Uncorrelated, so SQLite runs it from the index on (org_pk, attr, value); `?1` is
        // the caller's organization. The store keeps the values folded as the typing pass
        // folds `s` (unless caseExact), so the comparison is binary.
        out.str(&format!(
            "u.pk IN (SELECT d.user_pk FROM declared_values d WHERE d.org_pk = {} AND d.attr = ",
            d.org()
        ));
        out.bind(d, Value::Text(key.clone()));
        out.str(" AND d.value = ");
        out.bind(d, Value::Text(s.clone()));
        out.str(")");
        return Ok(out);
    }
    match test {
        Test::Absent => return Ok(d.not(present(operand))),
        Test::Present => return Ok(present(operand)),
        Test::Compare(CompareOp::Co | CompareOp::Sw | CompareOp::Ew, Typed::Text(s)) => {
            return pattern(d, operand, op, &s, path);
        }
        Test::Compare(op, Typed::Text(s)) => {
            let text = match op {
                CompareOp::Eq | CompareOp::Ne => operand.text(),
                _ => d.ordered(&operand.text()),
            };
            out.str(&format!("{text} {} ", sql_op(op)));
            out.bind(d, Value::Text(s));
        }
        Test::Compare(op, Typed::Bool(b)) => {
            out.str(&format!("{x} {} ", sql_op(op)));
            out.bind_bool(d, b);
        }
        Test::Compare(op, Typed::Int(i)) => {
            out.str(&format!("{x} {} ", sql_op(op)));
            out.bind(d, Value::Integer(i));
        }
        Test::Compare(op, Typed::Dec(f)) => {
            out.str(&format!("{x} {} ", sql_op(op)));
            out.bind(d, Value::Real(f));
        }
        Test::Compare(op, Typed::Instant(t)) => return compare_time(d, x, op, t),
    }
    Ok(out)
}

/// `co`, `sw` and `ew` over the text the comparison reads: the value, or its fold for a
/// case-insensitive attribute (the operand is folded already), so both engines fold alike.
///
/// SQLite: GLOB, which is case-sensitive, its own wildcards in the operand escaped so it is
/// matched literally. On an indexed folded column (BINARY, as GLOB needs) SQLite's LIKE
/// optimization turns `sw` into an index range (tested). PostgreSQL: LIKE (case-sensitive
/// there) by code point, `%`, `_` and the escape `\` in the operand escaped.
fn pattern(d: Dialect, operand: &Operand, op: CompareOp, s: &str, path: &AttrPath) -> Result<Sql> {
    let mut p = String::with_capacity(s.len() + 2);
    for c in s.chars() {
        match (d.0, c) {
            (Engine::Sqlite, '*') => p.push_str("[*]"),
            (Engine::Sqlite, '?') => p.push_str("[?]"),
            (Engine::Sqlite, '[') => p.push_str("[[]"),
            (Engine::Postgres, '%' | '_' | '\\') => {
                p.push('\\');
                p.push(c);
            }
            (_, c) => p.push(c),
        }
    }
    let any = if d.pg() { '%' } else { '*' };
    let pattern = wildcards(op, p, any);
    if pattern.len() > MAX_PATTERN {
        return Err(invalid(format!(
            "the value compared with \"{}\" is longer than {MAX_PATTERN} bytes",
            shown(path)
        )));
    }
    let text = match d.0 {
        Engine::Sqlite => format!("{} GLOB ?", operand.text()),
        Engine::Postgres => format!("{} LIKE ?", d.ordered(&operand.text())),
    };
    Ok(Sql {
        text,
        params: vec![Value::Text(pattern)],
    })
}

fn wildcards(op: CompareOp, literal: String, any: char) -> String {
    match op {
        CompareOp::Sw => format!("{literal}{any}"),
        CompareOp::Ew => format!("{any}{literal}"),
        _ => format!("{any}{literal}{any}"),
    }
}

/// Compares a stored time with a dateTime operand (already in UTC, years 0000-9999). Stored
/// times are UTC text with milliseconds, so the operand is formatted the same way and compared
/// as text. An operand with a finer fraction is truncated to the millisecond and the operator
/// adjusted, so that `ge 00:00:00.0005Z` does not match a time stored as `00:00:00.000Z`.
fn compare_time(d: Dialect, x: &str, op: CompareOp, t: OffsetDateTime) -> Result<Sql> {
    let text = t
        .format(STORED_TIME)
        .map_err(|e| Error::Internal(format!("formatting a dateTime operand: {e}")))?;
    let exact = t.nanosecond() % 1_000_000 == 0;
    let sql = |o: &str| {
        let mut out = Sql::raw(&match o {
            "=" | "<>" => format!("{x} {o} "),
            _ => format!("{} {o} ", d.ordered(x)),
        });
        out.bind(d, Value::Text(text.clone()));
        out
    };
    Ok(match (op, exact) {
        (op, true) => sql(sql_op(op)),
        // The operand falls strictly between two stored milliseconds.
        (CompareOp::Eq, false) => d.truth(false),
        (CompareOp::Ne, false) => Sql::raw(&format!("{x} IS NOT NULL")),
        (CompareOp::Gt | CompareOp::Ge, false) => sql(">"),
        (_, false) => sql("<="),
    })
}

/// The stored time format (schema.sql): fixed width, so text order is time order.
const STORED_TIME: &[time::format_description::BorrowedFormatItem<'static>] = time::macros::format_description!(
    "[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:3]Z"
);

fn present(operand: &Operand) -> Sql {
    let x = &operand.expr;
    match operand.attr.ty {
        AttrType::String | AttrType::Reference | AttrType::Binary | AttrType::DateTime => {
            Sql::raw(&format!("({x} IS NOT NULL AND {x} <> '')"))
        }
        _ => Sql::raw(&format!("{x} IS NOT NULL")),
    }
}

fn sql_op(op: CompareOp) -> &'static str {
    match op {
        CompareOp::Eq => "=",
        CompareOp::Ne => "<>",
        CompareOp::Gt => ">",
        CompareOp::Ge => ">=",
        CompareOp::Lt => "<",
        CompareOp::Le => "<=",
        // Substring operators never reach here; `like` handles them.
        CompareOp::Co | CompareOp::Sw | CompareOp::Ew => "=",
    }
}

/// What a sort orders by: the text comparisons read (folded for a case-insensitive string),
/// the value itself for other types.
fn sort_key(d: Dialect, operand: &Operand) -> String {
    match operand.attr.ty {
        AttrType::String | AttrType::Reference | AttrType::Binary => d.ordered(&operand.text()),
        AttrType::DateTime => d.ordered(&operand.expr),
        _ => operand.expr.clone(),
    }
}

/// The operands of a chain of the same connective, left to right, without recursion, so a long
/// `a or b or c ...` counts as one level of nesting.
fn flatten(filter: &Filter, is_and: bool) -> Vec<&Filter> {
    let mut out = Vec::new();
    let mut stack = vec![filter];
    while let Some(node) = stack.pop() {
        match (node, is_and) {
            (Filter::And(a, b), true) | (Filter::Or(a, b), false) => {
                stack.push(b);
                stack.push(a);
            }
            _ => out.push(node),
        }
    }
    out
}

/// True when every path in `filter` is one of `names` (the columns of `user_emails`).
fn uses_only(filter: &Filter, names: &[&str]) -> bool {
    let mut stack = vec![filter];
    while let Some(node) = stack.pop() {
        match node {
            Filter::And(a, b) | Filter::Or(a, b) => {
                stack.push(a);
                stack.push(b);
            }
            Filter::Not(a) => stack.push(a),
            Filter::Compare { path, .. } | Filter::Present(path) => {
                if path.sub.is_some() || !names.iter().any(|n| n.eq_ignore_ascii_case(&path.name)) {
                    return false;
                }
            }
            Filter::ValuePath { .. } => return false,
        }
    }
    true
}

/// True when no element without a `value` can satisfy the element filter: every way to satisfy
/// it compares `value` with a non-null operand or asks `value pr`, which an absent value never
/// meets (in either engine). `not` could be met by an absent value, so it never counts.
fn needs_value(filter: &Filter) -> bool {
    let is_value =
        |p: &AttrPath| p.urn.is_none() && p.sub.is_none() && p.name.eq_ignore_ascii_case("value");
    match filter {
        Filter::And(a, b) => needs_value(a) || needs_value(b),
        Filter::Or(a, b) => needs_value(a) && needs_value(b),
        Filter::Compare { path, value, .. } => is_value(path) && !value.is_null(),
        Filter::Present(path) => is_value(path),
        Filter::Not(_) | Filter::ValuePath { .. } => false,
    }
}

/// True when the element filter requires `value eq "<string>"` at its top level: then the
/// membership subquery can start from the unique `id` index.
fn pins_value(filter: &Filter) -> bool {
    flatten(filter, true).into_iter().any(|f| {
        matches!(f, Filter::Compare { path, op: CompareOp::Eq, value: Json::String(_) }
            if path.urn.is_none() && path.sub.is_none() && path.name.eq_ignore_ascii_case("value"))
    })
}

/// The name of a path inside `attr[...]`, which must be a bare sub-attribute name.
fn relative<'p>(path: &'p AttrPath, outer: &str) -> Result<&'p str> {
    if path.urn.is_some() || path.sub.is_some() {
        return Err(invalid(format!(
            "inside {}[...] name a sub-attribute of {} only, not \"{}\"",
            clip(outer),
            clip(outer),
            shown(path)
        )));
    }
    Ok(&path.name)
}

/// The JSON path of an attribute inside `data`, e.g. `$.name.givenName` or
/// `$."urn:ietf:params:scim:schemas:extension:enterprise:2.0:User".manager.value`. The names
/// come from the catalogue; `check_name` makes sure they cannot end the SQL string literal.
fn json_path(ext: Option<&Schema>, attr: &Attr, sub: Option<&Attr>) -> Result<JsonPath> {
    let ext = match ext {
        Some(schema) => {
            check_name(schema.id)?;
            Some(schema.id.to_string())
        }
        None => None,
    };
    let mut names = Vec::new();
    for name in std::iter::once(attr.name).chain(sub.map(|s| s.name)) {
        check_name(name)?;
        names.push(name.to_string());
    }
    Ok(JsonPath { ext, names })
}

fn check_name(name: &str) -> Result<()> {
    if !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b':' || b == b'.' || b == b'_')
    {
        Ok(())
    } else {
        Err(Error::Internal(format!(
            "catalogue name {name:?} is not a plain identifier"
        )))
    }
}

fn invalid(detail: String) -> Error {
    Error::InvalidFilter(detail)
}
