//! What a column's name says about each kind: it supports it (`customer_email`), is merely
//! compatible (`name`), says nothing (`col7`, `contact`) or names something else that looks
//! alike (`order_number` for cards, `order_date` for dates of birth, `product_name` for
//! person names).

use crate::Kind;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Hint {
    Supports,
    /// Compatible but ambiguous (a bare `name`).
    Weak,
    Neutral,
    Contradicts,
}

/// The hint for every kind, computed once per column.
#[derive(Debug, Clone)]
pub struct Hints([Hint; 10]);

impl Hints {
    pub fn of(column_name: &str) -> Hints {
        let tokens = tokens(column_name);
        let joined: String = tokens.concat();
        let t = Tokens {
            tokens: &tokens,
            joined: &joined,
        };
        let mut hints = [Hint::Neutral; 10];
        for (i, kind) in Kind::ALL.into_iter().enumerate() {
            hints[i] = hint(kind, &t);
        }
        Hints(hints)
    }

    pub fn get(&self, kind: Kind) -> Hint {
        let i = Kind::ALL.iter().position(|k| *k == kind).unwrap_or(0);
        self.0[i]
    }
}

/// Lowercase words of a name: split at non-alphanumerics and at camelCase boundaries.
pub fn tokens(name: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut prev_lower = false;
    for c in name.chars() {
        if !c.is_alphanumeric() {
            if !cur.is_empty() {
                out.push(std::mem::take(&mut cur));
            }
            prev_lower = false;
            continue;
        }
        if c.is_uppercase() && prev_lower && !cur.is_empty() {
            out.push(std::mem::take(&mut cur));
        }
        prev_lower = c.is_lowercase() || c.is_ascii_digit();
        cur.extend(c.to_lowercase());
    }
    if !cur.is_empty() {
        out.push(cur);
    }
    out
}

struct Tokens<'a> {
    tokens: &'a [String],
    joined: &'a str,
}

impl Tokens<'_> {
    fn has(&self, words: &[&str]) -> bool {
        self.tokens.iter().any(|t| words.contains(&t.as_str()))
    }
    fn joined_has(&self, parts: &[&str]) -> bool {
        parts.iter().any(|p| self.joined.contains(p))
    }
}

/// Names of numbers that are not cards but may pass Luhn (order, invoice … numbers).
const NUMBERED_THINGS: &[&str] = &[
    "order",
    "orders",
    "invoice",
    "id",
    "ids",
    "ref",
    "reference",
    "tracking",
    "sku",
    "ean",
    "upc",
    "isbn",
    "gtin",
    "barcode",
    "serial",
    "transaction",
    "txn",
    "ticket",
    "shipment",
    "parcel",
    "booking",
    "confirmation",
    "po",
    "receipt",
    "account",
    "acct",
    "customer",
    "member",
    "loyalty",
    "imei",
    "batch",
    "lot",
    "no",
];

/// Names of dates that are not birth dates.
const OTHER_DATES: &[&str] = &[
    "order",
    "ordered",
    "created",
    "updated",
    "modified",
    "deleted",
    "event",
    "ship",
    "shipped",
    "shipping",
    "delivery",
    "delivered",
    "hire",
    "hired",
    "start",
    "end",
    "due",
    "expiry",
    "expires",
    "expiration",
    "valid",
    "ts",
    "timestamp",
    "time",
    "at",
    "paid",
    "payment",
    "purchase",
    "purchased",
    "signup",
    "registered",
    "registration",
    "login",
    "last",
    "first",
    "seen",
    "opened",
    "closed",
    "invoice",
    "booking",
    "checkin",
    "checkout",
    "departure",
    "arrival",
    "effective",
    "posted",
    "published",
    "release",
    "sale",
    "visit",
];

/// What a name qualified by these words names is not a person.
const NOT_PERSONS: &[&str] = &[
    "product",
    "item",
    "city",
    "town",
    "company",
    "org",
    "organisation",
    "organization",
    "brand",
    "file",
    "table",
    "column",
    "street",
    "store",
    "shop",
    "domain",
    "host",
    "country",
    "category",
    "project",
    "team",
    "app",
    "service",
    "event",
    "user",
    "username",
    "login",
    "screen",
    "nick",
    "display",
    "field",
    "dataset",
    "model",
    "device",
    "region",
    "state",
    "venue",
    "hotel",
    "business",
    "vendor",
    "supplier",
    "merchant",
    "bank",
    "school",
    "tag",
    "place",
    "site",
    "server",
    "queue",
    "topic",
    "schema",
    "database",
    "job",
    "task",
    "role",
    "group",
    "plan",
    "campaign",
    "menu",
    "course",
    "department",
    "dept",
];

const PERSON_NAME_WORDS: &[&str] = &[
    "firstname",
    "lastname",
    "surname",
    "fullname",
    "givenname",
    "familyname",
    "forename",
    "middlename",
    "maidenname",
    "forenames",
    "givennames",
    "nachname",
    "vorname",
    "nombre",
    "apellido",
    "prenom",
    "nom",
];

const PERSON_QUALIFIERS: &[&str] = &[
    "first",
    "last",
    "given",
    "family",
    "full",
    "middle",
    "maiden",
    "customer",
    "contact",
    "person",
    "employee",
    "patient",
    "client",
    "holder",
    "cardholder",
    "recipient",
    "sender",
    "author",
    "owner",
    "guest",
    "passenger",
    "student",
    "member",
    "applicant",
    "beneficiary",
    "buyer",
    "seller",
    "driver",
    "traveller",
    "traveler",
    "subscriber",
    "emergency",
    "spouse",
    "parent",
    "mother",
    "father",
    "child",
    "legal",
    "billing",
    "shipping",
    "account",
];

