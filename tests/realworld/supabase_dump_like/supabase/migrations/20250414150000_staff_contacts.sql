-- The staff room's phone list, moved from a spreadsheet into the app.
begin;

create table public.staff_contact (
  profile_id uuid primary key references public.profile (id) on delete cascade,
  email text not null,
  phone text,
  extension text,
  subjects text[] not null default '{}'
);

alter table public.staff_contact enable row level security;

create policy "Signed-in members read the staff list" on public.staff_contact
  for select to authenticated using (true);

create policy "Staff keep their own entry" on public.staff_contact
  for update to authenticated
  using ((select auth.uid()) = profile_id)
  with check ((select auth.uid()) = profile_id);

grant select, update on public.staff_contact to authenticated;
grant all on public.staff_contact to service_role;

commit;
