BEGIN;

/*
 * Guardians: a parent's account sees the marks and the grades of their own children.
 * The links are made by the office (service_role) from the enrolment forms, and read
 * only through children_of_me(): no policy, so the API gives no one the table itself.
 */

CREATE TABLE IF NOT EXISTS public.guardian_link (
    guardian_id uuid NOT NULL REFERENCES public.profile (id) ON DELETE CASCADE,
    student_id uuid NOT NULL REFERENCES public.profile (id) ON DELETE CASCADE,
    relation text NOT NULL DEFAULT 'parent',
    verified_at timestamptz,
    PRIMARY KEY (guardian_id, student_id),
    CHECK (guardian_id <> student_id)
);

ALTER TABLE public.guardian_link OWNER TO postgres;

COMMENT ON TABLE public.guardian_link IS 'Guardian to student, from the enrolment forms; kept by the office.';

ALTER TABLE public.guardian_link ENABLE ROW LEVEL SECURITY;

CREATE OR REPLACE FUNCTION public.children_of_me()
RETURNS TABLE (student_id uuid, display_name text, relation text)
LANGUAGE sql
STABLE
SECURITY DEFINER
SET search_path = ''
AS $$
    SELECT l.student_id, p.display_name, l.relation
    FROM public.guardian_link l
    JOIN public.profile p ON p.id = l.student_id
    WHERE l.guardian_id = auth.uid()
      AND l.verified_at IS NOT NULL
    ORDER BY p.display_name;
$$;

REVOKE ALL ON FUNCTION public.children_of_me() FROM public, anon;
GRANT EXECUTE ON FUNCTION public.children_of_me() TO authenticated;

COMMENT ON FUNCTION public.children_of_me() IS 'The verified children of the signed-in guardian.';

GRANT ALL ON public.guardian_link TO service_role;

COMMIT;
