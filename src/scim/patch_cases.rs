//! PATCH table tests: real IdP request bodies (scim-notes §2-§4) and RFC 7644 §3.5.2 examples, each with the resource before and after.

use super::patch::{apply, parse_request};
use crate::error::Error;
use crate::model::resource;
use crate::model::schema::{GROUP_TYPE, ResourceType, USER_TYPE};
use serde_json::{Value, json};

const ENT: &str = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";
const CORE: &str = "urn:ietf:params:scim:schemas:core:2.0:User";
const PATCH_OP: &str = "urn:ietf:params:scim:api:messages:2.0:PatchOp";

enum Want {
    /// The stored resource afterwards. `schemas` is compared only when the row gives it.
    Ok(Value),
    /// The error variant; a non-empty detail must start the actual detail.
    Err(Error),
}

struct Case {
    name: &'static str,
    rt: &'static ResourceType,
    /// A resource body, stored the way POST stores it (`resource::normalize`).
    before: Value,
    /// A whole PatchOp body, or just its `Operations` array.
    body: Value,
    want: Want,
}

fn user(name: &'static str, before: Value, body: Value, want: Want) -> Case {
    Case {
        name,
        rt: &USER_TYPE,
        before,
        body,
        want,
    }
}

fn group(name: &'static str, before: Value, body: Value, want: Want) -> Case {
    Case {
        name,
        rt: &GROUP_TYPE,
        before,
        body,
        want,
    }
}

fn ok(v: Value) -> Want {
    Want::Ok(v)
}

fn err(e: Error) -> Want {
    Want::Err(e)
}

/// The user Okta creates (OKTA-REF POST /Users), as stored.
fn okta_user() -> Value {
    json!({"userName":"test.user@okta.local","name":{"givenName":"Test","familyName":"User"},
        "emails":[{"primary":true,"value":"test.user@okta.local","type":"work"}],
        "displayName":"Test User","locale":"en-US","externalId":"00ujl29u0le5T6Aj10h7",
        "active":true})
}

/// The user Entra creates (MS-TUT POST /Users), as stored.
fn entra_user() -> Value {
    json!({"externalId":"0a21f0f2-8d2a-4f8e-bf98-7363c4aed4ef","userName":"Test_User_ab6490ee",
        "active":true,
        "emails":[{"primary":true,"type":"work","value":"Test_User_fd0ea19b@testuser.com"}],
        "name":{"formatted":"givenName familyName","familyName":"familyName","givenName":"givenName"}})
}

fn entra_user_with(extra: Value) -> Value {
    let mut u = entra_user();
    if let (Some(u), Some(extra)) = (u.as_object_mut(), extra.as_object()) {
        u.extend(extra.clone());
    }
    u
}

fn with(mut v: Value, extra: Value) -> Value {
    if let (Some(o), Some(extra)) = (v.as_object_mut(), extra.as_object()) {
        for (k, x) in extra {
            if x.is_null() {
                o.remove(k);
            } else {
                o.insert(k.clone(), x.clone());
            }
        }
    }
    v
}

/// Babs Jensen, close to RFC 7643 §8.2, with the values RFC 7644 §3.5.2's examples touch.
fn babs() -> Value {
    json!({"userName":"bjensen","displayName":"Babs Jensen",
        "name":{"givenName":"Barbara","familyName":"Jensen"},
        "emails":[{"value":"bjensen@example.com","type":"work","primary":true},
                  {"value":"babs@jensen.org","type":"home"}],
        "addresses":[{"type":"work","streetAddress":"100 Universal City Plaza",
                      "locality":"Hollywood","region":"CA","postalCode":"91608","country":"USA",
                      "primary":true},
                     {"type":"home","streetAddress":"456 Hollywood Blvd","locality":"Hollywood"}],
        "x509Certificates":[{"value":"MyOldCert"},{"value":"MyNewCert"}]})
}

