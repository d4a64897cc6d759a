-- CHECK constraints on the credential state and kind and on the service driver, who asked for a
-- credential's unfinished operation, and an index for finding the unfinished operations.
-- (SQLite rebuilds `credentials` and checks `services.driver` with triggers: see its 0005.)
-- `services.kind` and `memberships.role` have had CHECK constraints since 0001 and 0002.

alter table credentials add constraint credentials_kind_check check (kind in ('key', 'ec2'));
alter table credentials add constraint credentials_state_check
    check (state in ('creating', 'rotating', 'retiring', 'deleting', 'active'));
alter table services add constraint services_driver_check
    check (driver in ('stored', 'keystone', 'aws_iam'));

-- Who asked for the unfinished operation (an audit actor, as JSON), so that whoever finishes it
-- after an interruption can audit it in the requester's name; '' when none.
alter table credentials add column requested_by text not null default '';

-- The unfinished operations (`db::credentials::interrupted`: `where state <> 'active' and
-- coalesce(state_since, 0) <= $1 order by id`): the index holds only the few rows not `active`,
-- in the order the query returns them; the cutoff is checked on those few rows. Keyed as in
-- SQLite, where an index on state_since is not used.
create index credentials_unfinished on credentials(id) where state <> 'active';
