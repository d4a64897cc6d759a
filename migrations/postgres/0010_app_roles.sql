-- An app acts in its project in the role the admin who made it chose (before: always as a
-- member). Owner is not among them: an app does not manage the project's owners.
alter table apps add column role text not null default 'member'
    check (role in ('viewer', 'member', 'admin'));
