-- Refused sign-ins with a user's email since their last sign-in: shown to them when they next
-- sign in ("3 failed sign-ins since your last visit"), then counted anew.
alter table users add column failed_sign_ins bigint not null default 0;
