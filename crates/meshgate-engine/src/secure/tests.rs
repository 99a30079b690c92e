//! Run-time filters and the secured scan: a join's filter on a plain key goes inside the scan
//! (so the Parquet reader can skip with it), one on a masked key does not, and neither changes
//! an answer.

use std::collections::BTreeMap;
use std::sync::Arc;

use deltalake::arrow::array::{Int64Array, RecordBatch, StringArray};
use deltalake::arrow::datatypes::{DataType, Field, Schema};
use deltalake::arrow::util::pretty::pretty_format_batches;
use deltalake::datafusion::datasource::MemTable;
use deltalake::datafusion::physical_plan::{collect, displayable};
use deltalake::datafusion::prelude::SessionContext;
use meshgate_core::access::Mask;

use super::*;

/// 2,000 lines: key `k`, a region (EU for even keys) and a code.
fn lines() -> Arc<MemTable> {
    let keys: Vec<i64> = (0..2_000).collect();
    let regions: Vec<&str> = keys
        .iter()
        .map(|k| if k % 2 == 0 { "EU" } else { "US" })
        .collect();
    let codes: Vec<String> = keys.iter().map(|k| format!("code-{k:04}")).collect();
    let schema = Arc::new(Schema::new(vec![
        Field::new("k", DataType::Int64, false),
        Field::new("region", DataType::Utf8, false),
        Field::new("code", DataType::Utf8, false),
    ]));
    let batch = RecordBatch::try_new(
        schema.clone(),
        vec![
            Arc::new(Int64Array::from(keys)),
            Arc::new(StringArray::from(regions)),
            Arc::new(StringArray::from(codes)),
        ],
    )
    .unwrap();
    Arc::new(MemTable::try_new(schema, vec![vec![batch]]).unwrap())
}

/// The keys a query joins with: two EU lines, one US line, one key no line has; and codes.
fn wanted() -> Arc<MemTable> {
    let schema = Arc::new(Schema::new(vec![
        Field::new("key", DataType::Int64, false),
        Field::new("want", DataType::Utf8, false),
    ]));
    let batch = RecordBatch::try_new(
        schema.clone(),
        vec![
            Arc::new(Int64Array::from(vec![10, 11, 1500, 9_999])),
            Arc::new(StringArray::from(vec![
                "xxxxx0010",
                "code-0011",
                "xxxxx1500",
                "none",
            ])),
        ],
    )
    .unwrap();
    Arc::new(MemTable::try_new(schema, vec![vec![batch]]).unwrap())
}

/// EU rows only, `code` shown by its last four characters.
fn consumer() -> TableAccess {
    TableAccess {
        grants: vec![GrantRule {
            columns: None,
            row_filter: Some("region = 'EU'".into()),
            masks: BTreeMap::from([("code".to_string(), Mask::ShowLast4)]),
        }],
        ..TableAccess::default()
    }
}

/// Runs `sql` with `lines` secured for `access`; the answer and the plan under the secured
/// scan as planned (empty when the read has none).
async fn run(access: &TableAccess, sql: &str) -> (String, String) {
    let ctx = SessionContext::new();
    let secured = SecureTable::try_new("lines", lines(), access).unwrap();
    ctx.register_table("lines", Arc::new(secured)).unwrap();
    ctx.register_table("wanted", wanted()).unwrap();
    let plan = ctx
        .sql(sql)
        .await
        .unwrap()
        .create_physical_plan()
        .await
        .unwrap();
    fn inner(plan: &Arc<dyn ExecutionPlan>) -> Option<String> {
        if let Some(scan) = plan.downcast_ref::<SecureScanExec>() {
            return Some(displayable(scan.input().as_ref()).indent(true).to_string());
        }
        plan.children().into_iter().find_map(inner)
    }
    // An owner's read has no secured scan: it is the table's own scan.
    let under = inner(&plan).unwrap_or_default();
    let batches = collect(plan, ctx.task_ctx()).await.unwrap();
    (pretty_format_batches(&batches).unwrap().to_string(), under)
}

#[tokio::test]
async fn a_join_filter_on_a_plain_key_goes_in_and_one_on_a_masked_key_does_not() {
    let access = consumer();
    let by_key = "SELECT l.k, l.code FROM wanted w JOIN lines l ON l.k = w.key ORDER BY l.k";
    let (answer, under) = run(&access, by_key).await;
    assert!(under.contains("DynamicFilter"), "{under}");
    // Only the EU lines of the wanted keys, their codes masked.
    let expected = "+------+-----------+\n\
                    | k    | code      |\n\
                    +------+-----------+\n\
                    | 10   | xxxxx0010 |\n\
                    | 1500 | xxxxx1500 |\n\
                    +------+-----------+";
    assert_eq!(answer, expected);
    // The owner's answer through the same path has the US line and the raw codes.
    let (owner, under) = run(&TableAccess::owner(), by_key).await;
    assert!(owner.contains("code-0011"), "{owner}");
    assert!(under.is_empty(), "{under}");

    // Joined on the masked column: the filter would hold masked values, the scan's rows
    // raw ones, so it stays out, and the join still compares masked values.
    let by_code = "SELECT l.k, l.code FROM wanted w JOIN lines l ON l.code = w.want ORDER BY l.k";
    let (answer, under) = run(&access, by_code).await;
    assert!(!under.contains("DynamicFilter"), "{under}");
    assert_eq!(answer, expected);

    // A TopK's threshold on a plain column goes in too, and the answer is the visible top.
    let top = "SELECT k FROM lines ORDER BY k DESC LIMIT 3";
    let (answer, under) = run(&access, top).await;
    assert!(under.contains("DynamicFilter"), "{under}");
    assert!(
        answer.contains("| 1998 |") && answer.contains("| 1994 |"),
        "{answer}"
    );
    assert!(!answer.contains("1999"), "{answer}");
}
