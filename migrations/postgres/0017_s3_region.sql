-- The region an endpoint's S3 API signs with, when it is not the endpoint's own region: an
-- OpenStack cloud's s3api keeps its own location (Swift's default is `us-east-1`) whatever the
-- region of Keystone's catalog. Empty: the same as `region`. Set by Keyport when the S3 API
-- names the region it expects (`AuthorizationHeaderMalformed ... expecting`).
alter table endpoints add column s3_region text not null default '';
