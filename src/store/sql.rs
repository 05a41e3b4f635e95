//! The SQL both engines run. Every store function is written once against [`Conn`]: it binds
//! parameters with [`params!`] and reads columns with [`Row::get`], and the statement text is
//! the common ground of SQLite and PostgreSQL (`?` placeholders, `RETURNING`,
//! `ON CONFLICT ... DO ...`, `TRUE`/`FALSE`, `CAST(? AS TEXT)` where PostgreSQL cannot infer a
//! parameter's type). Where the dialects really differ, a function asks [`Conn::engine`].
//!
//! Types are as loose as SQLite's on both engines: an integer binds to a PostgreSQL BIGINT,
//! INTEGER, SMALLINT or BOOLEAN parameter alike (and reads back from any of them), so a flag
//! that is 0/1 on SQLite and BOOLEAN on PostgreSQL is one Rust `bool` in both.

use crate::error::{Error, Result};
use bytes::BytesMut;
use postgres_types::{IsNull, ToSql, Type};

/// Which engine a [`Conn`] talks to, for the few statements whose text must differ.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Engine {
    Sqlite,
    Postgres,
}

/// A value bound to or read from a statement, borrowed where it can be.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum ValueRef<'a> {
    Null,
    Integer(i64),
    Real(f64),
    Text(&'a str),
    Blob(&'a [u8]),
}

/// An owned value, for parameter lists built at run time (compiled filters).
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Null,
    Integer(i64),
    Real(f64),
    Text(String),
    Blob(Vec<u8>),
}

/// A value binds on a bare rusqlite statement too (SQLite-only tools and tests that run a
/// compiled filter themselves).
impl rusqlite::ToSql for Value {
    fn to_sql(&self) -> rusqlite::Result<rusqlite::types::ToSqlOutput<'_>> {
        use rusqlite::types::ValueRef as V;
        Ok(rusqlite::types::ToSqlOutput::Borrowed(match self {
            Value::Null => V::Null,
            Value::Integer(i) => V::Integer(*i),
            Value::Real(f) => V::Real(*f),
            Value::Text(s) => V::Text(s.as_bytes()),
            Value::Blob(b) => V::Blob(b),
        }))
    }
}

/// Something that binds as a statement parameter.
pub trait Param: Sync {
    fn value(&self) -> ValueRef<'_>;
}

macro_rules! integer_param {
    ($($t:ty),*) => {$(
        impl Param for $t {
            fn value(&self) -> ValueRef<'_> {
                ValueRef::Integer(i64::from(*self))
            }
        }
    )*};
}
integer_param!(i64, i32, u32, u16, u8, bool);

impl Param for usize {
    fn value(&self) -> ValueRef<'_> {
        ValueRef::Integer(i64::try_from(*self).unwrap_or(i64::MAX))
    }
}

impl Param for u64 {
    fn value(&self) -> ValueRef<'_> {
        ValueRef::Integer(i64::try_from(*self).unwrap_or(i64::MAX))
    }
}

impl Param for f64 {
    fn value(&self) -> ValueRef<'_> {
        ValueRef::Real(*self)
    }
}

impl Param for str {
    fn value(&self) -> ValueRef<'_> {
        ValueRef::Text(self)
    }
}

impl Param for String {
    fn value(&self) -> ValueRef<'_> {
        ValueRef::Text(self)
    }
}

impl Param for [u8] {
    fn value(&self) -> ValueRef<'_> {
        ValueRef::Blob(self)
    }
}

impl Param for Vec<u8> {
    fn value(&self) -> ValueRef<'_> {
        ValueRef::Blob(self)
    }
}

impl<T: Param + ?Sized> Param for &T {
    fn value(&self) -> ValueRef<'_> {
        (**self).value()
    }
}

impl<T: Param> Param for Option<T> {
    fn value(&self) -> ValueRef<'_> {
        match self {
            Some(v) => v.value(),
            None => ValueRef::Null,
        }
    }
}

impl Param for Value {
    fn value(&self) -> ValueRef<'_> {
        match self {
            Value::Null => ValueRef::Null,
            Value::Integer(i) => ValueRef::Integer(*i),
            Value::Real(f) => ValueRef::Real(*f),
            Value::Text(s) => ValueRef::Text(s),
            Value::Blob(b) => ValueRef::Blob(b),
        }
    }
}

