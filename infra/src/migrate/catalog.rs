//! What the source holds: its tables (with the columns to copy and how to
//! identify a row) and its sequences.

use sqlx::PgConnection;

use crate::pg::TableName;

/// Schemas that are never user data: the system's, this tool's state, and the
/// control plane's (each database keeps its own).
pub const SYSTEM_SCHEMAS: &str = "n.nspname NOT IN ('pg_catalog', 'information_schema', 'tweetgen_migrate',
    'tweetgen_control') AND n.nspname NOT LIKE 'pg\\_%'";

/// `pg_class c` is not a member of an extension (the extension creates it on the target).
const NOT_FROM_AN_EXTENSION: &str = "NOT EXISTS (SELECT 1 FROM pg_depend ext WHERE ext.classid = 'pg_class'::regclass
                                        AND ext.objid = c.oid AND ext.deptype = 'e')";

#[derive(Clone, Debug)]
pub struct Table {
    pub name: TableName,
    /// Stored columns in table order (generated columns are computed, not copied).
    pub columns: Vec<String>,
    /// Heap pages, heap bytes, and bytes with TOAST (the copy's size estimate).
    pub pages: i64,
    pub heap_bytes: i64,
    pub bytes: i64,
    /// Every column is a built-in type with a binary form, so COPY can use the
    /// binary format between servers (user types' binary forms carry OIDs that
    /// differ from server to server).
    pub binary: bool,
    /// The key of its largest B-tree index (not partial), as an ORDER BY list:
    /// rows copied in this order come to the target's build of that index
    /// already sorted, which it then checks rather than sorts.
    pub index_order: Option<String>,
}

/// Every ordinary table (partitions included, partitioned parents excluded: their
/// rows live in the partitions) that is user data.
pub async fn tables(connection: &mut PgConnection) -> anyhow::Result<Vec<Table>> {
    #[derive(sqlx::FromRow)]
    struct Found {
        schema: String,
        name: String,
        columns: Vec<String>,
        pages: i64,
        heap_bytes: i64,
        bytes: i64,
        binary: bool,
        index_order: Option<String>,
    }
    let rows: Vec<Found> = sqlx::query_as(&format!(
        "SELECT n.nspname::text AS schema, c.relname::text AS name,
            ARRAY(SELECT a.attname::text FROM pg_attribute a
                  WHERE a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped AND a.attgenerated = ''
                  ORDER BY a.attnum) AS columns,
            greatest(pg_relation_size(c.oid) / current_setting('block_size')::bigint, 0) AS pages,
            pg_relation_size(c.oid) AS heap_bytes,
            pg_table_size(c.oid) AS bytes,
            NOT EXISTS (SELECT 1 FROM pg_attribute a JOIN pg_type t ON t.oid = a.atttypid
                        LEFT JOIN pg_type e ON e.oid = t.typelem AND t.typcategory = 'A'
                        WHERE a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
                          AND (t.oid >= 16384 OR t.typsend = 0 OR e.oid >= 16384)) AS binary,
            (SELECT string_agg(pg_get_indexdef(i.indexrelid, k, true)
                               || CASE WHEN i.indoption[k - 1] & 1 = 1 THEN ' DESC' ELSE '' END
                               || CASE WHEN i.indoption[k - 1] & 2 = 2 THEN ' NULLS FIRST' ELSE ' NULLS LAST' END,
                               ', ' ORDER BY k)
             FROM (SELECT i.indexrelid, i.indoption, i.indnkeyatts
                   FROM pg_index i JOIN pg_class ic ON ic.oid = i.indexrelid
                   JOIN pg_am am ON am.oid = ic.relam
                   WHERE i.indrelid = c.oid AND am.amname = 'btree' AND i.indpred IS NULL AND i.indisvalid
                   ORDER BY pg_relation_size(i.indexrelid) DESC, i.indexrelid LIMIT 1) i,
                  generate_series(1, i.indnkeyatts) k) AS index_order
         FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
         WHERE c.relkind = 'r' AND c.relpersistence <> 't' AND {SYSTEM_SCHEMAS}
           AND {NOT_FROM_AN_EXTENSION}
         ORDER BY 1, 2"
    ))
    .fetch_all(connection)
    .await?;
    Ok(rows
        .into_iter()
        .map(|found| Table {
            name: TableName::new(found.schema, found.name),
            columns: found.columns,
            pages: found.pages,
            heap_bytes: found.heap_bytes,
            bytes: found.bytes,
            binary: found.binary,
            index_order: found.index_order,
        })
        .collect())
}

impl Table {
    /// Most of its bytes are values stored out of line (TOAST): its heap pages
    /// say little about where its bytes are.
    pub fn mostly_toast(&self) -> bool {
        self.bytes > 2 * self.heap_bytes
    }
}

#[derive(Clone, Debug)]
pub struct Sequence {
    pub name: TableName,
    /// The column it feeds (serial, identity, or `OWNED BY`), if any.
    pub owner: Option<(TableName, String)>,
}

pub async fn sequences(connection: &mut PgConnection) -> anyhow::Result<Vec<Sequence>> {
    #[derive(sqlx::FromRow)]
    struct Found {
        schema: String,
        name: String,
        table_schema: Option<String>,
        table_name: Option<String>,
        column_name: Option<String>,
    }
    let rows: Vec<Found> = sqlx::query_as(&format!(
        "SELECT n.nspname AS schema, c.relname AS name, tn.nspname AS table_schema, t.relname AS table_name,
                a.attname::text AS column_name
         FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
         LEFT JOIN pg_depend d ON d.classid = 'pg_class'::regclass AND d.objid = c.oid
              AND d.refclassid = 'pg_class'::regclass AND d.deptype IN ('a', 'i')
         LEFT JOIN pg_class t ON t.oid = d.refobjid
         LEFT JOIN pg_namespace tn ON tn.oid = t.relnamespace
         LEFT JOIN pg_attribute a ON a.attrelid = d.refobjid AND a.attnum = d.refobjsubid
         WHERE c.relkind = 'S' AND {SYSTEM_SCHEMAS}
           AND {NOT_FROM_AN_EXTENSION}
         ORDER BY 1, 2"
    ))
    .fetch_all(connection)
    .await?;
    Ok(rows
        .into_iter()
        .map(|found| Sequence {
            name: TableName::new(found.schema, found.name),
            owner: match (found.table_schema, found.table_name, found.column_name) {
                (Some(schema), Some(table), Some(column)) => Some((TableName::new(schema, table), column)),
                _ => None,
            },
        })
        .collect())
}

/// The server's major version (`server_version_num` / 10000).
pub async fn major_version(connection: &mut PgConnection) -> anyhow::Result<i32> {
    let number: String =
        sqlx::query_scalar("SELECT current_setting('server_version_num')").fetch_one(connection).await?;
    Ok(number.parse::<i32>()? / 10_000)
}
