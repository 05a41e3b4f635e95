//! The attribute catalogue: every attribute scimbox knows, with the characteristics RFC 7643 §2
//! gives it. The filter compiler, the PATCH engine, projection and `/Schemas` all read this one
//! table, so an attribute behaves the same way everywhere.

/// RFC 7643 §2.3 data types.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AttrType {
    String,
    Boolean,
    Decimal,
    Integer,
    DateTime,
    Binary,
    Reference,
    Complex,
}

impl AttrType {
    pub fn as_str(self) -> &'static str {
        match self {
            AttrType::String => "string",
            AttrType::Boolean => "boolean",
            AttrType::Decimal => "decimal",
            AttrType::Integer => "integer",
            AttrType::DateTime => "dateTime",
            AttrType::Binary => "binary",
            AttrType::Reference => "reference",
            AttrType::Complex => "complex",
        }
    }
}

/// RFC 7643 §7 `mutability`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mutability {
    ReadOnly,
    ReadWrite,
    Immutable,
    WriteOnly,
}

impl Mutability {
    pub fn as_str(self) -> &'static str {
        match self {
            Mutability::ReadOnly => "readOnly",
            Mutability::ReadWrite => "readWrite",
            Mutability::Immutable => "immutable",
            Mutability::WriteOnly => "writeOnly",
        }
    }
}

/// RFC 7643 §7 `returned`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Returned {
    Always,
    Never,
    Default,
    Request,
}

impl Returned {
    pub fn as_str(self) -> &'static str {
        match self {
            Returned::Always => "always",
            Returned::Never => "never",
            Returned::Default => "default",
            Returned::Request => "request",
        }
    }
}

/// RFC 7643 §7 `uniqueness`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Uniqueness {
    None,
    Server,
    Global,
}

impl Uniqueness {
    pub fn as_str(self) -> &'static str {
        match self {
            Uniqueness::None => "none",
            Uniqueness::Server => "server",
            Uniqueness::Global => "global",
        }
    }
}

/// One attribute definition (RFC 7643 §7).
#[derive(Debug)]
pub struct Attr {
    pub name: &'static str,
    pub ty: AttrType,
    pub multi: bool,
    pub required: bool,
    pub case_exact: bool,
    pub mutability: Mutability,
    pub returned: Returned,
    pub uniqueness: Uniqueness,
    pub canonical: &'static [&'static str],
    pub reference_types: &'static [&'static str],
    pub sub: &'static [Attr],
    pub description: &'static str,
}

impl Attr {
    /// Looks a sub-attribute up by name, case-insensitively (RFC 7643 §2.1).
    pub fn sub_attr(&self, name: &str) -> Option<&'static Attr> {
        // The catalogue is 'static, so the sub slice is too.
        let subs: &'static [Attr] = self.sub;
        subs.iter().find(|a| a.name.eq_ignore_ascii_case(name))
    }

    pub fn is_complex(&self) -> bool {
        self.ty == AttrType::Complex
    }
}

/// A schema: a URN and its attributes (RFC 7643 §7).
#[derive(Debug)]
pub struct Schema {
    pub id: &'static str,
    pub name: &'static str,
    pub description: &'static str,
    pub attributes: &'static [Attr],
}

impl Schema {
    pub fn attr(&self, name: &str) -> Option<&'static Attr> {
        let attrs: &'static [Attr] = self.attributes;
        attrs.iter().find(|a| a.name.eq_ignore_ascii_case(name))
    }
}

pub const USER_SCHEMA: &str = "urn:ietf:params:scim:schemas:core:2.0:User";
pub const GROUP_SCHEMA: &str = "urn:ietf:params:scim:schemas:core:2.0:Group";
pub const ENTERPRISE_USER_SCHEMA: &str =
    "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";
/// scimbox's read-only view of a user's effective access (organization and Workspace roles).
pub const ACCESS_USER_SCHEMA: &str = "urn:scimbox:params:scim:schemas:extension:access:2.0:User";
/// scimbox's Team extension: the description and the access template every member inherits.
pub const TEAM_GROUP_SCHEMA: &str = "urn:scimbox:params:scim:schemas:extension:team:2.0:Group";

