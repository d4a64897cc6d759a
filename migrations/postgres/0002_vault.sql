-- The credential vault: per-project data keys, services and their endpoints, apps (service
-- identities), credentials with sealed secrets, and the audit log.

-- The project's data key, wrapped under the master key; null until first needed.
alter table projects add column data_key bytea;

create table services (
    id text primary key,
    project_id text not null references projects(id) on delete cascade,
    kind text not null check (kind in ('s3', 'openstack', 'api')),
    name text not null,
    description text not null default '',
    driver text not null default 'stored',
    max_keys_per_owner bigint not null default 2 check (max_keys_per_owner between 1 and 5),
    -- OpenStack only: where the service's users and projects live in Keystone.
    os_user_domain text not null default '',
    os_project_name text not null default '',
    os_project_domain text not null default '',
    created_at bigint not null,
    unique (project_id, name)
);

create table endpoints (
    id text primary key,
    service_id text not null references services(id) on delete cascade,
    site text not null,
    region text not null,
    interface text not null check (interface in ('public', 'private', 'auth')),
    url text not null,
    created_at bigint not null
);
create index endpoints_service on endpoints(service_id);

create table apps (
    id text primary key,
    project_id text not null references projects(id) on delete cascade,
    name text not null,
    description text not null default '',
    created_at bigint not null,
    unique (project_id, name)
);

create table credentials (
    id text primary key,
    project_id text not null references projects(id) on delete cascade,
    service_id text not null references services(id) on delete cascade,
    -- Exactly one owner: a member or an app of the project.
    owner_user_id text references users(id) on delete cascade,
    owner_app_id text references apps(id) on delete cascade,
    name text not null,
    description text not null default '',
    access_key text not null,            -- the public part: access key id, or OpenStack user name
    secret bytea not null,                -- sealed under the project's data key
    enabled bigint not null default 1,
    expires_at bigint,
    created_at bigint not null,
    created_by text not null,            -- name and email at the time, kept when the user is gone
    rotated_at bigint,
    check ((owner_user_id is null) <> (owner_app_id is null))
);
create index credentials_service on credentials(service_id, owner_user_id, owner_app_id);

create table audit_events (
    id bigserial primary key,
    at bigint not null,
    project_id text,
    actor_id text,
    actor text not null,                 -- email at the time, kept when the user is gone
    action text not null,
    target text not null default '',
    ip text not null default '',
    user_agent text not null default '',
    detail text not null default ''
);
create index audit_events_project on audit_events(project_id, id);