impl Param for ValueRef<'_> {
    fn value(&self) -> ValueRef<'_> {
        *self
    }
}

/// The parameters of a statement: `params![org_pk, id]`.
macro_rules! params {
    () => { &[] as &[&dyn $crate::store::sql::Param] };
    ($($p:expr),+ $(,)?) => { &[$(&$p as &dyn $crate::store::sql::Param),+] as &[&dyn $crate::store::sql::Param] };
}
pub(crate) use params;

/// A run-time list of values as parameters.
pub fn param_list(values: &[Value]) -> Vec<&dyn Param> {
    values.iter().map(|v| v as &dyn Param).collect()
}

/// A column type a [`Row`] can be read into.
pub trait Column: Sized {
    fn from_value(v: ValueRef<'_>) -> Result<Self>;
}

fn mismatch(want: &str, got: ValueRef<'_>) -> Error {
    let got = match got {
        ValueRef::Null => "NULL",
        ValueRef::Integer(_) => "an integer",
        ValueRef::Real(_) => "a real",
        ValueRef::Text(_) => "text",
        ValueRef::Blob(_) => "a blob",
    };
    Error::Internal(format!("database: expected {want}, read {got}"))
}

impl Column for i64 {
    fn from_value(v: ValueRef<'_>) -> Result<Self> {
        match v {
            ValueRef::Integer(i) => Ok(i),
            other => Err(mismatch("an integer", other)),
        }
    }
}

impl Column for i32 {
    fn from_value(v: ValueRef<'_>) -> Result<Self> {
        let i = i64::from_value(v)?;
        i32::try_from(i).map_err(|_| Error::Internal(format!("database: {i} is out of range")))
    }
}

impl Column for u64 {
    fn from_value(v: ValueRef<'_>) -> Result<Self> {
        let i = i64::from_value(v)?;
        u64::try_from(i).map_err(|_| Error::Internal(format!("database: {i} is out of range")))
    }
}

impl Column for usize {
    fn from_value(v: ValueRef<'_>) -> Result<Self> {
        let i = i64::from_value(v)?;
        usize::try_from(i).map_err(|_| Error::Internal(format!("database: {i} is out of range")))
    }
}

impl Column for bool {
    fn from_value(v: ValueRef<'_>) -> Result<Self> {
        Ok(i64::from_value(v)? != 0)
    }
}

impl Column for f64 {
    fn from_value(v: ValueRef<'_>) -> Result<Self> {
        match v {
            ValueRef::Real(f) => Ok(f),
            ValueRef::Integer(i) => Ok(i as f64),
            other => Err(mismatch("a number", other)),
        }
    }
}

impl Column for String {
    fn from_value(v: ValueRef<'_>) -> Result<Self> {
        match v {
            ValueRef::Text(s) => Ok(s.to_owned()),
            other => Err(mismatch("text", other)),
        }
    }
}

impl Column for Vec<u8> {
    fn from_value(v: ValueRef<'_>) -> Result<Self> {
        match v {
            ValueRef::Blob(b) => Ok(b.to_vec()),
            ValueRef::Text(s) => Ok(s.as_bytes().to_vec()),
            other => Err(mismatch("a blob", other)),
        }
    }
}

impl Column for Value {
    fn from_value(v: ValueRef<'_>) -> Result<Self> {
        Ok(match v {
            ValueRef::Null => Value::Null,
            ValueRef::Integer(i) => Value::Integer(i),
            ValueRef::Real(f) => Value::Real(f),
            ValueRef::Text(s) => Value::Text(s.to_owned()),
            ValueRef::Blob(b) => Value::Blob(b.to_vec()),
        })
    }
}

impl<T: Column> Column for Option<T> {
    fn from_value(v: ValueRef<'_>) -> Result<Self> {
        match v {
            ValueRef::Null => Ok(None),
            v => T::from_value(v).map(Some),
        }
    }
}

/// One row of a result, on either engine.
pub struct Row<'a>(RowInner<'a>);

enum RowInner<'a> {
    Sqlite(&'a rusqlite::Row<'a>),
    Postgres(&'a tokio_postgres::Row),
}

