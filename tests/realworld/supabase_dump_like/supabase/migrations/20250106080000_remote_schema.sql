BEGIN;


SET statement_timeout = 0;
SET lock_timeout = 0;
SET idle_in_transaction_session_timeout = 0;
SET client_encoding = 'UTF8';
SET standard_conforming_strings = on;
SELECT pg_catalog.set_config('search_path', '', false);
SET check_function_bodies = false;
SET xmloption = content;
SET client_min_messages = warning;
SET row_security = off;


CREATE TYPE "public"."assignment_state" AS ENUM (
    'draft',
    'open',
    'closed',
    'archived'
);


ALTER TYPE "public"."assignment_state" OWNER TO "postgres";


CREATE TYPE "public"."member_role" AS ENUM (
    'teacher',
    'student',
    'guardian',
    'office'
);


ALTER TYPE "public"."member_role" OWNER TO "postgres";


CREATE TYPE "public"."submission_state" AS ENUM (
    'started',
    'handed_in',
    'returned',
    'excused'
);


ALTER TYPE "public"."submission_state" OWNER TO "postgres";

SET default_tablespace = '';

SET default_table_access_method = "heap";


CREATE TABLE IF NOT EXISTS "public"."school_class" (
    "id" "uuid" DEFAULT "gen_random_uuid"() NOT NULL,
    "name" "text" NOT NULL,
    "school_year" integer NOT NULL,
    "teacher_id" "uuid" NOT NULL,
    "room" "text",
    "archived" boolean DEFAULT false NOT NULL,
    "created_at" timestamp with time zone DEFAULT "now"() NOT NULL,
    "updated_at" timestamp with time zone DEFAULT "now"() NOT NULL,
    CONSTRAINT "school_class_school_year_check" CHECK ((("school_year" >= 2000) AND ("school_year" <= 2100)))
);


ALTER TABLE "public"."school_class" OWNER TO "postgres";


COMMENT ON TABLE "public"."school_class" IS 'A teaching group for one school year (7B 2025, Chemistry set 2 ...)';


COMMENT ON COLUMN "public"."school_class"."archived" IS 'Set by the office at the end of the year; archived classes take no new members.';


CREATE OR REPLACE FUNCTION "public"."can_teach"("_uid" "uuid", "_class_id" "uuid") RETURNS boolean
    LANGUAGE "sql" STABLE SECURITY DEFINER
    SET "search_path" TO ''
    AS $$
  select exists (
    select 1 from public.school_class c
    where c.id = _class_id and c.teacher_id = _uid
  );
$$;


ALTER FUNCTION "public"."can_teach"("_uid" "uuid", "_class_id" "uuid") OWNER TO "postgres";


COMMENT ON FUNCTION "public"."can_teach"("_uid" "uuid", "_class_id" "uuid") IS 'True when the person teaches the class. SECURITY DEFINER so that policies on other tables can call it without recursing into school_class''s policies.';



CREATE OR REPLACE FUNCTION "public"."class_of_invite"("p_code" "text") RETURNS "public"."school_class"
    LANGUAGE "sql" STABLE SECURITY DEFINER
    SET "search_path" TO ''
    AS $$
  select c.*
  from public.class_invite i
  join public.school_class c on c.id = i.class_id
  where i.code = upper(trim(p_code));
$$;


ALTER FUNCTION "public"."class_of_invite"("p_code" "text") OWNER TO "postgres";


CREATE OR REPLACE FUNCTION "public"."create_profile_for_new_user"() RETURNS "trigger"
    LANGUAGE "plpgsql" SECURITY DEFINER
    SET "search_path" TO ''
    AS $$
begin
  insert into public.profile (id, email)
  values (new.id, new.email)
  on conflict (id) do nothing;
  return new;
end;
$$;


ALTER FUNCTION "public"."create_profile_for_new_user"() OWNER TO "postgres";


CREATE OR REPLACE FUNCTION "public"."guard_closed_assignment"() RETURNS "trigger"
    LANGUAGE "plpgsql"
    SET "search_path" TO ''
    AS $$
begin
  if old.state in ('closed'::public.assignment_state, 'archived'::public.assignment_state)
     and (new.title is distinct from old.title
          or new.instructions is distinct from old.instructions
          or new.max_points is distinct from old.max_points) then
    raise exception 'assignment % is %: reopen it before changing it', old.id, old.state
      using errcode = 'check_violation';
  end if;
  if old.state = 'archived'::public.assignment_state
     and new.state <> 'archived'::public.assignment_state then
    raise exception 'an archived assignment stays archived';
  end if;
  return new;