fn cases() -> Vec<Case> {
    vec![
        // --- Okta (scim-notes §2.3) ---
        user(
            "okta deactivate (OIN): path-less replace of active",
            okta_user(),
            json!({"schemas":[PATCH_OP],"Operations":[{"op":"replace","value":{"active":false}}]}),
            ok(with(okta_user(), json!({"active":false}))),
        ),
        user(
            "okta reactivate (OIN)",
            with(okta_user(), json!({"active":false})),
            json!({"schemas":[PATCH_OP],"Operations":[{"op":"replace","value":{"active":true}}]}),
            ok(okta_user()),
        ),
        user(
            "okta password sync: write-only value accepted, not kept",
            okta_user(),
            json!({"schemas":[PATCH_OP],"Operations":[{"op":"replace","value":{"password":"t1meMa$heen"}}]}),
            ok(okta_user()),
        ),
        group(
            "okta group rename carries the read-only id in the value (Q5)",
            json!({"displayName":"Test SCIMv2"}),
            json!({"schemas":[PATCH_OP],"Operations":[{"op":"replace",
                "value":{"id":"abf4dd94-a4c0-4f67-89c9-76b03340cb9b","displayName":"Test SCIMv2 renamed"}}]}),
            ok(json!({"displayName":"Test SCIMv2 renamed",
                "schemas":["urn:ietf:params:scim:schemas:core:2.0:Group"]})),
        ),
        group(
            "path-less group replace ignores members (the caller applies them, Q6)",
            json!({"displayName":"Ops"}),
            json!([{"op":"replace","value":{"displayName":"Ops 2","members":[{"value":"u1"}]}}]),
            ok(json!({"displayName":"Ops 2"})),
        ),
        group(
            "entra group rename, legacy",
            json!({"displayName":"displayName"}),
            json!({"schemas":[PATCH_OP],"Operations":[
                {"op":"Replace","path":"displayName","value":"1879db59-3bdf-4490-ad68-ab880a269474updatedDisplayName"}]}),
            ok(json!({"displayName":"1879db59-3bdf-4490-ad68-ab880a269474updatedDisplayName"})),
        ),
        group(
            "entra group rename, aadOptscim062020 path-less form",
            json!({"displayName":"a","externalId":"8aa1a0c0-c4c3-4bc0-b4a5-2ef676900159"}),
            json!([{"op":"replace","value":{"displayName":"b"}}]),
            ok(json!({"displayName":"b","externalId":"8aa1a0c0-c4c3-4bc0-b4a5-2ef676900159"})),
        ),
        group(
            "team description by its unqualified name",
            json!({"displayName":"a"}),
            json!([{"op":"add","path":"description","value":"Data engineering"}]),
            ok(json!({"displayName":"a",
                "urn:scimbox:params:scim:schemas:extension:team:2.0:Group":{"description":"Data engineering"},
                "schemas":["urn:ietf:params:scim:schemas:core:2.0:Group",
                           "urn:scimbox:params:scim:schemas:extension:team:2.0:Group"]})),
        ),
        // --- Entra, legacy dialect (scim-notes §3.3) ---
        user(
            "entra legacy update: filtered e-mail value and name.familyName",
            entra_user(),
            json!({"schemas":[PATCH_OP],"Operations":[
                {"op":"Replace","path":"emails[type eq \"work\"].value","value":"updatedEmail@microsoft.com"},
                {"op":"Replace","path":"name.familyName","value":"updatedFamilyName"}]}),
            ok(entra_user_with(json!({
                "emails":[{"primary":true,"type":"work","value":"updatedEmail@microsoft.com"}],
                "name":{"formatted":"givenName familyName","familyName":"updatedFamilyName","givenName":"givenName"}}))),
        ),
        user(
            "entra legacy UPN change",
            entra_user(),
            json!([{"op":"Replace","path":"userName","value":"5b50642d-79fc-4410-9e90-4c077cdd1a59@testuser.com"}]),
            ok(entra_user_with(
                json!({"userName":"5b50642d-79fc-4410-9e90-4c077cdd1a59@testuser.com"}),
            )),
        ),
        user(
            "entra legacy add of an empty single-valued attribute",
            entra_user(),
            json!([{"op":"Add","path":"nickName","value":"Babs"}]),
            ok(entra_user_with(json!({"nickName":"Babs"}))),
        ),
        user(
            "entra legacy URN-qualified extension replace",
            entra_user(),
            json!([{"op":"Replace","path":"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:employeeNumber","value":"Eqpj"}]),
            ok(entra_user_with(
                json!({ENT:{"employeeNumber":"Eqpj"},"schemas":[CORE, ENT]}),
            )),
        ),
        user(
            "entra legacy disable with a string boolean (Q3)",
            entra_user(),
            json!([{"op":"Replace","path":"active","value":"False"}]),
            ok(entra_user_with(json!({"active":false}))),
        ),
        user(
            "entra legacy enable with a string boolean (Q3)",
            entra_user_with(json!({"active":false})),
            json!([{"op":"Replace","path":"active","value":"True"}]),
            ok(entra_user()),
        ),
        user(
            "entra aadOptscim062020 disable",
            entra_user(),
            json!([{"op":"replace","path":"active","value":false}]),
            ok(entra_user_with(json!({"active":false}))),
        ),
        // --- Entra, aadOptscim062020 (MS-KNOWN, Q4) ---
        user(
            "entra aadOptscim062020: path-less replace whose keys are paths",
            entra_user(),
            json!({"schemas":[PATCH_OP],"Operations":[
                {"op":"replace","path":"emails[type eq \"work\"].value","value":"TestMhvaes@test.microsoft.com"},
                {"op":"replace","value":{"displayName":"Bjfe","name.givenName":"Kkom","name.familyName":"Unua",
                  "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:employeeNumber":"Aklq"}}]}),
            ok(entra_user_with(json!({
                "emails":[{"primary":true,"type":"work","value":"TestMhvaes@test.microsoft.com"}],
                "displayName":"Bjfe",
                "name":{"formatted":"givenName familyName","familyName":"Unua","givenName":"Kkom"},
                ENT:{"employeeNumber":"Aklq"},
                "schemas":[CORE, ENT]}))),
        ),
        user(
            "entra: first work e-mail through a filtered value path",
            json!({"userName":"Test_User_ab6490ee"}),
            json!([{"op":"replace","path":"emails[type eq \"work\"].value","value":"first@contoso.com"}]),
            ok(json!({"userName":"Test_User_ab6490ee",
                "emails":[{"type":"work","value":"first@contoso.com"}]})),
        ),
        user(
            "entra: work e-mail next to a home one",
            json!({"userName":"u","emails":[{"type":"home","value":"h@example.org"}]}),
            json!([{"op":"Replace","path":"emails[type eq \"work\"].value","value":"w@contoso.com"}]),
            ok(
                json!({"userName":"u","emails":[{"type":"home","value":"h@example.org"},
                {"type":"work","value":"w@contoso.com"}]}),
            ),
        ),
        user(
            "first work address through addresses[type eq \"work\"].formatted",
            json!({"userName":"u"}),
            json!([{"op":"replace","path":"addresses[type eq \"work\"].formatted","value":"1 Main St\nSpringfield"}]),
            ok(
                json!({"userName":"u","addresses":[{"type":"work","formatted":"1 Main St\nSpringfield"}]}),
            ),
        ),
        user(
            "entra sends nulls for unmapped attributes",
            entra_user_with(json!({"title":"Engineer","nickName":"N"})),
            json!([{"op":"replace","value":{"title":null,"displayName":"D","addresses":null}},
                   {"op":"Replace","path":"nickName","value":null}]),
            ok(entra_user_with(json!({"displayName":"D"}))),
        ),
        // --- Manager (Q18) ---
        user(
            "entra manager, documented form: unqualified path, one-element array with $ref",
            entra_user(),
            json!([{"op":"Add","path":"manager","value":[{"$ref":"http://example.com/scim/v2/Users/26118915-6090-4610-87e4-49d8ca9f808d",
                "value":"26118915-6090-4610-87e4-49d8ca9f808d"}]}]),
            ok(entra_user_with(
                json!({ENT:{"manager":{"value":"26118915-6090-4610-87e4-49d8ca9f808d"}},
                "schemas":[CORE, ENT]}),
            )),
        ),
        user(
            "entra manager, observed form: URN path and a bare id",
            entra_user(),
            json!([{"op":"add","path":"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager",
                "value":"2c2f6fb8-fb4c-4ecb-8a1d-6a9c5b2b4d13"}]),
            ok(entra_user_with(
                json!({ENT:{"manager":{"value":"2c2f6fb8-fb4c-4ecb-8a1d-6a9c5b2b4d13"}}}),
            )),
        ),
        user(
            "entra manager change replaces the id",
            entra_user_with(json!({ENT:{"manager":{"value":"old"},"department":"D"}})),
            json!([{"op":"Replace","path":"manager","value":"new"}]),
            ok(entra_user_with(
                json!({ENT:{"manager":{"value":"new"},"department":"D"}}),
            )),
        ),
        user(
            "entra manager removal through a filter on a single-valued attribute",
            entra_user_with(json!({ENT:{"manager":{"value":"manager-id"}}})),
            json!([{"op":"remove","path":"manager[value eq \"manager-id\"]"}]),
            ok(with(entra_user(), json!({"schemas":[CORE]}))),
        ),
        user(
            "manager removal whose filter does not match changes nothing (Q23)",
            entra_user_with(json!({ENT:{"manager":{"value":"manager-id"}}})),
            json!([{"op":"remove","path":"manager[value eq \"someone-else\"]"}]),
            ok(entra_user_with(
                json!({ENT:{"manager":{"value":"manager-id"}}}),
            )),
        ),
        user(
            "manager removal by replacing it with empty (MS-LOGICAPP)",
            entra_user_with(json!({ENT:{"manager":{"value":"manager-id"},"department":"D"}})),
            json!([{"op":"replace","path":"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager","value":""},
                   {"op":"replace","path":"manager","value":{"value":""}}]),
            ok(entra_user_with(json!({ENT:{"department":"D"}}))),
        ),
        user(
            "manager remove on a user without one succeeds",
            entra_user(),
            json!([{"op":"Remove","path":"manager"}]),
            ok(entra_user()),
        ),
        // --- Extensions ---
        user(
            "unqualified enterprise names resolve to the extension",
            entra_user(),
            json!([{"op":"replace","path":"employeeNumber","value":"701984"},
                   {"op":"add","path":"department","value":"Tour Operations"}]),
            ok(entra_user_with(
                json!({ENT:{"employeeNumber":"701984","department":"Tour Operations"}}),
            )),
        ),
        user(
            "path-less value with the extension URN holding an object",
            entra_user(),
            json!([{"op":"add","value":{ENT:{"department":"D","manager":"m-1","nope":1}}}]),
            ok(entra_user_with(
                json!({ENT:{"department":"D","manager":{"value":"m-1"}}}),
            )),
        ),
        user(
            "the extension URN as a path",
            entra_user_with(json!({ENT:{"department":"D","costCenter":"4130"}})),
            json!([{"op":"replace","path":ENT,"value":{"department":"E"}}]),
            ok(entra_user_with(
                json!({ENT:{"department":"E","costCenter":"4130"}}),
            )),
        ),
        user(
            "remove of the extension URN clears its writable attributes",
            entra_user_with(json!({ENT:{"department":"D","costCenter":"4130"}})),
            json!([{"op":"remove","path":ENT}]),
            ok(with(entra_user(), json!({"schemas":[CORE]}))),
        ),
        user(
            "core-URN-qualified path",
            entra_user(),
            json!([{"op":"replace","path":"urn:ietf:params:scim:schemas:core:2.0:User:name.givenName","value":"G"}]),
            ok(entra_user_with(
                json!({"name":{"formatted":"givenName familyName","familyName":"familyName","givenName":"G"}}),
            )),
        ),
        user(
            "unknown, misspelt-schema and read-only keys of a path-less value are ignored (Q19)",
            okta_user(),
            json!([{"op":"replace","value":{"id":"x","meta":{"resourceType":"User"},"groups":[],
                "schemas":[CORE],"favouriteColour":"green",
                "urn:ietf:params:scim:schemas:extension:enterprise:2.0User":{"department":"x"},
                "name.nickname":"x","displayName":"Shown"}}]),
            ok(with(okta_user(), json!({"displayName":"Shown"}))),
        ),
        user(
            "op names and attribute names are case-insensitive (Q2)",
            okta_user(),
            json!([{"op":"REPLACE","path":"DISPLAYNAME","value":"d"},{"Op":"add","Path":"NAME.MIDDLENAME","Value":"M"}]),
            ok(with(
                okta_user(),
                json!({"displayName":"d",
                "name":{"givenName":"Test","familyName":"User","middleName":"M"}}),
            )),
        ),
        // --- Complex single-valued: RFC 7644 §3.5.2.1/§3.5.2.3 ---
        user(
            "replace of a complex attribute leaves unsent sub-attributes alone",
            okta_user(),
            json!([{"op":"replace","path":"name","value":{"familyName":"Doe"}}]),
            ok(with(
                okta_user(),
                json!({"name":{"givenName":"Test","familyName":"Doe"}}),
            )),
        ),
        user(
            "a null sub-attribute in a complex value unsets it",
            okta_user(),
            json!([{"op":"replace","value":{"name":{"givenName":null,"familyName":"Doe"}}}]),
            ok(with(okta_user(), json!({"name":{"familyName":"Doe"}}))),
        ),
        user(
            "removing the last sub-attribute removes the attribute",
            json!({"userName":"u","name":{"givenName":"G"}}),
            json!([{"op":"remove","path":"name.givenName"}]),
            ok(json!({"userName":"u"})),
        ),
        // --- Multi-valued: RFC 7644 §3.5.2 examples ---
        user(
            "RFC 7644 §3.5.2.1 path-less add: e-mail merged, nickname by any case",
            json!({"userName":"bjensen","emails":[{"value":"bjensen@example.com","type":"work"}]}),
            json!({"schemas":[PATCH_OP],"Operations":[{"op":"add","value":{
                "emails":[{"value":"babs@jensen.org","type":"home"}],"nickname":"Babs"}}]}),
            ok(json!({"userName":"bjensen","nickName":"Babs","emails":[
                {"value":"bjensen@example.com","type":"work"},{"value":"babs@jensen.org","type":"home"}]})),
        ),
        user(
            "add of a value that is already there changes nothing (Q23)",
            babs(),
            json!([{"op":"add","path":"emails","value":[{"value":"babs@jensen.org","type":"home"}]},
                   {"op":"add","path":"x509Certificates","value":[{"value":"MyOldCert"}]}]),
            ok(babs()),
        ),
        user(
            "re-adding a value as primary makes it the only primary (RFC 7644 §3.5.2)",
            babs(),
            json!([{"op":"add","path":"emails","value":[{"value":"BABS@jensen.org","type":"home","primary":true}]}]),
            ok(with(
                babs(),
                json!({"emails":[{"value":"bjensen@example.com","type":"work","primary":false},
                {"value":"BABS@jensen.org","type":"home","primary":true}]}),
            )),
        ),
        user(
            "a new primary value clears the old primary",
            babs(),
            json!([{"op":"add","path":"emails","value":{"value":"new@example.com","type":"other","primary":true}}]),
            ok(with(
                babs(),
                json!({"emails":[{"value":"bjensen@example.com","type":"work","primary":false},
                {"value":"babs@jensen.org","type":"home"},
                {"value":"new@example.com","type":"other","primary":true}]}),
            )),
        ),
        user(
            "a filtered primary replace moves primary",
            babs(),
            json!([{"op":"replace","path":"emails[type eq \"home\"].primary","value":true}]),
            ok(with(
                babs(),
                json!({"emails":[{"value":"bjensen@example.com","type":"work","primary":false},
                {"value":"babs@jensen.org","type":"home","primary":true}]}),
            )),
        ),
        user(
            "RFC 7644 §3.5.2.2 remove with a compound filter",
            babs(),
            json!([{"op":"remove","path":"emails[type eq \"work\" and value ew \"example.com\"]"}]),
            ok(with(
                babs(),
                json!({"emails":[{"value":"babs@jensen.org","type":"home"}]}),
            )),
        ),
        user(
            "RFC 7644 §3.5.2.2 remove of a certificate by value",
            babs(),
            json!([{"op":"remove","path":"x509Certificates[value eq \"MyOldCert\"]"}]),
            ok(with(
                babs(),
                json!({"x509Certificates":[{"value":"MyNewCert"}]}),
            )),
        ),
        user(
            "RFC 7644 §3.5.2.2 remove of a whole multi-valued attribute",
            babs(),
            json!([{"op":"remove","path":"emails"}]),
            ok(with(babs(), json!({"emails":null}))),
        ),
        user(
            "remove by a value list and by a value filter fold Unicode case (caseExact false)",
            json!({"userName": "émile", "emails": [
                {"value": "Émile@Straße.example", "type": "work"},
                {"value": "other@example.com", "type": "home"}]}),
            json!([{"op":"remove","path":"emails","value":[{"value":"ÉMILE@STRASSE.EXAMPLE"}]},
                   {"op":"remove","path":"emails[value eq \"OTHER@EXAMPLE.COM\"]"}]),
            ok(json!({"userName": "émile"})),
        ),
        user(
            "remove whose filter matches nothing succeeds and changes nothing (Q23)",
            babs(),
            json!([{"op":"remove","path":"emails[type eq \"other\"]"},
                   {"op":"remove","path":"phoneNumbers[type eq \"work\"]"},
                   {"op":"remove","path":"emails[type eq \"other\"].display"}]),
            ok(babs()),
        ),
        user(
            "remove of a sub-attribute of the matched values",
            babs(),
            json!([{"op":"remove","path":"addresses[type eq \"work\"].postalCode"}]),
            ok(with(
                babs(),
                json!({"addresses":[{"type":"work","streetAddress":"100 Universal City Plaza",
                "locality":"Hollywood","region":"CA","country":"USA","primary":true},
                {"type":"home","streetAddress":"456 Hollywood Blvd","locality":"Hollywood"}]}),
            )),
        ),
        user(
            "a remove with values removes those values only (Q1, legacy shape)",
            babs(),
            json!([{"op":"Remove","path":"emails","value":[{"value":"babs@jensen.org"}]}]),
            ok(with(
                babs(),
                json!({"emails":[{"value":"bjensen@example.com","type":"work","primary":true}]}),
            )),
        ),
        user(
            "RFC 7644 §3.5.2.3 replace of the matched value",
            babs(),
            json!({"schemas":[PATCH_OP],"Operations":[{"op":"replace","path":"addresses[type eq \"work\"]",
                "value":{"type":"work","streetAddress":"911 Universal City Plaza","locality":"Hollywood",
                  "region":"CA","postalCode":"91608","country":"US",
                  "formatted":"911 Universal City Plaza\nHollywood, CA 91608 US","primary":true}}]}),
            ok(with(
                babs(),
                json!({"addresses":[{"type":"work","streetAddress":"911 Universal City Plaza",
                "locality":"Hollywood","region":"CA","postalCode":"91608","country":"US",
                "formatted":"911 Universal City Plaza\nHollywood, CA 91608 US","primary":true},
                {"type":"home","streetAddress":"456 Hollywood Blvd","locality":"Hollywood"}]}),
            )),
        ),
        user(
            "RFC 7644 §3.5.2.3 replace of a sub-attribute of the matched value",
            babs(),
            json!([{"op":"replace","path":"addresses[type eq \"work\"].streetAddress","value":"1010 Broadway Ave"}]),
            ok(with(
                babs(),
                json!({"addresses":[{"type":"work","streetAddress":"1010 Broadway Ave",
                "locality":"Hollywood","region":"CA","postalCode":"91608","country":"USA","primary":true},
                {"type":"home","streetAddress":"456 Hollywood Blvd","locality":"Hollywood"}]}),
            )),
        ),
        user(
            "RFC 7644 §3.5.2.3 path-less replace replaces the whole list",
            babs(),
            json!([{"op":"replace","value":{"emails":[{"value":"bjensen@example.com","type":"work","primary":true},
                {"value":"babs@jensen.org","type":"home"},{"value":"b@x.org","type":"other"}],"nickname":"Babs"}}]),
            ok(with(
                babs(),
                json!({"nickName":"Babs","emails":[{"value":"bjensen@example.com","type":"work","primary":true},
                {"value":"babs@jensen.org","type":"home"},{"value":"b@x.org","type":"other"}]}),
            )),
        ),
        user(
            "replace of a list without a filter replaces every value",
            babs(),
            json!([{"op":"replace","path":"emails","value":[{"value":"only@example.com"}]}]),
            ok(with(
                babs(),
                json!({"emails":[{"value":"only@example.com"}]}),
            )),
        ),
        user(
            "a sub-attribute path without a filter addresses every value",
            babs(),
            json!([{"op":"replace","path":"x509Certificates.display","value":"cert"}]),
            ok(with(
                babs(),
                json!({"x509Certificates":[{"value":"MyOldCert","display":"cert"},
                {"value":"MyNewCert","display":"cert"}]}),
            )),
        ),
        user(
            "a filtered add appends a value built from the filter when none matches",
            json!({"userName":"u"}),
            json!([{"op":"add","path":"phoneNumbers[type eq \"mobile\"]","value":{"value":"+1 555 0100"}}]),
            ok(json!({"userName":"u","phoneNumbers":[{"type":"mobile","value":"+1 555 0100"}]})),
        ),
        user(
            "unsetting a sub-attribute of values that don't exist changes nothing",
            json!({"userName":"u"}),
            json!([{"op":"replace","path":"emails[type eq \"work\"].value","value":null},
                   {"op":"replace","path":"addresses[type eq \"work\"]","value":null},
                   {"op":"replace","path":"manager[value eq \"m\"]","value":null}]),
            ok(json!({"userName":"u"})),
        ),
        // --- Errors: parse (InvalidSyntax, InvalidValue, NoTarget, InvalidPath) ---
        user(
            "missing Operations",
            okta_user(),
            json!({"schemas":[PATCH_OP]}),
            err(Error::InvalidSyntax(String::new())),
        ),
        user(
            "Operations not an array",
            okta_user(),
            json!({"Operations":{"op":"add"}}),
            err(Error::InvalidSyntax(String::new())),
        ),
        user(
            "empty Operations",
            okta_user(),
            json!({"Operations":[]}),
            err(Error::InvalidSyntax(String::new())),
        ),
        user(
            "an operation that is not an object",
            okta_user(),
            json!([{"op":"add","path":"title","value":"x"},"remove"]),
            err(Error::InvalidSyntax("operation 1".into())),
        ),
        user(
            "an unknown op",
            okta_user(),
            json!([{"op":"jump","path":"title","value":"x"}]),
            err(Error::InvalidSyntax("operation 0".into())),
        ),
        user(
            "no op",
            okta_user(),
            json!([{"path":"title","value":"x"}]),
            err(Error::InvalidSyntax(String::new())),
        ),
        user(
            "a body that is not an object",
            okta_user(),
            json!("replace"),
            err(Error::InvalidSyntax(String::new())),
        ),
        user(
            "add without a value",
            okta_user(),
            json!([{"op":"add","path":"title"}]),
            err(Error::InvalidValue("operation 0".into())),
        ),
        user(
            "replace without a value",
            okta_user(),
            json!([{"op":"replace","path":"title"}]),
            err(Error::InvalidValue(String::new())),
        ),
        user(
            "remove without a path (RFC 7644 §3.5.2.2)",
            okta_user(),
            json!([{"op":"remove"}]),
            err(Error::NoTarget(String::new())),
        ),
        user(
            "a path that is not a string",
            okta_user(),
            json!([{"op":"remove","path":5}]),
            err(Error::InvalidPath(String::new())),
        ),
        // --- Errors: paths and filters ---
        user(
            "bad path syntax",
            okta_user(),
            json!([{"op":"replace","path":"name.","value":"x"}]),
            err(Error::InvalidPath("operation 0".into())),
        ),
        user(
            "unknown attribute",
            okta_user(),
            json!([{"op":"replace","path":"nope","value":1}]),
            err(Error::InvalidPath(String::new())),
        ),
        user(
            "unknown sub-attribute",
            okta_user(),
            json!([{"op":"replace","path":"name.nickname","value":"x"}]),
            err(Error::InvalidPath(String::new())),
        ),
        user(
            "unknown sub-attribute after a filter",
            okta_user(),
            json!([{"op":"replace","path":"emails[type eq \"work\"].nope","value":"x"}]),
            err(Error::InvalidPath(String::new())),
        ),
        user(
            "a filter on a simple attribute",
            okta_user(),
            json!([{"op":"replace","path":"userName[value eq \"x\"]","value":"x"}]),
            err(Error::InvalidPath(String::new())),
        ),
        user(
            "a filter that does not parse",
            okta_user(),
            json!([{"op":"remove","path":"emails[type eq]"}]),
            err(Error::InvalidFilter("operation 0".into())),
        ),
        user(
            "a filter on an unknown sub-attribute, even with no values",
            json!({"userName":"u"}),
            json!([{"op":"remove","path":"phoneNumbers[kind eq \"work\"]"}]),
            err(Error::InvalidFilter(String::new())),
        ),
        user(
            "the core schema URN is not a path",
            okta_user(),
            json!([{"op":"remove","path":"urn:ietf:params:scim:schemas:core:2.0:User"}]),
            err(Error::InvalidPath(String::new())),
        ),
        // --- Errors: values ---
        user(
            "a string that is not a boolean",
            okta_user(),
            json!([{"op":"replace","path":"active","value":"maybe"}]),
            err(Error::InvalidValue("operation 0".into())),
        ),
        user(
            "wrong types inside a path-less value are checked too",
            okta_user(),
            json!([{"op":"replace","value":{"active":"yes"}}]),
            err(Error::InvalidValue(String::new())),
        ),
        user(
            "an array for a single-valued simple attribute",
            okta_user(),
            json!([{"op":"replace","path":"displayName","value":["a"]}]),
            err(Error::InvalidValue(String::new())),
        ),
        user(
            "a string for a complex attribute",
            okta_user(),
            json!([{"op":"replace","value":{"name":"x"}}]),
            err(Error::InvalidValue(String::new())),
        ),
        user(
            "two managers",
            okta_user(),
            json!([{"op":"add","path":"manager","value":[{"value":"a"},{"value":"b"}]}]),
            err(Error::InvalidValue(String::new())),
        ),
        user(
            "a path-less value that is not an object",
            okta_user(),
            json!([{"op":"replace","value":"x"}]),
            err(Error::InvalidValue(String::new())),
        ),
        user(
            "two primaries in one add",
            okta_user(),
            json!([{"op":"add","path":"emails","value":[{"value":"a","primary":true},{"value":"b","primary":true}]}]),
            err(Error::InvalidValue(String::new())),
        ),
        user(
            "primary set on every value at once",
            babs(),
            json!([{"op":"replace","path":"emails.primary","value":true}]),
            err(Error::InvalidValue(String::new())),
        ),
        user(
            "a blank userName",
            okta_user(),
            json!([{"op":"replace","path":"userName","value":" "}]),
            err(Error::InvalidValue("operation 0".into())),
        ),
        // --- Errors: no target ---
        user(
            "a filtered replace that matches nothing (RFC 7644 §3.5.2.3)",
            babs(),
            json!([{"op":"replace","path":"addresses[type eq \"other\"]","value":{"locality":"x"}}]),
            err(Error::NoTarget("operation 0".into())),
        ),
        user(
            "a sub-attribute replace whose filter can't describe a new value",
            babs(),
            json!([{"op":"replace","path":"emails[type ne \"work\" and type ne \"home\"].value","value":"x"}]),
            err(Error::NoTarget(String::new())),
        ),
        user(
            "a manager replace through a filter that does not match",
            entra_user_with(json!({ENT:{"manager":{"value":"a"}}})),
            json!([{"op":"replace","path":"manager[value eq \"b\"]","value":{"value":"c"}}]),
            err(Error::NoTarget(String::new())),
        ),
        // --- Errors: mutability ---
        user(
            "id is read-only",
            okta_user(),
            json!([{"op":"replace","path":"id","value":"x"}]),
            err(Error::Mutability("operation 0".into())),
        ),
        user(
            "meta is read-only",
            okta_user(),
            json!([{"op":"replace","path":"meta.created","value":"2020-01-01T00:00:00Z"}]),
            err(Error::Mutability(String::new())),
        ),
        user(
            "groups is read-only",
            okta_user(),
            json!([{"op":"remove","path":"groups"}]),
            err(Error::Mutability(String::new())),
        ),
        user(
            "manager.displayName is read-only",
            okta_user(),
            json!([{"op":"replace","path":"manager.displayName","value":"x"}]),
            err(Error::Mutability(String::new())),
        ),
        user(
            "scimbox's access extension is read-only",
            okta_user(),
            json!([{"op":"replace","path":"urn:scimbox:params:scim:schemas:extension:access:2.0:User:organizationRole",
                "value":"ORGANIZATION_OWNER"}]),
            err(Error::Mutability(String::new())),
        ),
        user(
            "userName is required",
            okta_user(),
            json!([{"op":"remove","path":"userName"}]),
            err(Error::Mutability(String::new())),
        ),
        user(
            "replacing userName with null removes it",
            okta_user(),
            json!([{"op":"replace","path":"userName","value":null}]),
            err(Error::Mutability(String::new())),
        ),
        user(
            "the failing operation is named by its index",
            okta_user(),
            json!([{"op":"replace","path":"title","value":"x"},{"op":"remove","path":"userName"}]),
            err(Error::Mutability(
                "operation 1: userName is required".into(),
            )),
        ),
        group(
            "a Group's displayName is required",
            json!({"displayName":"a"}),
            json!([{"op":"remove","path":"displayName"}]),
            err(Error::Mutability(String::new())),
        ),
        group(
            "members paths never reach the engine",
            json!({"displayName":"a"}),
            json!([{"op":"add","path":"members","value":[{"value":"u"}]}]),
            err(Error::Internal(String::new())),
        ),
    ]
}

