-- Several portal processes may serve one database. Each process has a row it keeps fresh; an
-- operation under way names the process doing it, so that another process finishes it only once
-- that process stopped answering. Periodic jobs take a lease, so that one process runs each round.

create table instances (
    id text primary key,
    started_at bigint not null,
    heartbeat_at bigint not null
);

create table leases (
    name text primary key,
    holder text not null,
    expires_at bigint not null
);

-- The process carrying out the credential's unfinished operation ('' when none, or unknown).
alter table credentials add column claimed_by text not null default '';

-- Every change to what a project's pages list (services, endpoints, apps, credentials, the names
-- of owners) moves the project's version on: a process may keep the lists in memory for as long
-- as the version it read is the project's current one. Triggers, so that no write can forget it.
alter table projects add column version bigint not null default 0;

create function keyport_project_changed() returns trigger language plpgsql as $$
declare
    changed record;
begin
    if tg_op = 'DELETE' then
        changed := old;
    else
        changed := new;
    end if;
    if tg_table_name = 'endpoints' then
        update projects set version = version + 1
        where id = (select project_id from services where id = changed.service_id);
    elsif tg_table_name = 'users' then
        update projects set version = version + 1
        where id in (select project_id from memberships where user_id = changed.id);
    else
        update projects set version = version + 1 where id = changed.project_id;
    end if;
    return null;
end
$$;

create trigger services_version after insert or update or delete on services
    for each row execute function keyport_project_changed();
create trigger apps_version after insert or update or delete on apps
    for each row execute function keyport_project_changed();
-- Not for the bookkeeping of an operation under way (claimed_by, requested_by, pending_*):
-- nothing a page lists changes with it.
create trigger credentials_version
    after insert or delete or update of name, description, access_key, secret, enabled, expires_at, rotated_at, state, kind, owner_user_id, owner_app_id, backend_user on credentials
    for each row execute function keyport_project_changed();
create trigger endpoints_version after insert or update or delete on endpoints
    for each row execute function keyport_project_changed();
create trigger users_version after update of name on users
    for each row execute function keyport_project_changed();