end;
$$;


ALTER FUNCTION "public"."guard_closed_assignment"() OWNER TO "postgres";


CREATE OR REPLACE FUNCTION "public"."is_class_member"("_uid" "uuid", "_class_id" "uuid") RETURNS boolean
    LANGUAGE "sql" STABLE SECURITY DEFINER
    SET "search_path" TO ''
    AS $$
  select exists (
    select 1 from public.class_member m
    where m.class_id = _class_id and m.student_id = _uid and m.left_at is null
  );
$$;


ALTER FUNCTION "public"."is_class_member"("_uid" "uuid", "_class_id" "uuid") OWNER TO "postgres";


CREATE TABLE IF NOT EXISTS "public"."class_member" (
    "class_id" "uuid" NOT NULL,
    "student_id" "uuid" NOT NULL,
    "join_code" "text",
    "joined_at" timestamp with time zone DEFAULT "now"() NOT NULL,
    "left_at" timestamp with time zone
);


ALTER TABLE "public"."class_member" OWNER TO "postgres";


CREATE OR REPLACE FUNCTION "public"."open_assignment_count"("member" "public"."class_member") RETURNS integer
    LANGUAGE "sql" STABLE
    SET "search_path" TO ''
    AS $$
  select count(*)::int
  from public.assignment a
  where a.class_id = member.class_id
    and a.state = 'open'::public.assignment_state
    and not exists (
      select 1 from public.submission s
      where s.assignment_id = a.id
        and s.student_id = member.student_id
        and s.state <> 'started'::public.submission_state
    );
$$;


ALTER FUNCTION "public"."open_assignment_count"("member" "public"."class_member") OWNER TO "postgres";


COMMENT ON FUNCTION "public"."open_assignment_count"("member" "public"."class_member") IS 'Computed field for the API: assignments of the class still waiting for this student.';



CREATE OR REPLACE FUNCTION "public"."set_updated_at"() RETURNS "trigger"
    LANGUAGE "plpgsql"
    SET "search_path" TO ''
    AS $$
begin
  new.updated_at := now();
  return new;
end;
$$;


ALTER FUNCTION "public"."set_updated_at"() OWNER TO "postgres";


CREATE TABLE IF NOT EXISTS "public"."assignment" (
    "id" "uuid" DEFAULT "gen_random_uuid"() NOT NULL,
    "class_id" "uuid" NOT NULL,
    "title" "text" NOT NULL,
    "instructions" "jsonb" DEFAULT '{}'::"jsonb" NOT NULL,
    "state" "public"."assignment_state" DEFAULT 'draft'::"public"."assignment_state" NOT NULL,
    "due_at" timestamp with time zone,
    "max_points" numeric(5,1) DEFAULT 10 NOT NULL,
    "created_by" "uuid" NOT NULL,
    "created_at" timestamp with time zone DEFAULT "now"() NOT NULL,
    "updated_at" timestamp with time zone DEFAULT "now"() NOT NULL,
    CONSTRAINT "assignment_max_points_check" CHECK (("max_points" > (0)::numeric))
);


ALTER TABLE "public"."assignment" OWNER TO "postgres";


CREATE TABLE IF NOT EXISTS "public"."class_invite" (
    "code" "text" NOT NULL,
    "class_id" "uuid" NOT NULL,
    "max_uses" integer,
    CONSTRAINT "class_invite_code_check" CHECK (("code" ~ '^[A-Z0-9]{6,10}$'::"text"))
);


ALTER TABLE "public"."class_invite" OWNER TO "postgres";


COMMENT ON TABLE "public"."class_invite" IS 'Join codes a teacher hands out on the first day; a student types one in the app to join the class.';



CREATE TABLE IF NOT EXISTS "public"."profile" (
    "id" "uuid" NOT NULL,
    "email" "text",
    "display_name" "text",
    "role" "public"."member_role" DEFAULT 'student'::"public"."member_role" NOT NULL,
    "created_at" timestamp with time zone DEFAULT "now"() NOT NULL
);


ALTER TABLE "public"."profile" OWNER TO "postgres";


