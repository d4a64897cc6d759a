-- What a credential is: 'key' (the service's own kind: an S3 key pair, an OpenStack user's
-- password, an API key) or 'ec2' (an EC2 key pair for the S3 API of an OpenStack cloud).
alter table credentials add column kind text not null default 'key';