impl Row<'_> {
    /// Column `i` (from 0) as `T`.
    pub fn get<T: Column>(&self, i: usize) -> Result<T> {
        match &self.0 {
            RowInner::Sqlite(r) => T::from_value(sqlite_value(r.get_ref(i)?)),
            RowInner::Postgres(r) => T::from_value(pg_value(r, i)?),
        }
    }
}

/// The engine inside one read or write: what `Store::read` and `Store::write` hand their
/// closure. Code above `store/` passes it on to the store's functions and never names the
/// engine's own types.
pub struct Conn<'a>(Inner<'a>);

enum Inner<'a> {
    Sqlite(&'a rusqlite::Connection),
    Postgres(PgSession<'a>),
}

/// A PostgreSQL connection taken from the pool for one read or write, and the runtime that
/// drives its I/O (the store's closures are synchronous; each statement blocks on it).
pub(crate) struct PgSession<'a> {
    pub client: &'a deadpool_postgres::ClientWrapper,
    pub rt: &'a tokio::runtime::Handle,
    /// Inside a write transaction: rows read to be changed are locked (`FOR UPDATE`).
    pub writing: bool,
}

impl<'a> Conn<'a> {
    pub(crate) fn sqlite(conn: &'a rusqlite::Connection) -> Conn<'a> {
        Conn(Inner::Sqlite(conn))
    }

    pub(crate) fn postgres(session: PgSession<'a>) -> Conn<'a> {
        Conn(Inner::Postgres(session))
    }

    pub fn engine(&self) -> Engine {
        match self.0 {
            Inner::Sqlite(_) => Engine::Sqlite,
            Inner::Postgres(_) => Engine::Postgres,
        }
    }

    /// ` FOR NO KEY UPDATE` inside a PostgreSQL write (so two servers changing one row take
    /// turns and neither loses the other's change), nothing otherwise: SQLite has one writer.
    /// Not `FOR UPDATE`: that lock also blocks the key-share lock a foreign key check takes,
    /// so adding a user to a Team would wait for (or deadlock with) a PATCH of that user.
    pub fn for_update(&self) -> &'static str {
        match &self.0 {
            Inner::Postgres(s) if s.writing => " FOR NO KEY UPDATE",
            _ => "",
        }
    }

    /// Runs a statement; returns how many rows it changed.
    pub fn execute(&self, sql: &str, params: &[&dyn Param]) -> Result<usize> {
        match &self.0 {
            Inner::Sqlite(c) => Ok(c.prepare_cached(sql)?.execute(sqlite_params(params))?),
            Inner::Postgres(s) => {
                let n = s.block_on(async {
                    let stmt = s.client.prepare_cached(&placeholders(sql)).await?;
                    s.client.execute(&stmt, &pg_refs(&pg_params(params))).await
                })?;
                Ok(usize::try_from(n).unwrap_or(usize::MAX))
            }
        }
    }

    /// Runs several statements without parameters (schema steps, transaction control).
    pub fn execute_batch(&self, sql: &str) -> Result<()> {
        match &self.0 {
            Inner::Sqlite(c) => Ok(c.execute_batch(sql)?),
            Inner::Postgres(s) => s.block_on(s.client.batch_execute(sql)),
        }
    }

    /// The first row of a query, or `None` when it returned none.
    pub fn query_opt<T>(
        &self,
        sql: &str,
        params: &[&dyn Param],
        f: impl FnOnce(&Row<'_>) -> Result<T>,
    ) -> Result<Option<T>> {
        match &self.0 {
            Inner::Sqlite(c) => {
                let mut stmt = c.prepare_cached(sql)?;
                let mut rows = stmt.query(sqlite_params(params))?;
                match rows.next()? {
                    Some(r) => f(&Row(RowInner::Sqlite(r))).map(Some),
                    None => Ok(None),
                }
            }
            Inner::Postgres(s) => {
                let row = s.query(sql, params)?.into_iter().next();
                match row {
                    Some(r) => f(&Row(RowInner::Postgres(&r))).map(Some),
                    None => Ok(None),
                }
            }
        }
    }

    /// The first row of a query that always returns one (a count, an insert's `RETURNING`).
    pub fn query_row<T>(
        &self,
        sql: &str,
        params: &[&dyn Param],
        f: impl FnOnce(&Row<'_>) -> Result<T>,
    ) -> Result<T> {
        self.query_opt(sql, params, f)?
            .ok_or_else(|| Error::Internal("database: a query returned no row".into()))
    }

    /// Every row of a query, each read by `f`.
    pub fn query_map<T>(
        &self,
        sql: &str,
        params: &[&dyn Param],
        mut f: impl FnMut(&Row<'_>) -> Result<T>,
    ) -> Result<Vec<T>> {
        match &self.0 {
            Inner::Sqlite(c) => {
                let mut stmt = c.prepare_cached(sql)?;
                let mut rows = stmt.query(sqlite_params(params))?;
                let mut out = Vec::new();
                while let Some(r) = rows.next()? {
                    out.push(f(&Row(RowInner::Sqlite(r)))?);
                }
                Ok(out)
            }
            Inner::Postgres(s) => {
                let rows = s.query(sql, params)?;
                rows.iter()
                    .map(|r| f(&Row(RowInner::Postgres(r))))
                    .collect()
            }
        }
    }
}

impl PgSession<'_> {
    /// Every row of `sql` (prepared once per connection, then reused).
    fn query(&self, sql: &str, params: &[&dyn Param]) -> Result<Vec<tokio_postgres::Row>> {
        self.block_on(async {
            let stmt = self.client.prepare_cached(&placeholders(sql)).await?;
            self.client.query(&stmt, &pg_refs(&pg_params(params))).await
        })
    }

    fn block_on<T>(
        &self,
        fut: impl std::future::Future<Output = std::result::Result<T, tokio_postgres::Error>>,
    ) -> Result<T> {
        self.rt.block_on(fut).map_err(super::postgres::error)
    }
}

/// Parameters as rusqlite binds them.
fn sqlite_params<'a>(
    params: &'a [&'a dyn Param],
) -> rusqlite::ParamsFromIter<impl Iterator<Item = SqliteValue<'a>>> {
    rusqlite::params_from_iter(params.iter().map(|p| SqliteValue(p.value())))
}