COMMENT ON TABLE "public"."profile" IS 'One row per sign-up, made by create_profile_for_new_user() on auth.users.';



CREATE TABLE IF NOT EXISTS "public"."school_setting" (
    "key" "text" NOT NULL,
    "value" "jsonb" NOT NULL,
    "updated_at" timestamp with time zone DEFAULT "now"() NOT NULL
);


ALTER TABLE "public"."school_setting" OWNER TO "postgres";


CREATE TABLE IF NOT EXISTS "public"."submission" (
    "id" "uuid" DEFAULT "gen_random_uuid"() NOT NULL,
    "assignment_id" "uuid" NOT NULL,
    "student_id" "uuid" NOT NULL,
    "answer" "jsonb" DEFAULT '{}'::"jsonb" NOT NULL,
    "state" "public"."submission_state" DEFAULT 'started'::"public"."submission_state" NOT NULL,
    "handed_in_at" timestamp with time zone,
    "points" numeric(5,1),
    "feedback" "text"
);


ALTER TABLE "public"."submission" OWNER TO "postgres";


CREATE OR REPLACE VIEW "public"."gradebook" WITH ("security_invoker"='on') AS
 SELECT "a"."class_id",
    "a"."id" AS "assignment_id",
    "a"."title",
    "a"."max_points",
    "s"."student_id",
    "s"."state",
    "s"."points",
    "s"."handed_in_at"
   FROM ("public"."assignment" "a"
     JOIN "public"."submission" "s" ON (("s"."assignment_id" = "a"."id")));


ALTER TABLE "public"."gradebook" OWNER TO "postgres";


ALTER TABLE ONLY "public"."assignment"
    ADD CONSTRAINT "assignment_pkey" PRIMARY KEY ("id");



ALTER TABLE ONLY "public"."class_invite"
    ADD CONSTRAINT "class_invite_pkey" PRIMARY KEY ("code");



ALTER TABLE ONLY "public"."class_member"
    ADD CONSTRAINT "class_member_pkey" PRIMARY KEY ("class_id", "student_id");



ALTER TABLE ONLY "public"."profile"
    ADD CONSTRAINT "profile_pkey" PRIMARY KEY ("id");



ALTER TABLE ONLY "public"."school_class"
    ADD CONSTRAINT "school_class_pkey" PRIMARY KEY ("id");



ALTER TABLE ONLY "public"."school_setting"
    ADD CONSTRAINT "school_setting_pkey" PRIMARY KEY ("key");



ALTER TABLE ONLY "public"."submission"
    ADD CONSTRAINT "submission_assignment_id_student_id_key" UNIQUE ("assignment_id", "student_id");



ALTER TABLE ONLY "public"."submission"
    ADD CONSTRAINT "submission_pkey" PRIMARY KEY ("id");



CREATE INDEX "assignment_class_id_due_at_idx" ON "public"."assignment" USING "btree" ("class_id", "due_at");



CREATE INDEX "class_member_student_id_idx" ON "public"."class_member" USING "btree" ("student_id");



CREATE OR REPLACE TRIGGER "guard_closed_assignment" BEFORE UPDATE ON "public"."assignment" FOR EACH ROW EXECUTE FUNCTION "public"."guard_closed_assignment"();



CREATE OR REPLACE TRIGGER "set_updated_at" BEFORE UPDATE ON "public"."assignment" FOR EACH ROW EXECUTE FUNCTION "public"."set_updated_at"();



CREATE OR REPLACE TRIGGER "set_updated_at" BEFORE UPDATE ON "public"."school_class" FOR EACH ROW EXECUTE FUNCTION "public"."set_updated_at"();



ALTER TABLE ONLY "public"."assignment"
    ADD CONSTRAINT "assignment_class_id_fkey" FOREIGN KEY ("class_id") REFERENCES "public"."school_class"("id") ON DELETE CASCADE;



ALTER TABLE ONLY "public"."assignment"
    ADD CONSTRAINT "assignment_created_by_fkey" FOREIGN KEY ("created_by") REFERENCES "public"."profile"("id");



ALTER TABLE ONLY "public"."class_invite"
    ADD CONSTRAINT "class_invite_class_id_fkey" FOREIGN KEY ("class_id") REFERENCES "public"."school_class"("id") ON DELETE CASCADE;