fn hint(kind: Kind, t: &Tokens) -> Hint {
    match kind {
        Kind::Email => {
            if t.joined_has(&["email", "emailaddress"]) || t.has(&["mail", "mailbox"]) {
                Hint::Supports
            } else {
                Hint::Neutral
            }
        }
        Kind::Phone => {
            if t.joined_has(&["phone", "mobile", "msisdn", "telephone", "cellphone"])
                || t.has(&["tel", "cell", "fax", "mob", "telefon", "telefono", "handy"])
            {
                Hint::Supports
            } else {
                Hint::Neutral
            }
        }
        Kind::PaymentCard => {
            let cardish = t.joined_has(&["creditcard", "debitcard", "cardnumber", "cardno"])
                || t.has(&["card", "cc", "pan", "ccnum", "ccn"]);
            if cardish && !t.has(&["loyalty", "sim", "gift", "member", "library", "id"]) {
                Hint::Supports
            } else if t.has(NUMBERED_THINGS) {
                Hint::Contradicts
            } else {
                Hint::Neutral
            }
        }
        Kind::Iban => {
            if t.joined_has(&["iban"]) {
                Hint::Supports
            } else {
                Hint::Neutral
            }
        }
        Kind::UsSsn => {
            if t.has(&["ssn", "ssns"]) || t.joined_has(&["socialsecurity", "ssnumber"]) {
                Hint::Supports
            } else {
                Hint::Neutral
            }
        }
        Kind::Ipv4 | Kind::Ipv6 => {
            if t.has(&["ip", "ipv4", "ipv6", "ipaddr", "ipaddress", "ip4", "ip6"])
                || t.joined_has(&["ipaddress", "remoteaddr", "clientaddr", "peeraddr"])
            {
                Hint::Supports
            } else {
                Hint::Neutral
            }
        }
        Kind::DateOfBirth => {
            if t.joined_has(&["birth", "dob", "born", "geburt", "nacimiento", "naissance"]) {
                Hint::Supports
            } else if t.has(OTHER_DATES) || t.joined_has(&["timestamp", "createdat"]) {
                Hint::Contradicts
            } else {
                Hint::Neutral
            }
        }
        Kind::PersonName => person_name_hint(t),
        Kind::PostalAddress => {
            let other = t.has(&["email", "mail", "ip", "mac", "web", "url", "wallet", "e"])
                || t.joined_has(&["emailaddress", "ipaddress", "macaddress", "ipaddr"]);
            if other {
                Hint::Contradicts
            } else if t.joined_has(&["address", "street", "addr"])
                || t.has(&["adresse", "direccion", "indirizzo", "anschrift", "strasse"])
            {
                Hint::Supports
            } else {
                Hint::Neutral
            }
        }
    }
}

fn person_name_hint(t: &Tokens) -> Hint {
    if t.has(NOT_PERSONS) {
        return Hint::Contradicts;
    }
    if t.has(PERSON_NAME_WORDS) || t.joined_has(&["firstname", "lastname", "fullname"]) {
        return Hint::Supports;
    }
    let has_name = t.has(&["name", "names"]);
    if has_name && t.has(PERSON_QUALIFIERS) {
        return Hint::Supports;
    }
    if has_name {
        // A bare `name` (or `name` with an unknown qualifier): products and places too.
        return Hint::Weak;
    }
    if t.has(&[
        "person", "customer", "employee", "patient", "contact", "owner",
    ]) {
        return Hint::Weak;
    }
    Hint::Neutral
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_snake_and_camel_case() {
        assert_eq!(tokens("customerEmail"), ["customer", "email"]);
        assert_eq!(tokens("First_Name"), ["first", "name"]);
        assert_eq!(tokens("IPAddress"), ["ipaddress"]);
        assert_eq!(tokens("col7"), ["col7"]);
    }

    #[test]
    fn hints() {
        let h = |name: &str, kind| Hints::of(name).get(kind);
        assert_eq!(h("customer_email", Kind::Email), Hint::Supports);
        assert_eq!(h("order_number", Kind::PaymentCard), Hint::Contradicts);
        assert_eq!(h("card_number", Kind::PaymentCard), Hint::Supports);
        assert_eq!(h("loyalty_card_id", Kind::PaymentCard), Hint::Contradicts);
        assert_eq!(h("order_date", Kind::DateOfBirth), Hint::Contradicts);
        assert_eq!(h("dateOfBirth", Kind::DateOfBirth), Hint::Supports);
        assert_eq!(h("product_name", Kind::PersonName), Hint::Contradicts);
        assert_eq!(h("customer_name", Kind::PersonName), Hint::Supports);
        assert_eq!(h("name", Kind::PersonName), Hint::Weak);
        assert_eq!(h("email_address", Kind::PostalAddress), Hint::Contradicts);
        assert_eq!(h("shipping_address", Kind::PostalAddress), Hint::Supports);
        assert_eq!(h("zip", Kind::Ipv4), Hint::Neutral);
        assert_eq!(h("client_ip", Kind::Ipv4), Hint::Supports);
        assert_eq!(h("col7", Kind::Phone), Hint::Neutral);
    }
}
