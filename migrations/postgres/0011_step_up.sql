-- The one action a step-up allows right after it when the window is zero ("ask every time"):
-- used up by a delete that only one request can win, however many arrive at once.
create table step_up_grants (
    id text primary key,                 -- sha-256 of the random value kept in the session
    user_id text not null references users(id) on delete cascade,
    expires_at bigint not null
);

-- An enrolment waiting for its first code belongs to the session that started it (the stored
-- form of its id): another session of the user neither sees its secret nor confirms it.
alter table totp_factors add column pending_session text not null default '';
