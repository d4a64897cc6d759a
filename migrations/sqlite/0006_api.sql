-- Programs reach Keyport with its own API keys: a member's personal keys, or the keys of a
-- project's app. A key is exchanged at /identity/token for a signed access token (one hour) and
-- a single-use refresh token.

create table api_keys (
    id text primary key,
    prefix text not null,                -- the key's first characters, to tell keys apart; the key is shown once
    key_hash text not null unique,       -- sha-256 of the whole key
    user_id text references users(id) on delete cascade,
    app_id text references apps(id) on delete cascade,
    project_id text references projects(id) on delete cascade, -- the app's project
    name text not null,
    description text not null default '',
    created_at integer not null,
    created_by text not null,
    expires_at integer,
    last_used_at integer,
    last_used_ip text not null default '',
    enabled integer not null default 1,
    check ((user_id is null) <> (app_id is null)),
    check ((app_id is null) = (project_id is null))
);
create index api_keys_user on api_keys(user_id);
create index api_keys_app on api_keys(app_id);

-- Refresh tokens are single-use: each use marks the token used and issues the next of its
-- family; a used token presented again revokes the whole family.
create table refresh_tokens (
    token_hash text primary key,         -- sha-256 of the token
    family text not null,
    api_key_id text not null references api_keys(id) on delete cascade,
    expires_at integer not null,
    used_at integer
);
create index refresh_tokens_family on refresh_tokens(family);

-- The keys that sign access tokens. The newest one signs; older ones still verify the tokens
-- they signed until those expire. The private key is sealed under the master key.
create table signing_keys (
    kid text primary key,
    private_key blob not null,
    public_key text not null,            -- base64url, as the JWKS publishes it
    created_at integer not null,
    retired_at integer
);
