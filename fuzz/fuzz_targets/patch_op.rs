//! The JSON body decoders: a PatchOp (`patch::parse_request`) applied with `patch::apply` to a
//! stored User and a stored Group, and the same JSON read as a POST/PUT body by
//! `resource::normalize` (and `members_of` for Group members). Each either succeeds or fails
//! with a client error; an `Internal` error or a panic is a finding. What they produce must be
//! canonical: normalizing it again gives it back unchanged.
#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use scimbox::error::Error;
use scimbox::model::schema::{GROUP_TYPE, ResourceType, USER_TYPE};
use scimbox::scim::patch::{apply, is_members_path, parse_request};
use scimbox::model::resource::{members_of, normalize};
use serde_json::{Map, Value, json};

/// The user Okta creates (scim-notes §2.3) with Entra's enterprise attributes, as stored.
fn user() -> &'static Map<String, Value> {
    static USER: OnceLock<Map<String, Value>> = OnceLock::new();
    USER.get_or_init(|| {
        let body = json!({"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],
            "userName":"test.user@okta.local","name":{"givenName":"Test","familyName":"User"},
            "emails":[{"primary":true,"value":"test.user@okta.local","type":"work"},
                      {"value":"t@home.example","type":"home"}],
            "phoneNumbers":[{"value":"+1 555 0100","type":"work"}],
            "addresses":[{"type":"work","locality":"Oxford","primary":true}],
            "displayName":"Test User","locale":"en-US","externalId":"00ujl29u0le5T6Aj10h7",
            "active":true,"nickName":"Babs",
            "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User":
                {"employeeNumber":"7","department":"Wonder","manager":{"value":"m-1"}}});
        normalize(&USER_TYPE, &body).expect("the fixture user is valid")
    })
}

fn group() -> &'static Map<String, Value> {
    static GROUP: OnceLock<Map<String, Value>> = OnceLock::new();
    GROUP.get_or_init(|| {
        let body = json!({"schemas":["urn:ietf:params:scim:schemas:core:2.0:Group"],
            "displayName":"Engineering","externalId":"8aa1a0c0"});
        normalize(&GROUP_TYPE, &body).expect("the fixture group is valid")
    })
}

/// The error variants a client can cause in these decoders (each maps to a 4xx).
fn client_error(e: &Error) -> bool {
    matches!(
        e,
        Error::InvalidSyntax(_)
            | Error::InvalidValue(_)
            | Error::InvalidPath(_)
            | Error::InvalidFilter(_)
            | Error::NoTarget(_)
            | Error::Mutability(_)
            | Error::TooLarge(_)
    )
}

fn check(
    what: &str,
    input: &Value,
    r: Result<Map<String, Value>, Error>,
    rt: &'static ResourceType,
) {
    match r {
        Ok(out) => {
            let again = normalize(rt, &Value::Object(out.clone()));
            assert_eq!(
                again.as_ref(),
                Ok(&out),
                "{what}: output is not canonical for {input}"
            );
        }
        Err(e) => assert!(client_error(&e), "{what}: {e:?} for {input}"),
    }
}

fuzz_target!(|data: &[u8]| {
    let Ok(body) = serde_json::from_slice::<Value>(data) else {
        return;
    };
    match parse_request(&body) {
        Ok(ops) => {
            check(
                "PATCH /Users",
                &body,
                apply(&USER_TYPE, user().clone(), &ops),
                &USER_TYPE,
            );
            // The Group handler sends members paths to the membership table, never to apply.
            let attr_ops: Vec<_> = ops
                .into_iter()
                .filter(|op| !op.path.as_deref().is_some_and(is_members_path))
                .collect();
            check(
                "PATCH /Groups",
                &body,
                apply(&GROUP_TYPE, group().clone(), &attr_ops),
                &GROUP_TYPE,
            );
        }
        Err(e) => assert!(client_error(&e), "parse_request: {e:?} for {body}"),
    }
    for rt in [&USER_TYPE, &GROUP_TYPE] {
        check("POST", &body, normalize(rt, &body), rt);
    }
    if let Some(members) = body.get("members")
        && let Err(e) = members_of(members)
    {
        assert!(client_error(&e), "members_of: {e:?} for {body}");
    }
});
