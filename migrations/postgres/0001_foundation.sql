-- Accounts, projects, memberships, sessions and instance settings.
create table settings (
    key text primary key,
    value text not null
);

create table users (
    id text primary key,
    email text not null unique,          -- stored case-folded
    name text not null,
    password_hash text,                  -- argon2id PHC string; null until the set-password link is used
    is_admin bigint not null default 0,
    disabled bigint not null default 0,
    session_epoch bigint not null default 0, -- bumped to end every session of the user at once
    created_at bigint not null
);

create table password_links (
    token_hash text primary key,         -- sha-256 of the token in the link; the token itself is shown once
    user_id text not null unique references users(id) on delete cascade, -- one link per user at most
    created_at bigint not null,
    expires_at bigint not null
);

create table projects (
    id text primary key,
    slug text not null unique,
    name text not null,
    created_at bigint not null,
    updated_at bigint not null          -- also written first in membership changes, to serialise them per project
);

create table memberships (
    project_id text not null references projects(id) on delete cascade,
    user_id text not null references users(id) on delete cascade,
    role text not null check (role in ('owner', 'admin', 'member', 'viewer')),
    created_at bigint not null,
    primary key (project_id, user_id)
);
create index memberships_user on memberships(user_id);

create table sessions (
    id text primary key,                 -- sha-256 of the session id in the cookie
    data text not null,
    expiry_date bigint not null,
    user_id text                         -- copied from the session data so that a user's sessions can be ended together
);
create index sessions_user on sessions(user_id);
create index sessions_expiry on sessions(expiry_date);
