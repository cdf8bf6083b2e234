alter table "public"."enrolments" drop constraint "enrolments_fee_id_fkey";

alter table "public"."enrolments" drop constraint "enrolments_user_id_fkey";

alter table "public"."fees" drop constraint "fees_course_id_fkey";

alter table "public"."users" drop constraint "users_id_fkey";

alter table "public"."users" drop column "guardian_phone";

alter table "public"."users" drop column "home_address";

alter table "public"."enrolments" add constraint "enrolments_fee_id_fkey" foreign key (fee_id) references fees(id) not valid;

alter table "public"."enrolments" validate constraint "enrolments_fee_id_fkey";

alter table "public"."enrolments" add constraint "enrolments_user_id_fkey" foreign key (user_id) references auth.users(id) not valid;

alter table "public"."enrolments" validate constraint "enrolments_user_id_fkey";

alter table "public"."fees" add constraint "fees_course_id_fkey" foreign key (course_id) references courses(id) not valid;

alter table "public"."fees" validate constraint "fees_course_id_fkey";

alter table "public"."users" add constraint "users_id_fkey" foreign key (id) references auth.users(id) on delete cascade not valid;

alter table "public"."users" validate constraint "users_id_fkey";

create table "public"."guardians" (
    "id" uuid not null default gen_random_uuid(),
    "user_id" uuid not null,
    "name" text not null,
    "phone" text
);

alter table "public"."guardians" enable row level security;

alter table "public"."guardians" add constraint "guardians_pkey" primary key ("id");

alter table "public"."guardians" add constraint "guardians_user_id_fkey" foreign key (user_id) references users(id) on delete cascade;

create policy "A person reads their own guardians." on "public"."guardians"
  as permissive for select to authenticated using ((auth.uid() = user_id));

create policy "A person names their own guardians." on "public"."guardians"
  as permissive for insert to authenticated with check ((auth.uid() = user_id));
