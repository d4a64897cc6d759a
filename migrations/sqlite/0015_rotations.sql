-- Guided rotation: a credential's key replaced in steps that may be days apart (a second key,
-- both keys in use while clients move, the old key deactivated, then deleted). One row per
-- credential being rotated; it goes when the rotation is finished or abandoned.
--
-- `credential_id` is the old key's credential, `new_credential_id` the second key's: an
-- ordinary credential of the same owner and service, counted against the service's limit. The
-- second key's id is written before its row exists (the intent of step 1), so it has no foreign
-- key; reconcile treats a missing second key as a step 1 that never happened.
--
-- `step` is where the rotation rests ('both_active', 'old_inactive') or the step under way
-- ('creating', 'deactivating', 'reactivating', 'deleting', 'abandoning'); `requested_by` and
-- `claimed_by` are who asked for the step under way and the process doing it, as on
-- `credentials`. A step moves the row with one conditional update on `step`: of two people
-- pressing the same button, one acts.
create table rotations (
    credential_id text primary key references credentials(id) on delete cascade,
    project_id text not null references projects(id) on delete cascade,
    new_credential_id text not null unique,
    step text not null check (step in
        ('creating', 'both_active', 'deactivating', 'old_inactive', 'reactivating', 'deleting', 'abandoning')),
    -- How long the old key must have gone unused before step 3 is offered.
    quiet_seconds integer not null check (quiet_seconds between 60 and 31622400),
    started_at integer not null,
    started_by text not null,
    step_since integer not null,
    requested_by text not null default '',
    claimed_by text not null default ''
);
create index rotations_project on rotations(project_id);
create index rotations_under_way on rotations(step_since)
    where step not in ('both_active', 'old_inactive');

-- Rotations appear on View Credentials, which may keep a project's lists while its version
-- stays: every change of a rotation moves the project's version on.
create trigger rotations_version_insert after insert on rotations
begin update projects set version = version + 1 where id = new.project_id; end;
create trigger rotations_version_update after update of step on rotations
begin update projects set version = version + 1 where id = new.project_id; end;
create trigger rotations_version_delete after delete on rotations
begin update projects set version = version + 1 where id = old.project_id; end;