ALTER TABLE ONLY "public"."class_member"
    ADD CONSTRAINT "class_member_class_id_fkey" FOREIGN KEY ("class_id") REFERENCES "public"."school_class"("id") ON DELETE CASCADE;



ALTER TABLE ONLY "public"."class_member"
    ADD CONSTRAINT "class_member_join_code_fkey" FOREIGN KEY ("join_code") REFERENCES "public"."class_invite"("code") ON DELETE SET NULL;



ALTER TABLE ONLY "public"."class_member"
    ADD CONSTRAINT "class_member_student_id_fkey" FOREIGN KEY ("student_id") REFERENCES "public"."profile"("id") ON DELETE CASCADE;



ALTER TABLE ONLY "public"."profile"
    ADD CONSTRAINT "profile_id_fkey" FOREIGN KEY ("id") REFERENCES "auth"."users"("id") ON DELETE CASCADE;



ALTER TABLE ONLY "public"."school_class"
    ADD CONSTRAINT "school_class_teacher_id_fkey" FOREIGN KEY ("teacher_id") REFERENCES "public"."profile"("id") DEFERRABLE INITIALLY DEFERRED;



ALTER TABLE ONLY "public"."submission"
    ADD CONSTRAINT "submission_assignment_id_fkey" FOREIGN KEY ("assignment_id") REFERENCES "public"."assignment"("id") ON DELETE CASCADE;



ALTER TABLE ONLY "public"."submission"
    ADD CONSTRAINT "submission_student_id_fkey" FOREIGN KEY ("student_id") REFERENCES "public"."profile"("id") ON DELETE CASCADE;



CREATE POLICY "Members read their own profile" ON "public"."profile" FOR SELECT TO "authenticated" USING ((( SELECT "auth"."uid"() AS "uid") = "id"));



CREATE POLICY "Members update their own profile" ON "public"."profile" FOR UPDATE TO "authenticated" USING ((( SELECT "auth"."uid"() AS "uid") = "id")) WITH CHECK ((( SELECT "auth"."uid"() AS "uid") = "id"));



CREATE POLICY "No joining an archived class" ON "public"."class_member" AS RESTRICTIVE FOR INSERT TO "authenticated" WITH CHECK ((NOT (EXISTS ( SELECT 1
   FROM "public"."school_class" "c"
  WHERE (("c"."id" = "class_member"."class_id") AND "c"."archived")))));



CREATE POLICY "Join code must belong to the class" ON "public"."class_member" AS RESTRICTIVE FOR INSERT TO "authenticated" WITH CHECK ((("join_code" IS NULL) OR ("class_id" = ( SELECT ("public"."class_of_invite"("class_member"."join_code"))."id" AS "id"))));



CREATE POLICY "Settings are readable by everyone" ON "public"."school_setting" FOR SELECT USING (true);



CREATE POLICY "Students join with a code" ON "public"."class_member" FOR INSERT TO "authenticated" WITH CHECK (((( SELECT "auth"."uid"() AS "uid") = "student_id") AND ("join_code" IS NOT NULL)));



CREATE POLICY "Students manage their own submissions" ON "public"."submission" TO "authenticated" USING ((( SELECT "auth"."uid"() AS "uid") = "student_id")) WITH CHECK (((( SELECT "auth"."uid"() AS "uid") = "student_id") AND "public"."is_class_member"(( SELECT "auth"."uid"() AS "uid"), ( SELECT "a"."class_id"
   FROM "public"."assignment" "a"
  WHERE ("a"."id" = "submission"."assignment_id")))));



CREATE POLICY "Students read the assignments of their classes" ON "public"."assignment" FOR SELECT TO "authenticated" USING ((("state" <> 'draft'::"public"."assignment_state") AND "public"."is_class_member"(( SELECT "auth"."uid"() AS "uid"), "class_id")));



CREATE POLICY "Students see the classes they are in" ON "public"."school_class" FOR SELECT TO "authenticated" USING ("public"."is_class_member"(( SELECT "auth"."uid"() AS "uid"), "id"));



CREATE POLICY "Students see their own memberships" ON "public"."class_member" FOR SELECT TO "authenticated" USING ((( SELECT "auth"."uid"() AS "uid") = "student_id"));



