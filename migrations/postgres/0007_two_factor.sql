-- Two-factor sign-in with TOTP (RFC 6238), its one-time recovery codes, and a faster way to
-- read the instance audit log (the events that belong to no project).

create table totp_factors (
    user_id text primary key references users(id) on delete cascade,
    secret bytea not null,                -- sealed under the master key, bound to the user id
    confirmed_at bigint,                -- null while enrolment waits for its first code
    last_step bigint,                   -- the last time step whose code was accepted: no code works twice
    created_at bigint not null
);

create table recovery_codes (
    user_id text not null references users(id) on delete cascade,
    code_hash text not null,             -- sha-256 of the code; the codes are shown once
    used_at bigint,
    primary key (user_id, code_hash)
);

create index audit_events_instance on audit_events(id) where project_id is null;
