-- Reminders: each condition a key is found in (its rotation due soon or overdue, its expiry
-- near or passed), once per due date. The unique key is the claim: of several processes that
-- find the same condition, the one whose insert lands writes its messages; a rotation gives the
-- key a new due date, which is a new condition.
create table reminder_conditions (
    id text primary key,
    credential_id text not null references credentials(id) on delete cascade,
    kind text not null check (kind in ('rotation-due-soon', 'overdue', 'expiring-soon', 'expired')),
    due_at integer not null,
    found_at integer not null,
    unique (credential_id, kind, due_at)
);

-- The messages of each condition, one per channel, written with the condition in one
-- transaction: an outbox. A sender claims a message until `claimed_until`; one that stops
-- before it records the outcome leaves the claim to run out, and the message is sent again.
-- A failure keeps the message pending, with its error and the time of the next attempt.
create table reminder_deliveries (
    id text primary key,
    condition_id text not null references reminder_conditions(id) on delete cascade,
    channel text not null check (channel in ('email', 'webhook')),
    -- Email addresses, comma-separated; empty for the webhook.
    recipients text not null,
    subject text not null,
    -- The mail's text, or the webhook's JSON body.
    body text not null,
    status text not null check (status in ('pending', 'sent')),
    attempts integer not null default 0,
    next_attempt_at integer not null,
    claimed_until integer,
    last_error text,
    created_at integer not null,
    sent_at integer
);
create index reminder_deliveries_due on reminder_deliveries(status, next_attempt_at);
create index reminder_deliveries_recent on reminder_deliveries(created_at);
