-- CHECK constraints on the credential state and kind and on the service driver, who asked for a
-- credential's unfinished operation, and an index for finding the unfinished operations.
--
-- SQLite cannot add a CHECK constraint to an existing table, so `credentials` is rebuilt the way
-- https://www.sqlite.org/lang_altertable.html ("Making Other Kinds Of Table Schema Changes")
-- describes: create the new table, copy the rows, drop the old table, rename the new one, recreate
-- the indexes (it has no triggers or views). Every column, default, foreign key and constraint
-- of the old table is kept as it was; `requested_by` is added last, as PostgreSQL adds it.
--
-- sqlx runs a migration in a transaction, where `pragma foreign_keys` cannot be turned off, so
-- the rebuild runs with foreign keys on. That is safe for `credentials` because no table
-- references it: dropping it deletes nothing elsewhere. It is not safe for `services`, which
-- `endpoints`, `credentials` and `backend_users` reference with `on delete cascade`: dropping
-- the old `services` would delete every row of those tables. So `services.driver` is checked by
-- the two triggers below instead of a CHECK constraint (PostgreSQL has a real CHECK). A later
-- migration that rebuilds `services` must recreate them.
--
-- `services.kind` and `memberships.role` have had CHECK constraints since 0001 and 0002.

create table credentials_new (
    id text primary key,
    project_id text not null references projects(id) on delete cascade,
    service_id text not null references services(id) on delete cascade,
    -- Exactly one owner: a member or an app of the project.
    owner_user_id text references users(id) on delete cascade,
    owner_app_id text references apps(id) on delete cascade,
    name text not null,
    description text not null default '',
    access_key text not null,            -- the public part: access key id, or OpenStack user name
    secret blob not null,                -- sealed under the project's data key
    enabled integer not null default 1,
    expires_at integer,
    created_at integer not null,
    created_by text not null,            -- name and email at the time, kept when the user is gone
    rotated_at integer,
    kind text not null default 'key',
    state text not null default 'active',
    state_since integer,
    pending_access_key text not null default '',
    pending_secret blob,
    backend_user text not null default '',
    -- Who asked for the unfinished operation (an audit actor, as JSON), so that whoever finishes
    -- it after an interruption can audit it in the requester's name; '' when none.
    requested_by text not null default '',
    check ((owner_user_id is null) <> (owner_app_id is null)),
    constraint credentials_kind_check check (kind in ('key', 'ec2')),
    constraint credentials_state_check
        check (state in ('creating', 'rotating', 'retiring', 'deleting', 'active'))
);

insert into credentials_new (id, project_id, service_id, owner_user_id, owner_app_id, name, description,
        access_key, secret, enabled, expires_at, created_at, created_by, rotated_at, kind, state,
        state_since, pending_access_key, pending_secret, backend_user)
    select id, project_id, service_id, owner_user_id, owner_app_id, name, description,
        access_key, secret, enabled, expires_at, created_at, created_by, rotated_at, kind, state,
        state_since, pending_access_key, pending_secret, backend_user
    from credentials;

drop table credentials;
alter table credentials_new rename to credentials;

create index credentials_service on credentials(service_id, owner_user_id, owner_app_id);

-- The unfinished operations (`db::credentials::interrupted`: `where state <> 'active' and
-- coalesce(state_since, 0) <= $1 order by id`): the index holds only the few rows not `active`,
-- in the order the query returns them, so the query reads those rows alone and sorts nothing;
-- the cutoff is checked on them. Keyed by id, not state_since: without ANALYZE statistics
-- (Keyport never runs ANALYZE) SQLite prefers scanning the whole table in id order to an index
-- on state_since.
create index credentials_unfinished on credentials(id) where state <> 'active';

-- services.driver in ('stored', 'keystone', 'aws_iam'): see the top of this file.
create trigger services_driver_check_insert before insert on services
    when new.driver not in ('stored', 'keystone', 'aws_iam')
begin
    select raise(abort, 'CHECK constraint failed: services_driver_check');
end;

create trigger services_driver_check_update before update of driver on services
    when new.driver not in ('stored', 'keystone', 'aws_iam')
begin
    select raise(abort, 'CHECK constraint failed: services_driver_check');
end;

-- Like PostgreSQL's `add constraint ... check`, refuse to migrate a service already holding an
-- unknown driver: the update trigger aborts on such a row (valid rows are not touched).
update services set driver = driver where driver not in ('stored', 'keystone', 'aws_iam');