// Terse builders keep the catalogue readable as a table.
const fn base(name: &'static str, ty: AttrType, description: &'static str) -> Attr {
    Attr {
        name,
        ty,
        multi: false,
        required: false,
        case_exact: false,
        mutability: Mutability::ReadWrite,
        returned: Returned::Default,
        uniqueness: Uniqueness::None,
        canonical: &[],
        reference_types: &[],
        sub: &[],
        description,
    }
}

const fn string(name: &'static str, description: &'static str) -> Attr {
    base(name, AttrType::String, description)
}

const fn exact(mut a: Attr) -> Attr {
    a.case_exact = true;
    a
}

const fn required(mut a: Attr) -> Attr {
    a.required = true;
    a
}

const fn read_only(mut a: Attr) -> Attr {
    a.mutability = Mutability::ReadOnly;
    a
}

const fn immutable(mut a: Attr) -> Attr {
    a.mutability = Mutability::Immutable;
    a
}

const fn canonical(mut a: Attr, values: &'static [&'static str]) -> Attr {
    a.canonical = values;
    a
}

const fn reference(name: &'static str, types: &'static [&'static str], d: &'static str) -> Attr {
    let mut a = base(name, AttrType::Reference, d);
    a.reference_types = types;
    a.case_exact = true;
    a
}

const fn complex(name: &'static str, sub: &'static [Attr], description: &'static str) -> Attr {
    let mut a = base(name, AttrType::Complex, description);
    a.sub = sub;
    a
}

const fn multi(mut a: Attr) -> Attr {
    a.multi = true;
    a
}

const fn primary() -> Attr {
    base(
        "primary",
        AttrType::Boolean,
        "A Boolean value indicating the 'primary' or preferred attribute value for this attribute.",
    )
}

const fn display() -> Attr {
    string(
        "display",
        "A human-readable name, primarily used for display purposes.",
    )
}

/// The `id`, `externalId` and `meta` attributes every resource has (RFC 7643 §3.1).
pub static COMMON_ATTRIBUTES: [Attr; 3] = [
    Attr {
        returned: Returned::Always,
        uniqueness: Uniqueness::Server,
        ..read_only(exact(string(
            "id",
            "Unique identifier for the SCIM resource as defined by the service provider.",
        )))
    },
    exact(string(
        "externalId",
        "An identifier for the resource as defined by the provisioning client.",
    )),
    read_only(complex(
        "meta",
        &[
            read_only(exact(string(
                "resourceType",
                "The name of the resource type of the resource.",
            ))),
            read_only(base(
                "created",
                AttrType::DateTime,
                "The DateTime that the resource was added to the service provider.",
            )),
            read_only(base(
                "lastModified",
                AttrType::DateTime,
                "The most recent DateTime that the details of this resource were updated at the service provider.",
            )),
            read_only(reference(
                "location",
                &["uri"],
                "The URI of the resource being returned.",
            )),
            read_only(exact(string(
                "version",
                "The version of the resource being returned.",
            ))),
        ],
        "A complex attribute containing resource metadata.",
    )),
];

static USER_ATTRIBUTES: [Attr; 21] = [
    Attr {
        uniqueness: Uniqueness::Server,
        ..required(string(
            "userName",
            "Unique identifier for the User, typically used by the user to directly authenticate to the service provider.",
        ))
    },
    complex(
        "name",
        &[
            string(
                "formatted",
                "The full name, including all middle names, titles, and suffixes as appropriate, formatted for display.",
            ),
            string(
                "familyName",
                "The family name of the User, or last name in most Western languages.",
            ),
            string(
                "givenName",
                "The given name of the User, or first name in most Western languages.",
            ),
            string("middleName", "The middle name(s) of the User."),
            string(
                "honorificPrefix",
                "The honorific prefix(es) of the User, or title in most Western languages.",
            ),
            string(
                "honorificSuffix",
                "The honorific suffix(es) of the User, or suffix in most Western languages.",
            ),
        ],
        "The components of the user's real name.",
    ),
    string(
        "displayName",
        "The name of the User, suitable for display to end-users.",
    ),
    string(
        "nickName",
        "The casual way to address the user in real life.",
    ),
    reference(
        "profileUrl",
        &["external"],
        "A fully qualified URL pointing to a page representing the User's online profile.",
    ),
    string("title", "The user's title, such as \"Vice President\"."),
    string(
        "userType",
        "Used to identify the relationship between the organization and the user.",
    ),
    string(
        "preferredLanguage",
        "Indicates the User's preferred written or spoken language.",
    ),
    string(
        "locale",
        "Used to indicate the User's default location for purposes of localizing items such as currency, date time format, or numerical representations.",
    ),
    string(
        "timezone",
        "The User's time zone in the 'Olson' time zone database format, e.g., 'America/Los_Angeles'.",
    ),
    base(
        "active",
        AttrType::Boolean,
        "A Boolean value indicating the User's administrative status.",
    ),
    Attr {
        mutability: Mutability::WriteOnly,
        returned: Returned::Never,
        ..exact(string("password", "The User's cleartext password."))
    },
    multi(complex(
        "emails",
        &[
            string("value", "Email addresses for the user."),
            display(),
            canonical(
                string(
                    "type",
                    "A label indicating the attribute's function, e.g., 'work' or 'home'.",
                ),
                &["work", "home", "other"],
            ),
            primary(),
        ],
        "Email addresses for the user.",
    )),
    multi(complex(
        "phoneNumbers",
        &[
            string("value", "Phone number of the User."),
            display(),
            canonical(
                string(
                    "type",
                    "A label indicating the attribute's function, e.g., 'work', 'home', 'mobile'.",
                ),
                &["work", "home", "mobile", "fax", "pager", "other"],
            ),
            primary(),
        ],
        "Phone numbers for the User.",
    )),
    multi(complex(
        "ims",
        &[
            string("value", "Instant messaging address for the User."),
            display(),
            canonical(
                string(
                    "type",
                    "A label indicating the attribute's function, e.g., 'aim', 'gtalk', 'xmpp'.",
                ),
                &["aim", "gtalk", "icq", "xmpp", "msn", "skype", "qq", "yahoo"],
            ),
            primary(),
        ],
        "Instant messaging addresses for the User.",
    )),
    multi(complex(
        "photos",
        &[
            reference("value", &["external"], "URL of a photo of the User."),
            display(),
            canonical(
                string(
                    "type",
                    "A label indicating the attribute's function, i.e., 'photo' or 'thumbnail'.",
                ),
                &["photo", "thumbnail"],
            ),
            primary(),
        ],
        "URLs of photos of the User.",
    )),
    multi(complex(
        "addresses",
        &[
            string(
                "formatted",
                "The full mailing address, formatted for display or use with a mailing label.",
            ),
            string("streetAddress", "The full street address component."),
            string("locality", "The city or locality component."),
            string("region", "The state or region component."),
            string("postalCode", "The zip code or postal code component."),
            string("country", "The country name component."),
            canonical(
                string(
                    "type",
                    "A label indicating the attribute's function, e.g., 'work' or 'home'.",
                ),
                &["work", "home", "other"],
            ),
            primary(),
        ],
        "A physical mailing address for this User.",
    )),
    read_only(multi(complex(
        "groups",
        &[
            read_only(exact(string(
                "value",
                "The identifier of the User's group.",
            ))),
            read_only(reference(
                "$ref",
                &["User", "Group"],
                "The URI of the corresponding 'Group' resource to which the user belongs.",
            )),
            read_only(display()),
            read_only(canonical(
                string(
                    "type",
                    "A label indicating the attribute's function, e.g., 'direct' or 'indirect'.",
                ),
                &["direct", "indirect"],
            )),
        ],
        "A list of groups to which the user belongs, either through direct membership, through nested groups, or dynamically calculated.",
    ))),
    multi(complex(
        "entitlements",
        &[
            string("value", "The value of an entitlement."),
            display(),
            string("type", "A label indicating the attribute's function."),
            primary(),
        ],
        "A list of entitlements for the User that represent a thing the User has.",
    )),
    multi(complex(
        "roles",
        &[
            string("value", "The value of a role."),
            display(),
            string("type", "A label indicating the attribute's function."),
            primary(),
        ],
        "A list of roles for the User that collectively represent who the User is, e.g., 'Student', 'Faculty'.",
    )),
    multi(complex(
        "x509Certificates",
        &[
            Attr {
                case_exact: true,
                ..base(
                    "value",
                    AttrType::Binary,
                    "The value of an X.509 certificate.",
                )
            },
            display(),
            string("type", "A label indicating the attribute's function."),
            primary(),
        ],
        "A list of certificates issued to the User.",
    )),
];

static ENTERPRISE_USER_ATTRIBUTES: [Attr; 6] = [
    string(
        "employeeNumber",
        "Numeric or alphanumeric identifier assigned to a person, typically based on order of hire or association with an organization.",
    ),
    string("costCenter", "Identifies the name of a cost center."),
    string("organization", "Identifies the name of an organization."),
    string("division", "Identifies the name of a division."),
    string("department", "Identifies the name of a department."),
    complex(
        "manager",
        &[
            exact(string(
                "value",
                "The id of the SCIM resource representing the User's manager.",
            )),
            read_only(reference(
                "$ref",
                &["User"],
                "The URI of the SCIM resource representing the User's manager.",
            )),
            read_only(string(
                "displayName",
                "The displayName of the User's manager.",
            )),
        ],
        "The User's manager.",
    ),
];

static GROUP_ATTRIBUTES: [Attr; 2] = [
    Attr {
        uniqueness: Uniqueness::Server,
        ..required(string(
            "displayName",
            "A human-readable name for the Group.",
        ))
    },
    multi(complex(
        "members",
        &[
            immutable(exact(string(
                "value",
                "Identifier of the member of this Group.",
            ))),
            immutable(reference(
                "$ref",
                &["User", "Group"],
                "The URI corresponding to a SCIM resource that is a member of this Group.",
            )),
            read_only(display()),
            immutable(canonical(
                string(
                    "type",
                    "A label indicating the type of resource, e.g., 'User' or 'Group'.",
                ),
                &["User", "Group"],
            )),
        ],
        "A list of members of the Group.",
    )),
];

const ORG_ROLE_VALUES: &[&str] = &crate::model::roles::ORG_ROLES;
const WORKSPACE_ROLE_VALUES: &[&str] = &crate::model::roles::WORKSPACE_ROLES;

const fn ws_value() -> Attr {
    read_only(exact(string("value", "The id of the Workspace.")))
}

const fn ws_role() -> Attr {
    read_only(canonical(
        string("role", "The Workspace role."),
        WORKSPACE_ROLE_VALUES,
    ))
}

const fn dep_attrs() -> [Attr; 4] {
    [
        read_only(exact(string("value", "The id of the Deployment."))),
        read_only(string("display", "The name of the Deployment.")),
        read_only(exact(string(
            "workspace",
            "The id of the Workspace the Deployment is in.",
        ))),
        read_only(string(
            "role",
            "DEPLOYMENT_ADMIN or the name of a custom Deployment role (several custom roles \
             on one Deployment add up, joined with ' + ').",
        )),
    ]
}

/// Where an effective role comes from: `own`, `team:<name>`, `implied:<deployment>` (an
/// implied WORKSPACE_ACCESSOR), `organizationOwner` or `default`.
const fn sources() -> Attr {
    read_only(multi(string(
        "sources",
        "Where the role comes from: own, team:<Team name>, implied:<Deployment name> (an \
         implied WORKSPACE_ACCESSOR), organizationOwner (Owners hold WORKSPACE_OWNER \
         everywhere) or default.",
    )))
}

static WORKSPACE_ROLE_ATTRIBUTES: [Attr; 3] = [
    ws_value(),
    read_only(string("display", "The name of the Workspace.")),
    ws_role(),
];

static USER_WORKSPACE_ROLE_ATTRIBUTES: [Attr; 4] = [
    ws_value(),
    read_only(string("display", "The name of the Workspace.")),
    ws_role(),
    sources(),
];

static DEPLOYMENT_ROLE_ATTRIBUTES: [Attr; 4] = dep_attrs();

static USER_DEPLOYMENT_ROLE_ATTRIBUTES: [Attr; 5] = {
    let [v, d, w, r] = dep_attrs();
    [v, d, w, r, sources()]
};

/// Computed attributes (roles) are returned only when asked for.
const fn on_request(mut a: Attr) -> Attr {
    a.returned = Returned::Request;
    a
}

const fn org_role_attr() -> Attr {
    on_request(read_only(canonical(
        string("organizationRole", "The Organization role."),
        ORG_ROLE_VALUES,
    )))
}

static ACCESS_USER_ATTRIBUTES: [Attr; 4] = [
    org_role_attr(),
    on_request(read_only(multi(string(
        "organizationRoleSources",
        "Where the Organization role comes from: own, team:<Team name> or default.",
    )))),
    on_request(read_only(multi(complex(
        "workspaceRoles",
        &USER_WORKSPACE_ROLE_ATTRIBUTES,
        "The effective role per Workspace, with its sources.",
    )))),
    on_request(read_only(multi(complex(
        "deploymentRoles",
        &USER_DEPLOYMENT_ROLE_ATTRIBUTES,
        "The effective role per Deployment, with its sources.",
    )))),
];

static TEAM_GROUP_ATTRIBUTES: [Attr; 4] = [
    string("description", "What the Team is for."),
    org_role_attr(),
    on_request(read_only(multi(complex(
        "workspaceRoles",
        &WORKSPACE_ROLE_ATTRIBUTES,
        "One role per Workspace.",
    )))),
    on_request(read_only(multi(complex(
        "deploymentRoles",
        &DEPLOYMENT_ROLE_ATTRIBUTES,
        "One role per Deployment: DEPLOYMENT_ADMIN or a custom Deployment role.",
    )))),
];

pub static USER: Schema = Schema {
    id: USER_SCHEMA,
    name: "User",
    description: "User Account",
    attributes: &USER_ATTRIBUTES,
};

pub static ENTERPRISE_USER: Schema = Schema {
    id: ENTERPRISE_USER_SCHEMA,
    name: "EnterpriseUser",
    description: "Enterprise User",
    attributes: &ENTERPRISE_USER_ATTRIBUTES,
};

pub static ACCESS_USER: Schema = Schema {
    id: ACCESS_USER_SCHEMA,
    name: "UserAccess",
    description: "The user's effective access: the highest of its own roles and those of its Teams (read-only)",
    attributes: &ACCESS_USER_ATTRIBUTES,
};

pub static GROUP: Schema = Schema {
    id: GROUP_SCHEMA,
    name: "Group",
    description: "Group",
    attributes: &GROUP_ATTRIBUTES,
};

pub static TEAM_GROUP: Schema = Schema {
    id: TEAM_GROUP_SCHEMA,
    name: "Team",
    description: "A Team's description and access template (roles are managed in scimbox, not over SCIM)",
    attributes: &TEAM_GROUP_ATTRIBUTES,
};

/// A SCIM resource type with its core schema and extensions (RFC 7643 §6).
#[derive(Debug)]
pub struct ResourceType {
    pub name: &'static str,
    pub endpoint: &'static str,
    pub description: &'static str,
    pub core: &'static Schema,
    pub extensions: &'static [&'static Schema],
}

