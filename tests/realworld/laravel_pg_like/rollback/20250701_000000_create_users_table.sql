-- Description: migrate:rollback of 0001_01_01_000000_create_users_table
drop table if exists "users";
drop table if exists "password_reset_tokens";
drop table if exists "sessions";
