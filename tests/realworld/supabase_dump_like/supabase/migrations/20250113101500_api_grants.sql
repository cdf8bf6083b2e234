-- The Data API no longer grants new tables to anon/authenticated by default on new
-- projects: say what each role may touch, table by table.
begin;

grant usage on schema public to anon, authenticated, service_role;

grant select on table public.school_setting to anon, authenticated, service_role;

grant select, insert, update, delete on table
  public.profile,
  public.school_class,
  public.class_member,
  public.class_invite,
  public.assignment,
  public.submission
to authenticated, service_role;

grant select on table public.gradebook to authenticated, service_role;

grant execute on function public.can_teach(uuid, uuid) to authenticated;
grant execute on function public.is_class_member(uuid, uuid) to authenticated;
grant execute on function public.class_of_invite(text) to authenticated;
grant execute on function public.open_assignment_count(public.class_member) to authenticated;

commit;