pub static USER_TYPE: ResourceType = ResourceType {
    name: "User",
    endpoint: "/Users",
    description: "User Account",
    core: &USER,
    extensions: &[&ENTERPRISE_USER, &ACCESS_USER],
};

pub static GROUP_TYPE: ResourceType = ResourceType {
    name: "Group",
    endpoint: "/Groups",
    description: "Group (a Team)",
    core: &GROUP,
    extensions: &[&TEAM_GROUP],
};

pub static RESOURCE_TYPES: [&ResourceType; 2] = [&USER_TYPE, &GROUP_TYPE];

pub static SCHEMAS: [&Schema; 5] = [&USER, &ENTERPRISE_USER, &ACCESS_USER, &GROUP, &TEAM_GROUP];

/// Where a resolved attribute lives.
#[derive(Debug, Clone, Copy)]
pub struct Resolved {
    /// `None` for a core or common attribute; the extension schema otherwise.
    pub extension: Option<&'static Schema>,
    pub attr: &'static Attr,
    pub sub: Option<&'static Attr>,
}

impl ResourceType {
    /// Looks up a schema (core or extension) by URN, case-insensitively.
    pub fn schema(&self, urn: &str) -> Option<&'static Schema> {
        if self.core.id.eq_ignore_ascii_case(urn) {
            return Some(self.core);
        }
        let exts: &'static [&'static Schema] = self.extensions;
        exts.iter()
            .copied()
            .find(|s| s.id.eq_ignore_ascii_case(urn))
    }

    /// Resolves `[urn:]name[.sub]` (already split) to catalogue entries. A URN of the core schema
    /// means the same as no URN. Names are case-insensitive (RFC 7643 §2.1).
    pub fn resolve(&self, urn: Option<&str>, name: &str, sub: Option<&str>) -> Option<Resolved> {
        let (extension, attr) = match urn {
            Some(urn) => {
                let schema = self.schema(urn)?;
                let attr = schema
                    .attr(name)
                    .or_else(|| common_attr(name).filter(|_| std::ptr::eq(schema, self.core)))?;
                let ext = (!std::ptr::eq(schema, self.core)).then_some(schema);
                (ext, attr)
            }
            None => (None, self.core.attr(name).or_else(|| common_attr(name))?),
        };
        let sub = match sub {
            Some(s) => Some(attr.sub_attr(s)?),
            None => None,
        };
        Some(Resolved {
            extension,
            attr,
            sub,
        })
    }

    /// Splits a full attribute path such as
    /// `urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager.value` into
    /// (URN, name, sub) using the schemas this type knows, since URNs contain dots and colons.
    pub fn split_urn<'a>(&self, path: &'a str) -> (Option<&'a str>, &'a str) {
        let all = std::iter::once(self.core).chain(self.extensions.iter().copied());
        for schema in all {
            let id = schema.id;
            if path.len() > id.len()
                && path.as_bytes()[id.len()] == b':'
                && path[..id.len()].eq_ignore_ascii_case(id)
            {
                return (Some(&path[..id.len()]), &path[id.len() + 1..]);
            }
        }
        (None, path)
    }
}

