//! Property tests: every request decoder and validator the handlers call
//! takes arbitrary JSON (and arbitrary strings) without panicking.

use proptest::prelude::*;
use serde_json::Value;

/// Arbitrary JSON, biased towards the field names the API uses so that
/// decoders get past the first missing field.
fn json_value() -> impl Strategy<Value = Value> {
    let names = prop::sample::select(vec![
        "code",
        "language",
        "timeout_secs",
        "memory_mb",
        "network",
        "mode",
        "domains",
        "seccomp",
        "cpu_percent",
        "max_pids",
        "services",
        "max_requests",
        "ttl_secs",
        "scopes",
        "cmd",
        "args",
        "service",
        "secret",
        "tenant",
        "role",
        "parent_code",
        "child_code",
        "children",
        "fork_after_ms",
        "label",
    ]);
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        any::<f64>().prop_map(|f| serde_json::Number::from_f64(f).map_or(Value::Null, Value::Number)),
        ".{0,40}".prop_map(Value::from),
        prop::sample::select(vec![
            "none",
            "loopback",
            "allowlist",
            "strict",
            "bash",
            "python",
            "openai",
            "*",
            "*.a.b",
            "é€😀",
            "\u{0}"
        ])
        .prop_map(Value::from),
    ];
    leaf.prop_recursive(4, 64, 8, move |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..8).prop_map(Value::Array),
            prop::collection::vec((names.clone(), inner), 0..8)
                .prop_map(|fields| Value::Object(fields.into_iter().map(|(k, v)| (k.to_owned(), v)).collect())),
        ]
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn request_decoders_and_validators_never_panic(value in json_value()) {
        let mut config = paddock_jail::JailConfig::new("true", Vec::<String>::new());
        if let Ok(options) = serde_json::from_value::<paddock_api::JailOptions>(value.clone()) {
            let _ = crate::services::limits::apply(&options, &mut config);
        }
        crate::routes::decode_every_body(&value);
    }

    #[test]
    fn key_specs_never_panic(text in ".{0,80}") {
        let _ = crate::config::KeySpec::parse_list(&text);
    }
}
