//! The quickstart's demo catalog: a glossary, a form type, terms and classifications on the
//! demo products.

use std::collections::HashMap;

use meshgate_core::catalog::{
    self as model, Classification, FormTargetKind, MetadataForm, RelationKind, TableTags, TermLink,
};
use serde_json::json;
use uuid::Uuid;

use meshgate_server::AppState;
use meshgate_server::error::ApiResult;

/// Seeds a small catalog for the quickstart's demo mesh (idempotent: skipped once the
/// `business` glossary exists) and brings the search index up to date: a glossary, a form
/// type filled for both demo products, glossary terms on them, and a classification of each
/// table. No rules, so the demo's products stay requestable without forms. Kept out of
/// `demo::seed_demo`, which tests build on, so their catalogs start empty.
pub async fn seed_demo(state: &AppState) -> ApiResult<()> {
    seed_demo_catalog(state).await?;
    state.rebuild_index().await
}

async fn seed_demo_catalog(state: &AppState) -> ApiResult<()> {
    use chrono::Utc;
    use meshgate_core::catalog::{FieldKind, FormField, FormType, Glossary, GlossaryTerm};
    use meshgate_core::model::NewAuditEvent;

    if state
        .store
        .get_glossary_by_name("business")
        .await?
        .is_some()
    {
        return Ok(());
    }
    let seed = |action: &str, object: &str, id: Uuid| {
        NewAuditEvent::new(None, action, object, Some(id.to_string()))
            .with_detail(json!({"by": "seed"}))
    };
    let now = Utc::now();
    let glossary = Glossary {
        id: Uuid::now_v7(),
        name: "business".into(),
        description: "the words the business uses".into(),
        enabled: true,
        created_at: now,
        updated_at: now,
    };
    state
        .store
        .create_glossary(&glossary, seed("glossary.create", "glossary", glossary.id))
        .await?;
    let mut terms = HashMap::new();
    for (name, description) in [
        ("party", "a person or organisation the company deals with"),
        ("customer", "a party that buys from the web shop"),
        ("order", "a customer's purchase, paid or not"),
        ("revenue", "income from orders, net of refunds"),
    ] {
        let t = GlossaryTerm {
            id: Uuid::now_v7(),
            glossary_id: glossary.id,
            name: name.into(),
            description: description.into(),
            enabled: true,
            created_at: now,
            updated_at: now,
        };
        state
            .store
            .create_term(&t, seed("term.create", "glossary_term", t.id))
            .await?;
        terms.insert(name, t.id);
    }
    let term = |name: &str| terms.get(name).copied().unwrap_or_default();
    let relation = model::TermRelation {
        term_id: term("customer"),
        kind: RelationKind::IsA,
        target_id: term("party"),
    };
    state
        .store
        .add_term_relation(
            &relation,
            seed("term.relate", "glossary_term", relation.term_id),
        )
        .await?;
    let field = |name: &str, kind: FieldKind, required: bool, values: &[&str]| FormField {
        name: name.into(),
        kind,
        required,
        description: String::new(),
        values: values.iter().map(|v| v.to_string()).collect(),
        glossary: None,
    };
    let ownership = FormType {
        id: Uuid::now_v7(),
        name: "ownership".into(),
        description: "who answers for a data product, and how good it is".into(),
        revision: 1,
        fields: vec![
            field("owner", FieldKind::Principal, true, &[]),
            field(
                "tier",
                FieldKind::Enum,
                false,
                &["gold", "silver", "bronze"],
            ),
            field("reviewed", FieldKind::Date, false, &[]),
        ],
        created_by: Uuid::nil(),
        created_at: now,
        updated_at: now,
    };
    state
        .store
        .create_form_type(
            &ownership,
            seed("form_type.create", "form_type", ownership.id),
        )
        .await?;
    let Some(sales) = state.store.get_domain_by_name("sales").await? else {
        return Ok(());
    };
    let demo = [
        (
            "orders",
            "alice",
            "gold",
            &["order", "revenue"][..],
            Classification::Internal,
        ),
        (
            "customers",
            "carol",
            "silver",
            &["customer"][..],
            Classification::Confidential,
        ),
    ];
    for (name, owner, tier, product_terms, classification) in demo {
        let Some(product) = state.store.get_product_by_name(sales.id, name).await? else {
            continue;
        };
        let form = MetadataForm {
            target_kind: FormTargetKind::Product,
            target_id: product.id,
            product_id: Some(product.id),
            form_type_id: ownership.id,
            revision: 1,
            values: [
                ("owner".to_string(), json!(owner)),
                ("tier".to_string(), json!(tier)),
                ("reviewed".to_string(), json!("2025-01-15")),
            ]
            .into(),
            updated_by: Uuid::nil(),
            updated_at: now,
        };
        state
            .store
            .put_form(&form, seed("form.put", "product", product.id))
            .await?;
        for t in product_terms {
            let link = TermLink {
                term_id: term(t),
                product_id: product.id,
                table_id: None,
                column: None,
            };
            state
                .store
                .link_term(&link, seed("term.attach", "data_product", product.id))
                .await?;
        }
        for table in state.store.list_tables(product.id).await? {
            let tags = TableTags {
                table_id: table.id,
                tags: vec![classification.as_str().to_string()],
            };
            state
                .store
                .set_table_tags(&tags, seed("table.tag", "table", table.id))
                .await?;
        }
    }
    Ok(())
}
