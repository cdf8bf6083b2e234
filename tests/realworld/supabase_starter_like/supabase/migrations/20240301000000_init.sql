-- A school portal on Supabase: a profile per person who signs up, the courses on offer,
-- their fees and who is enrolled. Written for malnu-tui's tests.
-- Profiles: Supabase Auth keeps the login (auth.users); the school keeps the rest here.
create table users (
  id uuid references auth.users on delete cascade not null primary key,
  full_name text,
  photo_url text,
  guardian_phone text,
  home_address jsonb
);
alter table users enable row level security;
create policy "A person reads their own profile." on users for select using (auth.uid() = id);
create policy "A person edits their own profile." on users for update using (auth.uid() = id);
create policy "A person removes their own profile." on users for delete using (auth.uid() = id);

-- A profile is made for every sign-up, from what the sign-up form sent.
create function public.make_profile_on_signup()
returns trigger
language plpgsql
security definer set search_path = public
as $$
begin
  insert into public.users (id, full_name, photo_url)
  values (new.id, new.raw_user_meta_data ->> 'full_name', new.raw_user_meta_data ->> 'photo_url');
  return new;
end;
$$;
create trigger make_profile_on_signup
  after insert on auth.users
  for each row execute procedure public.make_profile_on_signup();

create type fee_kind as enum ('one_off', 'per_term');
create type fee_period as enum ('term', 'year');
create type enrolment_status as enum ('applied', 'active', 'on_hold', 'withdrawn', 'finished');

create table courses (
  id text primary key,
  active boolean,
  name text,
  summary text,
  cover_url text,
  metadata jsonb
);
alter table courses enable row level security;
create policy "Anyone reads the courses." on courses for select using (true);
create policy "Staff add courses." on courses for insert to authenticated
  with check ((auth.jwt() ->> 'role') = 'service_role');
create policy "Staff change courses." on courses for update to authenticated
  using ((auth.jwt() ->> 'role') = 'service_role');

create table fees (
  id text primary key,
  course_id text references courses,
  active boolean,
  summary text,
  amount bigint,
  currency text check (char_length(currency) = 3),
  kind fee_kind,
  period fee_period,
  period_count integer,
  metadata jsonb
);
alter table fees enable row level security;
create policy "Anyone reads the fees." on fees for select using (true);
create policy "Staff add fees." on fees for insert to authenticated
  with check ((auth.jwt() ->> 'role') = 'service_role');
create policy "Staff change fees." on fees for update to authenticated
  using ((auth.jwt() ->> 'role') = 'service_role');

create table enrolments (
  id text primary key,
  user_id uuid references auth.users not null,
  status enrolment_status,
  metadata jsonb,
  fee_id text references fees,
  seats integer,
  leave_at_term_end boolean,
  created_at timestamp with time zone default timezone('utc'::text, now()) not null,
  starts_at timestamp with time zone default timezone('utc'::text, now()) not null,
  ends_at timestamp with time zone default timezone('utc'::text, now()),
  left_at timestamp with time zone default timezone('utc'::text, now())
);
alter table enrolments enable row level security;
create policy "A person reads their own enrolments." on enrolments
  for select using (auth.uid() = user_id);
create policy "A person applies for themselves." on enrolments
  for insert with check (auth.uid() = user_id and status = 'applied');

-- Course and fee changes are pushed to the portal's open pages.
drop publication if exists supabase_realtime;
create publication supabase_realtime for table courses, fees;
