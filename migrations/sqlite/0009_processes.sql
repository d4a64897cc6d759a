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

create trigger services_version_insert after insert on services
begin update projects set version = version + 1 where id = new.project_id; end;
create trigger services_version_update after update on services
begin update projects set version = version + 1 where id = new.project_id; end;
create trigger services_version_delete after delete on services
begin update projects set version = version + 1 where id = old.project_id; end;

create trigger apps_version_insert after insert on apps
begin update projects set version = version + 1 where id = new.project_id; end;
create trigger apps_version_update after update on apps
begin update projects set version = version + 1 where id = new.project_id; end;
create trigger apps_version_delete after delete on apps
begin update projects set version = version + 1 where id = old.project_id; end;

create trigger credentials_version_insert after insert on credentials
begin update projects set version = version + 1 where id = new.project_id; end;
-- Not for the bookkeeping of an operation under way (claimed_by, requested_by, pending_*):
-- nothing a page lists changes with it.
create trigger credentials_version_update after update of name, description, access_key, secret, enabled, expires_at, rotated_at, state, kind, owner_user_id, owner_app_id, backend_user on credentials
begin update projects set version = version + 1 where id = new.project_id; end;
create trigger credentials_version_delete after delete on credentials
begin update projects set version = version + 1 where id = old.project_id; end;

create trigger endpoints_version_insert after insert on endpoints
begin update projects set version = version + 1 where id = (select project_id from services where id = new.service_id); end;
create trigger endpoints_version_update after update on endpoints
begin update projects set version = version + 1 where id = (select project_id from services where id = new.service_id); end;
create trigger endpoints_version_delete after delete on endpoints
begin update projects set version = version + 1 where id = (select project_id from services where id = old.service_id); end;

create trigger users_version_update after update of name on users
begin update projects set version = version + 1 where id in (select project_id from memberships where user_id = new.id); end;
