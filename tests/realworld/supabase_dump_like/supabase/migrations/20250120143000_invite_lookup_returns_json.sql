-- The join screen showed every column of the class (teacher_id included) to whoever
-- typed a code. class_of_invite now returns only what the screen needs, as JSON.
BEGIN;

DROP POLICY IF EXISTS "Join code must belong to the class" ON public.class_member;

DROP FUNCTION IF EXISTS public.class_of_invite(text);

CREATE FUNCTION public.class_of_invite(p_code text)
RETURNS jsonb
LANGUAGE sql
STABLE
SECURITY DEFINER
SET search_path = ''
AS $$
  SELECT jsonb_build_object('id', c.id, 'name', c.name, 'school_year', c.school_year)
  FROM public.class_invite i
  JOIN public.school_class c ON c.id = i.class_id
  WHERE i.code = upper(trim(p_code))
    AND NOT c.archived;
$$;

REVOKE ALL ON FUNCTION public.class_of_invite(text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION public.class_of_invite(text) TO anon, authenticated;

CREATE POLICY "Join code must belong to the class" ON public.class_member
AS RESTRICTIVE
FOR INSERT
TO authenticated
WITH CHECK (
  join_code IS NULL
  OR class_id = (public.class_of_invite(join_code) ->> 'id')::uuid
);

COMMIT;
