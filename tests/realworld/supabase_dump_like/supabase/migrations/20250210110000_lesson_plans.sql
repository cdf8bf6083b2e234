-- Lesson plans keep every revision; the plan points at the one in use. The two keys form
-- a cycle, so the plan's is checked at commit: a plan and its first revision are
-- written in one transaction by publish_lesson_plan().
BEGIN;

CREATE TABLE public.lesson_plan (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    class_id uuid NOT NULL REFERENCES public.school_class (id) ON DELETE CASCADE,
    topic text NOT NULL,
    current_revision_id uuid NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE public.lesson_plan_revision (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    plan_id uuid NOT NULL REFERENCES public.lesson_plan (id) ON DELETE CASCADE,
    revision integer NOT NULL CHECK (revision > 0),
    body jsonb NOT NULL,
    written_by uuid NOT NULL,
    written_at timestamptz NOT NULL DEFAULT now(),
    UNIQUE (plan_id, revision)
);

ALTER TABLE public.lesson_plan
  ADD CONSTRAINT lesson_plan_current_revision_id_fkey
  FOREIGN KEY (current_revision_id) REFERENCES public.lesson_plan_revision (id)
  DEFERRABLE INITIALLY DEFERRED;

-- Who published what, for the head of department; written by the function below only.
CREATE TABLE public.lesson_plan_publish_log (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    plan_id uuid NOT NULL REFERENCES public.lesson_plan (id) ON DELETE CASCADE,
    revision_id uuid NOT NULL,
    published_by uuid NOT NULL,
    published_at timestamptz NOT NULL DEFAULT now()
);

ALTER TABLE public.lesson_plan ENABLE ROW LEVEL SECURITY;
ALTER TABLE public.lesson_plan_revision ENABLE ROW LEVEL SECURITY;
ALTER TABLE public.lesson_plan_publish_log ENABLE ROW LEVEL SECURITY;

CREATE POLICY "Teachers read the plans of their classes" ON public.lesson_plan
  FOR SELECT TO authenticated
  USING (public.can_teach((SELECT auth.uid()), class_id));

CREATE POLICY "Teachers read the revisions of their plans" ON public.lesson_plan_revision
  FOR SELECT TO authenticated
  USING (EXISTS (
    SELECT 1 FROM public.lesson_plan p
    WHERE p.id = lesson_plan_revision.plan_id
      AND public.can_teach((SELECT auth.uid()), p.class_id)
  ));

CREATE FUNCTION public.publish_lesson_plan(p_plan_id uuid, p_class_id uuid, p_topic text,
                                           p_body jsonb)
RETURNS uuid
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = ''
AS $$
DECLARE
  v_uid uuid := auth.uid();
  v_revision_id uuid := gen_random_uuid();
  v_next integer;
BEGIN
  IF NOT public.can_teach(v_uid, p_class_id) THEN
    RAISE EXCEPTION 'not a teacher of class %', p_class_id USING errcode = '42501';
  END IF;

  SELECT coalesce(max(revision), 0) + 1 INTO v_next
  FROM public.lesson_plan_revision WHERE plan_id = p_plan_id;

  INSERT INTO public.lesson_plan (id, class_id, topic, current_revision_id)
  VALUES (p_plan_id, p_class_id, p_topic, v_revision_id)
  ON CONFLICT (id) DO UPDATE
    SET topic = excluded.topic, current_revision_id = excluded.current_revision_id
    WHERE lesson_plan.class_id = excluded.class_id;

  INSERT INTO public.lesson_plan_revision (id, plan_id, revision, body, written_by)
  VALUES (v_revision_id, p_plan_id, v_next, p_body, v_uid);

  INSERT INTO public.lesson_plan_publish_log (plan_id, revision_id, published_by)
  VALUES (p_plan_id, v_revision_id, v_uid);

  RETURN v_revision_id;
END;
$$;

REVOKE ALL ON FUNCTION public.publish_lesson_plan(uuid, uuid, text, jsonb) FROM PUBLIC, anon;
GRANT EXECUTE ON FUNCTION public.publish_lesson_plan(uuid, uuid, text, jsonb) TO authenticated;

GRANT SELECT ON public.lesson_plan, public.lesson_plan_revision TO authenticated;
GRANT ALL ON public.lesson_plan, public.lesson_plan_revision, public.lesson_plan_publish_log
  TO service_role;

COMMIT;
