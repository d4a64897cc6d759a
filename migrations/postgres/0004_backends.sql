-- Backend drivers: a service's driver settings (sealed JSON, admin secrets inside), the user each
-- owner is at the backend, and the state of each credential while a backend call is under way.

alter table services add column driver_settings bytea;

create table backend_users (
    id text primary key,
    service_id text not null references services(id) on delete cascade,
    owner_user_id text references users(id) on delete cascade,
    owner_app_id text references apps(id) on delete cascade,
    backend_id text not null,            -- Keystone user id, IAM user name
    backend_name text not null,
    created_by_keyport bigint not null,
    created_at bigint not null,
    check ((owner_user_id is null) <> (owner_app_id is null))
);
create unique index backend_users_owner
    on backend_users(service_id, coalesce(owner_user_id, ''), coalesce(owner_app_id, ''));

-- 'active', or the step a backend operation was at: 'creating', 'rotating' (old key still in
-- access_key/secret, the new one Keyport chose in pending_*), 'retiring' (new key in place, the
-- old one in pending_access_key still to revoke), 'deleting'. Reconcile finishes or undoes them.
alter table credentials add column state text not null default 'active';
alter table credentials add column state_since bigint;
alter table credentials add column pending_access_key text not null default '';
alter table credentials add column pending_secret bytea;
alter table credentials add column backend_user text not null default '';