pub fn common_attr(name: &str) -> Option<&'static Attr> {
    COMMON_ATTRIBUTES
        .iter()
        .find(|a| a.name.eq_ignore_ascii_case(name))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resolves_core_extension_and_common_attributes_case_insensitively() {
        let r = USER_TYPE.resolve(None, "USERNAME", None).unwrap();
        assert_eq!(r.attr.name, "userName");
        assert!(r.extension.is_none());
        let r = USER_TYPE
            .resolve(Some(ENTERPRISE_USER_SCHEMA), "manager", Some("value"))
            .unwrap();
        assert_eq!(r.extension.unwrap().id, ENTERPRISE_USER_SCHEMA);
        assert_eq!(r.sub.unwrap().name, "value");
        assert!(
            USER_TYPE
                .resolve(None, "meta", Some("lastmodified"))
                .is_some()
        );
        assert!(USER_TYPE.resolve(Some(USER_SCHEMA), "id", None).is_some());
        assert!(USER_TYPE.resolve(None, "nope", None).is_none());
        assert!(GROUP_TYPE.resolve(None, "members", Some("value")).is_some());
    }

    #[test]
    fn splits_urn_prefixed_paths() {
        let (urn, rest) = USER_TYPE
            .split_urn("urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager.value");
        assert_eq!(urn, Some(ENTERPRISE_USER_SCHEMA));
        assert_eq!(rest, "manager.value");
        assert_eq!(
            USER_TYPE.split_urn("name.givenName"),
            (None, "name.givenName")
        );
    }
}