struct SqliteValue<'a>(ValueRef<'a>);

impl rusqlite::ToSql for SqliteValue<'_> {
    fn to_sql(&self) -> rusqlite::Result<rusqlite::types::ToSqlOutput<'_>> {
        use rusqlite::types::ValueRef as V;
        Ok(rusqlite::types::ToSqlOutput::Borrowed(match self.0 {
            ValueRef::Null => V::Null,
            ValueRef::Integer(i) => V::Integer(i),
            ValueRef::Real(f) => V::Real(f),
            ValueRef::Text(s) => V::Text(s.as_bytes()),
            ValueRef::Blob(b) => V::Blob(b),
        }))
    }
}

fn sqlite_value(v: rusqlite::types::ValueRef<'_>) -> ValueRef<'_> {
    use rusqlite::types::ValueRef as V;
    match v {
        V::Null => ValueRef::Null,
        V::Integer(i) => ValueRef::Integer(i),
        V::Real(f) => ValueRef::Real(f),
        // SQLite hands back what was stored; invalid UTF-8 reads as a blob.
        V::Text(t) => match std::str::from_utf8(t) {
            Ok(s) => ValueRef::Text(s),
            Err(_) => ValueRef::Blob(t),
        },
        V::Blob(b) => ValueRef::Blob(b),
    }
}

/// SQLite's `?` placeholders as PostgreSQL's `$1, $2, ...`, outside quoted text and
/// identifiers. `?NNN` keeps its number.
pub fn placeholders(sql: &str) -> String {
    let mut out = String::with_capacity(sql.len() + 16);
    let mut next = 0u32;
    let mut chars = sql.chars().peekable();
    let mut quote: Option<char> = None;
    while let Some(c) = chars.next() {
        if let Some(q) = quote {
            out.push(c);
            if c == q {
                quote = None;
            }
            continue;
        }
        match c {
            '\'' | '"' => {
                quote = Some(c);
                out.push(c);
            }
            '?' => {
                let mut digits = String::new();
                while let Some(d) = chars.peek().filter(|d| d.is_ascii_digit()) {
                    digits.push(*d);
                    chars.next();
                }
                if digits.is_empty() {
                    next += 1;
                    out.push_str(&format!("${next}"));
                } else {
                    next = next.max(digits.parse().unwrap_or(0));
                    out.push('$');
                    out.push_str(&digits);
                }
            }
            c => out.push(c),
        }
    }
    out
}

/// A parameter as PostgreSQL binds it: converted to whatever type the server inferred for its
/// placeholder, the way SQLite converts by affinity.
#[derive(Debug)]
struct PgValue<'a>(ValueRef<'a>);

