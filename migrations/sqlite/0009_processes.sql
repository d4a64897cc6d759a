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
