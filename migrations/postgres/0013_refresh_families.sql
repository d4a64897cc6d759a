-- Refresh tokens are signed and carry their family and their place in it, so that an exchange
-- writes nothing. A family gets a row at its first refresh: the place of the one token of it
-- that may still be used, and whether it was revoked (a used token presented again). Tokens
-- of the old table stop working: their programs exchange their API key again.
drop table refresh_tokens;

create table refresh_families (
    family text primary key,
    api_key_id text not null references api_keys(id) on delete cascade,
    -- The place in the family of the token that may be used next.
    next_place bigint not null,
    -- When the family's latest token expires: the row can go after that.
    expires_at bigint not null,
    revoked_at bigint
);
create index refresh_families_expiry on refresh_families(expires_at);