fn pg_params<'a>(params: &'a [&'a dyn Param]) -> Vec<PgValue<'a>> {
    params.iter().map(|p| PgValue(p.value())).collect()
}

fn pg_refs<'a>(values: &'a [PgValue<'a>]) -> Vec<&'a (dyn ToSql + Sync)> {
    values.iter().map(|v| v as &(dyn ToSql + Sync)).collect()
}

impl ToSql for PgValue<'_> {
    fn to_sql(
        &self,
        ty: &Type,
        out: &mut BytesMut,
    ) -> std::result::Result<IsNull, Box<dyn std::error::Error + Sync + Send>> {
        let wrong = || -> Box<dyn std::error::Error + Sync + Send> {
            format!("cannot bind {:?} as {ty}", self.0).into()
        };
        match self.0 {
            ValueRef::Null => Ok(IsNull::Yes),
            ValueRef::Integer(i) => match *ty {
                Type::INT8 => i.to_sql(ty, out),
                Type::INT4 => i32::try_from(i).map_err(|_| wrong())?.to_sql(ty, out),
                Type::INT2 => i16::try_from(i).map_err(|_| wrong())?.to_sql(ty, out),
                Type::BOOL => (i != 0).to_sql(ty, out),
                Type::FLOAT8 => (i as f64).to_sql(ty, out),
                Type::FLOAT4 => (i as f32).to_sql(ty, out),
                Type::TEXT | Type::VARCHAR | Type::BPCHAR | Type::NAME | Type::UNKNOWN => {
                    i.to_string().as_str().to_sql(&Type::TEXT, out)
                }
                _ => Err(wrong()),
            },
            ValueRef::Real(f) => match *ty {
                Type::FLOAT8 => f.to_sql(ty, out),
                Type::FLOAT4 => (f as f32).to_sql(ty, out),
                Type::TEXT | Type::VARCHAR | Type::BPCHAR | Type::NAME | Type::UNKNOWN => {
                    f.to_string().as_str().to_sql(&Type::TEXT, out)
                }
                _ => Err(wrong()),
            },
            ValueRef::Text(s) => match *ty {
                Type::JSONB => {
                    out.extend_from_slice(&[1]);
                    out.extend_from_slice(s.as_bytes());
                    Ok(IsNull::No)
                }
                Type::JSON => {
                    out.extend_from_slice(s.as_bytes());
                    Ok(IsNull::No)
                }
                Type::BYTEA => s.as_bytes().to_sql(ty, out),
                Type::TEXT | Type::VARCHAR | Type::BPCHAR | Type::NAME | Type::UNKNOWN => {
                    s.to_sql(&Type::TEXT, out)
                }
                _ => Err(wrong()),
            },
            ValueRef::Blob(b) => match *ty {
                Type::BYTEA => b.to_sql(ty, out),
                _ => Err(wrong()),
            },
        }
    }

    fn accepts(_: &Type) -> bool {
        true
    }

    postgres_types::to_sql_checked!();
}

/// Column `i` of a PostgreSQL row as a [`ValueRef`]: integers of any width and booleans as
/// integers, text of any kind (JSON included) as text.
fn pg_value(row: &tokio_postgres::Row, i: usize) -> Result<ValueRef<'_>> {
    let ty = row
        .columns()
        .get(i)
        .ok_or_else(|| Error::Internal(format!("database: no column {i}")))?
        .type_()
        .clone();
    let raw: Raw<'_> = row.try_get(i).map_err(super::postgres::error)?;
    let Some(bytes) = raw.0 else {
        return Ok(ValueRef::Null);
    };
    let bad = |e: Box<dyn std::error::Error + Sync + Send>| {
        Error::Internal(format!("database: cannot read a {ty} column: {e}"))
    };
    use postgres_types::FromSql;
    Ok(match ty {
        Type::INT8 => ValueRef::Integer(i64::from_sql(&ty, bytes).map_err(bad)?),
        Type::INT4 => ValueRef::Integer(i32::from_sql(&ty, bytes).map_err(bad)?.into()),
        Type::INT2 => ValueRef::Integer(i16::from_sql(&ty, bytes).map_err(bad)?.into()),
        Type::OID => ValueRef::Integer(u32::from_sql(&ty, bytes).map_err(bad)?.into()),
        Type::BOOL => ValueRef::Integer(bool::from_sql(&ty, bytes).map_err(bad)?.into()),
        Type::FLOAT8 => ValueRef::Real(f64::from_sql(&ty, bytes).map_err(bad)?),
        Type::FLOAT4 => ValueRef::Real(f32::from_sql(&ty, bytes).map_err(bad)?.into()),
        Type::BYTEA => ValueRef::Blob(bytes),
        Type::JSONB => ValueRef::Text(
            std::str::from_utf8(bytes.get(1..).unwrap_or_default()).map_err(|e| bad(e.into()))?,
        ),
        _ => ValueRef::Text(std::str::from_utf8(bytes).map_err(|e| bad(e.into()))?),
    })
}

