-- Moves on whenever an API key, or the user holding it, is disabled or enabled again. Access
-- tokens carry the generation they were issued at: one issued before a disable stays refused
-- after the key (or user) is enabled again.
alter table api_keys add column generation bigint not null default 0;
