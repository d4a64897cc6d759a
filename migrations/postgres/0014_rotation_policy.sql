-- A service's rotation policy: the age in days after which its keys are due for rotation, and
-- how many days before that (and before a key's own expiry) the pages warn. Both optional: a
-- service without them shows no rotation note. Changing them moves the project's version on
-- (the update trigger of 0009 fires for every column of `services`), so that every process's
-- View Credentials shows the new policy at its next page.
alter table services add column max_key_age_days bigint
    check (max_key_age_days is null or max_key_age_days between 1 and 3650);
alter table services add column rotation_warning_days bigint
    check (rotation_warning_days is null or rotation_warning_days between 1 and 365);

-- The credential a Show, Copy or Download opened, for the health page's "last used" and
-- "damaged": the target names a credential only by its service's and its own name, which are
-- neither unique nor lasting. Null for every other event.
alter table audit_events add column credential_id text;

-- Earlier Shows, Copies and Downloads get their credential where exactly one credential of the
-- project has the name the event's target gives today; the others stay unknown.
update audit_events set credential_id = (
    select case when count(*) = 1 then min(c.id) end
    from credentials c join services s on s.id = c.service_id
    where c.project_id = audit_events.project_id and s.name || ' / ' || c.name = audit_events.target)
where project_id is not null
  and action in ('credential.reveal', 'credential.copy', 'credential.download');

-- The health page asks for the latest use of every credential of a project at once; the index
-- holds all it reads (a Show that found the secret damaged says so in `detail`).
create index audit_events_credential_use on audit_events(project_id, credential_id, at, detail)
    where credential_id is not null;
