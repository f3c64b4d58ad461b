//! The event catalog: which events the sender knows, with a title, a description and a sample
//! payload for each.
//!
//! Owns the 23 built-in events modelled on the Ultimate Multisite plugin (same slugs, UI names,
//! and flat, prefixed payload keys built from its customer / membership / payment / site /
//! domain / billing blocks, plus `wu_version` on every payload), the merge of custom events from
//! the config file over them, and event-name matching for a webhook's `events` list (names or
//! globs, `*` = all).
//!
//! Calls nobody inside the crate: plain data over `serde_json` and `globset`. It never panics on
//! any input; an unparsable glob simply matches by exact name.

use globset::{Glob, GlobMatcher};
use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};

/// The plugin version put into every built-in sample as `wu_version`.
pub const WU_VERSION: &str = "2.5.0";

/// One event the sender can dispatch.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EventDef {
    /// Slug, e.g. `payment_received`; the name webhooks subscribe to.
    pub name: String,
    /// Human name shown in the UI, e.g. "Payment Received".
    pub title: String,
    /// One sentence saying when the event fires.
    pub description: String,
    /// Sample payload (a JSON object) sent by *Send Test Event* and by an empty dispatch.
    pub sample: Value,
    /// True for the built-in catalog, false for events from the config file.
    #[serde(default)]
    pub builtin: bool,
}

impl EventDef {
    /// A custom (non-built-in) event. The title is derived from the name
    /// (`order_shipped` -> "Order Shipped").
    pub fn custom(name: impl Into<String>, description: impl Into<String>, sample: Value) -> Self {
        let name = name.into();
        EventDef {
            title: title_from_name(&name),
            name,
            description: description.into(),
            sample,
            builtin: false,
        }
    }
}