/// A column's bytes as the server sent them (binary format), or `None` for NULL.
struct Raw<'a>(Option<&'a [u8]>);

impl<'a> postgres_types::FromSql<'a> for Raw<'a> {
    fn from_sql(
        _: &Type,
        raw: &'a [u8],
    ) -> std::result::Result<Self, Box<dyn std::error::Error + Sync + Send>> {
        Ok(Raw(Some(raw)))
    }

    fn from_sql_null(
        _: &Type,
    ) -> std::result::Result<Self, Box<dyn std::error::Error + Sync + Send>> {
        Ok(Raw(None))
    }

    fn accepts(_: &Type) -> bool {
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_are_numbered_outside_quotes() {
        assert_eq!(
            placeholders("SELECT a FROM t WHERE b = ? AND c = '?' AND \"d?\" = ?"),
            "SELECT a FROM t WHERE b = $1 AND c = '?' AND \"d?\" = $2"
        );
        assert_eq!(placeholders("x = ?2 OR y = ?1"), "x = $2 OR y = $1");
        assert_eq!(placeholders("'it''s' = ?"), "'it''s' = $1");
    }

    #[test]
    fn sqlite_binds_and_reads_every_kind() {
        let c = rusqlite::Connection::open_in_memory().unwrap();
        let conn = Conn::sqlite(&c);
        conn.execute_batch("CREATE TABLE t (a INTEGER, b TEXT, c REAL, d BLOB, e INTEGER)")
            .unwrap();
        let none: Option<String> = None;
        let n = conn
            .execute(
                "INSERT INTO t VALUES (?, ?, ?, ?, ?)",
                params![7i64, "x", 1.5f64, vec![1u8, 2], true],
            )
            .unwrap();
        assert_eq!(n, 1);
        conn.execute(
            "INSERT INTO t VALUES (?, ?, NULL, NULL, ?)",
            params![8i64, none, false],
        )
        .unwrap();
        let rows = conn
            .query_map("SELECT a, b, c, d, e FROM t ORDER BY a", params![], |r| {
                Ok((
                    r.get::<i64>(0)?,
                    r.get::<Option<String>>(1)?,
                    r.get::<Option<f64>>(2)?,
                    r.get::<Option<Vec<u8>>>(3)?,
                    r.get::<bool>(4)?,
                ))
            })
            .unwrap();
        assert_eq!(
            rows,
            vec![
                (7, Some("x".into()), Some(1.5), Some(vec![1, 2]), true),
                (8, None, None, None, false)
            ]
        );
        let missing = conn
            .query_opt("SELECT a FROM t WHERE a = ?", params![99], |r| {
                r.get::<i64>(0)
            })
            .unwrap();
        assert_eq!(missing, None);
        assert!(
            conn.query_row("SELECT a FROM t WHERE a = ?", params![99], |r| r
                .get::<i64>(0))
                .is_err()
        );
        assert_eq!(conn.for_update(), "");
    }
}
