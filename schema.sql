-- scimbox schema, version 1. Applied in one transaction on an empty database; PRAGMA user_version
-- records the version, and later changes are numbered steps in src/store/migrate.rs.
--
-- Conventions: every table has an INTEGER primary key `pk` used for joins; resources also carry
-- their public SCIM `id` (a UUID). Times are UTC text in one fixed format
-- (YYYY-MM-DDTHH:MM:SS.mmmZ), so text order is time order and indexes serve range filters.
-- Every query names `org_id`, which leads every index: organizations never see each other.

CREATE TABLE orgs (
    pk           INTEGER PRIMARY KEY,
    id           TEXT NOT NULL UNIQUE,
    name         TEXT NOT NULL COLLATE NOCASE UNIQUE,
    scim_enabled INTEGER NOT NULL DEFAULT 1,
    -- Kept by the writer so an unfiltered list answers totalResults without counting rows.
    user_count   INTEGER NOT NULL DEFAULT 0,
    team_count   INTEGER NOT NULL DEFAULT 0,
    created      TEXT NOT NULL
);

-- A counter bumped by triggers whenever anything that decides authentication changes (a token
-- created, revoked or expiring, an organization switched). A running server re-reads it when
-- SQLite says another connection committed, and drops its token cache when it moved: a token
-- revoked by the CLI in another process is refused at once.
CREATE TABLE auth_epoch (
    id    INTEGER PRIMARY KEY CHECK (id = 1),
    value INTEGER NOT NULL
);
INSERT INTO auth_epoch (id, value) VALUES (1, 0);

-- Server-wide secrets and settings (e.g. the key that signs pagination cursors).
CREATE TABLE settings (
    name  TEXT PRIMARY KEY,
    value TEXT NOT NULL
) WITHOUT ROWID;

-- Bearer tokens: only the argon2id hash of the secret is kept.
CREATE TABLE tokens (
    pk        INTEGER PRIMARY KEY,
    id        TEXT NOT NULL UNIQUE,
    org_pk    INTEGER NOT NULL REFERENCES orgs(pk) ON DELETE CASCADE,
    name      TEXT NOT NULL,
    hash      TEXT NOT NULL,
    created   TEXT NOT NULL,
    expires   TEXT,
    revoked   TEXT,
    last_used TEXT
);
CREATE INDEX tokens_org ON tokens(org_pk, name);
CREATE TRIGGER tokens_insert_epoch AFTER INSERT ON tokens
    BEGIN UPDATE auth_epoch SET value = value + 1 WHERE id = 1; END;
CREATE TRIGGER tokens_delete_epoch AFTER DELETE ON tokens
    BEGIN UPDATE auth_epoch SET value = value + 1 WHERE id = 1; END;
CREATE TRIGGER tokens_update_epoch AFTER UPDATE OF revoked, expires, hash, org_pk ON tokens
    BEGIN UPDATE auth_epoch SET value = value + 1 WHERE id = 1; END;
CREATE TRIGGER orgs_update_epoch AFTER UPDATE OF scim_enabled, id ON orgs
    BEGIN UPDATE auth_epoch SET value = value + 1 WHERE id = 1; END;
CREATE TRIGGER orgs_delete_epoch AFTER DELETE ON orgs
    BEGIN UPDATE auth_epoch SET value = value + 1 WHERE id = 1; END;

-- Users: the indexed attributes as columns, and the whole stored resource (everything but id,
-- meta, groups and password) as JSON text in `data`, returned without re-parsing.
CREATE TABLE users (
    pk            INTEGER PRIMARY KEY,
    org_pk        INTEGER NOT NULL REFERENCES orgs(pk) ON DELETE CASCADE,
    id            TEXT NOT NULL UNIQUE,
    user_name     TEXT NOT NULL COLLATE NOCASE,
    external_id   TEXT,
    display_name  TEXT COLLATE NOCASE,
    active        INTEGER NOT NULL DEFAULT 1,
    org_role      TEXT NOT NULL DEFAULT 'ORGANIZATION_MEMBER',
    created       TEXT NOT NULL,
    last_modified TEXT NOT NULL,
    version       INTEGER NOT NULL DEFAULT 1,
    data          TEXT NOT NULL
);
CREATE UNIQUE INDEX users_user_name ON users(org_pk, user_name);
CREATE INDEX users_external_id ON users(org_pk, external_id);
CREATE INDEX users_display_name ON users(org_pk, display_name);
CREATE INDEX users_last_modified ON users(org_pk, last_modified);
CREATE INDEX users_created ON users(org_pk, created);
CREATE TRIGGER users_count_insert AFTER INSERT ON users
    BEGIN UPDATE orgs SET user_count = user_count + 1 WHERE pk = NEW.org_pk; END;
CREATE TRIGGER users_count_delete AFTER DELETE ON users
    BEGIN UPDATE orgs SET user_count = user_count - 1 WHERE pk = OLD.org_pk; END;