/// `order_shipped` / `order-shipped` -> "Order Shipped".
fn title_from_name(name: &str) -> String {
    name.split(['_', '-', '.', ' '])
        .filter(|w| !w.is_empty())
        .map(|w| {
            let mut chars = w.chars();
            match chars.next() {
                Some(first) => first.to_uppercase().chain(chars).collect::<String>(),
                None => String::new(),
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// The ordered catalog: built-in events first (in the reference order), custom events after.
#[derive(Debug, Clone, PartialEq)]
pub struct Catalog {
    events: Vec<EventDef>,
}

impl Default for Catalog {
    /// The built-in catalog alone.
    fn default() -> Self {
        Catalog::new(Vec::new())
    }
}

impl Catalog {
    /// The built-in events plus `custom`. A custom event whose name equals a built-in (or an
    /// earlier custom) event replaces it in place; other custom events are appended in order.
    /// Custom events are marked `builtin: false`.
    pub fn new(custom: Vec<EventDef>) -> Catalog {
        let mut events = builtin();
        for mut event in custom {
            event.builtin = false;
            match events.iter_mut().find(|e| e.name == event.name) {
                Some(slot) => *slot = event,
                None => events.push(event),
            }
        }
        Catalog { events }
    }

    /// The event named exactly `name`.
    pub fn get(&self, name: &str) -> Option<&EventDef> {
        self.events.iter().find(|e| e.name == name)
    }

    /// Every event, in catalog order.
    pub fn all(&self) -> &[EventDef] {
        &self.events
    }

    /// Events whose name matches `pattern`: `*` = all, otherwise a glob (`payment_*`) or an
    /// exact name. In catalog order.
    pub fn matching(&self, pattern: &str) -> Vec<&EventDef> {
        let pattern = Pattern::new(pattern);
        self.events
            .iter()
            .filter(|e| pattern.matches(&e.name))
            .collect()
    }
}

/// Whether a webhook whose `events` list is `patterns` is subscribed to `event`. Each entry is
/// an event name or a glob; `*` matches every event. An empty list matches nothing.
pub fn event_matches(patterns: &[String], event: &str) -> bool {
    patterns.iter().any(|p| Pattern::new(p).matches(event))
}

/// One entry of an events list, compiled.
enum Pattern {
    All,
    Exact(String),
    Glob(GlobMatcher),
}

impl Pattern {
    fn new(text: &str) -> Pattern {
        let text = text.trim();
        if text == "*" {
            return Pattern::All;
        }
        if !text.contains(['*', '?', '[', '{']) {
            return Pattern::Exact(text.to_string());
        }
        match Glob::new(text) {
            Ok(glob) => Pattern::Glob(glob.compile_matcher()),
            Err(_) => Pattern::Exact(text.to_string()),
        }
    }

    fn matches(&self, event: &str) -> bool {
        match self {
            Pattern::All => true,
            Pattern::Exact(name) => name == event,
            Pattern::Glob(glob) => glob.is_match(event),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Sample payloads
// ---------------------------------------------------------------------------------------------

/// Network admin base of the mock network the samples live on.
const NETWORK_ADMIN: &str = "https://mynetwork.dev/wp-admin/network/admin.php";
const CUSTOMER_ID: i64 = 42;
const MEMBERSHIP_ID: i64 = 18;
const PAYMENT_ID: i64 = 1207;
const SITE_ID: i64 = 3;
const DOMAIN_ID: i64 = 5;

/// A flat payload under construction; keys keep insertion order (`preserve_order`).
struct Payload(Map<String, Value>);

impl Payload {
    fn new() -> Self {
        Payload(Map::new())
    }

    /// Adds (or, for a key already present, overwrites in place) one field.
    fn set(mut self, key: &str, value: Value) -> Self {
        self.0.insert(key.to_string(), value);
        self
    }

    /// The customer block (8 fields).
    fn customer(self) -> Self {
        self.set("customer_id", json!(CUSTOMER_ID))
            .set("customer_name", json!("John McMocked"))
            .set("customer_user_id", json!(7))
            .set("customer_user_email", json!("mockeduser@dev.dev"))
            .set("customer_email_verification", json!("verified"))
            .set(
                "customer_avatar",
                json!("<img alt='' src='https://secure.gravatar.com/avatar/5d7f3c1e9a2b4f6081c3e5a7b9d1f2e4?s=96&d=mm&r=g' class='avatar avatar-96 photo' height='96' width='96' loading='lazy' decoding='async'/>"),
            )
            .set(
                "customer_billing_address",
                json!("Company Co.\ncompany@co.dev\n548 Market Street\nSuite 2100\nUS\nCA\nSan Francisco\n94104"),
            )
            .set(
                "customer_manage_url",
                json!(format!("{NETWORK_ADMIN}?page=wp-ultimo-edit-customer&id={CUSTOMER_ID}")),
            )
    }

    /// The membership block (12 fields).
    fn membership(self) -> Self {
        self.set("membership_id", json!(MEMBERSHIP_ID))
            .set("membership_status", json!("active"))
            .set("membership_reference_code", json!("7QK3ZT9WXB"))
            .set("membership_initial_amount", json!("$29.00"))
            .set("membership_initial_amount_raw", json!(29.0))
            .set("membership_amount", json!("$29.00"))
            .set("membership_amount_raw", json!(29.0))
            .set("membership_currency", json!("USD"))
            .set("membership_description", json!("$29 / month"))
            .set("membership_gateway", json!("stripe"))
            .set("membership_date_expiration", json!("2026-05-14 23:59:59"))
            .set(
                "membership_manage_url",
                json!(format!(
                    "{NETWORK_ADMIN}?page=wp-ultimo-edit-membership&id={MEMBERSHIP_ID}"
                )),
            )
    }

    /// The payment block (15 fields).
    fn payment(self) -> Self {
        self.set("payment_id", json!(PAYMENT_ID))
            .set("payment_status", json!("completed"))
            .set("payment_reference_code", json!("PMT4H8ZQ1V"))
            .set("payment_subtotal", json!("$29.00"))
            .set("payment_tax_total", json!("$2.32"))
            .set("payment_total", json!("$31.32"))
            .set("payment_subtotal_raw", json!(29.0))
            .set("payment_tax_total_raw", json!(2.32))
            .set("payment_total_raw", json!(31.32))
            .set("payment_currency", json!("USD"))
            .set(
                "payment_product_names",
                json!("Premium Plan, Extra Storage"),
            )
            .set("payment_date_created", json!("2026-04-14 09:31:07"))
            .set("payment_gateway", json!("stripe"))
            .set(
                "payment_invoice_url",
                json!("https://mynetwork.dev/?action=invoice&reference=PMT4H8ZQ1V&key=9c1e4b7a2f"),
            )
            .set(
                "payment_manage_url",
                json!(format!(
                    "{NETWORK_ADMIN}?page=wp-ultimo-edit-payment&id={PAYMENT_ID}"
                )),
            )
    }

    /// The site block (6 fields).
    fn site(self) -> Self {
        self.set("site_id", json!(SITE_ID))
            .set("site_title", json!("Example Site"))
            .set(
                "site_description",
                json!("Handmade ceramics from a small studio"),
            )
            .set("site_url", json!("https://examplesite.dev/"))
            .set("site_admin_url", json!("https://examplesite.dev/wp-admin/"))
            .set(
                "site_manage_url",
                json!(format!(
                    "{NETWORK_ADMIN}?page=wp-ultimo-edit-site&id={SITE_ID}"
                )),
            )
    }

    /// The domain block (9 fields); its booleans are the strings "true"/"false", as the plugin
    /// sends them.
    fn domain(self) -> Self {
        self.set("domain_id", json!(DOMAIN_ID))
            .set("domain_domain", json!("example.com"))
            .set("domain_site_id", json!(SITE_ID))
            .set("domain_stage", json!("checking-dns"))
            .set("domain_active", json!("true"))
            .set("domain_primary", json!("true"))
            .set("domain_secure", json!("false"))
            .set("domain_date_created", json!("2026-04-14 10:02:45"))
            .set(
                "domain_manage_url",
                json!(format!(
                    "{NETWORK_ADMIN}?page=wp-ultimo-edit-domain&id={DOMAIN_ID}"
                )),
            )
    }

    /// The billing block (8 fields, model events only).
    fn billing(self) -> Self {
        self.set("company_name", json!("Company Co."))
            .set("billing_email", json!("company@co.dev"))
            .set("billing_address_line_1", json!("548 Market Street"))
            .set("billing_address_line_2", json!("Suite 2100"))
            .set("billing_country", json!("US"))
            .set("billing_state", json!("CA"))
            .set("billing_city", json!("San Francisco"))
            .set("billing_zip_code", json!("94104"))
    }

    /// The five `post_*` fields of the subsite post events.
    fn post(self, id: i64, title: &str, post_type: &str) -> Self {
        self.set("post_id", json!(id))
            .set("post_title", json!(title))
            .set("post_type", json!(post_type))
            .set("post_status", json!("publish"))
            .set("post_author_id", json!(7))
    }

    /// Appends `wu_version` and returns the JSON object.
    fn finish(self) -> Value {
        Value::Object(self.set("wu_version", json!(WU_VERSION)).0)
    }
}

fn def(name: &str, title: &str, description: &str, sample: Payload) -> EventDef {
    EventDef {
        name: name.to_string(),
        title: title.to_string(),
        description: description.to_string(),
        sample: sample.finish(),
        builtin: true,
    }
}

/// The 23 built-in events, in the order of the Ultimate Multisite catalog.
pub fn builtin() -> Vec<EventDef> {
    let p = Payload::new;
    vec![
        def(
            "payment_received",
            "Payment Received",
            "Fired every time a new payment is received, whatever its status.",
            p().payment().membership().customer(),
        ),
        def(
            "site_published",
            "Site Published",
            "Fired when a site tied to a membership is created, or moves from pending to published.",
            p().site().customer().membership(),
        ),
        def(
            "confirm_email_address",
            "Email Verification Needed",
            "Fired when a customer is added and their email address still needs verifying.",
            p().set(
                "verification_link",
                json!("https://mynetwork.dev/?wu-verify-email=1&customer=42&key=3f9a1c7e5b"),
            )
            .customer()
            .set("customer_email_verification", json!("pending")),
        ),
        def(
            "domain_created",
            "New Domain Mapping Added",
            "Fired when a customer adds a new domain mapping to one of their sites.",
            p().domain().site().membership().customer(),
        ),
        def(
            "renewal_payment_created",
            "New Renewal Payment Created",
            "Fired when a renewal payment is created for a membership that is due.",
            p().set(
                "default_payment_url",
                json!("https://mynetwork.dev/checkout/?payment=PMT4H8ZQ1V"),
            )
            .payment()
            .set("payment_status", json!("pending"))
            .membership()
            .customer(),
        ),
        def(
            "invoice_sent",
            "Invoice Sent",
            "Fired when a network admin sends an invoice to a customer.",
            p().set(
                "payment_url",
                json!("https://mynetwork.dev/checkout/?payment=PMT4H8ZQ1V"),
            )
            .set(
                "invoice_message",
                json!("Hi John, here is the invoice for your Premium Plan. Thank you for your business!"),
            )
            .payment()
            .set("payment_status", json!("pending"))
            .customer(),
        ),
        def(
            "payment_failed",
            "Recurring Payment Failed",
            "Fired when an auto-renewing payment fails at the gateway.",
            p().membership()
                .set("membership_status", json!("on-hold"))
                .customer()
                .set("payment_gateway", json!("stripe")),
        ),
        def(
            "membership_expired",
            "Membership Expired",
            "Fired when a membership reaches its expiration date and becomes expired.",
            p().membership()
                .set("membership_status", json!("expired"))
                .set("membership_date_expiration", json!("2026-04-13 23:59:59"))
                .customer(),
        ),
        def(
            "demo_site_expiring",
            "Demo Site Expiring",
            "Fired when a demo site enters its expiry-warning window.",
            p().site()
                .membership()
                .set("membership_status", json!("trialing"))
                .customer()
                .set("demo_expires_at", json!("2026-04-14 11:00:00"))
                .set("demo_time_remaining", json!("1 hour"))
                .set("site_admin_url", json!("https://examplesite.dev/wp-admin/"))
                .set("site_url", json!("https://examplesite.dev/")),
        ),
        def(
            "customer_created",
            "Customer Created",
            "This event is fired every time a new Customer is created.",
            p().customer().billing(),
        ),
        def(
            "customer_updated",
            "Customer Updated",
            "This event is fired every time a Customer is updated.",
            p().customer().billing(),
        ),
        def(
            "membership_created",
            "Membership Created",
            "This event is fired every time a new Membership is created.",
            p().membership().customer().billing(),
        ),
        def(
            "membership_updated",
            "Membership Updated",
            "This event is fired every time a Membership is updated.",
            p().membership().customer().billing(),
        ),
        def(
            "payment_created",
            "Payment Created",
            "This event is fired every time a new Payment is created.",
            p().payment().membership().customer().billing(),
        ),
        def(
            "payment_updated",
            "Payment Updated",
            "This event is fired every time a Payment is updated.",
            p().payment().membership().customer().billing(),
        ),
        def(
            "checkout_started",
            "Checkout Started",
            "Fired when a visitor lands on a checkout page.",
            p().set("form_slug", json!("main-form"))
                .set("user_id", json!(0))
                .set("ip_address", json!("203.0.113.24"))
                .set("referrer", json!("https://mynetwork.dev/pricing/")),
        ),
        def(
            "checkout_step_completed",
            "Checkout Step Completed",
            "Fired when a checkout step is submitted and the order is assembled.",
            p().membership()
                .set("membership_status", json!("pending"))
                .customer()
                .set("cart_type", json!("new"))
                .set("is_free", json!(false)),
        ),
        def(
            "checkout_completed",
            "Checkout Completed",
            "Fired when a checkout is fully processed and the gateway reports success.",
            p().payment()
                .membership()
                .customer()
                .set("cart_type", json!("new"))
                .set("gateway", json!("stripe"))
                .set("is_free", json!(false)),
        ),
        def(
            "checkout_failed",
            "Checkout Failed",
            "Fired when a checkout attempt returns validation or gateway errors.",
            p().set("error_codes", json!(["email_exists", "card_declined"]))
                .set(
                    "error_messages",
                    json!({
                        "email_exists": "A customer with that email address already exists.",
                        "card_declined": "Your card was declined."
                    }),
                )
                .set("user_id", json!(0)),
        ),
        def(
            "subsite_post_created",
            "Subsite Post Created",
            "Fired when a customer publishes a new post on their subsite.",
            p().post(214, "Spring Glaze Collection Is Here", "post")
                .site()
                .membership(),
        ),
        def(
            "subsite_cpt_created",
            "Subsite Custom Post Type Entry Created",
            "Fired when a customer creates a new custom-post-type entry on their subsite.",
            p().post(215, "Speckled Stoneware Mug", "product")
                .site()
                .membership(),
        ),
        def(
            "subsite_user_registered",
            "Subsite User Registered",
            "Fired when a new user is added to a customer's subsite.",
            p().set("new_user_id", json!(58))
                .set("new_user_login", json!("janedoe"))
                .set("new_user_email", json!("jane.doe@example.org"))
                .set("new_user_role", json!("subscriber"))
                .site()
                .membership(),
        ),
        def(
            "subsite_woocommerce_order",
            "Subsite WooCommerce Order Placed",
            "Fired when a WooCommerce order is created on a customer's subsite.",
            p().set("order_id", json!(1093))
                .set("order_total", json!("99.00"))
                .set("order_status", json!("processing"))
                .set("order_items", json!(3))
                .site()
                .membership(),
        ),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    const REFERENCE_ORDER: [&str; 23] = [
        "payment_received",
        "site_published",
        "confirm_email_address",
        "domain_created",
        "renewal_payment_created",
        "invoice_sent",
        "payment_failed",
        "membership_expired",
        "demo_site_expiring",
        "customer_created",
        "customer_updated",
        "membership_created",
        "membership_updated",
        "payment_created",
        "payment_updated",
        "checkout_started",
        "checkout_step_completed",
        "checkout_completed",
        "checkout_failed",
        "subsite_post_created",
        "subsite_cpt_created",
        "subsite_user_registered",
        "subsite_woocommerce_order",
    ];

    const CUSTOMER_KEYS: [&str; 8] = [
        "customer_id",
        "customer_name",
        "customer_user_id",
        "customer_user_email",
        "customer_email_verification",
        "customer_avatar",
        "customer_billing_address",
        "customer_manage_url",
    ];
    const MEMBERSHIP_KEYS: [&str; 12] = [
        "membership_id",
        "membership_status",
        "membership_reference_code",
        "membership_initial_amount",
        "membership_initial_amount_raw",
        "membership_amount",
        "membership_amount_raw",
        "membership_currency",
        "membership_description",
        "membership_gateway",
        "membership_date_expiration",
        "membership_manage_url",
    ];
    const PAYMENT_KEYS: [&str; 15] = [
        "payment_id",
        "payment_status",
        "payment_reference_code",
        "payment_subtotal",
        "payment_tax_total",
        "payment_total",
        "payment_subtotal_raw",
        "payment_tax_total_raw",
        "payment_total_raw",
        "payment_currency",
        "payment_product_names",
        "payment_date_created",
        "payment_gateway",
        "payment_invoice_url",
        "payment_manage_url",
    ];
    const SITE_KEYS: [&str; 6] = [
        "site_id",
        "site_title",
        "site_description",
        "site_url",
        "site_admin_url",
        "site_manage_url",
    ];
    const DOMAIN_KEYS: [&str; 9] = [
        "domain_id",
        "domain_domain",
        "domain_site_id",
        "domain_stage",
        "domain_active",
        "domain_primary",
        "domain_secure",
        "domain_date_created",
        "domain_manage_url",
    ];
    const BILLING_KEYS: [&str; 8] = [
        "company_name",
        "billing_email",
        "billing_address_line_1",
        "billing_address_line_2",
        "billing_country",
        "billing_state",
        "billing_city",
        "billing_zip_code",
    ];

    fn sample<'a>(events: &'a [EventDef], name: &str) -> &'a Map<String, Value> {
        events
            .iter()
            .find(|e| e.name == name)
            .and_then(|e| e.sample.as_object())
            .expect("event with an object sample")
    }

    fn keys(map: &Map<String, Value>) -> Vec<&str> {
        map.keys().map(String::as_str).collect()
    }

    /// Concatenation of key lists: the expected exact key order of a sample.
    fn concat<'a>(parts: &[&[&'a str]]) -> Vec<&'a str> {
        parts.iter().flat_map(|p| p.iter().copied()).collect()
    }

    #[test]
    fn builtin_has_all_23_events_in_reference_order() {
        let events = builtin();
        assert_eq!(events.len(), 23);
        let names: Vec<&str> = events.iter().map(|e| e.name.as_str()).collect();
        assert_eq!(names, REFERENCE_ORDER);
    }

    #[test]
    fn builtin_slugs_and_titles_are_unique_and_filled_in() {
        let events = builtin();
        let slugs: HashSet<&str> = events.iter().map(|e| e.name.as_str()).collect();
        assert_eq!(slugs.len(), events.len());
        let titles: HashSet<&str> = events.iter().map(|e| e.title.as_str()).collect();
        assert_eq!(titles.len(), events.len());
        for e in &events {
            assert!(e.builtin, "{}", e.name);
            assert!(
                !e.title.is_empty() && e.description.ends_with('.'),
                "{}",
                e.name
            );
            assert!(
                e.name.bytes().all(|c| c.is_ascii_lowercase() || c == b'_'),
                "{}",
                e.name
            );
        }
    }

    #[test]
    fn ui_names_follow_the_plugin() {
        let events = builtin();
        let title = |n: &str| {
            events
                .iter()
                .find(|e| e.name == n)
                .map(|e| e.title.as_str())
        };
        assert_eq!(
            title("confirm_email_address"),
            Some("Email Verification Needed")
        );
        assert_eq!(title("domain_created"), Some("New Domain Mapping Added"));
        assert_eq!(title("payment_failed"), Some("Recurring Payment Failed"));
        assert_eq!(
            title("subsite_woocommerce_order"),
            Some("Subsite WooCommerce Order Placed")
        );
    }

    #[test]
    fn every_sample_is_an_object_ending_with_wu_version() {
        for e in builtin() {
            let map = e.sample.as_object().expect("object sample");
            assert_eq!(
                map.get("wu_version"),
                Some(&json!(WU_VERSION)),
                "{}",
                e.name
            );
            assert_eq!(
                map.keys().next_back().map(String::as_str),
                Some("wu_version"),
                "{}",
                e.name
            );
        }
    }

    #[test]
    fn payment_events_carry_the_15_payment_keys_with_their_types() {
        let events = builtin();
        for name in [
            "payment_received",
            "renewal_payment_created",
            "invoice_sent",
            "payment_created",
            "payment_updated",
            "checkout_completed",
        ] {
            let map = sample(&events, name);
            for key in PAYMENT_KEYS {
                assert!(map.contains_key(key), "{name} lacks {key}");
            }
            assert!(map["payment_id"].is_i64(), "{name}");
            for key in ["payment_subtotal", "payment_tax_total", "payment_total"] {
                assert!(
                    map[key].as_str().is_some_and(|s| s.starts_with('$')),
                    "{name} {key}"
                );
                assert!(map[&format!("{key}_raw")].is_f64(), "{name} {key}_raw");
            }
        }
    }

    #[test]
    fn domain_booleans_are_strings() {
        let events = builtin();
        let map = sample(&events, "domain_created");
        for key in ["domain_active", "domain_primary", "domain_secure"] {
            let v = map[key].as_str().expect("string boolean");
            assert!(v == "true" || v == "false", "{key} = {v}");
        }
        assert!(map["domain_id"].is_i64() && map["domain_site_id"].is_i64());
    }

    #[test]
    fn samples_follow_the_block_order_of_the_reference() {
        let events = builtin();
        let w: &[&str] = &["wu_version"];
        let cases: Vec<(&str, Vec<&str>)> = vec![
            (
                "payment_received",
                concat(&[&PAYMENT_KEYS, &MEMBERSHIP_KEYS, &CUSTOMER_KEYS, w]),
            ),
            (
                "site_published",
                concat(&[&SITE_KEYS, &CUSTOMER_KEYS, &MEMBERSHIP_KEYS, w]),
            ),
            (
                "confirm_email_address",
                concat(&[&["verification_link"], &CUSTOMER_KEYS, w]),
            ),
            (
                "domain_created",
                concat(&[
                    &DOMAIN_KEYS,
                    &SITE_KEYS,
                    &MEMBERSHIP_KEYS,
                    &CUSTOMER_KEYS,
                    w,
                ]),
            ),
            (
                "renewal_payment_created",
                concat(&[
                    &["default_payment_url"],
                    &PAYMENT_KEYS,
                    &MEMBERSHIP_KEYS,
                    &CUSTOMER_KEYS,
                    w,
                ]),
            ),
            (
                "invoice_sent",
                concat(&[
                    &["payment_url", "invoice_message"],
                    &PAYMENT_KEYS,
                    &CUSTOMER_KEYS,
                    w,
                ]),
            ),
            (
                "payment_failed",
                concat(&[&MEMBERSHIP_KEYS, &CUSTOMER_KEYS, &["payment_gateway"], w]),
            ),
            (
                "membership_expired",
                concat(&[&MEMBERSHIP_KEYS, &CUSTOMER_KEYS, w]),
            ),
            (
                "demo_site_expiring",
                concat(&[
                    &SITE_KEYS,
                    &MEMBERSHIP_KEYS,
                    &CUSTOMER_KEYS,
                    &["demo_expires_at", "demo_time_remaining"],
                    w,
                ]),
            ),
            (
                "customer_created",
                concat(&[&CUSTOMER_KEYS, &BILLING_KEYS, w]),
            ),
            (
                "customer_updated",
                concat(&[&CUSTOMER_KEYS, &BILLING_KEYS, w]),
            ),
            (
                "membership_created",
                concat(&[&MEMBERSHIP_KEYS, &CUSTOMER_KEYS, &BILLING_KEYS, w]),
            ),
            (
                "membership_updated",
                concat(&[&MEMBERSHIP_KEYS, &CUSTOMER_KEYS, &BILLING_KEYS, w]),
            ),
            (
                "payment_created",
                concat(&[
                    &PAYMENT_KEYS,
                    &MEMBERSHIP_KEYS,
                    &CUSTOMER_KEYS,
                    &BILLING_KEYS,
                    w,
                ]),
            ),
            (
                "payment_updated",
                concat(&[
                    &PAYMENT_KEYS,
                    &MEMBERSHIP_KEYS,
                    &CUSTOMER_KEYS,
                    &BILLING_KEYS,
                    w,
                ]),
            ),
            (
                "checkout_started",
                concat(&[&["form_slug", "user_id", "ip_address", "referrer"], w]),
            ),
            (
                "checkout_step_completed",
                concat(&[
                    &MEMBERSHIP_KEYS,
                    &CUSTOMER_KEYS,
                    &["cart_type", "is_free"],
                    w,
                ]),
            ),
            (
                "checkout_completed",
                concat(&[
                    &PAYMENT_KEYS,
                    &MEMBERSHIP_KEYS,
                    &CUSTOMER_KEYS,
                    &["cart_type", "gateway", "is_free"],
                    w,
                ]),
            ),
            (
                "checkout_failed",
                concat(&[&["error_codes", "error_messages", "user_id"], w]),
            ),
        ];
        let post: &[&str] = &[
            "post_id",
            "post_title",
            "post_type",
            "post_status",
            "post_author_id",
        ];
        let mut cases = cases;
        cases.push((
            "subsite_post_created",
            concat(&[post, &SITE_KEYS, &MEMBERSHIP_KEYS, w]),
        ));
        cases.push((
            "subsite_cpt_created",
            concat(&[post, &SITE_KEYS, &MEMBERSHIP_KEYS, w]),
        ));
        cases.push((
            "subsite_user_registered",
            concat(&[
                &[
                    "new_user_id",
                    "new_user_login",
                    "new_user_email",
                    "new_user_role",
                ],
                &SITE_KEYS,
                &MEMBERSHIP_KEYS,
                w,
            ]),
        ));
        cases.push((
            "subsite_woocommerce_order",
            concat(&[
                &["order_id", "order_total", "order_status", "order_items"],
                &SITE_KEYS,
                &MEMBERSHIP_KEYS,
                w,
            ]),
        ));
        assert_eq!(cases.len(), 23, "every event has an expected key order");
        for (name, expected) in cases {
            assert_eq!(keys(sample(&events, name)), expected, "{name}");
        }
    }

    #[test]
    fn field_types_match_the_reference() {
        let events = builtin();
        let m = sample(&events, "checkout_completed");
        assert!(m["customer_id"].is_i64() && m["customer_user_id"].is_i64());
        assert_eq!(m["customer_name"], json!("John McMocked"));
        assert_eq!(m["customer_user_email"], json!("mockeduser@dev.dev"));
        assert!(m["customer_avatar"]
            .as_str()
            .is_some_and(|s| s.starts_with("<img")));
        assert!(m["membership_id"].is_i64());
        assert!(
            m["membership_initial_amount_raw"].is_number()
                && m["membership_amount_raw"].is_number()
        );
        assert!(m["is_free"].is_boolean());
        // 'Y-m-d H:i:s'
        for key in ["membership_date_expiration", "payment_date_created"] {
            let v = m[key].as_str().expect("datetime string");
            let b = v.as_bytes();
            assert_eq!(b.len(), 19, "{key}");
            assert!(
                b[4] == b'-' && b[7] == b'-' && b[10] == b' ' && b[13] == b':' && b[16] == b':'
            );
        }
        let failed = sample(&events, "checkout_failed");
        assert!(failed["error_codes"]
            .as_array()
            .is_some_and(|a| a.iter().all(Value::is_string)));
        let messages = failed["error_messages"]
            .as_object()
            .expect("code -> message");
        for code in failed["error_codes"].as_array().into_iter().flatten() {
            assert!(messages.contains_key(code.as_str().unwrap_or_default()));
        }
        let woo = sample(&events, "subsite_woocommerce_order");
        assert_eq!(woo["order_total"], json!("99.00"));
        assert!(woo["order_id"].is_i64() && woo["order_items"].is_i64());
        assert_eq!(
            sample(&events, "subsite_cpt_created")["post_type"],
            json!("product")
        );
        assert_eq!(
            sample(&events, "confirm_email_address")["customer_email_verification"],
            json!("pending")
        );
    }

    #[test]
    fn catalog_lookup_returns_events_by_exact_name() {
        let catalog = Catalog::default();
        assert_eq!(catalog.all().len(), 23);
        assert_eq!(
            catalog.get("invoice_sent").map(|e| e.title.as_str()),
            Some("Invoice Sent")
        );
        assert!(catalog.get("invoice").is_none());
        assert!(catalog.get("").is_none());
    }

    #[test]
    fn custom_event_with_a_builtin_name_replaces_it_in_place() {
        let mine = EventDef::custom("payment_received", "Mine.", json!({"amount": 5}));
        let extra = EventDef {
            builtin: true, // normalised to false
            ..EventDef::custom("order_shipped", "An order left the warehouse.", json!({}))
        };
        let catalog = Catalog::new(vec![mine.clone(), extra]);
        assert_eq!(catalog.all().len(), 24);
        assert_eq!(catalog.all()[0], mine);
        assert!(!catalog.all()[0].builtin);
        let last = &catalog.all()[23];
        assert_eq!(
            (last.name.as_str(), last.title.as_str()),
            ("order_shipped", "Order Shipped")
        );
        assert!(!last.builtin);
        assert_eq!(
            catalog.get("payment_received").map(|e| &e.sample),
            Some(&json!({"amount": 5}))
        );
    }

    #[test]
    fn glob_matching_selects_events() {
        let catalog = Catalog::default();
        let names = |p: &str| -> Vec<String> {
            catalog.matching(p).iter().map(|e| e.name.clone()).collect()
        };
        assert_eq!(
            names("payment_*"),
            [
                "payment_received",
                "payment_failed",
                "payment_created",
                "payment_updated"
            ]
        );
        assert_eq!(names("*").len(), 23);
        assert_eq!(names("site_published"), ["site_published"]);
        assert!(names("nothing_*").is_empty());
        assert!(
            names("site").is_empty(),
            "a plain name is exact, not a prefix"
        );
        assert_eq!(names("subsite_*").len(), 4);
        assert_eq!(names("*_created").len(), 7);
        assert_eq!(
            names("{customer,membership}_updated"),
            ["customer_updated", "membership_updated"]
        );
        assert!(
            names("[unclosed").is_empty(),
            "a bad glob matches nothing rather than failing"
        );
    }

    #[test]
    fn webhook_event_lists_match_names_globs_and_star() {
        let list = |items: &[&str]| items.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert!(event_matches(&list(&["*"]), "anything_at_all"));
        assert!(event_matches(
            &list(&["site_published", "payment_*"]),
            "payment_failed"
        ));
        assert!(event_matches(&list(&["site_published"]), "site_published"));
        assert!(!event_matches(
            &list(&["site_published"]),
            "site_published_extra"
        ));
        assert!(!event_matches(
            &list(&["payment_*"]),
            "renewal_payment_created"
        ));
        assert!(!event_matches(&[], "payment_received"));
        assert!(event_matches(
            &list(&["checkout_?tarted"]),
            "checkout_started"
        ));
    }

    #[test]
    fn event_defs_serialize_with_their_sample() {
        let e = &builtin()[0];
        let v = serde_json::to_value(e).expect("serializable");
        assert_eq!(v["name"], json!("payment_received"));
        assert_eq!(v["builtin"], json!(true));
        assert_eq!(v["sample"]["wu_version"], json!(WU_VERSION));
        let back: EventDef = serde_json::from_value(v).expect("deserializable");
        assert_eq!(&back, e);
    }
}