fn detail(e: &Error) -> String {
    e.to_string()
}

#[test]
fn request_bodies_from_real_clients_and_rfc_7644() {
    let mut failures = Vec::new();
    for case in cases() {
        let before = resource::normalize(case.rt, &case.before)
            .unwrap_or_else(|e| panic!("{}: bad fixture: {e}", case.name));
        let body = match case.body {
            Value::Array(_) => json!({"schemas":[PATCH_OP],"Operations":case.body}),
            other => other,
        };
        let got = parse_request(&body).and_then(|ops| apply(case.rt, before, &ops));
        let problem = match (&case.want, got) {
            (Want::Ok(want), Ok(got)) => {
                let mut got = Value::Object(got);
                if want.get("schemas").is_none()
                    && let Some(o) = got.as_object_mut()
                {
                    o.remove("schemas");
                }
                (got != *want).then(|| format!("got  {got}\nwant {want}"))
            }
            (Want::Ok(_), Err(e)) => Some(format!("failed: {e:?}")),
            (Want::Err(want), Ok(got)) => Some(format!(
                "succeeded, wanted {want:?}: {}",
                Value::Object(got)
            )),
            (Want::Err(want), Err(got)) => {
                let same = std::mem::discriminant(want) == std::mem::discriminant(&got);
                let prefix = detail(want);
                (!same || !detail(&got).starts_with(&prefix))
                    .then(|| format!("got {got:?}, wanted {want:?}"))
            }
        };
        if let Some(p) = problem {
            failures.push(format!("{}:\n{p}", case.name));
        }
    }
    assert!(failures.is_empty(), "\n{}", failures.join("\n\n"));
}

#[test]
fn the_table_covers_every_error_variant_the_engine_returns() {
    let mut seen = Vec::new();
    for case in cases() {
        if let Want::Err(e) = &case.want {
            let d = std::mem::discriminant(e);
            if !seen.contains(&d) {
                seen.push(d);
            }
        }
    }
    for e in [
        Error::InvalidSyntax(String::new()),
        Error::InvalidPath(String::new()),
        Error::InvalidFilter(String::new()),
        Error::InvalidValue(String::new()),
        Error::NoTarget(String::new()),
        Error::Mutability(String::new()),
    ] {
        assert!(seen.contains(&std::mem::discriminant(&e)), "{e:?}");
    }
}
