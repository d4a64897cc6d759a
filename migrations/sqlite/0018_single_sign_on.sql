-- Single sign-on: the account at the OpenID provider each user signed in with. The provider is
-- asked again about it (its refresh token used) every KEYPORT_OIDC_RECHECK_SECONDS.
create table sso_identities (
    user_id text primary key references users(id) on delete cascade,
    issuer text not null,
    subject text not null,                -- the ID token's `sub`, stable at the provider
    sid text not null default '',         -- the provider's session of the last sign-in, for back-channel logout
    refresh_token blob,                   -- the provider's, sealed under the master key; null when it gave none
    checked_at integer not null,          -- when the provider last vouched for the account
    checking_until integer not null default 0, -- a process asking the provider holds the account until then
    suspended integer not null default 0, -- 1: Keyport disabled the user because the provider refused it
    unique (issuer, subject)
);

-- The keys a member who left (removed from the project, or disabled) had shown, copied or
-- downloaded since the key last changed: flagged "rotate: seen by a departed member" on View
-- Credentials and the health page while the key's last change is older than departed_at
-- (Regenerate clears it).
create table departed_views (
    credential_id text not null references credentials(id) on delete cascade,
    user_id text not null,                -- the departed member; no reference: kept if the account goes
    email text not null,                  -- as it was then
    departed_at integer not null,
    primary key (credential_id, user_id)
);