-- One row per email value, so `emails.value eq` and `emails[type eq "work"].value eq` are
-- index lookups.
CREATE TABLE user_emails (
    user_pk    INTEGER NOT NULL REFERENCES users(pk) ON DELETE CASCADE,
    org_pk     INTEGER NOT NULL,
    value      TEXT NOT NULL COLLATE NOCASE,
    type       TEXT COLLATE NOCASE,
    is_primary INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX user_emails_value ON user_emails(org_pk, value);
CREATE INDEX user_emails_user ON user_emails(user_pk);

-- Teams are SCIM Groups. Members live in `memberships`, never in `data`, so a change touches
-- only the members it names and a read without members never scans them.
CREATE TABLE teams (
    pk            INTEGER PRIMARY KEY,
    org_pk        INTEGER NOT NULL REFERENCES orgs(pk) ON DELETE CASCADE,
    id            TEXT NOT NULL UNIQUE,
    display_name  TEXT NOT NULL COLLATE NOCASE,
    external_id   TEXT,
    description   TEXT,
    org_role      TEXT NOT NULL DEFAULT 'ORGANIZATION_MEMBER',
    scim_managed  INTEGER NOT NULL,
    member_count  INTEGER NOT NULL DEFAULT 0,
    created       TEXT NOT NULL,
    last_modified TEXT NOT NULL,
    version       INTEGER NOT NULL DEFAULT 1,
    data          TEXT NOT NULL
);
CREATE UNIQUE INDEX teams_display_name ON teams(org_pk, display_name);
CREATE INDEX teams_external_id ON teams(org_pk, external_id);
CREATE INDEX teams_last_modified ON teams(org_pk, last_modified);
CREATE INDEX teams_created ON teams(org_pk, created);
CREATE TRIGGER teams_count_insert AFTER INSERT ON teams
    BEGIN UPDATE orgs SET team_count = team_count + 1 WHERE pk = NEW.org_pk; END;
CREATE TRIGGER teams_count_delete AFTER DELETE ON teams
    BEGIN UPDATE orgs SET team_count = team_count - 1 WHERE pk = OLD.org_pk; END;

CREATE TABLE memberships (
    team_pk INTEGER NOT NULL REFERENCES teams(pk) ON DELETE CASCADE,
    user_pk INTEGER NOT NULL REFERENCES users(pk) ON DELETE CASCADE,
    PRIMARY KEY (team_pk, user_pk)
) WITHOUT ROWID;
CREATE INDEX memberships_user ON memberships(user_pk, team_pk);
CREATE TRIGGER memberships_count_insert AFTER INSERT ON memberships
    BEGIN UPDATE teams SET member_count = member_count + 1 WHERE pk = NEW.team_pk; END;
CREATE TRIGGER memberships_count_delete AFTER DELETE ON memberships
    BEGIN UPDATE teams SET member_count = member_count - 1 WHERE pk = OLD.team_pk; END;

CREATE TABLE workspaces (
    pk      INTEGER PRIMARY KEY,
    org_pk  INTEGER NOT NULL REFERENCES orgs(pk) ON DELETE CASCADE,
    id      TEXT NOT NULL UNIQUE,
    name    TEXT NOT NULL COLLATE NOCASE,
    created TEXT NOT NULL
);
CREATE UNIQUE INDEX workspaces_name ON workspaces(org_pk, name);

-- Access templates: a Team's role in a Workspace, inherited by every member.
CREATE TABLE team_workspace_roles (
    team_pk      INTEGER NOT NULL REFERENCES teams(pk) ON DELETE CASCADE,
    workspace_pk INTEGER NOT NULL REFERENCES workspaces(pk) ON DELETE CASCADE,
    role         TEXT NOT NULL,
    PRIMARY KEY (team_pk, workspace_pk)
) WITHOUT ROWID;
CREATE INDEX team_workspace_roles_ws ON team_workspace_roles(workspace_pk);

-- A user's own Workspace roles (given locally, never over SCIM).
CREATE TABLE user_workspace_roles (
    user_pk      INTEGER NOT NULL REFERENCES users(pk) ON DELETE CASCADE,
    workspace_pk INTEGER NOT NULL REFERENCES workspaces(pk) ON DELETE CASCADE,
    role         TEXT NOT NULL,
    PRIMARY KEY (user_pk, workspace_pk)
) WITHOUT ROWID;

-- Every change: when, who (a token or the admin), what, and the before/after.
CREATE TABLE audit (
    pk            INTEGER PRIMARY KEY,
    org_pk        INTEGER NOT NULL,
    at            TEXT NOT NULL,
    actor         TEXT NOT NULL,
    action        TEXT NOT NULL,
    resource_type TEXT NOT NULL,
    resource_id   TEXT NOT NULL,
    reason        TEXT,
    before        TEXT,
    after         TEXT
);
CREATE INDEX audit_org ON audit(org_pk, pk);
CREATE INDEX audit_resource ON audit(org_pk, resource_id);

-- Planner statistics for an organization of a million users. Without them SQLite assumes an
-- `org_pk = ?` term selects about ten rows and prefers walking the organization over the
-- index behind an `emails.value eq`, `members.value eq` or `groups.value eq` subquery. These
-- describe the shape the indexes were made for (org_pk selects many rows, the rest few);
-- `PRAGMA optimize` replaces them with measured ones as the data grows.
ANALYZE;
DELETE FROM sqlite_stat1;
INSERT INTO sqlite_stat1 (tbl, idx, stat) VALUES
    ('users', 'users_user_name', '1000000 100000 1'),
    ('users', 'users_external_id', '1000000 100000 1'),
    ('users', 'users_display_name', '1000000 100000 2'),
    ('users', 'users_last_modified', '1000000 100000 1'),
    ('users', 'users_created', '1000000 100000 1'),
    ('user_emails', 'user_emails_value', '1000000 100000 1'),
    ('user_emails', 'user_emails_user', '1000000 1'),
    ('teams', 'teams_display_name', '10000 1000 1'),
    ('teams', 'teams_external_id', '10000 1000 1'),
    ('teams', 'teams_last_modified', '10000 1000 1'),
    ('teams', 'teams_created', '10000 1000 1'),
    ('memberships', 'memberships', '1000000 100 1'),
    ('memberships', 'memberships_user', '1000000 10 1'),
    ('tokens', 'tokens_org', '100 10 1'),
    ('audit', 'audit_org', '1000000 100000 1'),
    ('audit', 'audit_resource', '1000000 100000 10');