CREATE POLICY "Returned work is changed by the teacher only" ON "public"."submission" AS RESTRICTIVE FOR UPDATE TO "authenticated" USING ((("state" <> 'returned'::"public"."submission_state") OR ( SELECT "public"."can_teach"(( SELECT "auth"."uid"() AS "uid"), "a"."class_id") AS "can_teach"
   FROM "public"."assignment" "a"
  WHERE ("a"."id" = "submission"."assignment_id"))));



CREATE POLICY "Teachers grade the submissions of their classes" ON "public"."submission" FOR UPDATE TO "authenticated" USING (( SELECT "public"."can_teach"(( SELECT "auth"."uid"() AS "uid"), "a"."class_id") AS "can_teach"
   FROM "public"."assignment" "a"
  WHERE ("a"."id" = "submission"."assignment_id")));



CREATE POLICY "Teachers manage the assignments of their classes" ON "public"."assignment" TO "authenticated" USING ("public"."can_teach"(( SELECT "auth"."uid"() AS "uid"), "class_id")) WITH CHECK ("public"."can_teach"(( SELECT "auth"."uid"() AS "uid"), "class_id"));



CREATE POLICY "Teachers manage their class lists" ON "public"."class_member" TO "authenticated" USING ("public"."can_teach"(( SELECT "auth"."uid"() AS "uid"), "class_id"));



CREATE POLICY "Teachers manage their classes" ON "public"."school_class" TO "authenticated" USING ((( SELECT "auth"."uid"() AS "uid") = "teacher_id")) WITH CHECK ((( SELECT "auth"."uid"() AS "uid") = "teacher_id"));



CREATE POLICY "Teachers manage their join codes" ON "public"."class_invite" TO "authenticated" USING ("public"."can_teach"(( SELECT "auth"."uid"() AS "uid"), "class_id")) WITH CHECK ("public"."can_teach"(( SELECT "auth"."uid"() AS "uid"), "class_id"));



CREATE POLICY "Teachers read the profiles of their students" ON "public"."profile" FOR SELECT TO "authenticated" USING ((EXISTS ( SELECT 1
   FROM ("public"."class_member" "m"
     JOIN "public"."school_class" "c" ON (("c"."id" = "m"."class_id")))
  WHERE (("m"."student_id" = "profile"."id") AND ("c"."teacher_id" = ( SELECT "auth"."uid"() AS "uid"))))));



CREATE POLICY "Teachers read the submissions of their classes" ON "public"."submission" FOR SELECT TO "authenticated" USING (( SELECT "public"."can_teach"(( SELECT "auth"."uid"() AS "uid"), "a"."class_id") AS "can_teach"
   FROM "public"."assignment" "a"
  WHERE ("a"."id" = "submission"."assignment_id")));



ALTER TABLE "public"."assignment" ENABLE ROW LEVEL SECURITY;


ALTER TABLE "public"."class_invite" ENABLE ROW LEVEL SECURITY;


ALTER TABLE "public"."class_member" ENABLE ROW LEVEL SECURITY;


ALTER TABLE "public"."profile" ENABLE ROW LEVEL SECURITY;


ALTER TABLE "public"."school_class" ENABLE ROW LEVEL SECURITY;


ALTER TABLE "public"."school_setting" ENABLE ROW LEVEL SECURITY;


ALTER TABLE "public"."submission" ENABLE ROW LEVEL SECURITY;


CREATE TRIGGER "on_auth_user_created" AFTER INSERT ON "auth"."users" FOR EACH ROW EXECUTE FUNCTION "public"."create_profile_for_new_user"();


REVOKE ALL ON FUNCTION "public"."can_teach"("_uid" "uuid", "_class_id" "uuid") FROM PUBLIC;
REVOKE ALL ON FUNCTION "public"."class_of_invite"("p_code" "text") FROM PUBLIC;
REVOKE ALL ON FUNCTION "public"."create_profile_for_new_user"() FROM PUBLIC;
REVOKE ALL ON FUNCTION "public"."guard_closed_assignment"() FROM PUBLIC;
REVOKE ALL ON FUNCTION "public"."is_class_member"("_uid" "uuid", "_class_id" "uuid") FROM PUBLIC;
REVOKE ALL ON FUNCTION "public"."open_assignment_count"("member" "public"."class_member") FROM PUBLIC;
REVOKE ALL ON FUNCTION "public"."set_updated_at"() FROM PUBLIC;


RESET ALL;

COMMIT;
