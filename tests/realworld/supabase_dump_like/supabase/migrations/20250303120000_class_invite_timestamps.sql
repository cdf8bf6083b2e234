begin;

-- Join codes get a creation time and an expiry (the office asked for codes that stop
-- working after the first month), and a count of the students who used them.

alter table public.class_invite add column if not exists created_at timestamptz;
alter table public.class_invite add column if not exists expires_at timestamptz;
alter table public.class_invite add column if not exists used_count integer not null default 0;

update public.class_invite
set created_at = coalesce(created_at, now()),
    expires_at = coalesce(expires_at, now() + interval '30 days')
where created_at is null or expires_at is null;

alter table public.class_invite
  alter column created_at set default now(),
  alter column created_at set not null,
  alter column expires_at set default (now() + interval '30 days'),
  alter column expires_at set not null;

commit;
