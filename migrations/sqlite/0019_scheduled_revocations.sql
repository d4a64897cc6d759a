-- A departed member's own keys to revoke at their backends after a grace period, chosen when
-- the member was removed or the user disabled. A round in every portal process takes the due
-- ones (claimed_until keeps two processes off one key) and revokes each through Delete, whose
-- row intent and reconcile make it crash-safe; the row goes with the credential.
create table scheduled_revocations (
    credential_id text primary key references credentials(id) on delete cascade,
    project_id text not null references projects(id) on delete cascade,
    departed_email text not null,        -- whose departure scheduled it, as it was then
    due_at integer not null,
    requested_by text not null,          -- the actor (JSON) who chose the grace period
    claimed_until integer not null default 0,
    attempts integer not null default 0,
    last_error text not null default ''
);
create index scheduled_revocations_due on scheduled_revocations (due_at);
