BEGIN;

-- The teacher's assignment list filters, sorts and pages on the server: PostgREST's
-- filters cannot reach the hand-in counts.
CREATE OR REPLACE FUNCTION public.list_assignments(
  p_class_id uuid,
  p_state public.assignment_state DEFAULT NULL,
  p_search text DEFAULT NULL,
  p_limit integer DEFAULT 50,
  p_offset integer DEFAULT 0
)
RETURNS TABLE (
  id uuid,
  title text,
  state public.assignment_state,
  due_at timestamp with time zone,
  handed_in integer,
  late integer,
  total_count bigint
)
LANGUAGE sql
STABLE
SET search_path = ''
AS $$
  WITH picked AS (
    SELECT a.id, a.title, a.state, a.due_at
    FROM public.assignment a
    WHERE a.class_id = p_class_id
      AND (p_state IS NULL OR a.state = p_state)
      AND (p_search IS NULL OR a.title ILIKE '%' || p_search || '%')
  )
  SELECT p.id, p.title, p.state, p.due_at,
         (SELECT count(*)::int FROM public.submission s
          WHERE s.assignment_id = p.id AND s.state <> 'started'),
         (SELECT count(*)::int FROM public.submission s
          WHERE s.assignment_id = p.id AND s.is_late),
         count(*) OVER ()
  FROM picked p
  ORDER BY p.due_at DESC NULLS LAST, p.title
  LIMIT least(greatest(p_limit, 1), 200)
  OFFSET greatest(p_offset, 0);
$$;

REVOKE EXECUTE ON FUNCTION public.list_assignments(uuid, public.assignment_state, text,
  integer, integer) FROM public, anon;
GRANT EXECUTE ON FUNCTION public.list_assignments(uuid, public.assignment_state, text,
  integer, integer) TO authenticated;

COMMIT;
